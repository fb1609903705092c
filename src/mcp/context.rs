//! The `context` tool: read the agent's own terminal (tmux `capture-pane` or screen
//! `hardcopy`, run with an argument vector, never through a shell) and find the context-window
//! percentage Claude Code shows in its status line.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::{Value, json};
use tokio::process::Command;

use super::error::{Code, ToolError, ToolResult};

static PERCENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{1,3}(?:\.\d+)?)\s*%").expect("valid regex"));
/// tmux targets (`session:window.pane`, `%3`, `$1`, `@2`) and screen session names.
static TARGET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9._:%@$+-]{1,128}$").expect("valid regex"));

/// How many lines from the bottom are searched.
const BOTTOM_LINES: usize = 5;

/// The status line and its percentage: among the bottom non-empty lines, the lowest one that
/// mentions the context (`context`, `ctx`) and has a percentage, else the lowest percentage.
pub fn parse_status(screen: &str) -> (Option<f64>, String) {
    let bottom: Vec<&str> = screen.lines().rev().filter(|l| !l.trim().is_empty()).take(BOTTOM_LINES).collect();
    let pick = |want_word: bool| {
        bottom.iter().find_map(|line| {
            let lower = line.to_lowercase();
            if want_word && !(lower.contains("context") || lower.contains("ctx")) {
                return None;
            }
            let pct = PERCENT.captures_iter(line).last()?.get(1)?.as_str().parse::<f64>().ok()?;
            Some((Some(pct), line.trim().to_string()))
        })
    };
    pick(true).or_else(|| pick(false)).unwrap_or_else(|| (None, bottom.first().map(|l| l.trim().to_string()).unwrap_or_default()))
}

async fn run(program: &str, args: &[&str]) -> ToolResult<String> {
    let out = tokio::time::timeout(Duration::from_secs(5), Command::new(program).args(args).kill_on_drop(true).output())
        .await
        .map_err(|_| ToolError::internal(format!("{program} did not answer within 5 s")))?
        .map_err(|e| {
            ToolError::new(Code::NotFound, format!("cannot run {program}: {e}"), "install it, or set SCITEX_OROCHI_MULTIPLEXER")
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(ToolError::new(
            Code::NotFound,
            format!("{program} {}: {err}", args.join(" ")),
            "give the session or pane as target (the agent's name is the default)",
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Captures the screen of `target` (default: the pane or session this bridge runs in, else the
/// agent's name) and reports the context percentage.
pub async fn read(multiplexer: &str, target: Option<&str>, agent: &str) -> ToolResult<Value> {
    let inherited = std::env::var(if multiplexer == "screen" { "STY" } else { "TMUX_PANE" }).ok();
    let target = target.filter(|t| !t.is_empty()).map(String::from).or(inherited).unwrap_or_else(|| agent.to_string());
    if !TARGET.is_match(&target) {
        return Err(ToolError::invalid(
            format!("{target:?} is not a valid session or pane name"),
            "use letters, digits and . _ : % @ $ + - only",
        ));
    }
    let screen = if multiplexer == "screen" {
        let file = std::env::temp_dir().join(format!("orochi-hardcopy-{}", uuid::Uuid::new_v4()));
        let path = file.to_string_lossy().into_owned();
        let result = run("screen", &["-S", &target, "-X", "hardcopy", &path]).await;
        let text = tokio::fs::read_to_string(&file).await;
        let _ = tokio::fs::remove_file(&file).await;
        result?;
        text.map_err(|e| ToolError::internal(format!("screen wrote no hardcopy: {e}")))?
    } else {
        run("tmux", &["capture-pane", "-p", "-t", &target]).await?
    };
    let (percent, line) = parse_status(&screen);
    Ok(json!({"context_percent": percent, "raw_statusline": line, "multiplexer": multiplexer, "target": target}))
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn finds_the_context_percentage() {
        let screen = "> doing work 50% done\n\n  Opus 4 | ctx 37% | $1.20\n   \n";
        assert_eq!(parse_status(screen), (Some(37.0), "Opus 4 | ctx 37% | $1.20".into()));
        let screen = "building 12%\nContext left until auto-compact: 8%\n? for shortcuts";
        assert_eq!(parse_status(screen).0, Some(8.0));
        assert_eq!(parse_status("only 42.5 % here\n").0, Some(42.5));
        assert_eq!(parse_status("no numbers\n"), (None, "no numbers".into()));
        assert_eq!(parse_status(""), (None, String::new()));
    }
}
