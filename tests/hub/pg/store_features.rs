//! The feature domains of the store (todos, reactions, push subscriptions, media, health
//! records, permission requests) on both backends.

use scitex_orochi::hub::features::health::HealthRecord;
use scitex_orochi::hub::features::push::PushJob;
use scitex_orochi::hub::features::push::subscriptions::Subscription;
use scitex_orochi::hub::features::todos::{Claim, Filter, NewTodo, TodoPatch};
use scitex_orochi::hub::state::auth::Principal;
use scitex_orochi::hub::store::permissions::{Answer, Filter as PermissionFilter, Request};
use scitex_orochi::hub::store::{Audience, TokenRole};

use super::store_suite::{Kind, append, message, open};

on_both!(todos_are_listed_patched_claimed_and_closed, reactions_toggle_and_keep_to_the_audience, push_subscriptions_are_owned_and_targeted,
    media_and_health_records_are_kept, permission_requests_are_answered_once);

fn todo(title: &str, priority: &str, workspace: &str) -> NewTodo {
    NewTodo {
        title: title.into(),
        body: String::new(),
        priority: priority.into(),
        assignee: String::new(),
        created_by: "ann".into(),
        workspace_id: workspace.into(),
    }
}

async fn todos_are_listed_patched_claimed_and_closed(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let low = s.create_todo(todo("low", "low", "")).await.unwrap();
    let high = s.create_todo(todo("high", "high", "w")).await.unwrap();
    assert_eq!(low.status, "open");
    let titles = |f: Filter| async move { s.todos(f).await.unwrap().into_iter().map(|t| t.title).collect::<Vec<_>>() };
    assert_eq!(titles(Filter::default()).await, ["high", "low"], "by priority");
    assert_eq!(titles(Filter { workspace: Some("w".into()), ..Filter::default() }).await, ["high"]);
    assert_eq!(titles(Filter { priorities: vec!["low".into()], ..Filter::default() }).await, ["low"]);
    let bad = TodoPatch { status: Some("claimed".into()), ..TodoPatch::default() };
    assert!(s.update_todo(low.id, bad).await.unwrap().is_err(), "claimed needs an assignee");
    assert!(matches!(s.claim_todo(low.id, "bob".into()).await.unwrap(), Claim::Claimed(t) if t.assignee == "bob"));
    assert!(matches!(s.claim_todo(low.id, "carl".into()).await.unwrap(), Claim::Refused(_)));
    assert!(matches!(s.claim_todo(999_999, "carl".into()).await.unwrap(), Claim::NotFound));
    let closed = s.close_todo(low.id).await.unwrap().unwrap();
    assert!(closed.status == "done" && closed.closed_at.is_some());
    assert_eq!(titles(Filter::default()).await, ["high", "low"], "done after open within a priority order");
    let renamed = s.update_todo(high.id, TodoPatch { title: Some("higher".into()), ..TodoPatch::default() }).await.unwrap().unwrap().unwrap();
    assert_eq!(renamed.title, "higher");
    assert!(s.delete_todo(high.id).await.unwrap());
    assert!(s.todo(high.id).await.unwrap().is_none());
}

async fn reactions_toggle_and_keep_to_the_audience(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    let m = message("#r", None, Audience::Workspace("w1".into()), "x");
    let id = m.msg_id.clone();
    append(s, m).await.unwrap();
    let added = s.toggle_reaction(id.clone(), "👍".into(), "ann".into(), Some("w1".into())).await.unwrap().unwrap();
    assert_eq!((added.action, added.channel.as_str()), ("add", "#r"));
    assert!(s.toggle_reaction(id.clone(), "👍".into(), "eve".into(), Some("w2".into())).await.unwrap().is_none(), "not readable by w2");
    s.toggle_reaction(id.clone(), "👍".into(), "bob".into(), None).await.unwrap();
    let of = s.reactions_of(&Principal::Workspace("w1".into()), vec![id.clone()]).await.unwrap();
    assert_eq!(of[&id]["👍"], ["ann", "bob"]);
    assert!(s.reactions_of(&Principal::Workspace("w2".into()), vec![id.clone()]).await.unwrap().is_empty());
    let removed = s.toggle_reaction(id.clone(), "👍".into(), "ann".into(), None).await.unwrap().unwrap();
    assert_eq!((removed.action, removed.reactions["👍"].clone()), ("remove", vec!["bob".to_string()]));
}

fn subscription(endpoint: &str, owner: &str, channels: &[&str], workspace: &str) -> Subscription {
    Subscription {
        endpoint: endpoint.into(),
        p256dh: "key==".into(),
        auth: "auth".into(),
        owner: owner.into(),
        channels: channels.iter().map(|c| c.to_string()).collect(),
        user_agent: "test".into(),
        created_at: String::new(),
        workspace_id: workspace.into(),
        token_hash: String::new(),
    }
}

async fn push_subscriptions_are_owned_and_targeted(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    assert_eq!(s.upsert_push_subscription(subscription("https://e/1", "ann", &[], "w"), false).await.unwrap(), Some(1));
    assert_eq!(s.upsert_push_subscription(subscription("https://e/2", "", &["#ops"], "w"), false).await.unwrap(), Some(2));
    assert_eq!(s.upsert_push_subscription(subscription("https://e/1", "eve", &[], "v"), false).await.unwrap(), None, "another workspace's endpoint");
    assert_eq!(s.count_push_subscriptions(Some("w".into())).await.unwrap(), 2);
    let subs = s.push_subscriptions().await.unwrap();
    assert_eq!(subs[0].p256dh, "key", "padding is trimmed");
    let job = |channel: &str, mentions: &[&str], audience: Option<&str>| PushJob {
        channel: channel.into(),
        sender: "bob".into(),
        content: "hi".into(),
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
        audience: audience.map(String::from),
    };
    let targets = |j: PushJob| async move { s.push_targets(&j).await.unwrap().into_iter().map(|t| t.endpoint).collect::<Vec<_>>() };
    assert_eq!(targets(job("#dev", &["ann"], Some("w"))).await, ["https://e/1"]);
    assert_eq!(targets(job("#ops", &[], None)).await, ["https://e/2"]);
    assert!(targets(job("#ops", &["ann"], Some("other"))).await.is_empty(), "only its workspace's senders");
    assert!(s.remove_push_subscription("https://e/2", Some("w")).await.unwrap());
    assert!(!s.remove_push_subscription("https://e/1", Some("v")).await.unwrap());
    s.ensure_default_workspace().await.unwrap();
    assert!(s.approver_subscriptions("w").await.unwrap().is_empty(), "no approver token subscribed");
}

async fn media_and_health_records_are_kept(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    s.record_media("2026-12/a.png".into(), "w".into()).await.unwrap();
    assert!(s.media_owned_by("2026-12/a.png".into(), "w".into()).await.unwrap());
    assert!(!s.media_owned_by("2026-12/a.png".into(), "v".into()).await.unwrap());
    let record = |state: &str| HealthRecord { state: state.into(), reason: String::new(), source: "ann".into(), ts: "t".into() };
    s.save_health("w".into(), "ann".into(), record("ok")).await.unwrap();
    s.save_health("w".into(), "ann".into(), record("stuck")).await.unwrap();
    let all = s.health_records().await.unwrap();
    assert_eq!((all.len(), all[&("w".to_string(), "ann".to_string())].state.as_str()), (1, "stuck"), "the latest only");
}

fn request(id: &str, expires_ms: i64) -> Request {
    Request {
        id: id.into(),
        workspace_id: "w".into(),
        agent: "a".into(),
        request_id: "abcde".into(),
        tool_name: "Bash".into(),
        description: "run".into(),
        input_preview: "{}".into(),
        frame_id: format!("f-{id}"),
        asker_token_hash: None,
        created_ms: 1,
        expires_ms,
        status: "pending".into(),
        answered_by: String::new(),
        answered_ms: None,
        answered_from: String::new(),
        answered_via: String::new(),
    }
}

async fn permission_requests_are_answered_once(kind: Kind) {
    let o = open(kind, 10).await;
    let s = &o.store;
    assert!(s.insert_permission(request("aaaaaa", 100)).await.unwrap());
    assert!(!s.insert_permission(request("aaaaaa", 100)).await.unwrap(), "a taken id");
    assert!(s.insert_permission(request("bbbbbb", 100)).await.unwrap());
    let answer = |at_ms| Answer { status: "allowed", by: "ann".into(), from: "127.0.0.1".into(), via: "rest", at_ms };
    let first = s.answer_permission("aaaaaa".into(), answer(50)).await.unwrap().unwrap();
    assert_eq!((first.status.as_str(), first.answered_by.as_str()), ("allowed", "ann"));
    assert_eq!(s.answer_permission("aaaaaa".into(), answer(60)).await.unwrap().unwrap_err().unwrap().status, "allowed", "answered once");
    assert_eq!(s.answer_permission("bbbbbb".into(), answer(100)).await.unwrap().unwrap_err().unwrap().status, "pending", "past its expiry");
    assert_eq!(s.permission_by_frame("w".into(), "a".into(), "f-bbbbbb".into()).await.unwrap().unwrap().id, "bbbbbb");
    assert_eq!(s.pending_permissions().await.unwrap().len(), 1);
    assert_eq!(s.expire_permissions(vec!["aaaaaa".into(), "bbbbbb".into()], 101).await.unwrap().len(), 1, "only the pending one");
    let listed = s.permissions(PermissionFilter { all: true, limit: 10, workspaces: Some(vec!["w".into()]), ..PermissionFilter::default() }).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(s.prune_permissions(200).await.unwrap(), 2);
    assert!(s.approver("no-such-hash".into()).await.unwrap().is_none());
    let (id, _) = s.create_workspace("lab".into(), String::new(), vec![]).await.unwrap().unwrap();
    let token = s.create_token(id.clone(), "phone".into(), TokenRole::Approver { person: "ann".into() }).await.unwrap();
    let row = s.approver(scitex_orochi::hub::state::auth::hash_token(&token)).await.unwrap().unwrap();
    assert_eq!((row.person.as_str(), row.workspace_id.as_str(), row.default_workspace), ("ann", id.as_str(), false));
}
