//! `doctor`'s checks of the path an agent takes to the hub: HTTP, the token, what the token
//! sees (agents and channels), the agent socket itself, and the Web Push keys where `serve`
//! keeps them.

use std::time::{Duration, Instant};

use super::doctor::{Check, Status, check};
use crate::client::rest::{Rest, RestError};
use crate::client::{ClientOptions, OrochiClient};
use crate::config::Config;
use crate::hub::features::push::VapidKeys;
use crate::hub::features::push::vapid::key_file;

/// How long one probe may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The agent socket probe registers under names with this prefix, never under the configured
/// agent name: a register under a live bridge's name would replace that bridge.
pub const PROBE_PREFIX: &str = "doctor-probe-";

fn ms(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

/// HTTP, auth, counts and the agent socket; later checks are skipped once the hub is unreachable.
pub(super) async fn hub(config: &Config, out: &mut Vec<Check>) {
    let base = config.http_base();
    let client = crate::http_client::client(TIMEOUT);
    let t = Instant::now();
    match client.get(format!("{base}/healthz")).send().await {
        Ok(r) if r.status().is_success() => out.push(check("hub", Status::Ok, format!("{base} answers (round trip {} ms)", ms(t)))),
        Ok(r) => out.push(check("hub", Status::Fail, format!("{base}/healthz answered {}", r.status()))),
        Err(e) => {
            out.push(check("hub", Status::Fail, format!("{base} unreachable: {}", if e.is_connect() { "connection refused".into() } else { e.to_string() })));
            for name in ["auth", "agents and channels", "agent socket"] {
                out.push(check(name, Status::Skip, "hub unreachable"));
            }
            return;
        }
    }
    let token = config.client_token();
    if token.is_empty() {
        out.push(check("auth", Status::Warn, "no SCITEX_OROCHI_TOKEN set; reads need a token"));
        out.push(check("agents and channels", Status::Skip, "no token"));
        out.push(check("agent socket", Status::Skip, "no token"));
        return;
    }
    let rest = Rest::new(&base, token, TIMEOUT);
    let t = Instant::now();
    let agents = match rest.get("/api/agents", &[]).await {
        Ok(agents) => {
            out.push(check("auth", Status::Ok, format!("token accepted (round trip {} ms)", ms(t))));
            Ok(agents)
        }
        Err(RestError::Refused { status, .. }) if status == reqwest::StatusCode::UNAUTHORIZED => {
            out.push(check("auth", Status::Fail, "token refused (401)"));
            out.push(check("agents and channels", Status::Skip, "token refused"));
            out.push(check("agent socket", Status::Skip, "token refused"));
            return;
        }
        Err(e) => {
            out.push(check("auth", Status::Fail, e.to_string()));
            Err(e)
        }
    };
    let channels = rest.get("/api/channels", &[]).await;
    out.push(match (agents, channels) {
        (Ok(a), Ok(c)) => {
            // Another doctor's probe running at the same moment is not an agent.
            let list = a.as_array().map(Vec::as_slice).unwrap_or_default();
            let agents = list.iter().filter(|a| !a["name"].as_str().unwrap_or_default().starts_with(PROBE_PREFIX)).count();
            let channels = c.as_object().map_or(0, |c| c.len());
            check("agents and channels", Status::Ok, format!("{agents} agent(s) online, {channels} channel(s) visible to this token"))
        }
        (Err(e), _) | (_, Err(e)) => check("agents and channels", Status::Fail, e.to_string()),
    });
    out.push(agent_socket(config).await);
}

/// Opens the agent socket, registers as a probe (the register ack), asks for presence (a
/// correlated round trip) and sees itself listed, then leaves.
async fn agent_socket(config: &Config) -> Check {
    let url = crate::config::redact_token(&config.hub_url());
    let name = format!("{PROBE_PREFIX}{}", hex::encode(rand::random::<[u8; 4]>()));
    let mut options = ClientOptions::new(config.hub_url(), config.client_token(), name.clone());
    options.channels = vec![];
    options.heartbeat = None;
    options.ping = None;
    options.reconnect = false;
    let t = Instant::now();
    let client = match tokio::time::timeout(TIMEOUT, OrochiClient::connect(options)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return check("agent socket", Status::Fail, format!("{url}: {e}")),
        Err(_) => return check("agent socket", Status::Fail, format!("{url}: no register ack within {} s", TIMEOUT.as_secs())),
    };
    let registered = ms(t);
    let t = Instant::now();
    let presence = tokio::time::timeout(TIMEOUT, client.who()).await;
    let round_trip = ms(t);
    client.close().await;
    match presence {
        Ok(Ok(agents)) if agents.contains_key(&name) => check(
            "agent socket",
            Status::Ok,
            format!("{url}: registered as {name} (ack in {registered} ms), presence round trip {round_trip} ms"),
        ),
        Ok(Ok(_)) => check("agent socket", Status::Fail, format!("{url}: registered as {name}, but presence does not list it")),
        Ok(Err(e)) => check("agent socket", Status::Fail, format!("{url}: presence: {e}")),
        Err(_) => check("agent socket", Status::Fail, format!("{url}: no presence reply within {} s", TIMEOUT.as_secs())),
    }
}

/// The keys `serve` uses: SCITEX_OROCHI_VAPID_* when set, else the key file it creates in its
/// data folder on first start.
pub(super) fn push_keys(config: &Config) -> Check {
    match VapidKeys::load(config) {
        Ok(Some(k)) => check("push keys", Status::Ok, format!("VAPID keys from {}", k.source)),
        Ok(None) => match key_file(config) {
            Some(file) if config.db.file().is_some_and(std::path::Path::exists) => check(
                "push keys",
                Status::Warn,
                format!("no {} and no SCITEX_OROCHI_VAPID_*: web push is off until serve restarts or setup-push runs", file.display()),
            ),
            Some(file) => check("push keys", Status::Skip, format!("no hub data here ({} is where serve keeps them)", file.display())),
            None => check("push keys", Status::Skip, "kept in the PostgreSQL database (serve creates them on first start)"),
        },
        Err(e) => check("push keys", Status::Fail, e.to_string()),
    }
}
