use clap::Args;

use super::{CliError, CliResult};
use crate::config::Config;
use crate::hub;

/// Run the hub: agent WebSocket and HTTP dashboard/API, data in SCITEX_OROCHI_DB.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi serve                      # 127.0.0.1:9559 and :8559, data in ./orochi-data\n  SCITEX_OROCHI_HOST=0.0.0.0 scitex-orochi serve\n\nExit codes: 0 stopped cleanly, 1 failed to start.")]
pub struct ServeArgs {}

/// Exit 0 when the local hub's /healthz answers (for container HEALTHCHECKs).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi healthcheck\n\nExit codes: 0 healthy, 1 unhealthy.")]
pub struct HealthcheckArgs {}

pub async fn serve(config: Config, _: ServeArgs) -> CliResult {
    let running = hub::start(config).await.map_err(CliError::Start)?;
    eprintln!("orochi hub: agents {} · dashboard {}", running.ws_url(), running.http_url());
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(CliError::Signal)?;
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

pub async fn healthcheck(config: Config, _: HealthcheckArgs) -> CliResult {
    let host = if config.host == "0.0.0.0" { "127.0.0.1" } else { &config.host };
    let url = format!("http://{host}:{}/healthz", config.dashboard_port);
    let client = crate::http_client::client(std::time::Duration::from_secs(3));
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(CliError::Unhealthy { url, status: r.status() }),
        Err(source) => Err(CliError::HealthUnreachable { url, source }),
    }
}
