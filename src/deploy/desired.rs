//! The desired container of an instance and its differences from the running one.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::docker::{ContainerSpec, Observed, Published};
use super::replicas::Replica;
use super::spec::{CONTAINER_HTTP_PORT, CONTAINER_WS_PORT, DATA_MOUNT, Instance, Spec};
use crate::config::{PREFIX, VARS, names};

pub const LABEL_MANAGED: &str = "scitex.orochi.managed-by";
pub const MANAGED_VALUE: &str = "scitex-orochi-deploy";
pub const LABEL_INSTANCE: &str = "scitex.orochi.instance";
pub const LABEL_ENV_HASH: &str = "scitex.orochi.env-hash";
pub const LABEL_PREVIOUS_IMAGE: &str = "scitex.orochi.previous-image";
pub const LABEL_DEPLOYED_AT: &str = "scitex.orochi.deployed-at";
pub const LABEL_DEPLOYED_BY: &str = "scitex.orochi.deployed-by";
/// `hub` or `ports` (the port holder).
pub const LABEL_ROLE: &str = "scitex.orochi.role";
/// The replica's index (hub containers and port holders).
pub const LABEL_REPLICA: &str = "scitex.orochi.replica";
/// Labels compared by [`diff`]; the others record history.
pub const COMPARED_LABELS: &[&str] = &[LABEL_MANAGED, LABEL_INSTANCE, LABEL_ENV_HASH];

/// Short sha256 of the sorted `NAME=value` lines: changes whenever any value does.
pub fn env_hash(env: &[(String, String)]) -> String {
    let mut lines: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    lines.sort();
    hex::encode(Sha256::digest(lines.concat().as_bytes()))[..16].to_string()
}

fn published(spec: &Spec, r: &Replica) -> Vec<Published> {
    let ip = spec.defaults.publish_ip.clone();
    let mut ports = vec![
        Published { container: format!("{CONTAINER_HTTP_PORT}/tcp"), host_ip: ip.clone(), host_port: r.dashboard_port },
        Published { container: format!("{CONTAINER_WS_PORT}/tcp"), host_ip: ip, host_port: r.ws_port },
    ];
    ports.sort();
    ports
}

/// The port holder of a replica: a container that only publishes the ports and keeps the
/// network namespace the hub containers join, so a cut-over never tears down Docker's network
/// plumbing (see docs/deploy.md). It runs `scitex-orochi deploy hold` from the hub image.
pub fn holder(spec: &Spec, inst: &Instance, r: &Replica, image: &str) -> ContainerSpec {
    ContainerSpec {
        name: r.holder.clone(),
        image: image.to_string(),
        cmd: vec!["deploy".into(), "hold".into()],
        env: Vec::new(),
        labels: BTreeMap::from([
            (LABEL_MANAGED.to_string(), MANAGED_VALUE.to_string()),
            (LABEL_INSTANCE.to_string(), inst.name.clone()),
            (LABEL_ROLE.to_string(), "ports".to_string()),
            (LABEL_REPLICA.to_string(), r.index.to_string()),
        ]),
        ports: published(spec, r),
        binds: Vec::new(),
        user: "65534:65534".into(),
        restart: spec.defaults.restart.clone(),
        network_mode: String::new(),
        no_healthcheck: true,
    }
}

/// The hub container the controller would create for replica `r` of `inst` (history labels
/// not included). It joins the port holder's network; `ports` are those the holder publishes.
pub fn desired(spec: &Spec, inst: &Instance, r: &Replica, env: Vec<(String, String)>, image: &str, user: &str) -> ContainerSpec {
    let ports = published(spec, r);
    let labels = BTreeMap::from([
        (LABEL_MANAGED.to_string(), MANAGED_VALUE.to_string()),
        (LABEL_INSTANCE.to_string(), inst.name.clone()),
        (LABEL_ENV_HASH.to_string(), env_hash(&env)),
        (LABEL_REPLICA.to_string(), r.index.to_string()),
    ]);
    // Sorted as the engine's view is, so that the diff compares like with like.
    let mut binds = vec![format!("{}:{DATA_MOUNT}", inst.data_dir.display())];
    binds.extend(inst.binds.iter().cloned());
    binds.sort();
    ContainerSpec {
        name: r.container.clone(),
        image: image.to_string(),
        cmd: vec!["serve".into()],
        env,
        labels,
        ports,
        binds,
        user: user.to_string(),
        restart: spec.defaults.restart.clone(),
        network_mode: format!("container:{}", r.holder),
        no_healthcheck: false,
    }
}

/// One field that differs, values already safe to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub field: String,
    pub desired: String,
    pub actual: String,
}

fn shown(key: &str, value: Option<&String>) -> String {
    match value {
        None => "(unset)".into(),
        // A database URL may hold a password.
        Some(v) if key == names::DB && url::Url::parse(v).is_ok_and(|u| u.password().is_some()) => "(hidden)".into(),
        Some(v) if VARS.iter().any(|var| var.name == key && !var.secret) => format!("{v:?}"),
        Some(_) => "(hidden)".into(),
    }
}

fn ports_text(p: &[Published]) -> String {
    p.iter().map(|p| format!("{}:{}->{}", p.host_ip, p.host_port, p.container)).collect::<Vec<_>>().join(", ")
}

/// The environment the container actually has, restricted to what the controller manages
/// (the desired names and every SCITEX_OROCHI_* name).
pub fn actual_env(desired: &ContainerSpec, observed: &Observed) -> Vec<(String, String)> {
    let keep = |k: &str| k.starts_with(PREFIX) || desired.env.iter().any(|(d, _)| d == k);
    let map: BTreeMap<&str, &str> = observed.env.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    map.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Every difference between the desired and the observed container.
pub fn diff(desired: &ContainerSpec, desired_image_id: Option<&str>, observed: Option<&Observed>) -> Vec<Difference> {
    let d = |field: &str, desired: String, actual: String| Difference { field: field.into(), desired, actual };
    let Some(o) = observed else {
        return vec![d("container", desired.name.clone(), "(none)".into())];
    };
    let mut out = Vec::new();
    if !o.running {
        out.push(d("state", "running".into(), o.state.clone()));
    }
    let same_image = match desired_image_id {
        Some(id) => id == o.image_id,
        None => false,
    };
    if !same_image {
        let want = if desired_image_id.is_some() { desired.image.clone() } else { format!("{} (not built yet)", desired.image) };
        out.push(d("image", want, o.image.clone()));
    }
    let want: BTreeMap<&String, &String> = desired.env.iter().map(|(k, v)| (k, v)).collect();
    let actual_pairs = actual_env(desired, o);
    let have: BTreeMap<&String, &String> = actual_pairs.iter().map(|(k, v)| (k, v)).collect();
    let mut keys: Vec<&String> = want.keys().chain(have.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (w, h) = (want.get(k).copied(), have.get(k).copied());
        if w != h {
            out.push(d(&format!("env {k}"), shown(k, w), shown(k, h)));
        }
    }
    if desired.network_mode != o.network_mode {
        out.push(d("network", desired.network_mode.clone(), if o.network_mode.is_empty() { "bridge".into() } else { o.network_mode.clone() }));
    }
    if desired.ports != o.ports {
        out.push(d("ports", ports_text(&desired.ports), ports_text(&o.ports)));
    }
    if desired.binds != o.binds {
        out.push(d("mounts", desired.binds.join(", "), o.binds.join(", ")));
    }
    for key in COMPARED_LABELS {
        let (w, h) = (desired.labels.get(*key), o.labels.get(*key));
        if w != h {
            out.push(d(&format!("label {key}"), w.cloned().unwrap_or_default(), h.cloned().unwrap_or_else(|| "(unset)".into())));
        }
    }
    if desired.user != o.user {
        out.push(d("user", desired.user.clone(), o.user.clone()));
    }
    if desired.restart != o.restart {
        out.push(d("restart", desired.restart.clone(), o.restart.clone()));
    }
    if desired.cmd != o.cmd {
        out.push(d("cmd", desired.cmd.join(" "), o.cmd.join(" ")));
    }
    out
}
