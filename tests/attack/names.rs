//! Names belong to a workspace, and what a workspace creates is its own: takeovers,
//! impersonation on every way in (agent socket, observer socket, REST) and cross-workspace reads.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::common::eventually;
use crate::harness::{ADMIN, ChildHub, Peer, workspace};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sends a frame and returns the reply that references it (ack or error).
async fn ask(p: &mut Peer, kind: &str, sender: &str, payload: Value) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    p.send(json!({"type": kind, "sender": sender, "id": id, "payload": payload})).await;
    p.recv_until(|f| f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await
}

fn code(reply: &Value) -> &str {
    reply["payload"]["code"].as_str().unwrap_or_else(|| panic!("an error frame: {reply}"))
}

async fn register(p: &mut Peer, name: &str, channels: &[&str]) -> Value {
    ask(p, "register", name, json!({"channels": channels})).await
}

async fn say(p: &mut Peer, sender: &str, channel: &str, content: &str) -> Value {
    ask(p, "message", sender, json!({"channel": channel, "content": content})).await
}

/// The admin's observer socket on the HTTP port.
async fn observer(hub: &ChildHub) -> Peer {
    Peer::connect(&format!("ws://127.0.0.1:{}/ws?token={ADMIN}", hub.http_port)).await
}

async fn history(hub: &ChildHub, channel: &str) -> Vec<Value> {
    let r = http().get(hub.http(&format!("/api/history/{channel}?limit=200"))).bearer_auth(ADMIN).send().await.unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn names_cross_workspace_takeover_of_a_connected_agent_is_refused() {
    let mut hub = ChildHub::start().await;
    let (_, wks) = workspace(&hub, "tenant").await;
    let mut holder = hub.agent_with(ADMIN, "holder", &["#ops"]).await;
    let mut peer = hub.agent_with(ADMIN, "ops-peer", &["#ops"]).await;
    let mut thief = hub.raw(&wks).await;
    assert_eq!(code(&register(&mut thief, "holder", &["#ops"]).await), "NAME_TAKEN");
    // The holder keeps its socket: it still receives and sends as itself.
    assert_eq!(say(&mut peer, "ops-peer", "#ops", "still yours?").await["type"], "ack");
    let got = holder.recv_until(|f| f["type"] == "message").await;
    assert_eq!((got["sender"].as_str(), got["payload"]["content"].as_str()), (Some("ops-peer"), Some("still yours?")));
    assert_eq!(say(&mut holder, "holder", "#ops", "yes").await["type"], "ack");
    // Nor may the thief speak as it without registering.
    assert_eq!(code(&say(&mut thief, "holder", "#ops", "I am holder").await), "NAME_TAKEN");
    let agents: Vec<Value> = http().get(hub.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let holder_ws: Vec<&Value> = agents.iter().filter(|a| a["name"] == "holder").map(|a| &a["workspace_id"]).collect();
    assert_eq!(holder_ws, [&json!("")], "the admin-workspace agent is still the one registered");
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_a_claimed_name_stays_taken_while_disconnected() {
    let mut hub = ChildHub::start().await;
    let (_, wks) = workspace(&hub, "tenant").await;
    // Claimed by registering, then gone.
    let mut sleeper = hub.agent_with(ADMIN, "sleeper", &["#ops"]).await;
    sleeper.ws.close(None).await.unwrap();
    // Claimed only by sending, never registered.
    let mut cli = hub.raw(ADMIN).await;
    assert_eq!(say(&mut cli, "cli-sender", "#ops", "from the CLI").await["type"], "ack");
    drop(cli);
    // Both gone as far as the hub knows: it lists no agent.
    let listed = || async { http().get(hub.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json::<Vec<Value>>().await.unwrap() };
    eventually("without agents", || async { listed().await.is_empty() }).await;
    let mut thief = hub.raw(&wks).await;
    for name in ["sleeper", "cli-sender"] {
        assert_eq!(code(&register(&mut thief, name, &["#ops"]).await), "NAME_TAKEN", "{name}");
        assert_eq!(code(&say(&mut thief, name, "#ops", "impostor").await), "NAME_TAKEN", "{name}");
    }
    let rows = history(&hub, "ops").await;
    assert!(rows.iter().all(|r| r["content"] != "impostor"), "nothing stored: {rows:?}");
    // The owner comes back to its name.
    let mut back = hub.raw(ADMIN).await;
    assert_eq!(register(&mut back, "sleeper", &["#ops"]).await["type"], "ack");
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_same_workspace_register_replaces_the_older_socket() {
    let mut hub = ChildHub::start().await;
    let (_, wks) = workspace(&hub, "tenant").await;
    let mut first = hub.agent_with(&wks, "twin", &["#t"]).await;
    let mut second = hub.raw(&wks).await;
    assert_eq!(register(&mut second, "twin", &["#t"]).await["type"], "ack");
    assert_eq!(first.closed_with().await, 4000);
    assert_eq!(say(&mut second, "twin", "#t", "the newer one").await["type"], "ack");
    hub.assert_serving().await;
}

/// Names nobody may send as, with the code each gets from a workspace token.
const FORBIDDEN: &[(&str, &str)] = &[
    ("orochi-server", "INVALID_NAME"),
    ("unknown", "INVALID_NAME"),
    ("all", "INVALID_NAME"),
    ("adm\u{200b}in", "INVALID_NAME"),
    ("\u{0430}dmin", "INVALID_NAME"),
    ("admin ", "INVALID_NAME"),
    ("ad.min", "INVALID_NAME"),
    ("user", "NAME_TAKEN"),
    ("USER", "NAME_TAKEN"),
    ("admin-agent", "NAME_TAKEN"),
    ("Admin-Agent", "NAME_TAKEN"),
];

#[tokio::test]
async fn names_impersonation_is_refused_on_every_way_in() {
    let mut hub = ChildHub::start().await;
    let (_, wks) = workspace(&hub, "tenant").await;
    let _admin_agent = hub.agent_with(ADMIN, "admin-agent", &["#imp"]).await;
    let _tenant_agent = hub.agent_with(&wks, "tenant-agent", &["#imp"]).await;

    // Agent socket, workspace token: unregistered, and registered.
    let mut raw = hub.raw(&wks).await;
    for (name, want) in FORBIDDEN {
        assert_eq!(code(&say(&mut raw, name, "#imp", "impostor").await), *want, "agent socket as {name:?}");
        assert_eq!(code(&register(&mut raw, name, &["#imp"]).await), *want, "register as {name:?}");
    }
    let mut registered = hub.agent_with(&wks, "tenant-two", &["#imp"]).await;
    for name in ["orochi-server", "admin-agent", "tenant-agent"] {
        assert_eq!(code(&say(&mut registered, name, "#imp", "impostor").await), "SENDER_MISMATCH", "{name}");
    }

    // Observer socket and REST, admin token: the reserved and malformed names, and a name the
    // tenant holds. (`unknown` and no sender mean the default sender `user` there.)
    let mut obs = observer(&hub).await;
    let admin_refused: Vec<(&str, &str)> = FORBIDDEN
        .iter()
        .filter(|(n, _)| !["unknown", "user", "admin-agent"].iter().any(|ok| ok.eq_ignore_ascii_case(n)))
        .copied()
        .chain([("tenant-agent", "NAME_TAKEN"), ("TENANT-agent", "NAME_TAKEN")])
        .collect();
    for (name, want) in &admin_refused {
        obs.send(json!({"type": "message", "sender": name, "payload": {"channel": "#imp", "content": "impostor"}})).await;
        let err = obs.recv_until(|f| f["type"] == "error").await;
        assert_eq!(code(&err), *want, "observer as {name:?}");
        let r = http()
            .post(hub.http("/api/messages"))
            .bearer_auth(ADMIN)
            .json(&json!({"sender": name, "payload": {"channel": "#imp", "content": "impostor"}}))
            .send()
            .await
            .unwrap();
        let status = if *want == "NAME_TAKEN" { StatusCode::CONFLICT } else { StatusCode::BAD_REQUEST };
        assert_eq!(r.status(), status, "REST as {name:?}");
    }
    let r = http().post(hub.http("/api/messages")).bearer_auth(ADMIN).json(&json!({"sender": "unknown", "payload": {"channel": "#imp"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "REST as an explicit \"unknown\"");

    let rows = history(&hub, "imp").await;
    assert!(rows.iter().all(|r| r["content"] != "impostor"), "no impostor stored: {rows:?}");
    // The legitimate ways still work: the dashboard's default sender and the admin's own names.
    obs.send(json!({"type": "message", "payload": {"channel": "#imp", "content": "from the dashboard"}})).await;
    obs.recv_until(|f| f["type"] == "message" && f["payload"]["content"] == "from the dashboard").await;
    let r = http().post(hub.http("/api/messages")).bearer_auth(ADMIN).json(&json!({"sender": "admin-agent", "payload": {"channel": "#imp", "content": "as the admin's agent"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rows = history(&hub, "imp").await;
    let senders: Vec<&str> = rows.iter().filter_map(|r| r["sender"].as_str()).collect();
    assert!(senders.contains(&"user") && senders.contains(&"admin-agent"), "{senders:?}");
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_a_second_socket_of_the_workspace_may_send_as_its_agent() {
    let mut hub = ChildHub::start().await;
    let (_, wks) = workspace(&hub, "tenant").await;
    let mut bridge = hub.agent_with(&wks, "head-mba", &["#w"]).await;
    let mut listener = hub.agent_with(&wks, "w-listener", &["#w"]).await;
    // The CLI's `send` beside the MCP bridge: same token, unregistered.
    let mut cli = hub.raw(&wks).await;
    assert_eq!(say(&mut cli, "head-mba", "#w", "from the CLI").await["type"], "ack");
    let got = listener.recv_until(|f| f["type"] == "message").await;
    assert_eq!((got["sender"].as_str(), got["payload"]["content"].as_str()), (Some("head-mba"), Some("from the CLI")));
    // The bridge was not disturbed.
    assert_eq!(say(&mut bridge, "head-mba", "#w", "from the bridge").await["type"], "ack");
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_admin_release_lets_another_workspace_claim() {
    let mut hub = ChildHub::start().await;
    let (first_id, first) = workspace(&hub, "first").await;
    let (second_id, second) = workspace(&hub, "second").await;
    let mut a = hub.agent_with(&first, "movable", &["#m"]).await;
    a.ws.close(None).await.unwrap();
    let mut b = hub.raw(&second).await;
    assert_eq!(code(&register(&mut b, "movable", &["#m"]).await), "NAME_TAKEN");

    let names = |token: String| {
        let url = hub.http("/api/names");
        async move { http().get(url).bearer_auth(token).send().await.unwrap().json::<Vec<Value>>().await.unwrap() }
    };
    let listed = names(first.clone()).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["name"].as_str(), listed[0]["workspace_id"].as_str()), (Some("movable"), Some(first_id.as_str())));
    assert!(names(second.clone()).await.is_empty(), "a workspace sees only its own claims");

    let release = |token: String| http().delete(hub.http("/api/names/movable")).bearer_auth(token).send();
    assert_eq!(release(first.clone()).await.unwrap().status(), StatusCode::UNAUTHORIZED, "only the admin releases");
    assert_eq!(release(ADMIN.to_string()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(release(ADMIN.to_string()).await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = http().delete(hub.http("/api/names/user")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the dashboard's sender stays the admin's");

    assert_eq!(register(&mut b, "movable", &["#m"]).await["type"], "ack");
    let mut again = hub.raw(&first).await;
    assert_eq!(code(&register(&mut again, "movable", &["#m"]).await), "NAME_TAKEN");
    let all = names(ADMIN.to_string()).await;
    let movable: Vec<&Value> = all.iter().filter(|c| c["name"] == "movable").map(|c| &c["workspace_id"]).collect();
    assert_eq!(movable, [&json!(second_id)]);

    // The admin may also place a name in a workspace ahead of its first use.
    let place = |ws: &str, agent: &str| {
        http().post(hub.http(&format!("/api/workspaces/{ws}/members"))).bearer_auth(ADMIN).json(&json!({"agent_name": agent})).send()
    };
    assert_eq!(place(&first_id, "reserved-for-first").await.unwrap().status(), StatusCode::OK);
    assert_eq!(code(&register(&mut b, "reserved-for-first", &[]).await), "NAME_TAKEN");
    assert_eq!(place(&first_id, "movable").await.unwrap().status(), StatusCode::CONFLICT, "held by the second");
    hub.assert_serving().await;
}

/// A valid browser subscription body (the P-256 generator point as the browser key).
fn subscription(endpoint: &str, name: &str) -> Value {
    json!({"endpoint": endpoint, "name": name, "keys": {
        "p256dh": "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU",
        "auth": "AAECAwQFBgcICQoLDA0ODw"}})
}

#[tokio::test]
async fn names_cross_workspace_reads_are_refused_or_filtered() {
    let mut hub = ChildHub::start().await;
    let (one_id, one) = workspace(&hub, "one").await;
    let (two_id, two) = workspace(&hub, "two").await;
    let get = |path: &str, token: &str| http().get(hub.http(path)).bearer_auth(token.to_string()).send();

    // Media: a workspace token uploads; only it and the admin read the file.
    let up = http().post(hub.http("/api/upload-base64")).bearer_auth(&one)
        .json(&json!({"data": "aGVsbG8=", "filename": "note.txt", "mime_type": "text/plain"})).send().await.unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let url = up.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    assert_eq!(get(&url, &one).await.unwrap().text().await.unwrap(), "hello");
    assert_eq!(get(&url, ADMIN).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get(&url, &two).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(http().get(hub.http(&url)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let admin_up = http().post(hub.http("/api/upload-base64")).bearer_auth(ADMIN).json(&json!({"data": "aGk=", "filename": "a.txt"})).send().await.unwrap();
    let admin_url = admin_up.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_string();
    assert_eq!(get(&admin_url, &one).await.unwrap().status(), StatusCode::NOT_FOUND);

    // Health: recorded by workspace one's agent, invisible to two; two may not report on it.
    let mut agent = hub.agent_with(&one, "one-agent", &["#shared"]).await;
    assert_eq!(ask(&mut agent, "health", "one-agent", json!({"state": "stuck_prompt", "reason": "secret"})).await["type"], "ack");
    let mut other = hub.agent_with(&two, "two-agent", &["#shared"]).await;
    // Channel names are shared, members are not.
    let members = |token: &str| {
        let req = get("/api/channels", token);
        async move { req.await.unwrap().json::<Value>().await.unwrap()["#shared"].clone() }
    };
    assert_eq!(members(&two).await, json!(["two-agent"]));
    assert_eq!(members(ADMIN).await, json!(["one-agent", "two-agent"]));
    assert_eq!(code(&ask(&mut other, "health", "two-agent", json!({"agent": "one-agent", "state": "dead"})).await), "NAME_TAKEN");
    let health = |token: &str| {
        let req = get("/api/agents/health", token);
        async move { req.await.unwrap().json::<Vec<Value>>().await.unwrap() }
    };
    assert!(health(&two).await.iter().all(|h| h["agent"] != "one-agent"), "two sees no record of one");
    assert!(health(&one).await.iter().any(|h| h["agent"] == "one-agent" && h["state"] == "stuck_prompt"));
    assert!(health(ADMIN).await.iter().any(|h| h["agent"] == "one-agent"));

    // Todos: one's task is not two's.
    let t: Value = http().post(hub.http("/api/todos")).bearer_auth(&one).json(&json!({"title": "one's plan"})).send().await.unwrap().json().await.unwrap();
    let todo = format!("/api/todos/{}", t["id"]);
    assert_eq!(get("/api/todos", &two).await.unwrap().json::<Value>().await.unwrap(), json!([]));
    assert_eq!(get(&todo, &two).await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = http().delete(hub.http(&todo)).bearer_auth(&two).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&todo, ADMIN).await.unwrap().status(), StatusCode::OK);

    // Push subscriptions: one's browser is invisible to two, and two cannot take or drop it.
    let endpoint = "https://push.example.invalid/send/one";
    let r = http().post(hub.http("/api/push/subscribe")).bearer_auth(&one).json(&subscription(endpoint, "one-agent")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let state = |token: &str| {
        let req = get(&format!("/api/push/subscription?endpoint={endpoint}"), token);
        async move { req.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(state(&one).await["subscribed"], true);
    assert_eq!(state(ADMIN).await["subscribed"], true);
    assert_eq!(state(&two).await["subscribed"], false);
    let r = http().post(hub.http("/api/push/subscribe")).bearer_auth(&two).json(&subscription(endpoint, "")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "two cannot take one's endpoint");
    let r = http().post(hub.http("/api/push/subscribe")).bearer_auth(&two).json(&subscription("https://push.example.invalid/two", "one-agent")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "two cannot be notified for one's name");
    let r: Value = http().post(hub.http("/api/push/unsubscribe")).bearer_auth(&two).json(&json!({"endpoint": endpoint})).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["was_subscribed"], false);
    assert_eq!(state(&one).await["subscribed"], true);

    // Metrics are the admin's; the workspace list shows a tenant only itself.
    assert_eq!(get("/metrics", &one).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/metrics", ADMIN).await.unwrap().status(), StatusCode::OK);
    let list: Vec<Value> = get("/api/workspaces", &one).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list.iter().filter_map(|w| w["id"].as_str()).collect();
    assert_eq!(ids, [one_id.as_str()]);
    assert_eq!(get(&format!("/api/workspaces/{two_id}"), &one).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&format!("/api/workspaces/{one_id}"), &one).await.unwrap().status(), StatusCode::OK);
    let all: Vec<Value> = get("/api/workspaces", ADMIN).await.unwrap().json().await.unwrap();
    assert_eq!(all.len(), 3, "the admin sees default, one and two");

    // Posting over REST stays the admin's.
    let r = http().post(hub.http("/api/messages")).bearer_auth(&one).json(&json!({"sender": "one-agent", "payload": {"channel": "#x", "content": "hi"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_a_deleted_workspace_frees_its_names() {
    let mut hub = ChildHub::start().await;
    let (gone_id, gone) = workspace(&hub, "gone").await;
    let (_, heir) = workspace(&hub, "heir").await;
    let mut a = hub.agent_with(&gone, "inherited", &[]).await;
    a.ws.close(None).await.unwrap();
    let r = http().delete(hub.http(&format!("/api/workspaces/{gone_id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut b = hub.raw(&heir).await;
    assert_eq!(register(&mut b, "inherited", &[]).await["type"], "ack");
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_a_workspace_cannot_hoard_names() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_NAMES_PER_WORKSPACE", "3")]).await;
    let (_, wks) = workspace(&hub, "hoarder").await;
    let mut p = hub.raw(&wks).await;
    for i in 0..3 {
        assert_eq!(say(&mut p, &format!("n{i}"), "#h", "mine").await["type"], "ack");
    }
    let refused = say(&mut p, "n3", "#h", "one more").await;
    assert_eq!(code(&refused), "NAME_TAKEN", "{refused}");
    // The names it holds still work, and the admin is not limited.
    assert_eq!(say(&mut p, "n0", "#h", "again").await["type"], "ack");
    let mut admin = hub.raw(ADMIN).await;
    for i in 0..5 {
        assert_eq!(say(&mut admin, &format!("a{i}"), "#h", "admin").await["type"], "ack");
    }
    hub.assert_serving().await;
}

/// A first register also writes the claim; measured against registering the same names again
/// (claims cached). Prints both; asserts only that every claim was recorded.
#[tokio::test]
async fn names_first_claims_measured() {
    const N: usize = 500;
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_DB_SYNC", "full")]).await;
    let url = format!("{}?token={ADMIN}", hub.ws_url());
    for round in ["first (claims written)", "again (claims cached)"] {
        let t = std::time::Instant::now();
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let mut p = Peer::connect(&url).await;
                    let reply = register(&mut p, &format!("many-{i}"), &[]).await;
                    assert_eq!(reply["type"], "ack", "{reply}");
                    p
                })
            })
            .collect();
        let mut peers = Vec::new();
        for task in tasks {
            peers.push(task.await.unwrap());
        }
        println!("{N} registers, {round}: {:?}", t.elapsed());
        for mut p in peers {
            let _ = p.ws.close(None).await;
        }
    }
    let claims: Vec<Value> = http().get(hub.http("/api/names")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(claims.iter().filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("many-"))).count(), N);
    hub.assert_serving().await;
}

#[tokio::test]
async fn names_a_race_for_one_name_has_one_winner() {
    let mut hub = ChildHub::start().await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(workspace(&hub, &format!("racer-{i}")).await.1);
    }
    let url = hub.ws_url();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let url = format!("{url}?token={t}");
            tokio::spawn(async move {
                let mut p = Peer::connect(&url).await;
                let reply = register(&mut p, "contested", &[]).await;
                (reply["type"] == "ack", p)
            })
        })
        .collect();
    let mut winners = 0;
    let mut peers = Vec::new();
    for t in tasks {
        let (won, p) = t.await.unwrap();
        winners += won as usize;
        peers.push(p);
    }
    assert_eq!(winners, 1, "exactly one workspace holds the name");
    let claims: Vec<Value> = http().get(hub.http("/api/names")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(claims.iter().filter(|c| c["name"] == "contested").count(), 1);
    hub.assert_serving().await;
}
