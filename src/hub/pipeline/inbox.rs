//! The agent side of the mention inbox: handing the waiting mentions over after a register,
//! and keeping those a socket cut as a slow consumer never received.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use serde_json::{Value, json};

use crate::hub::HubState;
use crate::hub::socket::conn::{Conn, OnCut};
use crate::hub::store::Recipient;
use crate::protocol::{Frame, Kind, addresses, parse_mentions};

/// How long handing over an inbox waits for a client to read, and how often it looks.
const HAND_OVER_WAIT: Duration = Duration::from_secs(10);
const HAND_OVER_POLL: Duration = Duration::from_millis(10);

/// What a register may be handed before anything live, as (frames, bytes): half the socket's
/// queue, so the hand-over never cuts it (4008).
pub(crate) fn hand_over_room(st: &HubState) -> (usize, usize) {
    ((st.config.queue_frames / 2).max(1) as usize, (st.config.queue_bytes / 2) as usize)
}

/// After the register ack: the mentions no socket of this agent received, oldest first, as
/// `message` frames marked `"inbox": true`, then an `inbox` frame with the counts. The queue
/// is filled to half at most, then drained by the client, so handing them out never cuts the
/// socket (4008); what a client does not take within [`HAND_OVER_WAIT`] waits for its next
/// register and is counted as `remaining`.
pub(crate) async fn hand_over(st: &HubState, conn: &Conn, name: String) {
    let workspace = conn.principal.workspace_id().to_string();
    let waiting = match st.store.inbox(workspace.clone(), name.clone(), st.config.inbox_days).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(agent = %name, error = %e, "cannot read the agent's inbox; its mentions keep waiting");
            return;
        }
    };
    if waiting.rows.is_empty() && waiting.dropped == 0 {
        return;
    }
    let (frame_budget, byte_budget) = hand_over_room(st);
    // Room for a frame of `len` bytes: within half the queue, or an empty queue (one frame
    // always fits).
    let room = |len: usize| {
        let (frames, bytes) = conn.backlog();
        frames == 0 || (frames < frame_budget && bytes + len <= byte_budget)
    };
    let deadline = Instant::now() + HAND_OVER_WAIT;
    let mut sent = Vec::new();
    for (id, row) in &waiting.rows {
        let mut f = row.to_frame();
        f.payload.insert("inbox".into(), Value::Bool(true));
        let text = f.to_json();
        while !room(text.len()) && Instant::now() < deadline && !conn.is_closing() {
            tokio::time::sleep(HAND_OVER_POLL).await;
        }
        if !room(text.len()) || !conn.send_text(text, &st.metrics) {
            break;
        }
        sent.push(*id);
    }
    let remaining = waiting.rows.len() - sent.len();
    let summary = json!({"delivered": sent.len(), "dropped": waiting.dropped, "remaining": remaining});
    let told = conn.send_text(Frame::server(Kind::Inbox, summary).to_json(), &st.metrics);
    if let Err(e) = st.store.inbox_handed(workspace, name.clone(), sent, told).await {
        tracing::warn!(agent = %name, error = %e, "cannot forget the handed mentions; they may come again");
    }
}

/// A socket cut as a slow consumer (4008) never got the frames still queued: the mentions of
/// the agent it holds among them wait in the agent's inbox again, before the agent is told.
pub(crate) fn requeue_on_cut(state: &Arc<HubState>, conn: &Arc<Conn>) -> OnCut {
    let (state, id, workspace) = (state.clone(), conn.id, conn.principal.workspace_id().to_string());
    Box::new(move |unsent| {
        Box::pin(async move {
            let name = state.registry.read().name_of(id).map(str::to_string);
            if let Some(agent) = name {
                requeue_mentions(&state, Recipient { workspace, agent }, &unsent).await;
            }
        })
    })
}

async fn requeue_mentions(st: &HubState, who: Recipient, unsent: &[Message]) {
    let msg_ids: Vec<String> = unsent
        .iter()
        .filter_map(|m| match m {
            Message::Text(t) => serde_json::from_str::<Frame>(t.as_str()).ok(),
            _ => None,
        })
        .filter(|f| f.is(Kind::Message) && f.seq.is_some())
        .filter(|f| addresses(&parse_mentions(f.content()), &who.agent))
        .map(|f| f.id)
        .collect();
    if msg_ids.is_empty() {
        return;
    }
    let agent = who.agent.clone();
    if let Err(e) = st.store.requeue_inbox(who, msg_ids, st.config.inbox_max).await {
        tracing::warn!(agent = %agent, error = %e, "cannot keep the mentions a cut socket missed");
    }
}
