//! The Docker Engine API (bollard): connection, and containers as the controller sees them.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HealthConfig, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use serde::Serialize;

pub type DockerError = bollard::errors::Error;

/// A published port: container port (e.g. "8559/tcp") to host address and port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Published {
    pub container: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// A container's configuration as created by the controller.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// Published by this container, or (with `network_mode`) by the port holder it joins.
    pub ports: Vec<Published>,
    pub binds: Vec<String>,
    pub user: String,
    pub restart: String,
    /// `container:<port holder>`, or empty for Docker's default bridge.
    pub network_mode: String,
    /// No HEALTHCHECK (the port holder runs no hub).
    pub no_healthcheck: bool,
}

/// A container as the engine reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Observed {
    pub id: String,
    pub name: String,
    /// The image reference it was created from (a tag).
    pub image: String,
    pub image_id: String,
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// Its own published ports; [`inspect_instance`] puts the port holder's here.
    pub ports: Vec<Published>,
    pub binds: Vec<String>,
    pub user: String,
    pub restart: String,
    /// Empty for the default bridge.
    pub network_mode: String,
    pub cmd: Vec<String>,
    pub running: bool,
    pub state: String,
    pub health: String,
    pub exit_code: i64,
    pub started_at: String,
}

/// Connects through DOCKER_HOST or the local socket and agrees on an API version.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_defaults()?;
    let docker = docker.negotiate_version().await?;
    docker.ping().await?;
    Ok(docker)
}

/// Connects to a named engine (`unix:///…`, `tcp://host:port`, `http://host:port`).
pub async fn connect_to(host: &str) -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_host(host)?.negotiate_version().await?;
    docker.ping().await?;
    Ok(docker)
}

pub fn is_not_found(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 404, .. })
}

fn restart_name(p: Option<&RestartPolicy>) -> String {
    match p.and_then(|p| p.name) {
        Some(RestartPolicyNameEnum::ALWAYS) => "always",
        Some(RestartPolicyNameEnum::UNLESS_STOPPED) => "unless-stopped",
        Some(RestartPolicyNameEnum::ON_FAILURE) => "on-failure",
        _ => "no",
    }
    .into()
}

fn restart_policy(name: &str) -> RestartPolicy {
    let name = match name {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => RestartPolicyNameEnum::NO,
    };
    RestartPolicy { name: Some(name), maximum_retry_count: None }
}

impl Observed {
    fn from_inspect(r: ContainerInspectResponse) -> Observed {
        let config = r.config.unwrap_or_default();
        let host = r.host_config.unwrap_or_default();
        let state = r.state.unwrap_or_default();
        let mut ports: Vec<Published> = host
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(container, bindings)| {
                bindings.unwrap_or_default().into_iter().map(move |b| Published {
                    container: container.clone(),
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port: b.host_port.and_then(|p| p.parse().ok()).unwrap_or(0),
                })
            })
            .collect();
        ports.sort();
        let env = config
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect();
        let network_mode = host.network_mode.clone().filter(|m| m != "default" && m != "bridge").unwrap_or_default();
        let mut binds = host.binds.unwrap_or_default();
        binds.sort();
        Observed {
            id: r.id.unwrap_or_default(),
            name: r.name.unwrap_or_default().trim_start_matches('/').to_string(),
            image: config.image.unwrap_or_default(),
            image_id: r.image.unwrap_or_default(),
            env,
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            ports,
            binds,
            user: config.user.unwrap_or_default(),
            restart: restart_name(host.restart_policy.as_ref()),
            network_mode,
            cmd: config.cmd.unwrap_or_default(),
            running: state.running.unwrap_or(false),
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into()),
            exit_code: state.exit_code.unwrap_or(0),
            started_at: state.started_at.unwrap_or_default(),
        }
    }

    /// Seconds since the container started (0 when not running).
    pub fn uptime_secs(&self) -> u64 {
        if !self.running {
            return 0;
        }
        chrono::DateTime::parse_from_rfc3339(&self.started_at)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0) as u64)
            .unwrap_or(0)
    }
}

/// Inspects a container by name or id; `None` when it does not exist.
pub async fn inspect(docker: &Docker, name: &str) -> Result<Option<Observed>, DockerError> {
    match docker.inspect_container(name, None).await {
        Ok(r) => Ok(Some(Observed::from_inspect(r))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A hub container with, when it joins a port holder's network, the holder's published ports
/// (and `running` false when the holder is not running: the hub is unreachable then).
pub async fn inspect_instance(docker: &Docker, name: &str) -> Result<Option<Observed>, DockerError> {
    match inspect(docker, name).await? {
        Some(o) => Ok(Some(through_holder(docker, o).await?)),
        None => Ok(None),
    }
}

/// A hub container as [`inspect`] reported it, seen through its port holder as in
/// [`inspect_instance`].
pub async fn through_holder(docker: &Docker, mut o: Observed) -> Result<Observed, DockerError> {
    if let Some(holder) = o.network_mode.strip_prefix("container:") {
        match inspect(docker, holder).await? {
            Some(h) => {
                // The engine records the holder by id; name it as the spec does.
                o.network_mode = format!("container:{}", h.name);
                o.ports = h.ports;
                if !h.running {
                    o.state = format!("{} (port holder {})", o.state, h.state);
                    o.running = false;
                }
            }
            None => {
                o.state = format!("{} (port holder missing)", o.state);
                o.running = false;
            }
        }
    }
    Ok(o)
}

/// The image id of a tag, `None` when the engine does not have it.
pub async fn image_id(docker: &Docker, tag: &str) -> Result<Option<String>, DockerError> {
    match docker.inspect_image(tag).await {
        Ok(i) => Ok(i.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates (does not start) a container.
pub async fn create(docker: &Docker, spec: &ContainerSpec) -> Result<String, DockerError> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        bindings.entry(p.container.clone()).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(PortBinding {
            host_ip: Some(p.host_ip.clone()),
            host_port: Some(p.host_port.to_string()),
        });
    }
    let joins = !spec.network_mode.is_empty();
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: (!joins).then(|| spec.ports.iter().map(|p| p.container.clone()).collect()),
        user: Some(spec.user.clone()),
        healthcheck: spec.no_healthcheck.then(|| HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }),
        host_config: Some(HostConfig {
            port_bindings: (!joins).then_some(bindings),
            network_mode: joins.then(|| spec.network_mode.clone()),
            binds: Some(spec.binds.clone()),
            restart_policy: Some(restart_policy(&spec.restart)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
    Ok(docker.create_container(Some(options), body).await?.id)
}

pub async fn start(docker: &Docker, id: &str) -> Result<(), DockerError> {
    docker.start_container(id, None).await
}

/// Stops with SIGTERM, then SIGKILL after `timeout_secs`; a stopped container is fine.
pub async fn stop(docker: &Docker, id: &str, timeout_secs: u64) -> Result<(), DockerError> {
    let options = StopContainerOptionsBuilder::default().t(timeout_secs.min(i32::MAX as u64) as i32).build();
    match docker.stop_container(id, Some(options)).await {
        Err(DockerError::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
        other => other,
    }
}

/// Force-removes a container; a missing one is fine.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(false).build();
    match docker.remove_container(id, Some(options)).await {
        Err(e) if is_not_found(&e) => Ok(()),
        other => other,
    }
}

pub async fn rename(docker: &Docker, id: &str, name: &str) -> Result<(), DockerError> {
    docker.rename_container(id, RenameContainerOptionsBuilder::default().name(name).build()).await
}

/// Ids and names of all containers (running or not) with `label=value`.
pub async fn list_labelled(docker: &Docker, label: &str, value: &str) -> Result<Vec<(String, String)>, DockerError> {
    let filters = HashMap::from([("label", vec![format!("{label}={value}")])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    Ok(docker
        .list_containers(Some(options))
        .await?
        .into_iter()
        .map(|c| {
            let name = c.names.unwrap_or_default().first().cloned().unwrap_or_default().trim_start_matches('/').to_string();
            (c.id.unwrap_or_default(), name)
        })
        .collect())
}

/// The last `tail` lines of a container's output (stdout and stderr), for error reports.
pub async fn log_tail(docker: &Docker, id: &str, tail: usize) -> String {
    use futures_util::StreamExt;
    let options = bollard::query_parameters::LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&tail.to_string()).build();
    let mut out = String::new();
    let mut stream = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = stream.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out
}
