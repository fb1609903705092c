//! The timeline's order without a database: fills are fed by hand.

use std::sync::Mutex;

use deadpool_postgres::{Manager, Pool};
use serde_json::Map;
use tokio_postgres::NoTls;

use super::*;
use crate::hub::store::message::{Appended, Audience, NewMessage, StoredMessage};
use crate::hub::store::peers::{PeerNote, PeerSink};

/// What reached the sockets, in order: `own 5`, `peer 6`.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl PeerSink for Seen {
    fn row(&self, row: PeerRow) {
        self.0.lock().unwrap().push(format!("peer {}", row.row.seq));
    }
    fn note(&self, _: PeerNote, _: bool) {}
}

/// A timeline whose pool never connects: fills are fed by hand with `fetched`.
fn timeline(heads: &[(&str, u64)]) -> (Arc<Timeline>, Arc<Seen>) {
    let config: tokio_postgres::Config = "postgres://nobody@127.0.0.1:1/none".parse().unwrap();
    let pool = Pool::builder(Manager::new(config, NoTls)).max_size(1).build().unwrap();
    let t = Timeline::start(pool, heads.iter().map(|(c, s)| (c.to_string(), *s)).collect());
    let seen = Arc::new(Seen::default());
    t.set_sink(seen.clone());
    (t, seen)
}

fn own(t: &Timeline, seen: &Arc<Seen>, seq: u64) {
    let msg = NewMessage {
        msg_id: format!("m{seq}"),
        key: None,
        audience: Audience::Everyone,
        ts: String::new(),
        channel: "#c".into(),
        sender: "s".into(),
        content: String::new(),
        mentions: Vec::new(),
        metadata: Map::new(),
        sender_type: "agent",
        inbox: Vec::new(),
    };
    let seen = seen.clone();
    let done = Box::new(move |_| seen.0.lock().unwrap().push(format!("own {seq}")));
    t.own("#c", seq, (Ok(Appended::New(StoredMessage { seq, msg, inbox_ids: Vec::new() })), done));
}

fn row(seq: u64) -> PeerRow {
    let row = HistoryRow {
        seq,
        msg_id: format!("p{seq}"),
        ts: String::new(),
        channel: "#c".into(),
        sender: "other".into(),
        content: String::new(),
        mentions: Vec::new(),
        metadata: Map::new(),
        sender_type: "agent".into(),
    };
    PeerRow { row, audience: Audience::Everyone, waiting: Vec::new() }
}

fn seen(s: &Seen) -> Vec<String> {
    s.0.lock().unwrap().clone()
}

#[tokio::test]
async fn own_messages_go_out_in_seq_order_whatever_order_they_arrive_in() {
    let (t, s) = timeline(&[("#c", 4)]);
    t.expect_own(&[("#c", 5), ("#c", 6)]);
    own(&t, &s, 6);
    assert!(seen(&s).is_empty(), "6 waits for 5");
    t.announced("#c", 6);
    assert_eq!(t.lock()["#c"].asked, 4, "an announcement of an own commit fetches nothing");
    own(&t, &s, 5);
    assert_eq!(seen(&s), ["own 5", "own 6"]);
}

#[tokio::test]
async fn a_gap_is_filled_from_the_table_before_the_own_message_after_it() {
    let (t, s) = timeline(&[("#c", 5)]);
    t.expect_own(&[("#c", 7)]);
    own(&t, &s, 7);
    assert_eq!(t.lock()["#c"].asked, 6, "6 was committed elsewhere: fetched");
    assert!(seen(&s).is_empty());
    t.fetched("#c", vec![row(6), row(7)], 6);
    assert_eq!(seen(&s), ["peer 6", "own 7"], "a fetched copy of an own message is not delivered twice");
}

#[tokio::test]
async fn numbers_without_a_row_are_skipped_once_the_table_was_read_past_them() {
    let (t, s) = timeline(&[]);
    t.announced("#c", 10);
    t.fetched("#c", vec![row(8), row(10)], 10);
    assert_eq!(seen(&s), ["peer 8", "peer 10"], "1..7 pruned, 9 never committed");
    t.expect_own(&[("#c", 11)]);
    t.own_failed(&[("#c", 11)]);
    t.expect_own(&[("#c", 11)]);
    own(&t, &s, 11);
    assert_eq!(seen(&s).last().unwrap(), "own 11", "a failed commit's number is used by the next");
}

#[tokio::test]
async fn a_read_waits_until_its_rows_were_delivered_here() {
    let (t, s) = timeline(&[("#c", 1)]);
    let t2 = t.clone();
    let read = tokio::spawn(async move { t2.caught_up(&[row(3).row]).await });
    tokio::task::yield_now().await;
    t.fetched("#c", vec![row(2), row(3)], 3);
    assert!(read.await.unwrap(), "it had to wait");
    assert_eq!(seen(&s), ["peer 2", "peer 3"]);
    assert!(!t.caught_up(&[row(3).row]).await, "delivered already: no wait");
}

#[tokio::test]
async fn an_own_commit_reported_failed_that_did_commit_is_delivered_once() {
    // Its announcement came while it was still expected; a peer's next commit was fetched
    // with it; then the commit reported a failure (the connection broke after the server
    // committed).
    let (t, s) = timeline(&[("#c", 4)]);
    t.expect_own(&[("#c", 5)]);
    t.announced("#c", 5);
    t.announced("#c", 6);
    t.fetched("#c", vec![row(5), row(6)], 6);
    assert!(seen(&s).is_empty(), "5 is expected as own");
    t.own_failed(&[("#c", 5)]);
    assert_eq!(seen(&s), ["peer 5", "peer 6"]);

    // Without a fill in between: the heard announcement makes it fetched.
    let (t, s) = timeline(&[("#c", 4)]);
    t.expect_own(&[("#c", 5)]);
    t.announced("#c", 5);
    t.own_failed(&[("#c", 5)]);
    assert_eq!(t.lock()["#c"].asked, 5, "fetched, since it was announced");
    t.fetched("#c", vec![row(5)], 5);
    assert_eq!(seen(&s), ["peer 5"]);
}
