//! The observer socket `/ws` on the HTTP port (admin token): dashboards see every message and
//! presence/status event, and may post messages, which take the normal pipeline.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;

use crate::hub::HubState;
use crate::hub::socket::agent::check_frame_size;
use crate::hub::state::auth::Principal;
use crate::hub::socket::conn::{Conn, ConnOutbox, close_code, write_loop};
use crate::hub::pipeline::router::Origin;
use crate::protocol::{Frame, FrameError, Kind, Post, now_ts, parse_frame};

/// An observer in the registry from before its handshake is answered: frames broadcast
/// between the `101` reaching the browser and the socket task starting wait in its queue.
/// Registering in the task instead lost them, although the page, once open, resumes its
/// history and counts on the socket for everything after. Dropping it (the socket ended, or
/// the upgrade failed and the task never ran) takes the observer out again.
pub struct Registered {
    state: Arc<HubState>,
    conn: Arc<Conn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.state.registry.write().observers.remove(&self.conn.id);
        self.conn.close(1000, "");
        self.state.metrics.observer_connections.dec();
    }
}

/// Registers an observer whose socket is about to be upgraded; `run` drains its queue.
pub fn register(state: Arc<HubState>) -> (Registered, ConnOutbox) {
    let (conn, outbox) = Conn::new(Principal::Admin, state.config.queue_frames as usize, state.config.queue_bytes as usize);
    let conn = Arc::new(conn);
    state.registry.write().observers.insert(conn.id, conn.clone());
    state.metrics.observer_connections.inc();
    (Registered { state, conn }, outbox)
}

pub async fn run(me: Registered, outbox: ConnOutbox, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, outbox, None, None));
    loop {
        tokio::select! {
            _ = &mut writer => break,
            next = stream.next() => match next {
                Some(Ok(Message::Text(t))) => post(&me.state, &me.conn, t.as_str()).await,
                Some(Err(e)) => {
                    let (code, reason) = close_code::for_read_error(e);
                    me.conn.close(code, reason);
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Observers may only post `message` frames; `sender` defaults to "user" and must be a name
/// the admin workspace holds or claims; `id` and `ts` are the hub's. Anything else is ignored,
/// as the reference does; an oversized frame is answered as on the agent socket.
async fn post(state: &Arc<HubState>, conn: &Arc<Conn>, text: &str) {
    let refuse = |e: FrameError| {
        state.metrics.frame_errors.inc();
        conn.send_text(Frame::error(&e).to_json(), &state.metrics);
    };
    if let Err(e) = check_frame_size(text, state.config.max_frame_bytes) {
        return refuse(e);
    }
    let Ok(mut frame) = parse_frame(text) else { return };
    if !frame.is(Kind::Message) {
        return;
    }
    if frame.sender == "unknown" {
        frame.sender = "user".into();
    }
    frame.ts = now_ts();
    // The same rule as every sender: a name the admin workspace holds, or a free one.
    if let Err(e) = state.names.claim(conn.principal.workspace_id(), &frame.sender).await {
        return refuse(e.into());
    }
    let post = match Post::from_frame(frame, &state.limits()) {
        Ok(post) => post,
        Err(e) => return refuse(e),
    };
    if let Err(e) = state.submit(post, Origin::Observer).await {
        refuse(e);
    }
}
