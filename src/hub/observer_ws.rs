//! The observer socket `/ws` on the HTTP port (admin token): dashboards see every message and
//! presence/status event, and may post messages, which take the normal pipeline.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;

use super::HubState;
use super::auth::Principal;
use super::conn::{Conn, write_loop};
use super::router::Origin;
use super::store::{Audience, Placed, StoreError};
use crate::protocol::{ErrorCode, Frame, FrameError, now_ts, parse_frame};

pub async fn run(state: Arc<HubState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (conn, outbox) = Conn::new(Principal::Admin, state.config.queue_frames as usize);
    let conn = Arc::new(conn);
    let mut writer = tokio::spawn(write_loop(sink, outbox, None));
    state.registry.write().observers.insert(conn.id, conn.clone());
    state.metrics.observer_connections.inc();
    loop {
        tokio::select! {
            _ = &mut writer => break,
            next = stream.next() => match next {
                Some(Ok(Message::Text(t))) => post(&state, &conn, t.as_str()).await,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
    }
    state.registry.write().observers.remove(&conn.id);
    conn.close(1000, "");
    state.metrics.observer_connections.dec();
}

/// Observers may only post `message` frames; `sender` defaults to "user", `id` and `ts` are
/// the hub's. Anything else is ignored, as the reference does.
async fn post(state: &Arc<HubState>, conn: &Arc<Conn>, text: &str) {
    let Ok(mut frame) = parse_frame(text) else { return };
    if frame.kind != "message" || text.len() as u64 > state.config.max_frame_bytes {
        return;
    }
    if frame.sender == "unknown" {
        frame.sender = "user".into();
    }
    frame.ts = now_ts();
    let refuse = |e: FrameError| {
        state.metrics.frame_errors.inc();
        conn.send_text(Frame::error(&e).to_json(), &state.metrics);
    };
    if state.registry.read().agents.contains_key(&frame.sender) {
        return refuse(FrameError::new(ErrorCode::SenderMismatch, "observers cannot post as a connected agent"));
    }
    let reply = Box::new(|_: Result<&Placed, &StoreError>| {});
    // The admin posting without a name: every workspace on the channel receives it.
    if let Err(e) = state.submit(frame, Origin { audience: Audience::Everyone, key: None }, reply).await {
        refuse(e);
    }
}
