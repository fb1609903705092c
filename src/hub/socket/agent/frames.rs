//! The agent socket's command handlers, one per frame type: what a session does with a
//! `register`, `message`, `subscribe`, `query`, `presence`, `heartbeat`, `permission_request`
//! or `status_update`, its payload already read into a `protocol::Command` (the dispatch, the
//! profile updates and the session's life are in the parent).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::hub::features::permissions;
use crate::hub::pipeline::history::Params;
use crate::hub::pipeline::inbox;
use crate::hub::pipeline::router::Origin;
use crate::hub::socket::conn::close_code;
use crate::hub::state::auth::Principal;
use crate::hub::state::fleet;
use crate::hub::state::registry::{Agent, AgentInfo};
use crate::hub::store::{Audience, HistoryQuery};
use crate::protocol::{ErrorCode, Frame, FrameError, Heartbeat, Kind, PermissionAsk, Post, Query, Register, StatusUpdate, now_ts};

use super::{Flow, Session, persist_membership};

impl Session {
    pub(super) fn registered(&self) -> Result<&str, FrameError> {
        self.name
            .as_deref()
            .ok_or_else(|| FrameError::new(ErrorCode::NotRegistered, "send register first"))
    }

    /// `r.name` was claimed for this socket's workspace before (see `admit`): within the
    /// workspace the newest register replaces the older socket (below); another workspace was
    /// refused there and the holder keeps its socket.
    pub(super) async fn register(&mut self, id: &str, r: Register) -> Result<Flow, FrameError> {
        let name = r.name;
        let st = self.state.clone();
        let max_channels = self.state.config.max_channels_per_agent as usize;
        let machine = r.machine;
        let agent_id = r.agent_id.unwrap_or_else(|| {
            let host = if machine.is_empty() { crate::machine::hostname() } else { machine.clone() };
            format!("{name}@{host}")
        });
        let saved = st.store.saved_channels(name.clone()).await.map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        // Remembering channels already remembered would change nothing, and wait for a commit.
        if r.channels.iter().any(|c| !saved.contains(c)) {
            persist_membership(&st, &name, r.channels.clone(), true).await?;
        }
        let now = now_ts();
        let mut info = AgentInfo {
            name: name.clone(),
            // Channels saved before the cap was lowered stay remembered but are not joined.
            channels: r.channels.iter().chain(saved.iter()).take(max_channels).cloned().collect(),
            machine: machine.clone(),
            role: r.role,
            model: r.model,
            agent_id,
            project: r.project,
            multiplexer: r.multiplexer,
            status: "online".into(),
            current_task: r.current_task,
            subagent_count: r.subagent_count,
            subagents: Vec::new(),
            health: None,
            resources: Map::new(),
            last_heartbeat: now.clone(),
            workspace_id: self.conn.principal.workspace_id().to_string(),
            registered_at: now,
        };
        if let Some(list) = r.subagents {
            info.subagent_count = list.len() as i64;
            info.subagents = list;
        }
        let connected = info.connected_event();
        let joined = if r.resume.is_empty() { Default::default() } else { info.channels.clone() };
        // What it missed and this hub still holds goes out before the ack, ahead of anything live.
        let conn = self.conn.clone();
        let caught_up = st.heads.resume(&r.resume, &joined, &conn.principal, inbox::hand_over_room(&st), || self.take_name(info), |m| {
            conn.send(m.clone(), &st.metrics);
        });
        st.peers.registered(&st.store, self.conn.principal.workspace_id(), &name).await;
        st.registry.to_observers(&Frame::server(Kind::PresenceChange, connected), &st.metrics);
        let mut ack = Frame::ack(id, None);
        if !r.resume.is_empty() {
            ack.payload.insert("caught_up".into(), json!(caught_up));
        }
        self.send(&ack);
        st.permissions.agent_back(&name);
        inbox::hand_over(&self.state, &self.conn, name).await;
        Ok(Flow::Done)
    }

    /// Puts this socket in the registry under `info.name`: it replaces the name's older socket
    /// and evicts the stale agents of its machine.
    fn take_name(&mut self, info: AgentInfo) {
        let st = &self.state;
        let name = info.name.clone();
        let machine = info.machine.clone();
        let stale = Duration::from_secs(st.config.stale_secs);
        let mut evicted = Vec::new();
        {
            let mut inner = st.registry.write();
            if let Some(old) = self.name.take().filter(|old| *old != name) {
                inner.remove_agent(&old);
            }
            if let Some(prev) = inner.remove_agent(&name).filter(|a| a.conn.id != self.conn.id) {
                prev.conn.close(close_code::REPLACED, "Replaced by new connection");
            }
            if !machine.is_empty() {
                evicted = inner.stale_on_machine(&machine, stale);
                for n in &evicted {
                    if let Some(a) = inner.remove_agent(n) {
                        a.conn.close(close_code::STALE, "stale: evicted by a new agent on the same machine");
                    }
                }
            }
            inner.insert_agent(Agent { conn: self.conn.clone(), info, seen: Instant::now() });
        }
        for n in &evicted {
            st.announce_disconnect(n);
        }
        self.name = Some(name);
    }

    /// One token of the socket's message budget, or RATE_LIMITED after the wait for the next.
    pub(super) async fn take_token(&mut self) -> Result<(), FrameError> {
        if let Err(next_token) = self.bucket.try_take() {
            // Not reading meanwhile: a flooder waits in its own socket buffers, not our CPU.
            tokio::time::sleep(next_token).await;
            let c = &self.state.config;
            return Err(FrameError::new(
                ErrorCode::RateLimited,
                format!(
                    "over {} messages/s (burst {}); not stored, send again later (SCITEX_OROCHI_RATE_MESSAGES_PER_SEC)",
                    c.rate_messages_per_sec, c.rate_burst
                ),
            ));
        }
        Ok(())
    }

    /// Before a message's payload is read: a token of the budget, the hub's timestamp, the
    /// sender's name, and a chat answer to a permission request (`answer_from_chat`).
    pub(super) async fn admit_message(&mut self, frame: &mut Frame) -> Result<(), FrameError> {
        self.take_token().await?;
        frame.ts = now_ts();
        // A registered socket speaks as its name; an unregistered one (the CLI's `send`, a
        // second socket of the bridge's workspace) as any name its workspace holds or claims.
        match &self.name {
            Some(name) if frame.sender == "unknown" => frame.sender = name.clone(),
            Some(name) if frame.sender != *name => {
                return Err(FrameError::new(
                    ErrorCode::SenderMismatch,
                    format!("this socket is registered as {name:?} and cannot send as {:?}", frame.sender),
                ));
            }
            _ => {}
        }
        self.state.names.claim(self.conn.principal.workspace_id(), &frame.sender).await?;
        self.state.answer_from_chat(&self.conn, frame);
        Ok(())
    }

    /// `size`: the frame's length, counted against the socket's budget until the commit.
    pub(super) async fn message(&mut self, post: Post, size: usize) -> Result<Flow, FrameError> {
        let principal = &self.conn.principal;
        // The reference's routing: the admin without a registered name reaches everyone,
        // every other sender its own workspace ("" for the admin's agents).
        let audience = match (&self.name, principal) {
            (None, Principal::Admin) => Audience::Everyone,
            _ => Audience::Workspace(principal.workspace_id().to_string()),
        };
        let origin = Origin::Socket { conn: self.conn.clone(), frame_id: post.frame.id.clone(), size, audience };
        self.state.submit(post, origin).await?;
        self.conn.message_submitted(size);
        self.conn.uncommitted_within_budget().await;
        Ok(Flow::Deferred)
    }

    pub(super) async fn membership(&mut self, channel: String, join: bool) -> Result<Flow, FrameError> {
        let name = self.registered()?.to_string();
        {
            let mut inner = self.state.registry.write();
            if join {
                let cap = self.state.config.max_channels_per_agent as usize;
                let held = inner.agents.get(&name).map_or(0, |a| a.info.channels.len());
                if held >= cap && !inner.agents.get(&name).is_some_and(|a| a.info.channels.contains(&channel)) {
                    return Err(FrameError::new(
                        ErrorCode::FieldTooLarge,
                        format!("{name} is in {held} channels; the limit is {cap} (SCITEX_OROCHI_MAX_CHANNELS_PER_AGENT)"),
                    ));
                }
                inner.join(&name, &channel);
            } else {
                inner.leave(&name, &channel);
            }
        }
        persist_membership(&self.state, &name, vec![channel], join).await?;
        Ok(Flow::Ack)
    }

    pub(super) async fn query(&mut self, id: &str, query: Query) -> Result<Flow, FrameError> {
        let Query { channel, params } = query;
        let q = HistoryQuery::from_params(self.conn.principal.clone(), channel.clone(), Params::Frame(&params))?;
        // A client reads its own writes: wait for its messages still in the group commit.
        self.conn.own_writes_committed().await;
        let rows = self
            .state
            .store
            .history(q)
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let history: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
        let payload = json!({"channel": channel, "content": "", "history": history, "ref": id});
        self.send(&Frame::server(Kind::Message, payload));
        Ok(Flow::Ack)
    }

    pub(super) async fn presence(&self, id: &str) -> Result<Flow, FrameError> {
        let listed = fleet::listing(&self.state, &self.conn.principal).await;
        let agents: Map<String, Value> = listed.into_iter().map(|a| (a.name, json!(a.channels))).collect();
        self.send(&Frame::server(Kind::Presence, json!({"agents": agents, "ref": id})));
        Ok(Flow::Ack)
    }

    /// Only from a registered socket (`admit` acks the others unread).
    pub(super) fn heartbeat(&self, h: Heartbeat) -> Result<Flow, FrameError> {
        let name = self.registered()?;
        let mut inner = self.state.registry.write();
        if let Some(a) = inner.agent_mut(name).filter(|a| a.conn.id == self.conn.id) {
            if !h.resources.is_empty() {
                a.info.resources = h.resources;
            }
            if let Some(t) = h.current_task {
                a.info.current_task = t;
            }
            if let Some(n) = h.subagent_count {
                a.info.subagent_count = n;
            }
            a.touch();
        }
        Ok(Flow::Ack)
    }

    /// A relayed tool-permission prompt (see `permissions`): acked with its hub id; one
    /// announced again after a reconnect and decided meanwhile gets its outcome after the ack.
    pub(super) async fn permission_request(&mut self, id: &str, ask: PermissionAsk) -> Result<Flow, FrameError> {
        let r = self.state.ask_permission(&self.conn, self.registered()?, id, ask).await?;
        let flow = self.ack_with(id, permissions::ack_extra(&r));
        if r.status != "pending" {
            self.send(&permissions::outcome_frame(&r));
        }
        Ok(flow)
    }

    pub(super) fn status_update(&self, u: StatusUpdate) -> Result<Flow, FrameError> {
        let name = self.registered()?;
        let event = {
            let mut inner = self.state.registry.write();
            if let Some(machine) = u.machine {
                inner.set_machine(name, machine);
            }
            let Some(a) = inner.agent_mut(name) else { return Ok(Flow::Ack) };
            let i = &mut a.info;
            let fields = [
                (&mut i.status, u.status),
                (&mut i.current_task, u.current_task),
                (&mut i.role, u.role),
                (&mut i.project, u.project),
                (&mut i.agent_id, u.agent_id),
            ];
            for (slot, v) in fields {
                if let Some(v) = v {
                    *slot = v;
                }
            }
            if let Some(n) = u.subagent_count {
                i.subagent_count = n;
            }
            a.touch();
            a.info.status_event()
        };
        self.state.registry.to_observers(&Frame::new(Kind::StatusUpdate, name, event), &self.state.metrics);
        Ok(Flow::Ack)
    }
}
