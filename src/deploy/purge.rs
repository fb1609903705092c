//! Which public URLs to purge after a deploy. The controller fetches the instance's cacheable
//! paths (`cache_paths` in the spec, plus every same-origin `src`/`href` in the HTML pages among
//! them, plus the ES modules those scripts import, transitively) from the new container, hashes each answer, and purges only the URLs whose answer
//! changed since the last successful purge. The hashes live in
//! `<state_dir>/<instance>.cache-manifest.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cloudflare::{CloudflareApi, CloudflareSettings, PurgeError};
use super::envfile::EnvFile;
use crate::config::{Config, names};

/// Most paths followed from HTML pages and module imports, however deep.
const MAX_PATHS: usize = 500;

/// Path → `status:hash` of the last purged answers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub paths: BTreeMap<String, String>,
}

pub fn manifest_path(state_dir: &Path, instance: &str) -> PathBuf {
    state_dir.join(format!("{instance}.cache-manifest.json"))
}

impl Manifest {
    pub fn load(path: &Path) -> Option<Manifest> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }
}

fn is_ok(entry: Option<&String>) -> bool {
    entry.is_some_and(|e| e.starts_with('2'))
}

/// Paths whose answer is new, changed, or gone since `old` (all 2xx paths without a manifest).
pub fn changed_paths(old: Option<&Manifest>, new: &Manifest) -> Vec<String> {
    let empty = Manifest::default();
    let old = old.unwrap_or(&empty);
    let mut out: Vec<String> = new
        .paths
        .iter()
        .filter(|(p, h)| is_ok(Some(h)) && old.paths.get(*p) != Some(h))
        .map(|(p, _)| p.clone())
        .collect();
    for (p, h) in &old.paths {
        if is_ok(Some(h)) && !is_ok(new.paths.get(p)) {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Same-origin references (`src="..."`, `href="..."`) in an HTML page, as absolute paths.
pub fn linked_paths(html: &str, public_url: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"(?i)\b(?:src|href)\s*=\s*["']([^"'#]+)["']"#).expect("valid regex");
    let origin = public_url.trim_end_matches('/');
    let mut out = Vec::new();
    for cap in re.captures_iter(html) {
        let v = cap[1].trim();
        let path = if let Some(rest) = v.strip_prefix(origin).filter(|r| r.starts_with('/')) {
            rest.to_string()
        } else if v.starts_with('/') && !v.starts_with("//") {
            v.to_string()
        } else if !v.contains(':') && !v.starts_with("//") && !v.is_empty() {
            format!("/{}", v.trim_start_matches("./"))
        } else {
            continue;
        };
        out.push(path);
    }
    out
}

/// Same-origin ES modules a script imports — `import … from "./x.js"`, `import "./x.js"`,
/// `import("./x.js")` with a literal, `export … from "./x.js"` — resolved against the script's
/// own `path` as a browser would. Bare specifiers (`"lodash"`) and other origins are skipped.
pub fn imported_paths(js: &str, path: &str, public_url: &str) -> Vec<String> {
    let re = regex::Regex::new(
        r#"(?:\b(?:import|export)\b[^;"'`()]*?\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)["']([^"'\n]+)["']"#,
    )
    .expect("valid regex");
    let Ok(origin) = url::Url::parse(public_url.trim_end_matches('/')).or_else(|_| url::Url::parse("http://localhost")) else {
        return Vec::new();
    };
    let Ok(base) = origin.join(path) else { return Vec::new() };
    let mut out = Vec::new();
    for cap in re.captures_iter(js) {
        let spec = cap[1].trim();
        let relative = spec.starts_with("./") || spec.starts_with("../") || (spec.starts_with('/') && !spec.starts_with("//"));
        if !relative && !spec.starts_with(origin.as_str().trim_end_matches('/')) {
            continue;
        }
        let Ok(target) = base.join(spec) else { continue };
        if target.origin() != origin.origin() {
            continue;
        }
        out.push(match target.query() {
            Some(q) => format!("{}?{q}", target.path()),
            None => target.path().to_string(),
        });
    }
    out
}

/// Fetches every cacheable path from `http_base` (the new container) and hashes the answers.
pub async fn snapshot(http_base: &str, cache_paths: &[String], public_url: &str) -> Manifest {
    let client = crate::http_client::client(Duration::from_secs(5));
    let mut queue: Vec<String> = cache_paths.to_vec();
    let mut manifest = Manifest::default();
    while let Some(path) = queue.pop() {
        if manifest.paths.contains_key(&path) || manifest.paths.len() >= MAX_PATHS {
            continue;
        }
        let entry = match client.get(format!("{http_base}{path}")).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let kind = r.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let body = r.bytes().await.unwrap_or_default();
                if (200..300).contains(&status) {
                    if kind.contains("text/html") {
                        queue.extend(linked_paths(&String::from_utf8_lossy(&body), public_url));
                    } else if kind.contains("javascript") {
                        queue.extend(imported_paths(&String::from_utf8_lossy(&body), &path, public_url));
                    }
                }
                format!("{status}:{}", &hex::encode(Sha256::digest(&body))[..16])
            }
            Err(_) => "000:unreachable".into(),
        };
        manifest.paths.insert(path, entry);
    }
    manifest
}

/// Credentials: the controller's own configuration (its environment) first, then the instance
/// env file. `None` when the token or the zone is missing.
pub fn settings(config: &Config, file: Option<&EnvFile>) -> Option<CloudflareSettings> {
    let pick = |own: &str, name: &str| {
        if !own.is_empty() && config.is_set(name) {
            return own.to_string();
        }
        file.and_then(|f| f.get(name)).map(str::to_string).filter(|v| !v.is_empty()).unwrap_or_else(|| own.to_string())
    };
    let token = pick(&config.cloudflare_api_token, names::CLOUDFLARE_API_TOKEN);
    let zone_id = pick(&config.cloudflare_zone_id, names::CLOUDFLARE_ZONE_ID);
    let api_base = pick(&config.cloudflare_api_base, names::CLOUDFLARE_API_BASE);
    (!token.is_empty() && !zone_id.is_empty()).then_some(CloudflareSettings { token, zone_id, api_base })
}

/// What a purge did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeOutcome {
    /// Why nothing was sent (no credentials, nothing changed, dry run).
    pub skipped: Option<String>,
    pub purged: Vec<String>,
    pub calls: usize,
    pub rate_limited: u32,
    pub unchanged: usize,
}

/// Purges the changed (or, with `all`, every answering) public URLs of an instance and
/// records the new hashes.
pub async fn run(
    http_base: &str,
    public_url: &str,
    cache_paths: &[String],
    manifest_file: &Path,
    settings: Option<CloudflareSettings>,
    all: bool,
    dry_run: bool,
) -> Result<PurgeOutcome, PurgeError> {
    let new = snapshot(http_base, cache_paths, public_url).await;
    let old = if all { None } else { Manifest::load(manifest_file) };
    let paths = changed_paths(old.as_ref(), &new);
    let origin = public_url.trim_end_matches('/');
    let urls: Vec<String> = paths.iter().map(|p| format!("{origin}{p}")).collect();
    let mut outcome = PurgeOutcome { unchanged: new.paths.len().saturating_sub(urls.len()), ..Default::default() };
    let Some(settings) = settings else {
        outcome.skipped = Some("no Cloudflare credentials (SCITEX_OROCHI_CLOUDFLARE_API_TOKEN and _ZONE_ID); purge skipped".into());
        outcome.purged = urls;
        return Ok(outcome);
    };
    if urls.is_empty() {
        outcome.skipped = Some("no cached URL changed".into());
        return Ok(outcome);
    }
    if dry_run {
        outcome.skipped = Some("dry run".into());
        outcome.purged = urls;
        return Ok(outcome);
    }
    let batches = CloudflareApi::new(&settings)?.purge(&urls).await?;
    outcome.calls = batches.len();
    outcome.rate_limited = batches.iter().map(|b| b.rate_limited).sum();
    outcome.purged = urls;
    if let Err(e) = new.save(manifest_file) {
        tracing::warn!(error = %e, "cannot record the purged hashes; the next deploy purges them again");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_and_removed_paths() {
        let m = |pairs: &[(&str, &str)]| Manifest { paths: pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() };
        let old = m(&[("/", "200:a"), ("/app.js", "200:b"), ("/gone.css", "200:c"), ("/sw.js", "404:x")]);
        let new = m(&[("/", "200:a"), ("/app.js", "200:B"), ("/gone.css", "404:y"), ("/sw.js", "404:x"), ("/new.png", "200:n")]);
        assert_eq!(changed_paths(Some(&old), &new), vec!["/app.js", "/gone.css", "/new.png"]);
        assert_eq!(changed_paths(None, &new), vec!["/", "/app.js", "/new.png"]);
    }

    #[test]
    fn links_are_same_origin_paths() {
        let html = r#"<link href="/static/a.css"><script src='app.js'></script><a href="https://other.org/x">
            <img src="https://orochi.example/i.png"><a href="//cdn.org/y"><a href="mailto:a@b">"#;
        assert_eq!(linked_paths(html, "https://orochi.example"), vec!["/static/a.css", "/app.js", "/i.png"]);
    }

    #[test]
    fn imports_resolve_against_the_module() {
        let js = r#"import { a, b } from "./state.js";
            import "../polyfill.js";
            export * from './chat/view.js';
            export { c } from "/abs/c.mjs?v=2";
            const m = await import("./lazy.js");
            import x from "lodash"; import y from "https://cdn.example/y.js";
            import z from "https://orochi.example/static/z.js";
            import(variable);"#;
        assert_eq!(
            imported_paths(js, "/static/js/main.js", "https://orochi.example"),
            vec!["/static/js/state.js", "/static/polyfill.js", "/static/js/chat/view.js", "/abs/c.mjs?v=2", "/static/js/lazy.js", "/static/z.js"]
        );
        assert!(imported_paths("no imports here; important(\"./x.js\")", "/a.js", "https://orochi.example").is_empty());
    }
}
