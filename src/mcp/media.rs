//! Files in and out of the hub, under one rule (docs/mcp.md, "Files"):
//! - a path containing a `..` component is refused outright, before anything is resolved;
//! - relative paths resolve against the working directory (reads) or the download folder
//!   (writes); the result is canonicalized, so symlinks cannot lead out;
//! - reads must land inside `SCITEX_OROCHI_MCP_DIRS` (default: the working directory) or the
//!   download folder; writes only inside the download folder;
//! - downloads only from the hub's own `/media/` URLs, so the token never goes elsewhere.

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::error::{Code, ToolError, ToolResult};
use crate::client::rest::Rest;

/// Where files may come from and go to, canonicalized at start.
pub struct Dirs {
    read: Vec<PathBuf>,
    download: PathBuf,
}

fn no_parent(raw: &str) -> ToolResult<&Path> {
    let p = Path::new(raw);
    if raw.trim().is_empty() || raw.contains('\0') {
        return Err(ToolError::invalid("the path is empty or has a NUL byte", "give a file path"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(ToolError::invalid(format!("{raw:?} contains '..'"), "paths may not climb out of the allowed folders"));
    }
    Ok(p)
}

fn outside(path: &Path, allowed: &[PathBuf]) -> ToolError {
    let list: Vec<String> = allowed.iter().map(|d| d.display().to_string()).collect();
    ToolError::new(
        Code::PermissionDenied,
        format!("{} is outside the allowed folders", path.display()),
        format!("allowed: {} (SCITEX_OROCHI_MCP_DIRS, SCITEX_OROCHI_MCP_DOWNLOAD_DIR)", list.join(", ")),
    )
}

impl Dirs {
    /// Creates the download folder (0700) and resolves every folder.
    pub fn new(read: &[String], download: &Path) -> std::io::Result<Dirs> {
        std::fs::create_dir_all(download)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(download, std::fs::Permissions::from_mode(0o700))?;
        }
        let download = download.canonicalize()?;
        let mut dirs: Vec<PathBuf> = if read.is_empty() {
            vec![std::env::current_dir()?.canonicalize()?]
        } else {
            read.iter().filter_map(|d| Path::new(d).canonicalize().ok()).collect()
        };
        dirs.push(download.clone());
        Ok(Dirs { read: dirs, download })
    }

    /// An existing regular file inside a readable folder.
    pub fn readable(&self, raw: &str) -> ToolResult<PathBuf> {
        let p = no_parent(raw)?;
        let real = p.canonicalize().map_err(|e| {
            ToolError::new(Code::NotFound, format!("{raw}: {e}"), "give the path of an existing file")
        })?;
        if !self.read.iter().any(|d| real.starts_with(d)) {
            return Err(outside(&real, &self.read));
        }
        if !real.is_file() {
            return Err(ToolError::invalid(format!("{raw} is not a regular file"), "give a file, not a folder"));
        }
        Ok(real)
    }

    /// A file path inside the download folder; parent folders are created there.
    pub fn writable(&self, raw: Option<&str>, default_name: &str) -> ToolResult<PathBuf> {
        let target = match raw.filter(|r| !r.is_empty()) {
            Some(r) => self.download.join(no_parent(r)?),
            None => self.download.join(default_name),
        };
        let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(ToolError::invalid("the output path names no file", "give a file name"));
        };
        // Lexically inside first, so nothing is created elsewhere; then really inside.
        if !parent.starts_with(&self.download) {
            return Err(outside(&target, std::slice::from_ref(&self.download)));
        }
        std::fs::create_dir_all(parent).map_err(|e| ToolError::internal(format!("cannot create {}: {e}", parent.display())))?;
        let real = parent.canonicalize().map_err(|e| ToolError::internal(e.to_string()))?.join(name);
        if !real.starts_with(&self.download) {
            return Err(outside(&real, std::slice::from_ref(&self.download)));
        }
        if real.is_dir() {
            return Err(ToolError::invalid(format!("{} is a folder", real.display()), "give a file name"));
        }
        Ok(real)
    }
}

/// The hub path of a media URL: `/media/…` itself, or an absolute URL on the hub's origin.
pub fn hub_media_url(rest: &Rest, url: &str) -> ToolResult<String> {
    let refuse = || {
        ToolError::new(
            Code::PermissionDenied,
            format!("{url:?} is not a media URL of this hub"),
            format!("only {}/media/… URLs (or /media/… paths) are fetched, so the token never leaves the hub", rest.base),
        )
    };
    let path = if url.starts_with('/') {
        url.to_string()
    } else {
        let (Ok(u), Ok(base)) = (url::Url::parse(url), url::Url::parse(&rest.base)) else { return Err(refuse()) };
        if u.origin() != base.origin() {
            return Err(refuse());
        }
        u.path().to_string()
    };
    if !path.starts_with("/media/") || path.split('/').any(|s| s == "..") {
        return Err(refuse());
    }
    Ok(rest.absolute(&path))
}

/// A safe local name from the URL's last segment.
pub fn file_name_of(url: &str) -> String {
    let last = url.split(['?', '#']).next().unwrap_or("").rsplit('/').next().unwrap_or("");
    let clean: String = last.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(120).collect();
    let clean = clean.trim_start_matches('.').to_string();
    if clean.is_empty() { "download".into() } else { clean }
}

/// Reads an allowed file (at most `max` bytes) and uploads it; returns the hub's record.
pub async fn upload(dirs: &Dirs, rest: &Rest, raw: &str, max: u64) -> ToolResult<Value> {
    let path = dirs.readable(raw)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > max {
        return Err(ToolError::invalid(format!("{raw} is {size} bytes; the hub takes at most {max}"), "send a smaller file"));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| ToolError::internal(format!("cannot read {raw}: {e}")))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload".into());
    let mime = mime_guess::from_path(&path).first_or_octet_stream().essence_str().to_string();
    Ok(rest.upload(bytes, &name, &mime).await?)
}

/// Downloads a hub media URL into the download folder.
pub async fn download(dirs: &Dirs, rest: &Rest, url: &str, output: Option<&str>, max: u64) -> ToolResult<Value> {
    let source = hub_media_url(rest, url)?;
    let dest = dirs.writable(output, &file_name_of(&source))?;
    let (size, mime) = rest.download(&source, &dest, max).await?;
    Ok(json!({"status": "downloaded", "path": dest.display().to_string(), "size": size, "mime_type": mime}))
}
