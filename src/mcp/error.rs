//! Tool errors: what the model sees when a tool fails. Always an MCP tool result with
//! `isError: true` (never a JSON-RPC error, which clients show opaquely) whose text is
//! `{"error": {code, message, hint}}`.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::json;

use crate::client::ClientError;
use crate::client::rest::RestError;
use crate::protocol::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    AgentOffline,
    PermissionDenied,
    InvalidInput,
    NotFound,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::AgentOffline => "agent_offline",
            Code::PermissionDenied => "permission_denied",
            Code::InvalidInput => "invalid_input",
            Code::NotFound => "not_found",
            Code::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToolError {
    pub code: Code,
    pub message: String,
    pub hint: String,
}

pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    pub fn new(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ToolError { code, message: message.into(), hint: hint.into() }
    }

    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Code::InvalidInput, message, hint)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message, "this is a bug or a hub failure; the status tool shows the connection")
    }

    pub fn into_result(self) -> CallToolResult {
        let body = json!({"error": {"code": self.code.as_str(), "message": self.message, "hint": self.hint}});
        CallToolResult::error(vec![ContentBlock::text(body.to_string())])
    }
}

/// Hub refusals and connection failures, in the tool vocabulary.
impl From<ClientError> for ToolError {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Refused { code, detail } => match code.parse::<ErrorCode>() {
                Ok(ErrorCode::NotFound) => ToolError::new(Code::NotFound, detail.clone(), "check the id or name (history lists message ids)"),
                Ok(ErrorCode::NotRegistered) => ToolError::new(Code::AgentOffline, detail.clone(), "the bridge is re-registering; retry in a moment"),
                Ok(ErrorCode::AuthFailed) => ToolError::new(Code::PermissionDenied, detail.clone(), "check SCITEX_OROCHI_TOKEN"),
                Ok(ErrorCode::NameTaken) => ToolError::new(
                    Code::PermissionDenied,
                    detail.clone(),
                    "the name belongs to another workspace: choose another SCITEX_OROCHI_AGENT, or ask the admin to release it",
                ),
                Ok(ErrorCode::StoreUnavailable) => ToolError::internal(format!("the hub could not store it: {detail}")),
                _ => ToolError::invalid(format!("{code}: {detail}"), "fix the arguments and call again"),
            },
            ClientError::AuthRefused => ToolError::new(Code::PermissionDenied, e.to_string(), "check SCITEX_OROCHI_TOKEN"),
            ClientError::Unreachable { .. } | ClientError::Disconnected | ClientError::Closed => {
                ToolError::new(Code::AgentOffline, e.to_string(), "the bridge reconnects by itself; retry shortly (status shows progress)")
            }
            ClientError::Tls(_) => ToolError::new(
                Code::AgentOffline,
                e.to_string(),
                "point SSL_CERT_FILE or SSL_CERT_DIR at the CA that signs the hub's certificate, or fix SCITEX_OROCHI_URL",
            ),
            ClientError::Protocol(_) => ToolError::internal(e.to_string()),
        }
    }
}

/// REST failures, in the tool vocabulary.
impl From<RestError> for ToolError {
    fn from(e: RestError) -> Self {
        let message = e.to_string();
        match e {
            RestError::Tls(t) => ClientError::Tls(t).into(),
            RestError::Unreachable { .. } => ToolError::new(Code::AgentOffline, message, "the hub may be restarting; retry shortly"),
            RestError::Refused { status, .. } if status.as_u16() == 401 || status.as_u16() == 403 => {
                ToolError::new(Code::PermissionDenied, message, "this needs a token the hub accepts (uploads need the admin token)")
            }
            RestError::Refused { status, .. } if status.as_u16() == 404 => ToolError::new(Code::NotFound, message, "check the name, id or URL"),
            RestError::Refused { status, .. } if status.is_client_error() => ToolError::invalid(message, "fix the arguments and call again"),
            RestError::TooLarge { .. } => ToolError::invalid(message, "ask for a smaller file"),
            RestError::Refused { .. } | RestError::InvalidJson { .. } | RestError::BadUrl { .. } | RestError::Mime { .. } | RestError::Write { .. } => {
                ToolError::internal(message)
            }
        }
    }
}
