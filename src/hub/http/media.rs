//! Uploads and `/media`. Names are generated (`YYYY-MM/<uuid>.<ext>`), the size limit is
//! enforced while the body streams in, and files are served with `nosniff`; only raster
//! images are shown inline, everything else downloads as an attachment. Every file belongs to
//! the workspace that uploaded it (`media_files`): a workspace token reads only its own, the
//! admin reads all; files from before ownership was recorded are the admin's.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::http::{ApiError, ApiResult, Body, Caller};
use crate::config::Config;

/// Types served inline; all others are attachments.
const INLINE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp"];

pub fn routes(config: &Config) -> Router<Arc<HubState>> {
    let max = config.media_max_size as usize;
    Router::new()
        .route("/api/upload", post(upload).layer(DefaultBodyLimit::max(max.saturating_add(64 * 1024))))
        .route("/api/upload-base64", post(upload_base64).layer(DefaultBodyLimit::max(max / 3 * 4 + 64 * 1024)))
        .route("/media/{month}/{file}", get(serve))
}

fn too_large(max: u64) -> ApiError {
    ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("File too large: the limit is {max} bytes"))
}

/// A file being written under a generated name; removed unless finished.
struct Pending {
    month: String,
    name: String,
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
    done: bool,
}

impl Pending {
    async fn create(root: &FsPath, mime: &str) -> ApiResult<Pending> {
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        let dir = root.join(&month);
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let ext = extension_for(mime);
        let name = format!("{}{ext}", uuid::Uuid::new_v4());
        let path = dir.join(&name);
        let file = tokio::fs::File::create(&path).await.map_err(internal)?;
        Ok(Pending { month, name, path, file, size: 0, done: false })
    }

    async fn write(&mut self, chunk: &[u8], max: u64) -> ApiResult<()> {
        self.size += chunk.len() as u64;
        if self.size > max {
            return Err(too_large(max));
        }
        self.file.write_all(chunk).await.map_err(internal)
    }

    async fn finish(mut self, st: &HubState, owner: &Principal, filename: &str, mime: &str) -> ApiResult<Value> {
        self.file.flush().await.map_err(internal)?;
        let (path, ws) = (format!("{}/{}", self.month, self.name), owner.workspace_id().to_string());
        st.store.record_media(path, ws).await?;
        self.done = true;
        let file_id = self.name.split('.').next().unwrap_or_default().to_string();
        Ok(json!({
            "file_id": file_id, "url": format!("/media/{}/{}", self.month, self.name),
            "mime_type": mime, "filename": filename, "size": self.size,
        }))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn internal(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "media write failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the file".into())
}

/// Client-supplied names are kept only as display text: no path, no control characters.
fn display_name(raw: Option<&str>) -> String {
    let base = raw.unwrap_or("upload").rsplit(['/', '\\']).next().unwrap_or("upload");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.is_empty() || clean == "." || clean == ".." { "upload".into() } else { clean }
}

fn mime_of(declared: Option<&str>, filename: &str) -> String {
    declared
        .filter(|m| m.parse::<mime_guess::mime::Mime>().is_ok())
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_else(|| mime_guess::from_path(filename).first_or_octet_stream().essence_str().to_string())
}

fn extension_for(mime: &str) -> String {
    mime_guess::get_mime_extensions_str(mime)
        .and_then(|exts| exts.iter().find(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric())))
        .map(|e| format!(".{e}"))
        .unwrap_or_default()
}

async fn upload(State(st): State<Arc<HubState>>, Caller(who): Caller, mut form: Multipart) -> ApiResult<(StatusCode, Json<Value>)> {
    let max = st.config.media_max_size;
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large(max) } else { ApiError::bad_request(e.body_text()) }
    };
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = display_name(field.file_name());
        let mime = mime_of(field.content_type(), &filename);
        let mut pending = Pending::create(&st.config.media_root, &mime).await?;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            pending.write(&chunk, max).await?;
        }
        return Ok((StatusCode::CREATED, Json(pending.finish(&st, &who, &filename, &mime).await?)));
    }
    Err(ApiError::bad_request("No file field"))
}

#[derive(Deserialize)]
struct Base64Upload {
    data: Option<String>,
    filename: Option<String>,
    mime_type: Option<String>,
}

async fn upload_base64(State(st): State<Arc<HubState>>, Caller(who): Caller, Body(b): Body<Base64Upload>) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(data) = b.data.filter(|d| !d.is_empty()) else { return Err(ApiError::bad_request("No data field")) };
    // Accept data: URLs from canvases as well as bare base64.
    let data = data.split_once(";base64,").map_or(data.as_str(), |(_, d)| d);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| ApiError::bad_request("Invalid base64"))?;
    let max = st.config.media_max_size;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    let filename = display_name(b.filename.as_deref());
    let mime = mime_of(b.mime_type.as_deref(), &filename);
    let mut pending = Pending::create(&st.config.media_root, &mime).await?;
    pending.write(&bytes, max).await?;
    Ok((StatusCode::CREATED, Json(pending.finish(&st, &who, &filename, &mime).await?)))
}

fn valid_month(s: &str) -> bool {
    s.len() == 7 && s.bytes().enumerate().all(|(i, b)| if i == 4 { b == b'-' } else { b.is_ascii_digit() })
}

fn valid_file(s: &str) -> bool {
    let (stem, ext) = s.split_once('.').unwrap_or((s, ""));
    uuid::Uuid::try_parse(stem).is_ok() && ext.len() <= 8 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `who` may read the file at `path` (`month/file`); another workspace's file is "not
/// found", so its existence does not leak.
async fn may_read(st: &HubState, who: &Principal, path: String) -> ApiResult<bool> {
    if *who == Principal::Admin {
        return Ok(true);
    }
    let ws = who.workspace_id().to_string();
    Ok(st.store.media_owned_by(path, ws).await?)
}

async fn serve(State(st): State<Arc<HubState>>, Caller(who): Caller, Path((month, file)): Path<(String, String)>) -> Response {
    if !valid_month(&month) || !valid_file(&file) {
        return ApiError::not_found("Not found").into_response();
    }
    match may_read(&st, &who, format!("{month}/{file}")).await {
        Ok(true) => {}
        Ok(false) => return ApiError::not_found("Not found").into_response(),
        Err(e) => return e.into_response(),
    }
    let path = st.config.media_root.join(&month).join(&file);
    let Ok(f) = tokio::fs::File::open(&path).await else { return ApiError::not_found("Not found").into_response() };
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    let mime = mime_guess::from_path(&file).first_or_octet_stream().essence_str().to_string();
    let inline = INLINE.contains(&mime.as_str());
    let disposition = if inline { "inline".to_string() } else { format!("attachment; filename=\"{file}\"") };
    let content_type = if inline { mime } else { "application/octet-stream".into() };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox".into()),
            (header::CACHE_CONTROL, "no-cache, must-revalidate".into()),
        ],
        HttpBody::from_stream(tokio_util::io::ReaderStream::new(f)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_month("2026-11"));
        assert!(!valid_month("../etc"));
        assert!(valid_file("0b7d6a58-7d0c-4c8e-9d43-1c1c1f1e2f3a.png"));
        assert!(!valid_file("../../x.png"));
        assert!(!valid_file("0b7d6a58-7d0c-4c8e-9d43-1c1c1f1e2f3a.png/x"));
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("..")), "upload");
        assert_eq!(extension_for("image/png"), ".png");
    }
}
