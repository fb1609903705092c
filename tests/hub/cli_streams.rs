//! CLI paths as a child process against a real hub: `login --json` streams what the channel
//! gets as JSON lines, `setup-push` creates, keeps and rotates the keys where `serve` keeps them,
//! and `setup-push --test` notifies a real (local) push service through the hub.

use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use web_push_native::p256::{self, elliptic_curve::sec1::ToEncodedPoint};

use crate::common::*;
use crate::push::{fake_push_service, rand_core_rng, wait_for};

/// The CLI with nothing from this process's environment but PATH, pointed at `h` when given,
/// keeping its data (the push keys) in `data`.
fn cli(h: Option<&TestHub>, data: &std::path::Path, token: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCITEX_OROCHI_TOKEN", token)
        .env("SCITEX_OROCHI_DB", data.join("orochi.db"))
        .env("SCITEX_OROCHI_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let ports = h.map_or((free_port(), free_port()), |h| (h.hub.ws_addr.port(), h.hub.http_addr.port()));
    cmd.env("SCITEX_OROCHI_PORT", ports.0.to_string()).env("SCITEX_OROCHI_DASHBOARD_PORT", ports.1.to_string());
    cmd
}

fn stdout_json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {} / {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[tokio::test]
async fn login_streams_the_channels_messages_as_json_lines() {
    let h = start_hub().await;
    let mut child = cli(Some(&h), h.dir.path(), ADMIN)
        .args(["login", "--channels", "#dev,#ops", "--json"])
        .env("SCITEX_OROCHI_AGENT", "listener")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says so on stderr once the hub acked its register.
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT, err.next_line()).await.unwrap().unwrap().unwrap();
    assert!(first.starts_with("logged in as listener"), "{first}");

    let mut talker = h.agent("talker", &["#dev", "#ops", "#elsewhere"]).await;
    talker.say("talker", "#elsewhere", "not for the listener").await;
    let a = talker.say("talker", "#dev", "first \"quoted\" line\nand a second").await;
    talker.say("talker", "#ops", "@listener second").await;
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let line = tokio::time::timeout(WAIT, out.next_line()).await.expect("a line within the wait").unwrap().expect("stdout open");
        lines.push(serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}")));
    }
    assert_eq!(lines[0]["channel"], "#dev");
    assert_eq!(lines[0]["sender"], "talker");
    assert_eq!(lines[0]["content"], "first \"quoted\" line\nand a second");
    assert_eq!(lines[0]["seq"], a["payload"]["seq"]);
    assert_eq!((lines[1]["channel"].as_str(), lines[1]["content"].as_str()), (Some("#ops"), Some("@listener second")));
    assert!(lines.iter().all(|l| l["ts"].is_string() && l["id"].is_string()), "{lines:?}");

    // Interrupted, it leaves cleanly (exit 0) without having printed the other channel.
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    let status = tokio::time::timeout(WAIT, child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
    while let Some(line) = out.next_line().await.unwrap() {
        assert!(!line.contains("not for the listener"), "{line}");
    }
}

#[tokio::test]
async fn setup_push_creates_keeps_and_rotates_the_keys_serve_uses() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| {
        let mut cmd = cli(None, dir.path(), ADMIN);
        cmd.args(args);
        async move { cmd.output().await.unwrap() }
    };
    let key_file = dir.path().join("vapid-keys.json");

    let dry = run(&["setup-push", "--dry-run", "--json"]).await;
    assert_eq!(stdout_json(&dry)["action"], "create");
    assert!(!key_file.exists(), "a dry run writes nothing");

    let created = run(&["setup-push", "--json"]).await;
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created = stdout_json(&created);
    assert_eq!(created["status"], "create");
    let public = created["public_key"].as_str().unwrap().to_string();
    assert_eq!(URL_SAFE_NO_PAD.decode(&public).unwrap().len(), 65);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let private: Value = serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let private = private["private_key"].as_str().unwrap();
    assert!(!created.to_string().contains(private), "the private key is never printed");

    // Again: the same keys are kept (what serve would use).
    let kept = stdout_json(&run(&["setup-push", "--json"]).await);
    assert_eq!((kept["status"].as_str(), kept["public_key"].as_str()), (Some("keep"), Some(public.as_str())));

    // Rotating asks first; with nobody at a terminal the answer is no.
    let refused = run(&["setup-push", "--force"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not confirmed"));
    let rotated = stdout_json(&run(&["setup-push", "--force", "--yes", "--json"]).await);
    assert_eq!(rotated["status"], "rotate");
    assert_ne!(rotated["public_key"], public.as_str());

    // Keys from the environment are rotated there, not here.
    let mut cmd = cli(None, dir.path(), ADMIN);
    let from_env = cmd
        .args(["setup-push", "--force", "--yes"])
        .env("SCITEX_OROCHI_VAPID_PUBLIC", rotated["public_key"].as_str().unwrap())
        .env("SCITEX_OROCHI_VAPID_PRIVATE", serde_json::from_str::<Value>(&std::fs::read_to_string(&key_file).unwrap()).unwrap()["private_key"].as_str().unwrap())
        .output()
        .await
        .unwrap();
    assert_eq!(from_env.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&from_env.stderr).contains("rotate them there"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_push_test_notifies_every_subscription_through_the_hub() {
    let h = start_hub().await;
    let ua_secret = p256::SecretKey::random(&mut rand_core_rng());
    let ua_public = URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_encoded_point(false).as_bytes());
    let auth = [3u8; 16];
    let (endpoint, fake) = fake_push_service().await;
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": ua_public, "auth": URL_SAFE_NO_PAD.encode(auth)}, "name": "yusuke"});
    let r = reqwest::Client::new().post(h.http("/api/push/subscribe")).bearer_auth(ADMIN).json(&sub).send().await.unwrap();
    assert_eq!(r.status(), 201);

    let out = cli(Some(&h), h.dir.path(), ADMIN).args(["setup-push", "--test", "--json"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result = stdout_json(&out);
    assert_eq!((result["sent"].as_u64(), result["failed"].as_u64()), (Some(1), Some(0)), "{result}");
    wait_for(&fake, 1).await;
    let body = fake.lock().unwrap().received[0].1.clone();
    let note: Value = serde_json::from_slice(&web_push_native::decrypt(body, &ua_secret, &auth.into()).expect("decrypts")).unwrap();
    assert!(note["title"].is_string(), "{note}");

    // A refused token is exit 3, as for every command that talks to the hub; so is no hub.
    let out = cli(Some(&h), h.dir.path(), "wrong-token").args(["setup-push", "--test"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(None, h.dir.path(), ADMIN).args(["setup-push", "--test"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}
