//! Skills and docs: CLI browsers and the hub's pages, including hostile names.

use serde_json::Value;
use tokio::process::Command;

use crate::common::*;

/// Runs the real binary with these arguments.
pub async fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scitex-orochi")).args(args).env("SCITEX_OROCHI_LOG", "warn").output().await.unwrap()
}

/// Its stdout as JSON, or a panic that shows what it printed instead.
pub fn json_out(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

#[tokio::test]
async fn cli_lists_shows_searches_and_exports() {
    for shelf in ["skills", "docs"] {
        let list = json_out(&cli(&[shelf, "list", "--json"]).await);
        let entries = list.as_array().unwrap();
        assert!(entries.len() >= 4, "{shelf}: {list}");
        assert!(entries.iter().all(|e| !e["name"].as_str().unwrap().is_empty() && !e["description"].as_str().unwrap().is_empty()), "{shelf} front matter");
    }
    let hits = json_out(&cli(&["skills", "search", "etiquete", "--json"]).await);
    assert_eq!(hits[0]["name"], "hpc-etiquette", "typo-tolerant ranking: {hits}");
    let hits = json_out(&cli(&["docs", "search", "close codes", "--json"]).await);
    let top: Vec<&str> = hits.as_array().unwrap().iter().take(3).map(|h| h["name"].as_str().unwrap()).collect();
    assert!(top.contains(&"protocol"), "{hits}");
    let shown = json_out(&cli(&["docs", "show", "configuration", "--json"]).await);
    assert!(shown["markdown"].as_str().unwrap().contains("SCITEX_OROCHI_PORT"));
    for bad in ["protcol", "../../etc/passwd", ""] {
        let o = cli(&["docs", "show", bad]).await;
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        if bad == "protcol" {
            assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean protocol"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let o = cli(&["skills", "export", dir.path().to_str().unwrap(), "--json"]).await;
    assert!(o.status.success());
    let skill = std::fs::read_to_string(dir.path().join("agent-health-check").join("SKILL.md")).unwrap();
    assert!(skill.starts_with("---\nname: agent-health-check\n"));
    let o = cli(&["docs", "export", dir.path().join("d").to_str().unwrap(), "--dry-run"]).await;
    assert!(o.status.success() && !dir.path().join("d").exists(), "dry run writes nothing");
}

#[tokio::test]
async fn hub_serves_rendered_pages_and_json() {
    let h = start_hub().await;
    let http = reqwest::Client::new();
    let page = http.get(h.http("/skills")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("agent-health-check") && page.contains("<form"));
    let page = http.get(h.http("/docs/protocol")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<table>") && page.contains("4008"));
    let found = http.get(h.http("/docs?q=%3Cscript%3Ealert(1)%3C/script%3E")).send().await.unwrap().text().await.unwrap();
    assert!(!found.contains("<script>alert"), "the query is escaped");
    let r = http.get(h.http("/skills/..%2F..%2Fetc%2Fpasswd")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let api: Value = http.get(h.http("/api/skills?q=deploy")).send().await.unwrap().json().await.unwrap();
    assert_eq!(api[0]["name"], "agent-deployment", "{api}");
    let one: Value = http.get(h.http("/api/docs/configuration")).send().await.unwrap().json().await.unwrap();
    assert!(one["html"].as_str().unwrap().contains("<table>"));
    let r = http.get(h.http("/api/docs/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
