//! `doctor`: one line per check of the whole stack (the agent's path to the hub: [`super::hub_checks`]; the public URLs: [`super::public_urls`]). A check that does not apply on this
//! machine (no Docker engine, no local database, nothing deployed) is skipped, never failed.

use std::path::Path;

use super::check::{Check, Status, check};
use super::spec::{CORS_ORIGINS, Spec, WS_UPSTREAM};
use super::{docker, purge, validate};
use crate::config::{Config, DbLocation, PostgresUrl};

/// A PostgreSQL database: reachable, and its schema against this build's.
async fn postgres(url: &PostgresUrl) -> Check {
    match crate::hub::store::probe::postgres_schema(url).await {
        Ok(s) if s.found == s.known => check("database", Status::Ok, format!("PostgreSQL at {url}, schema version {}", s.found)),
        Ok(s) if s.found == 0 => check("database", Status::Warn, format!("PostgreSQL at {url} reachable, no hub schema yet (serve creates it)")),
        Ok(s) if s.found < s.known => {
            check("database", Status::Warn, format!("PostgreSQL at {url}, schema version {} (this build migrates it to {} at start)", s.found, s.known))
        }
        Ok(s) => check("database", Status::Fail, format!("PostgreSQL at {url}, schema version {} is newer than this build's {}", s.found, s.known)),
        Err(e) => check("database", Status::Fail, format!("PostgreSQL at {url}: {e}")),
    }
}

async fn database(config: &Config) -> Check {
    let path = match &config.db {
        DbLocation::File(path) => path,
        DbLocation::Postgres(url) => return postgres(url).await,
    };
    if !path.exists() {
        return check("database", Status::Skip, format!("no database at {} (not a hub machine)", path.display()));
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    match rusqlite::Connection::open_with_flags(path, flags).and_then(|c| c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))) {
        Ok(tables) => {
            let mb = std::fs::metadata(path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
            check("database", Status::Ok, format!("{} ({mb:.1} MB, {tables} schema objects)", path.display()))
        }
        Err(e) => check("database", Status::Fail, format!("{}: {e}", path.display())),
    }
}

fn environment() -> Check {
    let report = validate::validate_environment(std::env::vars());
    let errors: Vec<_> = report.errors().collect();
    match errors.first() {
        None => check("env", Status::Ok, format!("{} SCITEX_OROCHI_* variable(s) valid", report.checked)),
        Some(first) => check("env", Status::Fail, format!("{} error(s), first: {}: {} (run validate-env)", errors.len(), first.variable, first.message)),
    }
}

/// Whether this machine is meant to have a Docker engine.
fn docker_expected() -> bool {
    std::env::var_os("DOCKER_HOST").is_some() || Path::new("/var/run/docker.sock").exists()
}

async fn deployment(spec: Option<&Spec>, out: &mut Vec<Check>) {
    if !docker_expected() {
        out.push(check("docker", Status::Skip, "no Docker engine on this machine (client only)"));
        return;
    }
    let engine = match docker::connect().await {
        Ok(d) => d,
        Err(e) => {
            out.push(check("docker", Status::Fail, format!("engine unreachable: {e}")));
            return;
        }
    };
    let version = engine.version().await.ok().and_then(|v| v.version).unwrap_or_else(|| "?".into());
    out.push(check("docker", Status::Ok, format!("engine {version} reachable")));
    let Some(spec) = spec else {
        out.push(check("instances", Status::Skip, "no deploy/instances.toml here"));
        return;
    };
    let mut seen = std::collections::BTreeMap::new();
    for inst in spec.instances.values() {
        let name = spec.container_name(inst);
        let label = format!("instance {}", inst.name);
        match docker::inspect_instance(&engine, &name).await {
            Ok(None) => out.push(check(&label, Status::Skip, format!("{name} not deployed on this machine"))),
            Ok(Some(o)) => {
                let status = if o.running && o.health != "unhealthy" { Status::Ok } else { Status::Fail };
                out.push(check(&label, status, format!("{name} {} (health {}), image {}", o.state, o.health, o.image)));
                seen.insert(inst.name.clone(), o);
            }
            Err(e) => out.push(check(&label, Status::Fail, e.to_string())),
        }
    }
    for inst in spec.instances.values() {
        let Some(up) = spec.upstream_of(inst) else { continue };
        let label = format!("wiring {}->{}", inst.name, up.name);
        let (Some(down_c), Some(up_c)) = (seen.get(&inst.name), seen.get(&up.name)) else {
            out.push(check(&label, Status::Skip, "both instances are not deployed here"));
            continue;
        };
        let get = |o: &docker::Observed, k: &str| o.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let origin = inst.public_url.trim_end_matches('/');
        let upstream_ok = get(down_c, WS_UPSTREAM) == up.public_url;
        let cors_ok = get(up_c, CORS_ORIGINS).split(',').any(|o| o.trim() == origin);
        let status = if upstream_ok && cors_ok { Status::Ok } else { Status::Fail };
        let detail = format!(
            "{} upstream {}; {} CORS {} {origin}",
            inst.name,
            if upstream_ok { format!("= {}", up.public_url) } else { format!("is not {}'s dashboard URL (redeploy)", up.name) },
            up.name,
            if cors_ok { "admits" } else { "does not admit" }
        );
        out.push(check(&label, status, detail));
    }
}

/// Runs every check; `spec` is `None` away from a checkout.
pub async fn run(config: &Config, spec: Option<&Spec>) -> Vec<Check> {
    let mut out = Vec::new();
    super::hub_checks::hub(config, &mut out).await;
    out.push(database(config).await);
    out.push(environment());
    deployment(spec, &mut out).await;
    match spec {
        Some(spec) => out.extend(super::public_urls::check_all(spec, &crate::http_client::client(super::public_urls::TIMEOUT)).await),
        None => out.push(check("public URLs", Status::Skip, "no deploy/instances.toml here")),
    }
    out.push(match purge::settings(config, None) {
        Some(_) => check("cloudflare", Status::Ok, "API token and zone set"),
        None => check("cloudflare", Status::Warn, "SCITEX_OROCHI_CLOUDFLARE_API_TOKEN/_ZONE_ID not set here; deploys skip the purge unless the env file has them"),
    });
    out.push(super::hub_checks::push_keys(config));
    out
}
