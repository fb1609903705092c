//! The hub's REST API as the bridge uses it: reads, uploads and media downloads, with the token
//! in the `Authorization` header (never in a URL the model could see).

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::error::{Code, ToolError, ToolResult};
use crate::client::ClientError;

pub struct Rest {
    http: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    pub base: String,
    token: String,
}

fn status_error(status: StatusCode, body: &str) -> ToolError {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(String::from))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let message = format!("the hub answered {status}: {detail}");
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ToolError::new(Code::PermissionDenied, message, "this needs a token the hub accepts (uploads need the admin token)")
        }
        StatusCode::NOT_FOUND => ToolError::new(Code::NotFound, message, "check the name, id or URL"),
        s if s.is_client_error() => ToolError::invalid(message, "fix the arguments and call again"),
        _ => ToolError::internal(message),
    }
}

fn unreachable(base: &str, e: reqwest::Error) -> ToolError {
    let host = url::Url::parse(base).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default();
    if let Some(tls) = crate::tls::TlsFailure::find(&host, &e) {
        return ClientError::Tls(tls).into();
    }
    ToolError::new(Code::AgentOffline, format!("cannot reach the hub at {base}: {e}"), "the hub may be restarting; retry shortly")
}

impl Rest {
    pub fn new(base: String, token: String) -> Self {
        let http = crate::http_client::client(Duration::from_secs(60));
        Rest { http, base: base.trim_end_matches('/').to_string(), token }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.token.is_empty() { rb } else { rb.bearer_auth(&self.token) }
    }

    async fn answer(&self, resp: Result<reqwest::Response, reqwest::Error>) -> ToolResult<Value> {
        let resp = resp.map_err(|e| unreachable(&self.base, e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| unreachable(&self.base, e))?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        serde_json::from_str(&body).map_err(|e| ToolError::internal(format!("the hub sent invalid JSON: {e}")))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> ToolResult<Value> {
        let mut url = url::Url::parse(&format!("{}{path}", self.base)).map_err(|e| ToolError::internal(format!("bad hub URL: {e}")))?;
        url.query_pairs_mut().extend_pairs(query);
        let rb = self.auth(self.http.get(url));
        self.answer(rb.send().await).await
    }

    /// Uploads one file through `POST /api/upload`; the answer has `url`, `filename`, … .
    pub async fn upload(&self, bytes: Vec<u8>, filename: &str, mime: &str) -> ToolResult<Value> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|e| ToolError::internal(format!("bad MIME type {mime}: {e}")))?;
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
    pub async fn download(&self, url: &str, dest: &Path, max: u64) -> ToolResult<(u64, String)> {
        let mut resp = self.auth(self.http.get(url)).send().await.map_err(|e| unreachable(&self.base, e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(status_error(status, &resp.text().await.unwrap_or_default()));
        }
        let too_big = || ToolError::invalid(format!("the file is larger than {max} bytes"), "ask for a smaller file");
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(too_big());
        }
        let mime = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let part = dest.with_extension("part");
        let io = |e: std::io::Error| ToolError::internal(format!("cannot write {}: {e}", part.display()));
        let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut size = 0u64;
        let result = async {
            while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(&self.base, e))? {
                size += chunk.len() as u64;
                if size > max {
                    return Err(too_big());
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
