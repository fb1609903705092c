//! The store's operations through its public interface, run once on SQLite and once on a real
//! PostgreSQL 15: both backends must answer alike.

use scitex_orochi::config::DbLocation;
use scitex_orochi::hub::state::auth::{Principal, hash_token};
use scitex_orochi::hub::store::{
    Appended, Audience, ClaimOutcome, ClientKey, HistoryQuery, MembershipChange, NewMessage, Recipient, Store, StoreError, TokenRole,
};
use tokio::sync::oneshot;

use super::server;

/// A store of the kind the test names, on a fresh database; the folder lives as long as it.
pub struct Opened {
    pub store: Store,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub async fn open(kind: Kind, inbox_max: u64) -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let location = match kind {
        Kind::Sqlite => DbLocation::File(dir.path().join("orochi.db")),
        Kind::Postgres => DbLocation::parse(&server::shared().fresh_db().await).unwrap(),
    };
    let store = Store::open(&location, "normal", 0, inbox_max).await.expect("the store opens");
    Opened { store, _dir: dir }
}

on_both!(appends_number_channels_gaplessly_and_store_a_resend_once, reads_keep_to_the_audience, mentions_wait_bounded_until_handed,
    membership_is_remembered, workspaces_tokens_and_invites, names_are_claimed_first_come_within_quotas, idempotency_keys_expire);

pub fn message(channel: &str, key: Option<&str>, audience: Audience, content: &str) -> NewMessage {
    NewMessage {
        msg_id: uuid::Uuid::now_v7().to_string(),
        key: key.map(|k| ClientKey { workspace: String::new(), id: k.into() }),
        audience,
        ts: scitex_orochi::protocol::now_ts(),
        channel: channel.into(),
        sender: "writer".into(),
        content: content.into(),
        mentions: Vec::new(),
        metadata: Default::default(),
        sender_type: "agent",
        inbox: Vec::new(),
    }
}

/// Appends and waits for the commit.
pub async fn append(store: &Store, msg: NewMessage) -> Result<Appended, StoreError> {
    let (tx, rx) = oneshot::channel();
    store.append(msg, Box::new(move |r| drop(tx.send(r)))).await?;
    rx.await.expect("the continuation runs")
}

fn seq(a: &Appended) -> u64 {
    match a {
        Appended::New(m) => m.seq,
        Appended::Repeat(p) => p.seq,
    }
}

fn query(reader: Principal, channel: &str) -> HistoryQuery {
    HistoryQuery { reader, channel: channel.into(), since: None, after_seq: Some(0), limit: 500, sender: None, contains: None, thread: None }
}

async fn appends_number_channels_gaplessly_and_store_a_resend_once(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(seq(&append(s, message("#a", Some(&format!("k{i}")), Audience::Everyone, "x")).await.unwrap()));
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(seq(&append(s, message("#b", None, Audience::Everyone, "x")).await.unwrap()), 1, "each channel counts alone");
    let again = append(s, message("#a", Some("k2"), Audience::Everyone, "x")).await.unwrap();
    assert!(matches!(&again, Appended::Repeat(p) if p.seq == 3), "a resend is placed where the first copy is: {again:?}");
    // Appends queued together share one commit, resends within it included.
    let (mut waits, mut keys) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let key = format!("burst{}", i % 10);
        keys.push(key.clone());
        let (tx, rx) = oneshot::channel();
        s.append(message("#a", Some(&key), Audience::Everyone, "x"), Box::new(move |r| drop(tx.send(r)))).await.unwrap();
        waits.push(rx);
    }
    let mut burst = Vec::new();
    for w in waits {
        burst.push(seq(&w.await.unwrap().unwrap()));
    }
    assert_eq!(&burst[..10], (6..16).collect::<Vec<_>>(), "new keys take the next numbers");
    assert_eq!(&burst[10..], &burst[..10], "the second copy of each key is the first's");
    let rows = s.history(query(Principal::Admin, "#a")).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..16).collect::<Vec<_>>());
    assert_eq!(s.message_count().await.unwrap(), 16);
    let mut newest = query(Principal::Admin, "#a");
    newest.after_seq = None;
    newest.limit = 2;
    assert_eq!(s.history(newest).await.unwrap().iter().map(|r| r.seq).collect::<Vec<_>>(), [15, 14], "newest first without a cursor");
}

async fn reads_keep_to_the_audience(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    append(s, message("#c", None, Audience::Everyone, "for all")).await.unwrap();
    append(s, message("#c", None, Audience::Workspace("w1".into()), "for w1")).await.unwrap();
    append(s, message("#only-w2", None, Audience::Workspace("w2".into()), "for w2")).await.unwrap();
    let w1 = Principal::Workspace("w1".into());
    let contents = |rows: Vec<scitex_orochi::hub::store::HistoryRow>| rows.into_iter().map(|r| r.content).collect::<Vec<_>>();
    assert_eq!(contents(s.history(query(w1.clone(), "#c")).await.unwrap()), ["for all", "for w1"]);
    assert_eq!(contents(s.history(query(Principal::Workspace("w2".into()), "#c")).await.unwrap()), ["for all"]);
    assert_eq!(s.channels(w1.clone()).await.unwrap(), ["#c"]);
    assert_eq!(s.channels(Principal::Admin).await.unwrap(), ["#c", "#only-w2"]);
    assert_eq!(contents(s.recent(w1, 10).await.unwrap()), ["for all", "for w1"]);
    let mut q = query(Principal::Admin, "#c");
    q.contains = Some("W1".into());
    assert_eq!(contents(s.history(q).await.unwrap()), ["for w1"], "text filters ignore ASCII case");
    // A thread: the root and replies at any depth.
    let root = message("#t", None, Audience::Everyone, "root");
    let root_id = root.msg_id.clone();
    append(s, root).await.unwrap();
    let mut reply = message("#t", None, Audience::Everyone, "reply");
    reply.metadata.insert("reply_to".into(), root_id.clone().into());
    let reply_id = reply.msg_id.clone();
    append(s, reply).await.unwrap();
    let mut deeper = message("#t", None, Audience::Everyone, "deeper");
    deeper.metadata.insert("reply_to".into(), reply_id.into());
    append(s, deeper).await.unwrap();
    append(s, message("#t", None, Audience::Everyone, "unrelated")).await.unwrap();
    let mut q = query(Principal::Admin, "#t");
    q.thread = Some(root_id);
    assert_eq!(contents(s.history(q).await.unwrap()), ["root", "reply", "deeper"]);
}

async fn mentions_wait_bounded_until_handed(kind: Kind) {
    let o = open(kind, 3).await;
    let s = &o.store;
    let bob = Recipient { workspace: "w".into(), agent: "bob".into() };
    let mut live = Vec::new();
    for i in 0..5 {
        let mut m = message("#m", None, Audience::Workspace("w".into()), &format!("@bob {i}"));
        m.inbox = vec![bob.clone()];
        let Appended::New(stored) = append(s, m).await.unwrap() else { panic!("stored") };
        live.push(stored.inbox_ids[0]);
    }
    let waiting = s.inbox("w".into(), "BOB".into(), 7).await.unwrap();
    assert_eq!(waiting.rows.iter().map(|(_, r)| r.seq).collect::<Vec<_>>(), [3, 4, 5], "the oldest two went; names ignore case");
    assert_eq!(waiting.dropped, 2);
    // A mention that reached bob live is not handed out again.
    s.delivered(vec![waiting.rows[0].0]);
    let waiting = s.inbox("w".into(), "bob".into(), 7).await.unwrap();
    assert_eq!(waiting.rows.iter().map(|(_, r)| r.seq).collect::<Vec<_>>(), [4, 5]);
    let ids: Vec<i64> = waiting.rows.iter().map(|(id, _)| *id).collect();
    s.inbox_handed("w".into(), "bob".into(), ids, true).await.unwrap();
    let waiting = s.inbox("w".into(), "bob".into(), 7).await.unwrap();
    assert!(waiting.rows.is_empty() && waiting.dropped == 0, "handed and told");
    let first = s.history(query(Principal::Admin, "#m")).await.unwrap()[0].msg_id.clone();
    s.requeue_inbox(bob, vec![first], 3).await.unwrap();
    assert_eq!(s.inbox("w".into(), "bob".into(), 7).await.unwrap().rows.len(), 1, "requeued");
    assert_eq!(s.expire_inbox(7).await.unwrap(), 0, "nothing is a week old");
}

async fn membership_is_remembered(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let change = |join, channels: &[&str]| MembershipChange { agent: "ann".into(), channels: channels.iter().map(|c| c.to_string()).collect(), join };
    s.change_membership(change(true, &["#x", "#y"])).await.unwrap();
    s.change_membership(change(true, &["#x"])).await.unwrap();
    let mut saved = s.saved_channels("ann".into()).await.unwrap();
    saved.sort();
    assert_eq!(saved, ["#x", "#y"]);
    s.change_membership(change(false, &["#x"])).await.unwrap();
    assert_eq!(s.saved_channels("ann".into()).await.unwrap(), ["#y"]);
    assert_eq!(s.channel_members("#y".into()).await.unwrap(), ["ann"]);
}

async fn workspaces_tokens_and_invites(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    s.ensure_default_workspace().await.unwrap();
    s.ensure_default_workspace().await.unwrap();
    let names = |ws: &[serde_json::Value]| ws.iter().map(|w| w["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&s.workspaces().await.unwrap()), ["default"]);
    let (id, token) = s.create_workspace("lab".into(), "d".into(), vec!["#lab".into()]).await.unwrap().expect("created");
    assert!(s.create_workspace("lab".into(), String::new(), vec![]).await.unwrap().is_none(), "a taken name");
    assert_eq!(s.token_workspace(hash_token(&token)).await.unwrap().as_deref(), Some(id.as_str()));
    let w = s.workspace(id.clone()).await.unwrap().unwrap();
    assert_eq!((w["name"].as_str(), w["channels"].clone()), (Some("lab"), serde_json::json!(["#lab"])));
    let approver = s.create_token(id.clone(), "phone".into(), TokenRole::Approver { person: "ann".into() }).await.unwrap();
    assert_eq!(s.approver(hash_token(&approver)).await.unwrap().map(|a| a.person).as_deref(), Some("ann"));
    let listed = s.workspace_tokens(id.clone()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!serde_json::Value::from(listed.clone()).to_string().contains(&token), "a listing never shows a token");
    let by_id = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.revoke_token(id.clone(), by_id).await.unwrap().len(), 1, "revoked by its id");
    let invite = s
        .create_invite(id.clone(), scitex_orochi::hub::store::NewInvite { created_by: "a".into(), role: "member".into(), max_uses: 1, expires_hours: 1.0 })
        .await
        .unwrap();
    let code = invite["token"].as_str().unwrap().to_string();
    assert_eq!(s.redeem_invite(code.clone(), "bob".into()).await.unwrap().as_deref(), Some(id.as_str()));
    assert_eq!(s.redeem_invite(code, "carl".into()).await.unwrap(), None, "used up");
    assert_eq!(s.workspace(id.clone()).await.unwrap().unwrap()["members"]["bob"], "member");
    let gone = s.delete_workspace(id.clone()).await.unwrap().expect("deleted");
    assert_eq!(gone.len(), 1, "the tokens left went with it");
    assert!(!s.workspace_exists(id).await.unwrap());
}

async fn names_are_claimed_first_come_within_quotas(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let job = |n: &str, w: &str| (n.to_string(), w.to_string());
    let holder = |w: &str| ClaimOutcome::Holder(w.to_string());
    let jobs = vec![job("a", "w"), job("A", "v"), job("b", "w"), job("c", "w"), job("d", ""), job("a", "w")];
    let out = s.record_name_claims(jobs, 2).await.unwrap();
    assert_eq!(out, [holder("w"), holder("w"), holder("w"), ClaimOutcome::Full, holder(""), holder("w")]);
    assert_eq!(s.record_name_claims(vec![job("c", "w"), job("e", "")], 2).await.unwrap(), [ClaimOutcome::Full, holder("")]);
    assert!(s.release_name("B".into()).await.unwrap(), "released whatever its case");
    assert_eq!(s.release_workspace_names("w".into()).await.unwrap(), ["a"]);
    let names: Vec<String> = s.name_claims(None).await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["d", "e"]);
}

async fn idempotency_keys_expire(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let t0 = 1_000_000;
    assert_eq!(s.mark_keys(t0).await.unwrap(), None, "nothing expired yet");
    append(s, message("#k", Some("old"), Audience::Everyone, "x")).await.unwrap();
    assert_eq!(s.mark_keys(t0 + 60).await.unwrap(), None);
    append(s, message("#k", Some("young"), Audience::Everyone, "x")).await.unwrap();
    let (from, to) = s.mark_keys(t0 + 60 + 24 * 3600).await.unwrap().expect("the first key expired");
    assert_eq!(s.clear_keys(from, to).await.unwrap().1, 1);
    s.forget_key_marks(to).await.unwrap();
    assert!(matches!(append(s, message("#k", Some("old"), Audience::Everyone, "x")).await.unwrap(), Appended::New(_)), "an expired key is free");
    assert!(matches!(append(s, message("#k", Some("young"), Audience::Everyone, "x")).await.unwrap(), Appended::Repeat(_)));
}
