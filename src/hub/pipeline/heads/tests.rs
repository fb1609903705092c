use std::collections::BTreeSet;

use axum::extract::ws::Message;

use super::{Heads, Tails};
use crate::hub::state::auth::Principal;

const ROOM: (usize, usize) = (1000, 1 << 20);

fn text(seq: u64) -> Message {
    Message::Text(format!("m{seq}").into())
}

/// Delivers `seqs` of `#c`, readable by `scope`.
fn deliver(h: &Heads, seqs: impl IntoIterator<Item = u64>, scope: Option<&str>) {
    for seq in seqs {
        let mut went = false;
        h.deliver("#c", seq, scope, &text(seq), || went = true);
        assert!(went, "the frame is fanned out");
    }
}

/// Resumes `#c` at `at` as `reader` within `room`: (caught up, frames sent, joined).
fn resume(h: &Heads, at: u64, reader: &Principal, room: (usize, usize)) -> (bool, Vec<String>, bool) {
    let joined: BTreeSet<String> = ["#c".to_string()].into();
    let (mut sent, mut did_join) = (Vec::new(), false);
    let caught_up = h.resume(&[("#c".into(), at)], &joined, reader, room, || did_join = true, |m| sent.push(m.to_text().unwrap().to_string()));
    (caught_up == ["#c"], sent, did_join)
}

#[test]
fn a_client_behind_gets_what_it_missed_in_order_and_is_caught_up() {
    let h = Heads::new(true);
    deliver(&h, 1..=5, None);
    assert_eq!(resume(&h, 2, &Principal::Admin, ROOM), (true, vec!["m3".into(), "m4".into(), "m5".into()], true));
    assert_eq!(resume(&h, 5, &Principal::Admin, ROOM), (true, vec![], true), "at the head: nothing missed");
    assert_eq!(resume(&h, 0, &Principal::Admin, ROOM).1.len(), 5, "from before the first message");
}

#[test]
fn missed_frames_not_all_kept_mean_reading_history() {
    let h = Heads::new(true);
    deliver(&h, 10..=12, None);
    assert_eq!(resume(&h, 5, &Principal::Admin, ROOM), (false, vec![], true), "6 to 9 are not kept");
    deliver(&h, 20..=21, None);
    assert_eq!(resume(&h, 12, &Principal::Admin, ROOM), (false, vec![], true), "a gap starts over");
    assert_eq!(resume(&h, 20, &Principal::Admin, ROOM), (true, vec!["m21".into()], true));
    deliver(&h, 22..=22 + super::FRAMES_PER_CHANNEL as u64, None);
    assert!(!resume(&h, 20, &Principal::Admin, ROOM).0, "older than the kept frames");
}

#[test]
fn a_workspace_reader_gets_only_what_its_history_would_show() {
    let h = Heads::new(true);
    deliver(&h, [1], Some("w1"));
    deliver(&h, [2], Some("w2"));
    deliver(&h, [3], None);
    assert_eq!(resume(&h, 0, &Principal::Workspace("w1".into()), ROOM), (true, vec!["m1".into(), "m3".into()], true));
    assert_eq!(resume(&h, 0, &Principal::Admin, ROOM).1.len(), 3);
}

#[test]
fn what_does_not_fit_the_socket_queue_is_read_from_history() {
    let h = Heads::new(true);
    deliver(&h, 1..=5, None);
    assert_eq!(resume(&h, 0, &Principal::Admin, (4, 1 << 20)), (false, vec![], true), "five frames, room for four");
    assert_eq!(resume(&h, 0, &Principal::Admin, (10, 9)), (false, vec![], true), "ten bytes, room for nine");
    assert!(resume(&h, 0, &Principal::Admin, (5, 10)).0);
}

#[test]
fn hubs_sharing_a_store_never_call_a_channel_caught_up() {
    let h = Heads::new(false);
    deliver(&h, 1..=3, None);
    assert_eq!(resume(&h, 3, &Principal::Admin, ROOM), (false, vec![], true));
}

#[test]
fn over_the_byte_budget_the_channels_delivered_to_longest_ago_give_up_their_frames() {
    let mut t = Tails::default();
    for c in 0..8 {
        t.record(&format!("#{c}"), super::Kept { seq: 1, scope: None, frame: text(1) });
    }
    t.record("#new", super::Kept { seq: 1, scope: None, frame: text(1) });
    assert_eq!(t.bytes, 18);
    assert!(t.evict_oldest("#new"));
    let emptied: Vec<String> = (0..8).map(|c| format!("#{c}")).filter(|c| t.channels[c].frames.is_empty()).collect();
    assert_eq!(emptied, ["#0", "#1"], "the oldest quarter of the eight others");
    assert_eq!((t.bytes, t.channels["#0"].head), (14, 1), "the head stays known");
    while t.evict_oldest("#new") {}
    assert_eq!(t.bytes, 2, "the channel being delivered to keeps its frames");
}
