//! The bridge's one `OrochiClient`. The MCP server must answer Claude Code even while the hub
//! is down, so the first connection is made in the background and retried with backoff;
//! after that the client itself reconnects and resumes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::{Code, ToolError, ToolResult};
use crate::client::{ClientError, ClientOptions, OrochiClient};

#[derive(Clone)]
pub enum State {
    /// Not connected yet; the last failure.
    Connecting(String),
    Ready(Arc<OrochiClient>),
    /// The hub refused the token: nothing will change without a new token.
    Refused,
}

pub struct Link {
    state: watch::Receiver<State>,
    url: String,
}

impl Link {
    pub fn start(options: ClientOptions) -> Link {
        let url = crate::config::redact_token(&options.url);
        let (tx, state) = watch::channel(State::Connecting("connecting".into()));
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match OrochiClient::connect(options.clone()).await {
                    Ok(c) => {
                        tracing::info!(agent = %c.name(), "connected to the hub");
                        let _ = tx.send(State::Ready(Arc::new(c)));
                        return;
                    }
                    Err(ClientError::AuthRefused) => {
                        tracing::error!("the hub refused SCITEX_OROCHI_TOKEN; tools will answer permission_denied");
                        let _ = tx.send(State::Refused);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "hub not reachable yet; retrying");
                        let _ = tx.send(State::Connecting(e.to_string()));
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        });
        Link { state, url }
    }

    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    /// Waits until the first connection is up (for the push pump); `None` if it never will be.
    pub async fn ready(&self) -> Option<Arc<OrochiClient>> {
        let mut rx = self.state.clone();
        let state = rx.wait_for(|s| !matches!(s, State::Connecting(_))).await.ok()?.clone();
        match state {
            State::Ready(c) => Some(c),
            _ => None,
        }
    }

    /// The client, if it is connected right now; otherwise the tool error to answer.
    pub fn client(&self) -> ToolResult<Arc<OrochiClient>> {
        match self.state() {
            State::Ready(c) if c.is_connected() => Ok(c),
            State::Ready(_) => Err(ToolError::new(
                Code::AgentOffline,
                format!("the connection to {} dropped; reconnecting", self.url),
                "retry in a few seconds; messages sent meanwhile are replayed, nothing is lost",
            )),
            State::Connecting(why) => Err(ToolError::new(
                Code::AgentOffline,
                format!("not connected to {}: {why}", self.url),
                "the bridge keeps retrying; check that the hub runs and SCITEX_OROCHI_URL or HOST/PORT point at it",
            )),
            State::Refused => Err(ToolError::new(
                Code::PermissionDenied,
                "the hub refused the token",
                "set SCITEX_OROCHI_TOKEN to a valid admin or workspace token and restart the session",
            )),
        }
    }
}
