//! Compose files equivalent to the instance specs, for people who prefer `docker compose`.
//! `compose/<instance>.yml` is exactly `scitex-orochi deploy compose <instance>`; a test
//! keeps the two equal.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::image::BINARY_IN_IMAGE;
use super::desired::LABEL_INSTANCE;
use super::spec::{CONTAINER_HTTP_PORT, CONTAINER_WS_PORT, DATA_MOUNT, Instance, Spec};

/// Image the compose files use; build it by hand (see the Dockerfile).
pub const COMPOSE_IMAGE: &str = "scitex-orochi:local";

/// `path` as the compose file in `<repo>/compose/` refers to it.
fn from_compose_dir(spec: &Spec, path: &Path) -> String {
    let repo = spec.dir.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".."));
    match path.strip_prefix(&repo) {
        Ok(rel) => format!("../{}", rel.display()),
        Err(_) => path.display().to_string(),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// The compose file of one instance.
pub fn render(spec: &Spec, inst: &Instance) -> String {
    let mut y = String::new();
    let name = spec.container_name(inst);
    let ip = &spec.defaults.publish_ip;
    let _ = writeln!(y, "# Generated from deploy/instances.toml by `scitex-orochi deploy compose {}`;", inst.name);
    let _ = writeln!(y, "# a test keeps it equal to that output. `scitex-orochi deploy {}` does the same with", inst.name);
    let _ = writeln!(y, "# env validation, a health gate, automatic rollback, an audit log and the CDN purge.");
    let _ = writeln!(y, "# Compose passes the whole env file (Cloudflare variables included) and sets");
    let _ = writeln!(y, "# SCITEX_OROCHI_CORS_ORIGINS to the wired origins only. Image: see deploy/Dockerfile.");
    if inst.replicas > 1 {
        let _ = writeln!(y, "# replicas = {}: this file runs replica 0 only; `scitex-orochi deploy` runs them all.", inst.replicas);
    }
    let _ = writeln!(y, "name: {name}");
    let _ = writeln!(y, "services:");
    let _ = writeln!(y, "  ports:");
    let _ = writeln!(y, "    # Publishes the ports and keeps the network namespace the hub joins (see docs/deploy.md).");
    let _ = writeln!(y, "    image: {COMPOSE_IMAGE}");
    let _ = writeln!(y, "    container_name: {}", spec.holder_name(inst));
    let _ = writeln!(y, "    command: [\"deploy\", \"hold\"]");
    let _ = writeln!(y, "    user: \"65534:65534\"");
    let _ = writeln!(y, "    restart: {}", spec.defaults.restart);
    let _ = writeln!(y, "    ports:");
    let _ = writeln!(y, "      - {}", quoted(&format!("{ip}:{}:{CONTAINER_HTTP_PORT}", inst.dashboard_port)));
    let _ = writeln!(y, "      - {}", quoted(&format!("{ip}:{}:{CONTAINER_WS_PORT}", inst.ws_port)));
    let _ = writeln!(y, "    labels:");
    let _ = writeln!(y, "      {LABEL_INSTANCE}: {}", quoted(&inst.name));
    let _ = writeln!(y, "    healthcheck:");
    let _ = writeln!(y, "      disable: true");
    let _ = writeln!(y, "  hub:");
    let _ = writeln!(y, "    image: {COMPOSE_IMAGE}");
    let _ = writeln!(y, "    container_name: {name}");
    let _ = writeln!(y, "    command: [\"serve\"]");
    if let Some(user) = &inst.user {
        let _ = writeln!(y, "    user: {}", quoted(user));
    }
    let _ = writeln!(y, "    restart: {}", spec.defaults.restart);
    let _ = writeln!(y, "    network_mode: \"service:ports\"");
    let _ = writeln!(y, "    depends_on: [ports]");
    let _ = writeln!(y, "    env_file:");
    let _ = writeln!(y, "      - {}", from_compose_dir(spec, &inst.env_file));
    let _ = writeln!(y, "    environment:");
    for (k, v) in spec.container_env(inst, &[]) {
        let _ = writeln!(y, "      {k}: {}", quoted(&v));
    }
    let _ = writeln!(y, "    volumes:");
    let _ = writeln!(y, "      - {}", quoted(&format!("{}:{DATA_MOUNT}", inst.data_dir.display())));
    for b in &inst.binds {
        let _ = writeln!(y, "      - {}", quoted(b));
    }
    let _ = writeln!(y, "    labels:");
    let _ = writeln!(y, "      {LABEL_INSTANCE}: {}", quoted(&inst.name));
    let _ = writeln!(y, "    healthcheck:");
    let _ = writeln!(y, "      test: [\"CMD\", \"{BINARY_IN_IMAGE}\", \"healthcheck\"]");
    let _ = writeln!(y, "      interval: 10s");
    let _ = writeln!(y, "      timeout: 3s");
    let _ = writeln!(y, "      start_period: 5s");
    let _ = writeln!(y, "      retries: 3");
    y
}
