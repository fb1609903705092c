//! One registry across hub replicas on one PostgreSQL database: every replica lists every
//! replica's agents once (a workspace token only its workspace's), observers hear agents of
//! other replicas connect, change and leave, a replica killed with `kill -9` has its agents
//! dropped and announced gone by the live ones, and approvals and health records reach the
//! replica that holds the agent.

use scitex_orochi::config::DbLocation;
use serde_json::{Value, json};

use super::hub::hub_command;
use super::server;
use crate::common::*;

/// Heartbeats every 200 ms; a replica silent for 1.5 s is dead (long enough that a busy test
/// machine does not take a live replica for dead, short enough for the test's wait).
const HEARTBEAT_MS: u64 = 200;
const TIMEOUT_MS: u64 = 1500;

async fn replica(url: &str) -> TestHub {
    start_hub_with(|c| {
        c.db = DbLocation::parse(url).unwrap();
        c.replica_heartbeat_ms = HEARTBEAT_MS;
        c.replica_timeout_ms = TIMEOUT_MS;
        c.permission_grace_secs = 1;
    })
    .await
}

/// `n` hubs on one fresh database, and its URL.
async fn replicas(n: usize) -> (Vec<TestHub>, String) {
    let url = server::shared().fresh_db().await;
    let mut hubs = Vec::new();
    for _ in 0..n {
        hubs.push(replica(&url).await);
    }
    (hubs, url)
}

async fn get(url: String, token: &str) -> Value {
    let r = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

/// The names `/api/agents` (or another listing at `path`) shows `token` on `h`, in order.
async fn names(h: &TestHub, path: &str, token: &str) -> Vec<String> {
    let list = get(h.http(path), token).await;
    list.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
}

/// Waits until `h` lists exactly `want` to `token`.
async fn lists(h: &TestHub, token: &str, want: &[&str]) {
    eventually(&format!("listing {want:?}"), || async { names(h, "/api/agents", token).await == want }).await;
}

fn observer_url(h: &TestHub) -> String {
    format!("{}?token={ADMIN}", h.http("/ws").replace("http", "ws"))
}

/// The next presence event about `agent` that an observer hears.
async fn presence(o: &mut Peer, agent: &str) -> String {
    let f = o.recv_until(|f| f["type"] == "presence_change" && f["payload"]["agent"] == agent).await;
    f["payload"]["event"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_lists_every_agent_once() {
    let (hubs, _) = replicas(3).await;
    let mut peers = Vec::new();
    for (i, h) in hubs.iter().enumerate() {
        peers.push(h.agent(&format!("agent-{i}"), &[&format!("#room-{i}")]).await);
    }
    let all = ["agent-0", "agent-1", "agent-2"];
    for h in &hubs {
        lists(h, ADMIN, &all).await;
        assert_eq!(names(h, "/api/agents/registry", ADMIN).await, all);
        let registry = get(h.http("/api/agents/registry"), ADMIN).await;
        assert!(registry.as_array().unwrap().iter().all(|a| a["status"] == "online"), "{registry}");
        let stats = get(h.http("/api/stats"), ADMIN).await;
        assert_eq!(stats["agents_online"], 3, "{stats}");
        let channels = get(h.http("/api/channels"), ADMIN).await;
        assert_eq!(channels["#room-2"], json!(["agent-2"]), "members on another replica: {channels}");
    }
    // The socket's `presence` (the CLI's and the bridge's who) on one replica.
    peers[0].send(json!({"type": "presence", "sender": "agent-0", "id": "who", "payload": {}})).await;
    let who = peers[0].recv_until(|f| f["type"] == "presence").await;
    let mut listed: Vec<&String> = who["payload"]["agents"].as_object().unwrap().keys().collect();
    listed.sort();
    assert_eq!(listed, all, "{who}");
    assert_eq!(who["payload"]["agents"]["agent-1"], json!(["#room-1"]), "{who}");

    // A name moving to another replica is listed once, everywhere.
    let mut moved = hubs[1].agent("agent-0", &["#room-0"]).await;
    assert_eq!(peers[0].closed_with().await, 4000);
    for h in &hubs {
        lists(h, ADMIN, &all).await;
    }
    moved.say("agent-0", "#room-0", "moved").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_lists_only_its_agents_on_every_replica() {
    let (hubs, _) = replicas(2).await;
    let lab = hubs[0].workspace_token("lab").await;
    let other = hubs[1].workspace_token("other").await;
    let mut lab_agent = hubs[0].raw(&lab).await;
    lab_agent.register("lab-agent", &["#lab"]).await;
    let mut other_agent = hubs[1].raw(&other).await;
    other_agent.register("other-agent", &["#other"]).await;
    let _admin_agent = hubs[1].agent("admin-agent", &["#general"]).await;
    for h in &hubs {
        lists(h, ADMIN, &["admin-agent", "lab-agent", "other-agent"]).await;
        assert_eq!(names(h, "/api/agents", &lab).await, ["lab-agent"]);
        assert_eq!(names(h, "/api/agents/registry", &other).await, ["other-agent"]);
        let stats = get(h.http("/api/stats"), &lab).await;
        assert_eq!(stats["agents"], json!(["lab-agent"]), "{stats}");
    }
    other_agent.send(json!({"type": "presence", "sender": "other-agent", "id": "who", "payload": {}})).await;
    let who = other_agent.recv_until(|f| f["type"] == "presence").await;
    assert_eq!(who["payload"]["agents"], json!({"other-agent": ["#other"]}), "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_hear_agents_of_another_replica_connect_change_and_leave() {
    let (hubs, _) = replicas(2).await;
    let mut observer = Peer::connect(&observer_url(&hubs[1])).await;
    let mut agent = hubs[0].agent("roamer", &["#r"]).await;
    assert_eq!(presence(&mut observer, "roamer").await, "connected");
    agent.send(json!({"type": "status_update", "sender": "roamer", "id": "s", "payload": {"status": "busy", "current_task": "tests"}})).await;
    let status = observer.recv_until(|f| f["type"] == "status_update" && f["payload"]["agent"] == "roamer").await;
    assert_eq!((status["payload"]["status"].as_str(), status["payload"]["current_task"].as_str()), (Some("busy"), Some("tests")), "{status}");
    let listed = get(hubs[1].http("/api/agents"), ADMIN).await;
    assert_eq!(listed[0]["current_task"], "tests", "the change is in the other replica's listing: {listed}");
    drop(agent);
    assert_eq!(presence(&mut observer, "roamer").await, "disconnected");
    lists(&hubs[1], ADMIN, &[]).await;
}

/// A name moving from one replica to another: observers on a third see it connect twice and
/// never the first replica's late `disconnected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_of_a_third_replica_see_a_moved_agent_stay_connected() {
    let (hubs, _) = replicas(3).await;
    let mut observer = Peer::connect(&observer_url(&hubs[2])).await;
    let mut first = hubs[0].agent("mover", &["#m"]).await;
    assert_eq!(presence(&mut observer, "mover").await, "connected");
    let _second = hubs[1].agent("mover", &["#m"]).await;
    assert_eq!(first.closed_with().await, 4000);
    // After the takeover, the first replica's events reach the observer in its order: the
    // marker's arrive after whatever it said about the mover.
    let _marker = hubs[0].agent("marker", &["#m"]).await;
    let mut heard = Vec::new();
    while !(heard.contains(&("marker".to_string(), "connected".to_string())) && heard.contains(&("mover".to_string(), "connected".to_string()))) {
        let f = observer.recv_until(|f| f["type"] == "presence_change").await;
        heard.push((f["payload"]["agent"].as_str().unwrap().to_string(), f["payload"]["event"].as_str().unwrap().to_string()));
    }
    assert!(!heard.contains(&("mover".to_string(), "disconnected".to_string())), "{heard:?}");
    lists(&hubs[2], ADMIN, &["marker", "mover"]).await;
}

/// A hub process on `url` that reports like the in-process replicas, and its HTTP base.
async fn child_replica(url: &str, dir: &std::path::Path) -> (tokio::process::Child, String, String) {
    let (ws, http) = (free_port(), free_port());
    let child = hub_command(url, dir, ws, http)
        .env("SCITEX_OROCHI_REPLICA_HEARTBEAT_MS", HEARTBEAT_MS.to_string())
        .env("SCITEX_OROCHI_REPLICA_TIMEOUT_MS", TIMEOUT_MS.to_string())
        .spawn()
        .expect("hub binary starts");
    let base = format!("http://127.0.0.1:{http}");
    wait_healthy(&base).await;
    (child, format!("ws://127.0.0.1:{ws}/?token={ADMIN}"), base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_has_its_agents_dropped_and_announced_gone() {
    let (hubs, url) = replicas(1).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ws, _) = child_replica(&url, dir.path()).await;
    let mut observer = Peer::connect(&observer_url(&hubs[0])).await;
    let mut doomed = Peer::connect(&ws).await;
    doomed.register("doomed", &["#d"]).await;
    let _survivor = hubs[0].agent("survivor", &["#d"]).await;
    assert_eq!(presence(&mut observer, "doomed").await, "connected");
    lists(&hubs[0], ADMIN, &["doomed", "survivor"]).await;

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // No goodbye from the killed process: the live replica notices the silence.
    assert_eq!(presence(&mut observer, "doomed").await, "disconnected");
    lists(&hubs[0], ADMIN, &["survivor"]).await;
    let rows = get(hubs[0].http("/api/channels"), ADMIN).await;
    assert_eq!(rows["#d"], json!(["survivor"]), "{rows}");
}

/// Asks for a tool's use; returns the request's id.
async fn ask(asker: &mut Peer, name: &str) -> String {
    asker.send(json!({"type": "permission_request", "sender": name, "id": "p1", "payload": {
        "request_id": "r1", "tool_name": "Bash", "description": "Run the tests", "input_preview": "cargo test"}}))
        .await;
    let ack = asker.recv_until(|f| f["payload"]["ref"] == "p1").await;
    ack["payload"]["permission_id"].as_str().unwrap_or_else(|| panic!("{ack}")).to_string()
}

async fn allow(h: &TestHub, id: &str) {
    let r = reqwest::Client::new().post(h.http(&format!("/api/permissions/{id}"))).bearer_auth(ADMIN).json(&json!({"behavior": "allow"}));
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{}: {}", r.status(), r.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_health_reach_the_replica_that_holds_the_agent() {
    let (hubs, _) = replicas(2).await;
    let mut asker = hubs[0].agent("asker", &["#general"]).await;
    let id = ask(&mut asker, "asker").await;

    allow(&hubs[1], &id).await;
    let verdict = asker.recv_until(|f| f["type"] == "permission_verdict" || f["type"] == "permission_expired").await;
    assert_eq!((verdict["type"].as_str(), verdict["payload"]["behavior"].as_str()), (Some("permission_verdict"), Some("allow")), "{verdict}");

    let r = reqwest::Client::new()
        .post(hubs[1].http("/api/agents/health"))
        .bearer_auth(ADMIN)
        .json(&json!({"agent": "asker", "state": "stuck_prompt", "reason": "waiting"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // On the agent's replica, and on the one that saved it (which lists the agent as remote).
    for h in &hubs {
        eventually("the health record in the listing", || async {
            let listed = get(h.http("/api/agents"), ADMIN).await;
            listed[0]["name"] == "asker" && listed[0]["health"]["state"] == "stuck_prompt"
        })
        .await;
    }
}

/// The agent's socket went away from one replica, and the agent came back on another within
/// the grace period: the request stays answerable, and its verdict reaches the new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlives_its_agent_moving_to_another_replica() {
    let (hubs, _) = replicas(2).await;
    let mut observer = Peer::connect(&observer_url(&hubs[0])).await;
    let mut asker = hubs[0].agent("mover", &["#general"]).await;
    let id = ask(&mut asker, "mover").await;
    drop(asker);
    assert_eq!(presence(&mut observer, "mover").await, "connected");
    assert_eq!(presence(&mut observer, "mover").await, "disconnected");
    let mut back = hubs[1].agent("mover", &["#general"]).await;
    // Heard on the first replica: the agent is back, its grace period there ended.
    assert_eq!(presence(&mut observer, "mover").await, "connected");
    // Past the grace period (1 s): a request still counting down would have expired by now.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    allow(&hubs[0], &id).await;
    let verdict = back.recv_until(|f| f["type"] == "permission_verdict" || f["type"] == "permission_expired").await;
    assert_eq!(verdict["payload"]["behavior"], "allow", "{verdict}");
}
