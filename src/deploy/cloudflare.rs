//! Cloudflare cache purge by URL, through the `cloudflare` crate's endpoint model.
//!
//! The crate has no purge endpoint, so [`PurgeCache`] implements its `EndpointSpec`; requests
//! are built from that spec (URL from the crate's `Environment`, headers from its
//! `Credentials`, replies parsed as its `ApiSuccess`/`ApiErrors`). They are sent by our own
//! small transport because the crate's client drops response headers, and a 429 must be
//! retried after the `Retry-After` it carries.

use std::time::Duration;

use cloudflare::framework::Environment;
use cloudflare::framework::auth::Credentials;
use cloudflare::framework::endpoint::spec::EndpointSpec;
use cloudflare::framework::endpoint::{Method, RequestBody};
use cloudflare::framework::response::{ApiErrors, ApiResult, ApiSuccess};
use serde::{Deserialize, Serialize};

/// Cloudflare accepts at most 30 URLs per purge call.
pub const MAX_URLS_PER_CALL: usize = 30;
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4/";
/// Attempts per batch when the API keeps answering 429.
const MAX_ATTEMPTS: u32 = 5;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("Cloudflare base URL {0:?} is not an http(s) URL")]
    BadBase(String),
    #[error("Cloudflare API unreachable: {0}; check the network and SCITEX_OROCHI_CLOUDFLARE_API_BASE")]
    Transport(#[source] reqwest::Error),
    #[error("Cloudflare refused the purge (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("Cloudflare still rate-limits after {0} attempts")]
    RateLimited(u32),
}

/// `POST zones/{zone_id}/purge_cache` with `{"files": [...]}`.
#[derive(Debug)]
pub struct PurgeCache<'a> {
    pub zone_id: &'a str,
    pub files: &'a [String],
}

#[derive(Debug, Serialize)]
struct PurgeBody<'a> {
    files: &'a [String],
}

/// The result object of a purge: the zone's id.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PurgeResult {
    #[serde(default)]
    pub id: String,
}

impl ApiResult for PurgeResult {}

impl EndpointSpec for PurgeCache<'_> {
    type JsonResponse = PurgeResult;
    type ResponseType = ApiSuccess<PurgeResult>;

    fn method(&self) -> Method {
        Method::POST
    }

    fn path(&self) -> String {
        format!("zones/{}/purge_cache", self.zone_id)
    }

    fn body(&self) -> Option<RequestBody<'_>> {
        Some(RequestBody::Json(serde_json::to_string(&PurgeBody { files: self.files }).expect("strings serialize")))
    }
}

/// Token, zone and API base of one purge target.
#[derive(Clone)]
pub struct CloudflareSettings {
    pub token: String,
    pub zone_id: String,
    pub api_base: String,
}

impl std::fmt::Debug for CloudflareSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareSettings").field("token", &"(hidden)").field("zone_id", &self.zone_id).field("api_base", &self.api_base).finish()
    }
}

/// One call that succeeded: its URLs and how many 429s it waited out.
#[derive(Debug, Clone, Serialize)]
pub struct PurgedBatch {
    pub urls: Vec<String>,
    pub rate_limited: u32,
}

pub struct CloudflareApi {
    environment: Environment,
    credentials: Credentials,
    zone_id: String,
    http: reqwest::Client,
}

impl CloudflareApi {
    pub fn new(settings: &CloudflareSettings) -> Result<CloudflareApi, PurgeError> {
        let mut base = settings.api_base.trim().to_string();
        if base.is_empty() {
            base = DEFAULT_API_BASE.into();
        }
        if !base.ends_with('/') {
            base.push('/');
        }
        if !url::Url::parse(&base).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some()) {
            return Err(PurgeError::BadBase(base));
        }
        let http = crate::http_client::client(Duration::from_secs(30));
        Ok(CloudflareApi {
            environment: Environment::Custom(base),
            credentials: Credentials::UserAuthToken { token: settings.token.clone() },
            zone_id: settings.zone_id.clone(),
            http,
        })
    }

    /// Sends one endpoint; `Err(Some(wait))` is a 429 to retry after `wait`.
    async fn send<E>(&self, endpoint: &E) -> Result<ApiSuccess<E::JsonResponse>, Result<PurgeError, Duration>>
    where
        E: EndpointSpec,
    {
        let method = reqwest::Method::from_bytes(endpoint.method().as_str().as_bytes()).expect("a valid method");
        let mut request = self.http.request(method, endpoint.url(&self.environment).as_str());
        for (name, value) in self.credentials.headers() {
            request = request.header(name, value);
        }
        if let Some(RequestBody::Json(body)) = endpoint.body() {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| Ok(PurgeError::Transport(e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(Duration::from_secs(1));
            return Err(Err(wait.min(MAX_RETRY_AFTER)));
        }
        let text = response.text().await.map_err(|e| Ok(PurgeError::Transport(e)))?;
        let success_flag = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v.get("success").and_then(|s| s.as_bool()));
        if status.is_success()
            && success_flag != Some(false)
            && let Ok(ok) = serde_json::from_str::<ApiSuccess<E::JsonResponse>>(&text)
        {
            return Ok(ok);
        }
        let message = match serde_json::from_str::<ApiErrors>(&text) {
            Ok(errs) if !errs.errors.is_empty() => errs.errors.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "),
            _ => "unexpected reply".into(),
        };
        Err(Ok(PurgeError::Refused { status: status.as_u16(), message }))
    }

    /// Purges `urls` in calls of at most 30, honouring 429 `Retry-After`.
    pub async fn purge(&self, urls: &[String]) -> Result<Vec<PurgedBatch>, PurgeError> {
        let mut done = Vec::new();
        for batch in urls.chunks(MAX_URLS_PER_CALL) {
            let endpoint = PurgeCache { zone_id: &self.zone_id, files: batch };
            let mut rate_limited = 0;
            loop {
                match self.send(&endpoint).await {
                    Ok(_) => break,
                    Err(Ok(e)) => return Err(e),
                    Err(Err(wait)) => {
                        rate_limited += 1;
                        if rate_limited >= MAX_ATTEMPTS {
                            return Err(PurgeError::RateLimited(rate_limited));
                        }
                        tracing::info!(wait_secs = wait.as_secs(), "Cloudflare rate limit; waiting as Retry-After asks");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            done.push(PurgedBatch { urls: batch.to_vec(), rate_limited });
        }
        Ok(done)
    }
}
