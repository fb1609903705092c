//! The published Python client (PyPI `scitex-orochi==0.13.0`, in `.venv-ref`) against our hub.
//!
//! `tests/py/compat_client.py` drives the client's public API; this side checks, through
//! raw agent sockets, an observer socket and the REST API, that what the client did really
//! happened on the hub. The two sides take turns over stdin/stdout JSON lines.
//! `OROCHI_PY_COMPAT_TRACE=1` prints every event of the script.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::common::*;

const PY: &str = "py-compat";
/// How long one step of the script may take.
const STEP: Duration = Duration::from_secs(30);
/// The whole conversation with the script.
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// The row keys of the reference's history (reference-hub.md §6).
const ROW_KEYS: [&str; 9] =
    ["msg_id", "ts", "channel", "sender", "content", "mentions", "metadata", "sender_type", "attachments"];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.venv-ref/bin/python`, created by `scripts/ensure-py-ref.sh` when it is missing.
pub async fn reference_python(root: &Path) -> PathBuf {
    let python = root.join(".venv-ref/bin/python");
    let usable = python.exists()
        && Command::new(&python)
            .args(["-c", "import scitex_orochi"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
    if !usable {
        let out = Command::new("bash")
            .arg(root.join("scripts/ensure-py-ref.sh"))
            .current_dir(root)
            .output()
            .await
            .expect("run scripts/ensure-py-ref.sh");
        assert!(
            out.status.success(),
            "scripts/ensure-py-ref.sh failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(python.exists(), "{} missing after ensure-py-ref.sh", python.display());
    python
}

/// The running script: JSON events on stdout, go lines on stdin, stderr kept for failures.
struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    seen: Vec<String>,
}

impl Script {
    async fn spawn(python: &Path, root: &Path, ws_port: u16) -> Script {
        let mut child = Command::new(python)
            .arg(root.join("tests/py/compat_client.py"))
            .current_dir(root)
            .env_remove("SCITEX_OROCHI_ADMIN_TOKEN")
            .env_remove("SCITEX_OROCHI_URL")
            .env_remove("SCITEX_OROCHI_AGENT")
            .env("SCITEX_OROCHI_HOST", "127.0.0.1")
            .env("SCITEX_OROCHI_PORT", ws_port.to_string())
            .env("SCITEX_OROCHI_TOKEN", ADMIN)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the Python client script");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Script { child, stdin, lines, stderr, seen: Vec::new() }
    }

    fn context(&self) -> String {
        format!("events so far: {:?}\n--- script stderr ---\n{}", self.seen, self.stderr.lock().unwrap())
    }

    /// The next event line, which must be `event`.
    async fn expect(&mut self, event: &str) -> Value {
        let line = match tokio::time::timeout(STEP, self.lines.next_line()).await {
            Err(_) => panic!("no {event:?} event from the script within {STEP:?}\n{}", self.context()),
            Ok(Err(e)) => panic!("reading the script's stdout: {e}\n{}", self.context()),
            Ok(Ok(None)) => {
                // Let stderr arrive before reporting.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!("script exited before {event:?}\n{}", self.context())
            }
            Ok(Ok(Some(line))) => line,
        };
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("non-JSON line {line:?}: {e}\n{}", self.context()));
        if v["event"] == "error" {
            panic!(
                "the Python client failed before {event:?}: {}\n{}\n{}",
                v["error"],
                v["traceback"].as_str().unwrap_or(""),
                self.context()
            );
        }
        if std::env::var_os("OROCHI_PY_COMPAT_TRACE").is_some() {
            eprintln!("python_compat: {v}");
        }
        assert_eq!(v["event"], event, "unexpected event {v}\n{}", self.context());
        self.seen.push(event.to_string());
        v
    }

    async fn go(&mut self, v: Value) {
        self.stdin.write_all(format!("{v}\n").as_bytes()).await.expect("write to the script");
        self.stdin.flush().await.unwrap();
    }
}

async fn agents(h: &TestHub) -> Vec<Value> {
    let resp =
        reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.expect("GET /api/agents");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("agents JSON")
}

async fn agent_entry(h: &TestHub, name: &str) -> Option<Value> {
    agents(h).await.into_iter().find(|a| a["name"] == name)
}

fn contents(msgs: &Value) -> Vec<&str> {
    msgs.as_array().expect("message list").iter().map(|m| m["payload"]["content"].as_str().unwrap_or("")).collect()
}

/// A JSON list of strings as a set (the reference keeps channels in a Python set).
fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn check_row_shape(row: &Value) {
    let keys: BTreeSet<&str> = row.as_object().expect("row object").keys().map(String::as_str).collect();
    for k in ROW_KEYS {
        assert!(keys.contains(k), "history row lacks {k:?}: {row}");
    }
    let extra: Vec<&&str> = keys.iter().filter(|k| !ROW_KEYS.contains(k) && **k != "seq").collect();
    assert!(extra.is_empty(), "history row has keys the reference lacks: {extra:?} in {row}");
    assert!(row["msg_id"].is_string() && row["ts"].is_string() && row["content"].is_string(), "{row}");
    assert!(row["mentions"].is_array() && row["metadata"].is_object() && row["attachments"].is_array(), "{row}");
}

#[tokio::test(flavor = "multi_thread")]
async fn published_python_client_works_against_our_hub() {
    let root = repo_root();
    let python = reference_python(&root).await;
    let h = start_hub().await;
    let ws_port = h.hub.ws_addr.port();

    // Rust-side witnesses: a subscriber of #general, an agent reached only by @mention, and an observer.
    let mut watch = h.agent("rust-watch", &["#general", "#rust-only", "#py-extra"]).await;
    let mut other = h.agent("rust-other", &["#elsewhere"]).await;
    let observer_url = format!("{}?token={ADMIN}", h.http("/ws").replacen("http://", "ws://", 1));
    let mut observer = Peer::connect(&observer_url).await;

    let mut py = Script::spawn(&python, &root, ws_port).await;
    let run = async {
        // --- register (connect) and who() ---
        let started = py.expect("starting").await;
        assert_eq!(
            started["uri"],
            format!("ws://127.0.0.1:{ws_port}/"),
            "the client builds its URL from SCITEX_OROCHI_HOST/PORT"
        );
        assert_eq!(started["agent_id"], "py-compat@py-machine");
        let connected = py.expect("connected").await;
        let who = &connected["who"];
        assert_eq!(who[PY], json!(["#general"]), "who() right after connect lists the Python agent: {who}");
        assert_eq!(names(&who["rust-watch"]), names(&json!(["#general", "#py-extra", "#rust-only"])), "{who}");
        assert_eq!(who["rust-other"], json!(["#elsewhere"]), "{who}");

        let joined = observer.recv_until(|f| f["type"] == "presence_change" && f["payload"]["agent"] == PY).await;
        assert_eq!(joined["payload"]["event"], "connected");
        assert_eq!(joined["payload"]["agent_id"], "py-compat@py-machine");
        assert_eq!(joined["payload"]["project"], "py-project");
        assert_eq!(joined["payload"]["channels"], json!(["#general"]));

        // Presence over REST while connected.
        let me = agent_entry(&h, PY).await.expect("/api/agents lists the connected Python agent");
        assert_eq!(me["machine"], "py-machine");
        assert_eq!(me["role"], "py-role");
        assert_eq!(me["project"], "py-project");
        assert_eq!(me["agent_id"], "py-compat@py-machine");
        assert_eq!(me["channels"], json!(["#general"]));
        assert_eq!(me["status"], "online");
        assert_eq!(me["workspace_id"], "", "admin-token agents have workspace \"\"");
        py.go(json!({})).await;

        // --- send: channel delivery and mention delivery, original frame forwarded ---
        let sent = py.expect("sent").await;
        let got = watch.recv_until(|f| f["type"] == "message").await;
        assert_eq!(got["sender"], PY);
        assert_eq!(got["payload"]["channel"], "#general");
        assert_eq!(got["payload"]["content"], "hello from python, @rust-other");
        assert_eq!(got["payload"]["metadata"], json!({"k": "v", "n": 1}));
        // The hub names the message: the live id is its msg_id, not the client's frame id.
        assert_ne!(got["id"], sent["id"], "the hub's msg_id, not the client's frame id");
        let msg_id = got["id"].clone();
        assert!(got["ts"].as_str().is_some_and(|t| t >= sent["ts"].as_str().unwrap()), "the hub stamps its own ts");
        let by_mention = other.recv_until(|f| f["type"] == "message").await;
        assert_eq!(by_mention["id"], msg_id, "@rust-other reaches an agent not on #general");
        assert_eq!(by_mention["payload"]["channel"], "#general");
        watch.expect_silence(Duration::from_millis(200)).await;
        other.expect_silence(Duration::from_millis(100)).await;
        let seen_by_observer = observer.recv_until(|f| f["type"] == "message" && f["id"] == msg_id).await;
        assert_eq!(seen_by_observer["sender"], PY);

        // --- subscribe, update_status, heartbeat ---
        let state = py.expect("state_sent").await;
        let status = observer.recv_until(|f| f["type"] == "status_update").await;
        assert_eq!(status["sender"], PY);
        assert_eq!(status["payload"]["agent"], PY);
        assert_eq!(status["payload"]["status"], "busy");
        assert_eq!(status["payload"]["current_task"], "compat testing");
        assert_eq!(status["payload"]["machine"], "py-machine");
        let me = agent_entry(&h, PY).await.expect("still listed");
        assert_eq!(me["status"], "busy", "update_status(status=...) applied: {me}");
        assert_eq!(me["current_task"], "compat testing");
        assert_eq!(
            names(&me["channels"]),
            names(&json!(["#general", "#py-extra"])),
            "subscribe() joined #py-extra: {me}"
        );
        let beat = state["heartbeat"].as_object().expect("heartbeat payload");
        assert!(beat.contains_key("cpu_count"), "the client collects metrics: {beat:?}");
        let resources = me["resources"].as_object().expect("resources object");
        for (k, v) in beat {
            assert_eq!(resources.get(k), Some(v), "heartbeat {k} stored: {resources:?}");
        }
        assert_eq!(resources.len(), beat.len(), "{resources:?} vs {beat:?}");

        // --- deliveries to the Python client: subscribed channel, @mention, and a non-delivery ---
        assert_eq!(watch.say("rust-watch", "#rust-only", "no mention here").await["type"], "ack");
        assert_eq!(watch.say("rust-watch", "#py-extra", "extra channel hello").await["type"], "ack");
        assert_eq!(watch.say("rust-watch", "#rust-only", "hey @py-compat mention check").await["type"], "ack");
        py.go(json!({"expect": ["extra channel hello", "hey @py-compat mention check"]})).await;
        let received = py.expect("received").await;
        let msgs = &received["messages"];
        assert_eq!(contents(msgs), ["extra channel hello", "hey @py-compat mention check"], "{msgs}");
        for m in msgs.as_array().unwrap() {
            assert_eq!(m["type"], "message");
            assert_eq!(m["sender"], "rust-watch");
        }
        assert_eq!(msgs[0]["payload"]["channel"], "#py-extra");
        assert_eq!(msgs[1]["payload"]["channel"], "#rust-only", "mention delivery keeps the message's channel");
        let mention_ts = msgs[1]["ts"].as_str().expect("ts").to_string();

        // --- unsubscribe ---
        py.expect("unsubscribed").await;
        let me = agent_entry(&h, PY).await.expect("still listed");
        assert_eq!(me["channels"], json!(["#general"]), "unsubscribe() left #py-extra: {me}");
        assert_eq!(watch.say("rust-watch", "#py-extra", "after unsubscribe").await["type"], "ack");
        assert_eq!(watch.say("rust-watch", "#rust-only", "@py-compat final").await["type"], "ack");
        py.go(json!({"expect": ["@py-compat final"], "since": mention_ts})).await;
        let received = py.expect("received").await;
        assert_eq!(contents(&received["messages"]), ["@py-compat final"], "nothing from #py-extra after unsubscribe");

        // --- history via query_history(), in the reference row shape, newest first ---
        let hist = py.expect("history").await;
        let general = hist["general"].as_array().expect("#general history");
        assert_eq!(general.len(), 1, "{general:?}");
        let row = &general[0];
        check_row_shape(row);
        assert_eq!(row["msg_id"], msg_id);
        assert!(row["ts"].as_str().is_some_and(|t| t >= sent["ts"].as_str().unwrap()), "the stored ts is the hub's");
        assert_eq!(row["channel"], "#general");
        assert_eq!(row["sender"], PY);
        assert_eq!(row["content"], "hello from python, @rust-other");
        assert_eq!(row["mentions"], json!(["rust-other"]));
        assert_eq!(row["metadata"], json!({"k": "v", "n": 1}));
        assert_eq!(row["sender_type"], "agent");
        assert_eq!(row["attachments"], json!([]));

        let rust_only = hist["rust_only"].as_array().expect("#rust-only history");
        let texts: Vec<&str> = rust_only.iter().map(|r| r["content"].as_str().unwrap()).collect();
        assert_eq!(texts, ["@py-compat final", "hey @py-compat mention check", "no mention here"], "newest first");
        for r in rust_only {
            check_row_shape(r);
            assert_eq!(r["channel"], "#rust-only");
            assert_eq!(r["sender"], "rust-watch");
            assert_eq!(r["sender_type"], "agent");
            assert_eq!(r["metadata"], json!({}));
        }
        assert_eq!(rust_only[0]["mentions"], json!(["py-compat"]));
        assert_eq!(rust_only[2]["mentions"], json!([]));
        let ts: Vec<&str> = rust_only.iter().map(|r| r["ts"].as_str().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] > w[1]), "descending ts: {ts:?}");
        assert!(ts.iter().all(|t| t.ends_with("+00:00")), "reference timestamp format: {ts:?}");
        let since: Vec<&str> =
            hist["since"].as_array().expect("since history").iter().map(|r| r["content"].as_str().unwrap()).collect();
        assert_eq!(since, ["@py-compat final", "hey @py-compat mention check"], "since is inclusive");

        let burst: Vec<&str> = hist["burst"]
            .as_array()
            .expect("#py-burst history")
            .iter()
            .map(|r| r["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            burst,
            ["burst 2", "burst 1", "burst 0"],
            "pipelined sends are all stored, and readable right after"
        );
        let task =
            observer.recv_until(|f| f["type"] == "status_update" && f["payload"]["current_task"] == "burst done").await;
        assert_eq!(task["payload"]["status"], "busy", "update_status(current_task=...) keeps the status");

        let who = &hist["who"];
        assert_eq!(who[PY], json!(["#general"]), "who() after draining acks: {who}");
        assert!(who.get("rust-watch").is_some(), "{who}");

        // --- every frame acked, nothing unexpected on the client's socket ---
        let acks = py.expect("acks").await;
        let sent_ids: BTreeSet<&str> =
            acks["sent_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let ack_refs: BTreeSet<&str> =
            acks["ack_refs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(sent_ids, ack_refs, "one ack per frame the client sent");
        assert_eq!(acks["ack_refs"].as_array().unwrap().len(), acks["sent_ids"].as_array().unwrap().len());
        assert_eq!(acks["stray"], json!([]), "no unsolicited frames (e.g. an echo of its own message)");
        if acks["ack_refs"] != acks["sent_ids"] {
            // The reference acks strictly in frame order; the client does not depend on it.
            let kind_of = |id: &Value| {
                let i = acks["sent_ids"].as_array().unwrap().iter().position(|s| s == id).unwrap();
                acks["sent_types"][i].as_str().unwrap().to_string()
            };
            let order: Vec<String> = acks["ack_refs"].as_array().unwrap().iter().map(kind_of).collect();
            eprintln!(
                "python_compat note: acks not in frame order.\n  sent:  {}\n  acked: {order:?}",
                acks["sent_types"]
            );
        }
        py.expect("done").await;
    };
    if tokio::time::timeout(SCRIPT_LIMIT, run).await.is_err() {
        panic!("the Python client run exceeded {SCRIPT_LIMIT:?}\n{}", py.context());
    }
    let status = tokio::time::timeout(STEP, py.child.wait()).await.expect("script exits").expect("wait");
    assert!(status.success(), "script exit status {status}\n{}", py.context());

    // Presence ends with the connection.
    let left = observer.recv_until(|f| f["type"] == "presence_change" && f["payload"]["agent"] == PY).await;
    assert_eq!(left["payload"]["event"], "disconnected");
    let mut gone = false;
    for _ in 0..50 {
        if agent_entry(&h, PY).await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the Python agent is still listed after its script exited");
    assert!(agent_entry(&h, "rust-watch").await.is_some(), "other agents stay");
}

/// A refused token: the published client's `connect()` raises its `ConnectionError`
/// ("Registration failed"), as against the reference, not a WebSocket close error.
#[tokio::test]
async fn published_python_client_reads_a_refused_token_as_connection_error() {
    let root = repo_root();
    let python = reference_python(&root).await;
    let h = start_hub().await;
    let script = "import asyncio\nfrom scitex_orochi import OrochiClient\nasync def main():\n    c = OrochiClient(name='py-bad', token='wrong')\n    try:\n        await c.connect()\n        print('connected')\n    except Exception as e:\n        print(type(e).__name__, e)\nasyncio.run(main())\n";
    let out = Command::new(&python)
        .args(["-c", script])
        .env_remove("SCITEX_OROCHI_URL")
        .env("SCITEX_OROCHI_HOST", "127.0.0.1")
        .env("SCITEX_OROCHI_PORT", h.hub.ws_addr.port().to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output();
    let out = tokio::time::timeout(STEP, out).await.expect("the script ends").unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with("ConnectionError Registration failed"), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("AUTH_FAILED"), "{printed}");
}
