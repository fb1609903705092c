//! The hub's REST API as this binary calls it: the CLI's reads and posts, the bridge's reads,
//! uploads and media downloads. One client, with the token in the `Authorization` header
//! (never in a URL a model or a log could see). Each caller says what a failure means to it:
//! `CliError` maps a [`RestError`] to an exit code, the bridge to a tool error with a hint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::tls::TlsFailure;

/// Why a REST call failed. Each variant keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error(transparent)]
    Tls(TlsFailure),
    #[error("cannot reach the hub at {base}: {source}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    /// The hub answered with an error status; `detail` is its `error` text (or the body's start).
    #[error("the hub answered {status}: {detail}")]
    Refused { status: StatusCode, detail: String },
    #[error("the hub sent invalid JSON: {source}")]
    InvalidJson {
        #[source]
        source: serde_json::Error,
    },
    #[error("bad hub URL {url}: {source}")]
    BadUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("bad MIME type {mime}: {source}")]
    Mime {
        mime: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the file is larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RestError {
    /// The hub was not reached at all (refused, timed out, no route), as against answering.
    pub fn is_connect(&self) -> bool {
        matches!(self, RestError::Unreachable { source, .. } if source.is_connect() || source.is_timeout())
    }
}

/// A client of one hub's REST API.
pub struct Rest {
    http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    pub base: String,
    token: String,
}

impl Rest {
    /// `timeout`: for each whole request (a media download included).
    pub fn new(base: &str, token: &str, timeout: Duration) -> Self {
        let http = crate::http_client::client(timeout);
        Rest { http, base: base.trim_end_matches('/').to_string(), token: token.to_string() }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.token.is_empty() { rb } else { rb.bearer_auth(&self.token) }
    }

    fn unreachable(&self, e: reqwest::Error) -> RestError {
        let host = url::Url::parse(&self.base).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default();
        match TlsFailure::find(&host, &e) {
            Some(tls) => RestError::Tls(tls),
            None => RestError::Unreachable { base: self.base.clone(), source: e },
        }
    }

    async fn answer(&self, resp: Result<reqwest::Response, reqwest::Error>) -> Result<Value, RestError> {
        let resp = resp.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        serde_json::from_str(&body).map_err(|source| RestError::InvalidJson { source })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, RestError> {
        let url = format!("{}{path}", self.base);
        let mut url = url::Url::parse(&url).map_err(|source| RestError::BadUrl { url, source })?;
        url.query_pairs_mut().extend_pairs(query);
        let rb = self.auth(self.http.get(url));
        self.answer(rb.send().await).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        let rb = self.auth(self.http.post(format!("{}{path}", self.base)).json(body));
        self.answer(rb.send().await).await
    }

    /// Uploads one file through `POST /api/upload`; the answer has `url`, `filename`, … .
    pub async fn upload(&self, bytes: Vec<u8>, filename: &str, mime: &str) -> Result<Value, RestError> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|source| RestError::Mime { mime: mime.to_string(), source })?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let rb = self.auth(self.http.post(format!("{}/api/upload", self.base)).multipart(form));
        self.answer(rb.send().await).await
    }

    /// An absolute URL for a hub path such as `/media/…`.
    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') { format!("{}{url}", self.base) } else { url.to_string() }
    }

    /// Streams a hub URL into `dest` (via a temporary file in the same folder), at most `max`
    /// bytes. Returns the size and the content type.
    pub async fn download(&self, url: &str, dest: &Path, max: u64) -> Result<(u64, String), RestError> {
        let mut resp = self.auth(self.http.get(url)).send().await.map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(refused(status, &resp.text().await.unwrap_or_default()));
        }
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(RestError::TooLarge { max });
        }
        let mime = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let part = dest.with_extension("part");
        let io = |source: std::io::Error| RestError::Write { path: part.clone(), source };
        let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut size = 0u64;
        let result = async {
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(e))? {
                size += chunk.len() as u64;
                if size > max {
                    return Err(RestError::TooLarge { max });
                }
                file.write_all(&chunk).await.map_err(io)?;
            }
            file.flush().await.map_err(io)?;
            tokio::fs::rename(&part, dest).await.map_err(io)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        result.map(|()| (size, mime))
    }
}

/// The hub's `{"error": "..."}` text, or the start of whatever else it sent.
fn refused(status: StatusCode, body: &str) -> RestError {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(String::from))
        .unwrap_or_else(|| body.chars().take(200).collect());
    RestError::Refused { status, detail }
}
