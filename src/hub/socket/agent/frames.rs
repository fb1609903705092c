//! The agent socket's frame handlers, one per frame type: what a session does with a
//! `register`, `message`, `subscribe`, `query`, `presence`, `heartbeat`, `permission_request`,
//! profile update or `status_update` (the dispatch and the session's life are in the parent).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::hub::state::auth::Principal;
use crate::hub::socket::conn::close_code;
use crate::hub::pipeline::inbox;
use crate::hub::features::permissions;
use crate::hub::pipeline::payload::{
    MAX_RESOURCE_BYTES, as_int, current_task, json_max, opt_str, required_channel, string_list,
};
use crate::hub::state::profile;
use crate::hub::state::registry::{Agent, AgentInfo, RESOURCE_KEYS};
use crate::hub::pipeline::router::Origin;
use crate::hub::pipeline::history::Params;
use crate::hub::store::{Audience, ClientKey, HistoryQuery, Placed, StoreError};
use crate::protocol::{ErrorCode, Frame, FrameError, now_ts};

use super::{Flow, Session, persist_membership};

impl Session {
    pub(super) fn registered(&self) -> Result<&str, FrameError> {
        self.name
            .as_deref()
            .ok_or_else(|| FrameError::new(ErrorCode::NotRegistered, "send register first"))
    }

    pub(super) async fn register(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let name = frame.sender.clone();
        let st = self.state.clone();
        // Within the workspace the newest register replaces the older socket (below); another
        // workspace is refused here and the holder keeps its socket.
        st.names.claim(self.conn.principal.workspace_id(), &name).await?;
        let p = &frame.payload;
        let max_channels = self.state.config.max_channels_per_agent as usize;
        let channels = string_list(p, "channels", max_channels)?;
        let text = |key: &str| opt_str(p, key).map(|v| v.unwrap_or_default());
        let task = current_task(p)?.unwrap_or_default();
        let machine = text("machine")?;
        let agent_id = opt_str(p, "agent_id")?.filter(|s| !s.is_empty()).unwrap_or_else(|| {
            let host = if machine.is_empty() { crate::machine::hostname() } else { machine.clone() };
            format!("{name}@{host}")
        });
        let saved = st.store.saved_channels(name.clone()).await.map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        if !channels.is_empty() {
            persist_membership(&st, &name, channels.clone(), true).await?;
        }
        let subagents = profile::subagents(p)?;
        let now = now_ts();
        let mut info = AgentInfo {
            name: name.clone(),
            // Channels saved before the cap was lowered stay remembered but are not joined.
            channels: channels.iter().chain(saved.iter()).take(max_channels).cloned().collect(),
            machine: machine.clone(),
            role: text("role")?,
            model: text("model")?,
            agent_id,
            project: text("project")?,
            multiplexer: text("multiplexer")?,
            status: "online".into(),
            current_task: task,
            subagent_count: p.get("subagent_count").and_then(as_int).unwrap_or(0),
            subagents: Vec::new(),
            health: None,
            resources: Map::new(),
            last_heartbeat: now.clone(),
            workspace_id: self.conn.principal.workspace_id().to_string(),
            registered_at: now,
        };
        if let Some(list) = subagents {
            info.subagent_count = list.len() as i64;
            info.subagents = list;
        }
        let connected = json!({
            "agent": name, "event": "connected", "channels": info.channels, "agent_id": info.agent_id, "project": info.project,
        });
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
        self.name = Some(name.clone());
        st.registry.to_observers(&Frame::server("presence_change", connected), &st.metrics);
        self.send(&Frame::ack(&frame.id, None));
        st.permissions.agent_back(&name);
        inbox::hand_over(&self.state, &self.conn, name).await;
        Ok(Flow::Done)
    }

    /// `size`: the frame's length, counted against the socket's budget until the commit.
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

    pub(super) async fn message(&mut self, mut frame: Frame, size: usize) -> Result<Flow, FrameError> {
        self.take_token().await?;
        frame.ts = now_ts();
        let st = &self.state;
        let principal = &self.conn.principal;
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
        st.names.claim(principal.workspace_id(), &frame.sender).await?;
        // The reference's routing: the admin without a registered name reaches everyone,
        // every other sender its own workspace ("" for the admin's agents).
        let audience = match (&self.name, principal) {
            (None, Principal::Admin) => Audience::Everyone,
            _ => Audience::Workspace(principal.workspace_id().to_string()),
        };
        let id = frame.id.clone();
        let origin = Origin { audience, key: Some(ClientKey { workspace: principal.workspace_id().to_string(), id: id.clone() }) };
        let conn = self.conn.clone();
        let state = self.state.clone();
        let reply = Box::new(move |result: Result<&Placed, &StoreError>| {
            let frame = match result {
                Ok(placed) => Frame::ack(&id, Some((placed.seq, &placed.msg_id))),
                Err(e) => Frame::error(&FrameError {
                    reference: Some(id.clone()),
                    ..FrameError::new(ErrorCode::StoreUnavailable, format!("not stored: {e}"))
                }),
            };
            conn.send_text(frame.to_json(), &state.metrics);
            conn.message_committed(size);
        });
        st.answer_from_chat(&self.conn, &frame);
        st.submit(frame, origin, reply).await?;
        self.conn.message_submitted(size);
        self.conn.uncommitted_within_budget().await;
        Ok(Flow::Deferred)
    }

    pub(super) async fn membership(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let name = self.registered()?.to_string();
        let channel = required_channel(&frame.payload)?;
        let join = frame.kind == "subscribe";
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

    pub(super) async fn query(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let p = &frame.payload;
        let channel = opt_str(p, "channel")?.filter(|c| !c.is_empty()).unwrap_or_else(|| "#general".into());
        let q = HistoryQuery::from_params(self.conn.principal.clone(), channel.clone(), Params::Frame(p))?;
        // A client reads its own writes: wait for its messages still in the group commit.
        self.conn.own_writes_committed().await;
        let rows = self
            .state
            .store
            .history(q)
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let history: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
        let payload = json!({"channel": channel, "content": "", "history": history, "ref": frame.id});
        self.send(&Frame::server("message", payload));
        Ok(Flow::Ack)
    }

    pub(super) fn presence(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let principal = &self.conn.principal;
        let agents: Map<String, Value> = {
            let inner = self.state.registry.read();
            inner
                .agents
                .iter()
                .filter(|(_, a)| *principal == Principal::Admin || a.info.workspace_id == principal.workspace_id())
                .map(|(n, a)| (n.clone(), json!(a.info.channels)))
                .collect()
        };
        self.send(&Frame::server("presence", json!({"agents": agents, "ref": frame.id})));
        Ok(Flow::Ack)
    }

    pub(super) fn heartbeat(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let Some(name) = &self.name else { return Ok(Flow::Ack) };
        let p = &frame.payload;
        let task = current_task(p)?;
        let mut resources = Map::new();
        for (key, v) in p.iter().filter(|(k, _)| RESOURCE_KEYS.contains(&k.as_str())) {
            json_max(p, key, MAX_RESOURCE_BYTES)?;
            resources.insert(key.clone(), v.clone());
        }
        let mut inner = self.state.registry.write();
        if let Some(a) = inner.agents.get_mut(name).filter(|a| a.conn.id == self.conn.id) {
            if !resources.is_empty() {
                a.info.resources = resources;
            }
            if let Some(t) = task {
                a.info.current_task = t;
            }
            if let Some(n) = p.get("subagent_count").and_then(as_int) {
                a.info.subagent_count = n;
            }
            a.touch();
        }
        Ok(Flow::Ack)
    }

    /// A relayed tool-permission prompt (see `permissions`): acked with its hub id; one
    /// announced again after a reconnect and decided meanwhile gets its outcome after the ack.
    pub(super) async fn permission_request(&mut self, frame: &Frame) -> Result<Flow, FrameError> {
        // Each request notifies people: it spends the socket's message budget.
        self.take_token().await?;
        let r = self.state.ask_permission(&self.conn, self.registered()?, frame).await?;
        let mut ack = Frame::ack(&frame.id, None);
        ack.payload.extend(permissions::ack_extra(&r));
        self.send(&ack);
        if r.status != "pending" {
            self.send(&permissions::outcome_frame(&r));
        }
        Ok(Flow::Done)
    }

    /// `react`, `health`, `task_update`, `subagents_update`: acked with what changed.
    pub(super) async fn profile(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let extra = profile::handle(&self.state, &self.conn.principal, self.registered()?, frame).await?;
        let mut ack = Frame::ack(&frame.id, None);
        ack.payload.extend(extra);
        self.send(&ack);
        Ok(Flow::Done)
    }

    pub(super) fn status_update(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let name = self.registered()?;
        let p = &frame.payload;
        let mut fields = Vec::new();
        for key in ["status", "machine", "role", "project", "agent_id"] {
            if let Some(v) = opt_str(p, key)? {
                fields.push((key, v));
            }
        }
        if let Some(v) = current_task(p)? {
            fields.push(("current_task", v));
        }
        let count = p.get("subagent_count").and_then(as_int);
        let event = {
            let mut inner = self.state.registry.write();
            if let Some(i) = fields.iter().position(|(key, _)| *key == "machine") {
                inner.set_machine(name, fields.swap_remove(i).1);
            }
            let Some(a) = inner.agents.get_mut(name) else { return Ok(Flow::Ack) };
            let i = &mut a.info;
            for (key, v) in fields {
                let slot = match key {
                    "status" => &mut i.status,
                    "current_task" => &mut i.current_task,
                    "role" => &mut i.role,
                    "project" => &mut i.project,
                    _ => &mut i.agent_id,
                };
                *slot = v;
            }
            if let Some(n) = count {
                i.subagent_count = n;
            }
            a.touch();
            a.info.status_event()
        };
        self.state.registry.to_observers(&Frame::new("status_update", name, event), &self.state.metrics);
        Ok(Flow::Ack)
    }
}
