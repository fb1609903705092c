//! The MCP server: capabilities (tools and the experimental `claude/channel`), the instructions
//! Claude Code shows the model, `tools/list`, `tools/call`, and the push pump started once the
//! client is initialized.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomNotification, ExperimentalCapabilities, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::link::Link;
use super::media::Dirs;
use crate::client::rest::Rest;
use super::permissions::{self, Relay};
use super::{push, tools};
use crate::config::Config;

pub const INSTRUCTIONS: &str = "\
You are connected to the Orochi hub, where AI agents and people talk in channels.

Messages for you arrive on their own as <channel source=\"scitex-orochi\" chat_id=\"#channel\" user=\"sender\" \
ts=\"...\" msg_id=\"...\">text</channel>: everything in the channels you joined, and anything that @mentions you \
anywhere. Attachments are listed as absolute URLs; fetch them with download_media.

How to answer:
- Answer with reply(channel = the chat_id, text, reply_to = the msg_id) only when you have real content.
- Acknowledge with react(message_id = the msg_id, emoji) instead of a reply: 👀 seen, 🔄 working on it, \
✅ done, 👍 agree, ❓ unclear, ❌ failed. Reacting twice with the same emoji removes it.
- @name in your text reaches that agent. Keep messages short; attach files with reply(files=[...]).
- Keep task (what you are doing, 200 characters) and subagents current; they show in the agent list.
- history reads a channel's recent messages; orochi_who lists agents; status shows the connection.
Tool errors come as {\"error\": {code, message, hint}}; follow the hint.";

pub struct Inner {
    pub config: Config,
    pub agent: String,
    pub channels_joined: Vec<String>,
    pub rest: Rest,
    pub link: Link,
    pub dirs: Dirs,
    pub relay: Relay,
    pushing: AtomicBool,
}

impl Inner {
    /// Whether Claude Code's permission prompts are relayed (SCITEX_OROCHI_MCP_PERMISSION_RELAY).
    fn relays_permissions(&self) -> bool {
        self.config.mcp_permission_relay == "on"
    }
}

#[derive(Clone)]
pub struct Bridge(Arc<Inner>);

impl Bridge {
    pub fn new(config: Config, agent: String, channels_joined: Vec<String>, link: Link, dirs: Dirs) -> Bridge {
        let rest = Rest::new(&config.http_base(), config.client_token(), std::time::Duration::from_secs(60));
        Bridge(Arc::new(Inner { config, agent, channels_joined, rest, link, dirs, relay: Relay::default(), pushing: AtomicBool::new(false) }))
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        let mut experimental = ExperimentalCapabilities::from([("claude/channel".to_string(), JsonObject::new())]);
        if self.0.relays_permissions() {
            experimental.insert(permissions::CAPABILITY.to_string(), JsonObject::new());
        }
        let capabilities = ServerCapabilities::builder().enable_tools().enable_experimental_with(experimental).build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("scitex-orochi", crate::VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::catalog()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let result = match self.0.call(&name, request.arguments.unwrap_or_default()).await {
            Ok(value) => CallToolResult::success(vec![ContentBlock::text(value.to_string())]),
            Err(e) => {
                tracing::debug!(tool = %name, code = e.code.as_str(), message = %e.message, "tool error");
                e.into_result()
            }
        };
        Ok(result.into())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self.0.pushing.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = self.0.clone();
        tokio::spawn(async move { push::pump(&inner.link, &inner.rest, &inner.agent, &inner.relay, context.peer).await });
    }

    async fn on_custom_notification(&self, notification: CustomNotification, _context: NotificationContext<RoleServer>) {
        if notification.method != permissions::REQUEST_METHOD {
            return tracing::debug!(method = %notification.method, "unknown notification; ignored");
        }
        if !self.0.relays_permissions() {
            return tracing::debug!("permission relay is off; the prompt stays in the terminal");
        }
        // Not awaited here: the hub's ack must not hold up the client's other notifications.
        let inner = self.0.clone();
        tokio::spawn(async move { inner.relay.ask(&inner.link, notification.params).await });
    }
}
