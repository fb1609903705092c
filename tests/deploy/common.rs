//! Fixtures for the deploy tests: the shared test image, a temporary desired state with unique
//! names and free ports, the CLI, and cleanup that runs even when a test fails.
//!
//! The one image the tests leave behind on purpose is `scitex-orochi-test:<version>-<hash>`
//! (the static debug binary, rebuilt when it changes; older tags are removed then).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder};
use scitex_orochi::deploy::audit::{self, AuditRecord};
use scitex_orochi::deploy::docker::{self as dock, Observed};
use scitex_orochi::deploy::image::{self, ImageSource};

pub const TEST_REPO: &str = "scitex-orochi-test";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
/// Where the replicas find the test PostgreSQL's socket folder (bound into every one).
pub const PG_SOCKET_MOUNT: &str = "/run/orochi-pg";

/// The uid and gid the PostgreSQL replicas run as.
const NOBODY: u32 = 65534;

/// The spec line that binds `server`'s socket folder into every replica.
pub fn pg_socket_bind(server: &crate::pg::PgServer) -> String {
    format!("binds = [\"{}:{PG_SOCKET_MOUNT}\"]\n", server.socket_dir().display())
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scitex-orochi")
}

pub async fn docker() -> Docker {
    dock::connect().await.expect("these tests need the Docker engine at /var/run/docker.sock")
}

fn runtime_block<T: Send + 'static>(f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        f(&rt)
    })
    .join()
    .unwrap()
}

/// The image every test deploys: built once per binary, across test processes (file lock).
pub async fn shared_image() -> String {
    static TAG: OnceLock<String> = OnceLock::new();
    if let Some(t) = TAG.get() {
        return t.clone();
    }
    let docker = docker().await;
    let lock_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-test-image.lock");
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).unwrap();
    let lock = tokio::task::spawn_blocking(move || {
        lock.lock().unwrap();
        lock
    })
    .await
    .unwrap();
    // The CLI packages itself and labels the revision of the spec's folder: a temp dir, "unknown".
    let source = ImageSource { binary: bin().into(), repo: TEST_REPO.into(), version: env!("CARGO_PKG_VERSION").into(), revision: "unknown".into() };
    let (image, built) = image::ensure(&docker, &source, &mut |_| {}).await.expect("build the test image");
    if built {
        remove_other_test_images(&docker, &image.tag).await;
    }
    drop(lock);
    TAG.get_or_init(|| image.tag).clone()
}

async fn remove_other_test_images(docker: &Docker, keep: &str) {
    let filters = HashMap::from([("reference", vec![TEST_REPO.to_string()])]);
    let Ok(list) = docker.list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build())).await else { return };
    for img in list {
        for tag in img.repo_tags.iter().filter(|t| t.as_str() != keep && t.starts_with(&format!("{TEST_REPO}:"))) {
            let _ = docker.remove_image(tag, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
        }
    }
    // An old test image that still had a child (a rollback test's variant) was only untagged.
    let dangling = HashMap::from([("dangling", vec!["true".to_string()]), ("label", vec![image::LABEL_BINARY_SHA.to_string()])]);
    let _ = docker.prune_images(Some(bollard::query_parameters::PruneImagesOptionsBuilder::default().filters(&dangling).build())).await;
}

/// A second image of the same binary that differs by one label (committed, not rebuilt).
pub async fn variant_of(base: &str, fx: &Fixture) -> String {
    let docker = docker().await;
    let name = format!("{}-variant-src", fx.prefix);
    let body = bollard::models::ContainerCreateBody { image: Some(base.into()), ..Default::default() };
    docker.create_container(Some(bollard::query_parameters::CreateContainerOptionsBuilder::default().name(&name).build()), body).await.unwrap();
    let repo = format!("{TEST_REPO}-variant");
    let tag = fx.prefix.clone();
    let options = bollard::query_parameters::CommitContainerOptionsBuilder::default().container(&name).repo(&repo).tag(&tag).changes("LABEL scitex.orochi.test-variant=b").build();
    docker.commit_container(options, bollard::models::ContainerConfig::default()).await.unwrap();
    let reference = format!("{repo}:{tag}");
    fx.extra_images.lock().unwrap().push(reference.clone());
    reference
}

/// A free TCP port on 127.0.0.1, below the kernel's ephemeral range so that no hub started by
/// another test (which binds port 0) can take it before Docker publishes it.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The first of `n` consecutive free ports (replica i of an instance uses base + i).
pub fn free_ports(n: u16) -> u16 {
    loop {
        let base = free_port();
        if base.checked_add(n).is_some() && (1..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
}

/// Ports and names of one instance in a fixture.
#[derive(Debug, Clone)]
pub struct Ports {
    pub http: u16,
    pub ws: u16,
}

/// A temporary desired state (instances `stable` and `dev`) with unique names; everything it
/// created in Docker is removed on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub prefix: String,
    pub stable: Ports,
    pub dev: Ports,
    pub extra_images: std::sync::Mutex<Vec<String>>,
    pub env: Vec<(String, String)>,
}

impl Fixture {
    pub fn new(deadline_secs: u64) -> Fixture {
        Self::replicated(deadline_secs, 1)
    }

    /// As [`Fixture::new`], with `replicas` replicas of stable on its SQLite database (the
    /// spec's test-only `allow_sqlite_replicas`) and consecutive ports for them.
    pub fn replicated(deadline_secs: u64, replicas: u16) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("orochi-t{}-{:x}", std::process::id(), rand::random::<u32>());
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 4 {
            let width = if ports.len() < 2 { replicas } else { 1 };
            let p = free_ports(width);
            let overlaps = |q: &u16| p.abs_diff(*q) < replicas;
            if !ports.iter().any(overlaps) {
                ports.push(p);
            }
        }
        let replica_lines = if replicas > 1 { format!("replicas = {replicas}\nallow_sqlite_replicas = true\n") } else { String::new() };
        let f = Fixture {
            dir,
            prefix,
            stable: Ports { http: ports[0], ws: ports[1] },
            dev: Ports { http: ports[2], ws: ports[3] },
            extra_images: Default::default(),
            env: Vec::new(),
        };
        let spec = format!(
            r#"[defaults]
image = "{TEST_REPO}"
name_prefix = "{prefix}"
state_dir = "state"
publish_ip = "127.0.0.1"
health_deadline_secs = {deadline_secs}
stop_timeout_secs = 5
restart = "unless-stopped"

[instances.stable]
dashboard_port = {sh}
ws_port = {sw}
data_dir = "data"
public_url = "https://stable.orochi.test"
public_ws_url = "wss://ws.stable.orochi.test/"
env_file = "stable.env"
production = true
required = ["SCITEX_OROCHI_ADMIN_TOKEN"]
{replica_lines}
[instances.dev]
dashboard_port = {dh}
ws_port = {dw}
data_dir = "data"
public_url = "https://dev.orochi.test"
public_ws_url = "wss://ws.dev.orochi.test/"
env_file = "dev.env"
upstream = "stable"
"#,
            prefix = f.prefix,
            sh = f.stable.http,
            sw = f.stable.ws,
            dh = f.dev.http,
            dw = f.dev.ws,
        );
        std::fs::write(f.spec_path(), spec).unwrap();
        f.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_LOG=info\n"));
        f.write_env("dev", "SCITEX_OROCHI_LOG=info\n");
        f
    }

    /// Puts stable's replicas on a new database of the test run's PostgreSQL, reached through
    /// its socket folder bound into every replica, instead of the test-only SQLite escape.
    /// They run as nobody (a production hub runs as its data folder's owner, not root), so
    /// the socket's permissions are tested too. Returns the database's URL from here.
    pub async fn on_postgres(&self) -> String {
        let server = crate::pg::shared();
        let url = server.fresh_db().await;
        let db = url.rsplit('/').next().unwrap();
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY)).unwrap();
        let spec = std::fs::read_to_string(self.spec_path()).unwrap();
        assert!(spec.contains("allow_sqlite_replicas = true\n"), "a replicated fixture");
        let lines = format!("{}user = \"{NOBODY}:{NOBODY}\"\n", pg_socket_bind(server));
        std::fs::write(self.spec_path(), spec.replace("allow_sqlite_replicas = true\n", &lines)).unwrap();
        // The socket file is named after the server's port.
        let in_container = format!("postgres://postgres@/{db}?host={PG_SOCKET_MOUNT}&port={}", server.port);
        self.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_DB={in_container}\nSCITEX_OROCHI_LOG=info\n"));
        url
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("instances.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn write_env(&self, instance: &str, text: &str) {
        std::fs::write(self.dir.path().join(format!("{instance}.env")), text).unwrap();
    }

    pub fn container(&self, instance: &str) -> String {
        format!("{}-{instance}", self.prefix)
    }

    pub fn http(&self, instance: &str) -> String {
        let p = if instance == "stable" { self.stable.http } else { self.dev.http };
        format!("http://127.0.0.1:{p}")
    }

    /// Runs `scitex-orochi deploy --spec <fixture> ARGS...` (or any command with `raw`).
    pub async fn deploy(&self, args: &[&str]) -> Output {
        let mut full = vec!["deploy", "--spec"];
        let spec = self.spec_path().display().to_string();
        full.push(&spec);
        full.extend_from_slice(args);
        self.raw(&full).await
    }

    pub async fn raw(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.args(args).current_dir(self.dir.path());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCITEX_OROCHI_")) {
            cmd.env_remove(k);
        }
        cmd.env("SCITEX_OROCHI_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().await.unwrap()
    }

    /// Replica `i` of stable: its container and `/healthz`.
    pub fn stable_replica(&self, i: u16) -> (String, String) {
        let container = if i == 0 { self.container("stable") } else { format!("{}-{i}", self.container("stable")) };
        (container, format!("http://127.0.0.1:{}/healthz", self.stable.http + i))
    }

    pub async fn observed(&self, instance: &str) -> Option<Observed> {
        self.observed_name(&self.container(instance)).await
    }

    pub async fn observed_name(&self, container: &str) -> Option<Observed> {
        dock::inspect(&docker().await, container).await.unwrap()
    }

    pub fn audit(&self) -> Vec<AuditRecord> {
        audit::read(&self.state_dir())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let images = std::mem::take(&mut *self.extra_images.lock().unwrap());
        runtime_block(move |rt| {
            rt.block_on(async move {
                let Ok(docker) = dock::connect().await else { return };
                let options = ListContainersOptionsBuilder::default().all(true).build();
                for c in docker.list_containers(Some(options)).await.unwrap_or_default() {
                    let named = c.names.unwrap_or_default().iter().any(|n| n.trim_start_matches('/').starts_with(&prefix));
                    if named && let Some(id) = c.id {
                        let _ = docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
                    }
                }
                for img in images {
                    let _ = docker.remove_image(&img, Some(RemoveImageOptionsBuilder::default().force(true).build()), None).await;
                }
            })
        });
    }
}

pub fn text(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(o)))
}

pub async fn get(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// True when no container has this name.
pub async fn docker_has_no(name: &str) -> bool {
    dock::inspect(&docker().await, name).await.unwrap().is_none()
}
