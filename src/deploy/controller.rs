//! Apply, rollback, plan and status: the reconcile loop of one instance.
//!
//! Apply: validate the env file (nothing is touched when invalid), take the instance lock,
//! build or reuse the image, create the new container under `<name>-next`, stop the old one,
//! start the new one, wait for the health gate; on success remove the old container and take
//! its name, on failure remove the new one and start the old one again. Every outcome is
//! appended to the audit log; a successful one then purges the CDN cache.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use serde::Serialize;

use super::audit::{self, AuditRecord};
use super::docker;
use super::envfile::EnvFile;
use super::health::{self, GatePassed, GateTarget, Prober, TokenSource};
use super::image::{self, ImageSource};
use super::lock::InstanceLock;
use super::plan::{self, Difference, LABEL_DEPLOYED_AT, LABEL_DEPLOYED_BY, LABEL_PREVIOUS_IMAGE};
use super::purge::{self, PurgeOutcome};
use super::spec::{Instance, Spec};
use super::{DeployError, validate};
use crate::config::Config;

/// How the controller talks to a person: progress lines and confirmations.
pub trait Ui {
    fn step(&mut self, message: &str);
    fn build_progress(&mut self, _progress: image::BuildProgress) {}
    /// Asked before a running container is replaced; `true` proceeds.
    fn confirm(&mut self, question: &str) -> bool;
}

/// No output, always proceeds (library use and tests).
pub struct Quiet;
impl Ui for Quiet {
    fn step(&mut self, message: &str) {
        tracing::debug!("{message}");
    }
    fn confirm(&mut self, _: &str) -> bool {
        true
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Deploy this existing image instead of building one from the binary.
    pub image: Option<String>,
    /// Package this static binary instead of the running executable.
    pub binary: Option<PathBuf>,
    pub dry_run: bool,
    /// Replace the container even when it is in sync.
    pub force: bool,
    /// Skip the CDN purge.
    pub no_purge: bool,
    /// Health-gate deadline instead of the spec's.
    pub deadline: Option<Duration>,
}

/// Durations of one apply, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub image_ms: u64,
    pub stop_old_ms: u64,
    /// From the old instance's last answer to the new one's first (None without an old one).
    pub cutover_gap_ms: Option<u64>,
    pub gate: GatePassed,
    /// From the start of the command to the passed health gate.
    pub deploy_to_healthy_ms: Option<u64>,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub instance: String,
    pub action: String,
    /// deployed, in-sync, dry-run, restored (gate failed, old container serving), failed
    pub result: String,
    pub container: String,
    pub image: String,
    pub image_built: bool,
    /// What the engine reports for the image deployed (None for a dry run).
    pub image_size_bytes: Option<u64>,
    pub previous_image: String,
    pub env_hash: String,
    pub changes: Vec<Difference>,
    pub timings: Timings,
    pub reason: Option<String>,
    pub purge: Option<PurgeOutcome>,
    pub purge_error: Option<String>,
}

impl Outcome {
    /// 0 deployed or nothing to do, 4 health gate failed, 7 deployed but the purge failed.
    pub fn exit_code(&self) -> u8 {
        match self.result.as_str() {
            "restored" | "failed" => 4,
            _ if self.purge_error.is_some() => 7,
            _ => 0,
        }
    }
}

pub struct Controller<'a> {
    pub spec: &'a Spec,
    pub docker: &'a Docker,
    /// The process environment (Cloudflare credentials).
    pub config: &'a Config,
}

pub(super) struct Desired {
    pub container: docker::ContainerSpec,
    pub image_id: Option<String>,
    pub env_hash: String,
    pub file: EnvFile,
}

impl<'a> Controller<'a> {
    fn user_for(&self, inst: &Instance, create_dir: bool) -> String {
        if let Some(u) = &inst.user {
            return u.clone();
        }
        if create_dir && let Err(e) = std::fs::create_dir_all(&inst.data_dir) {
            tracing::warn!(dir = %inst.data_dir.display(), error = %e, "cannot create the data folder");
        }
        super::spec::owner_of(&inst.data_dir).unwrap_or_else(|| "0:0".into())
    }

    /// Validated env file and the container the spec asks for with `tag`.
    pub(super) async fn desired(&self, inst: &Instance, tag: &str, create_dir: bool) -> Result<Desired, DeployError> {
        let (report, file) = validate::validate_instance(self.spec, inst);
        let Some(file) = file.filter(|_| report.valid) else { return Err(DeployError::InvalidEnv(Box::new(report))) };
        let env = self.spec.container_env(inst, &file.pairs());
        let env_hash = plan::env_hash(&env);
        let container = plan::desired(self.spec, inst, env, tag, &self.user_for(inst, create_dir));
        let image_id = docker::image_id(self.docker, tag).await?;
        Ok(Desired { container, image_id, env_hash, file })
    }

    fn source(&self, binary: Option<&std::path::Path>) -> Result<ImageSource, DeployError> {
        Ok(ImageSource::current(&self.spec.defaults.image, &self.spec.dir, binary)?)
    }

    /// The tag an apply would deploy, without building it.
    pub(super) fn planned_tag(&self, opts: &ApplyOptions) -> Result<String, DeployError> {
        match &opts.image {
            Some(t) => Ok(t.clone()),
            None => Ok(self.source(opts.binary.as_deref())?.identify()?.0.tag),
        }
    }

    pub fn gate_target(&self, inst: &Instance, file: &EnvFile) -> GateTarget {
        let host = self.spec.probe_host();
        let token = ["SCITEX_OROCHI_ADMIN_TOKEN", "SCITEX_OROCHI_TOKEN"]
            .iter()
            .find_map(|k| file.get(k).filter(|v| !v.is_empty()))
            .map(|v| TokenSource::Value(v.to_string()))
            .unwrap_or_else(|| TokenSource::File(inst.data_dir.join(".admin-token")));
        GateTarget {
            http_base: format!("http://{host}:{}", inst.dashboard_port),
            ws_url: format!("ws://{host}:{}/", inst.ws_port),
            token,
            agent: format!("deploy-gate-{}", inst.name),
        }
    }

    pub async fn rollback(&self, name: &str, opts: &ApplyOptions, ui: &mut dyn Ui) -> Result<Outcome, DeployError> {
        let target = match &opts.image {
            Some(i) => i.clone(),
            None => self.previous_image(name).await?,
        };
        ui.step(&format!("rollback {name} to {target}"));
        let opts = ApplyOptions { image: Some(target), force: true, ..opts.clone() };
        self.apply_as(name, "rollback", &opts, ui).await
    }

    pub async fn apply(&self, name: &str, opts: &ApplyOptions, ui: &mut dyn Ui) -> Result<Outcome, DeployError> {
        self.apply_as(name, "deploy", opts, ui).await
    }

    async fn apply_as(&self, name: &str, action: &str, opts: &ApplyOptions, ui: &mut dyn Ui) -> Result<Outcome, DeployError> {
        let started = Instant::now();
        let inst = self.spec.instance(name)?;
        let container_name = self.spec.container_name(inst);
        let mut outcome = Outcome {
            instance: name.into(),
            action: action.into(),
            result: String::new(),
            container: container_name.clone(),
            image: String::new(),
            image_built: false,
            image_size_bytes: None,
            previous_image: String::new(),
            env_hash: String::new(),
            changes: Vec::new(),
            timings: Timings::default(),
            reason: None,
            purge: None,
            purge_error: None,
        };
        if opts.dry_run {
            let tag = self.planned_tag(opts)?;
            let want = self.desired(inst, &tag, false).await?;
            let old = docker::inspect_instance(self.docker, &container_name).await?;
            outcome.changes = plan::diff(&want.container, want.image_id.as_deref(), old.as_ref());
            outcome.image = tag;
            outcome.env_hash = want.env_hash;
            outcome.result = "dry-run".into();
            outcome.timings.total_ms = started.elapsed().as_millis() as u64;
            return Ok(outcome);
        }
        // Validate before anything is touched (the lock file included).
        let (report, _) = validate::validate_instance(self.spec, inst);
        if !report.valid {
            return Err(DeployError::InvalidEnv(Box::new(report)));
        }
        ui.step(&format!("env {}: valid", inst.env_file.display()));
        let _lock = InstanceLock::acquire(&self.spec.defaults.state_dir, name)?;

        let t = Instant::now();
        let tag = match &opts.image {
            Some(tag) => {
                if !image::exists(self.docker, tag).await? {
                    return Err(DeployError::NoImage(tag.clone()));
                }
                tag.clone()
            }
            None => {
                let source = self.source(opts.binary.as_deref())?;
                let (r, built) = image::ensure(self.docker, &source, &mut |p| ui.build_progress(p)).await?;
                outcome.image_built = built;
                r.tag
            }
        };
        outcome.timings.image_ms = t.elapsed().as_millis() as u64;
        let size = image::size(self.docker, &tag).await?;
        outcome.image_size_bytes = Some(size);
        ui.step(&format!("image {tag}: {}, {:.1} MB", if outcome.image_built { "built" } else { "present" }, size as f64 / 1e6));
        outcome.image = tag.clone();

        let mut want = self.desired(inst, &tag, true).await?;
        outcome.env_hash = want.env_hash.clone();
        let old = docker::inspect(self.docker, &container_name).await?;
        let observed = docker::inspect_instance(self.docker, &container_name).await?;
        outcome.changes = plan::diff(&want.container, want.image_id.as_deref(), observed.as_ref());
        if outcome.changes.is_empty() && !opts.force {
            outcome.result = "in-sync".into();
            outcome.timings.total_ms = started.elapsed().as_millis() as u64;
            ui.step(&format!("{container_name} is in sync; nothing to do (--force replaces it anyway)"));
            return Ok(outcome);
        }
        outcome.previous_image = match &old {
            Some(o) if o.image != tag => o.image.clone(),
            Some(o) => o.labels.get(LABEL_PREVIOUS_IMAGE).cloned().unwrap_or_default(),
            None => String::new(),
        };
        let labels = &mut want.container.labels;
        labels.insert(LABEL_PREVIOUS_IMAGE.into(), outcome.previous_image.clone());
        labels.insert(LABEL_DEPLOYED_AT.into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        labels.insert(LABEL_DEPLOYED_BY.into(), audit::who());

        if let Some(o) = old.as_ref().filter(|o| o.running) {
            let q = format!("Replace the running {container_name} ({} -> {tag}, {} change(s))?", o.image, outcome.changes.len());
            if !ui.confirm(&q) {
                return Err(DeployError::Aborted);
            }
        }
        let target = self.gate_target(inst, &want.file);
        let old_running = old.as_ref().filter(|o| o.running);
        let mut prober = old_running.map(|_| Prober::start(target.http_base.clone()));
        if let Some(p) = prober.as_mut()
            && !p.ready(Duration::from_secs(2)).await
        {
            ui.step("the running container does not answer /healthz; the gap is not measured");
        }
        let mut old_stopped = false;
        let mut stop_old = async |outcome: &mut Outcome, ui: &mut dyn Ui| -> Result<(), DeployError> {
            if let Some(o) = old_running.filter(|_| !old_stopped) {
                ui.step(&format!("stopping {} ({})", container_name, &o.id[..12.min(o.id.len())]));
                let t = Instant::now();
                docker::stop(self.docker, &o.id, self.spec.defaults.stop_timeout_secs).await?;
                outcome.timings.stop_old_ms = t.elapsed().as_millis() as u64;
                old_stopped = true;
            }
            Ok(())
        };
        // The port holder keeps the published ports and the network namespace across
        // cut-overs; only a change of ports (or a first deploy) replaces it.
        let holder_spec = plan::holder(self.spec, inst, &tag);
        match docker::inspect(self.docker, &holder_spec.name).await? {
            Some(h) if h.ports == holder_spec.ports => {
                if !h.running {
                    docker::start(self.docker, &h.id).await?;
                }
            }
            existing => {
                stop_old(&mut outcome, ui).await?;
                if let Some(h) = existing {
                    docker::remove(self.docker, &h.id).await?;
                }
                ui.step(&format!("publishing the ports with {}", holder_spec.name));
                let id = docker::create(self.docker, &holder_spec).await?;
                docker::start(self.docker, &id).await?;
            }
        }
        let next_name = format!("{container_name}-next");
        docker::remove(self.docker, &next_name).await?;
        want.container.name = next_name.clone();
        let new_id = docker::create(self.docker, &want.container).await?;
        stop_old(&mut outcome, ui).await?;
        let deadline = opts.deadline.unwrap_or(Duration::from_secs(self.spec.defaults.health_deadline_secs));
        ui.step(&format!("starting {next_name}; health gate (deadline {} s)", deadline.as_secs_f64()));
        let gate = match docker::start(self.docker, &new_id).await {
            Err(e) => Err(format!("cannot start the new container: {e}")),
            Ok(()) => health::gate(&target, deadline, || self.alive(&new_id)).await,
        };
        let gap = match prober {
            Some(p) => p.finish().await,
            None => None,
        };
        outcome.timings.cutover_gap_ms = gap.map(|g| g.as_millis() as u64);
        match gate {
            Ok(passed) => {
                outcome.timings.gate = passed;
                outcome.timings.deploy_to_healthy_ms = Some(started.elapsed().as_millis() as u64);
                if let Some(o) = &old {
                    docker::remove(self.docker, &o.id).await?;
                }
                docker::rename(self.docker, &new_id, &container_name).await?;
                outcome.result = "deployed".into();
                ui.step(&format!("{container_name} healthy: /healthz and WebSocket register acked"));
            }
            Err(reason) => {
                ui.step(&format!("health gate failed: {reason}"));
                let logs = docker::log_tail(self.docker, &new_id, 20).await;
                docker::remove(self.docker, &new_id).await?;
                let mut restored = false;
                if let Some(o) = old_running {
                    ui.step(&format!("restarting the previous {container_name}"));
                    if let Err(e) = docker::start(self.docker, &o.id).await {
                        ui.step(&format!("cannot restart the previous container: {e}"));
                    }
                    let client = crate::http_client::client(Duration::from_millis(800));
                    let until = Instant::now() + deadline;
                    while Instant::now() < until && !restored {
                        restored = health::healthz(&client, &target.http_base).await.is_ok();
                        if !restored {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                let logs = if logs.trim().is_empty() { String::new() } else { format!("\nlast lines of the new container:\n{}", logs.trim_end()) };
                outcome.reason = Some(format!("{reason}{logs}"));
                outcome.result = if restored { "restored" } else { "failed" }.into();
            }
        }
        outcome.timings.total_ms = started.elapsed().as_millis() as u64;
        self.record(&outcome)?;
        if outcome.result == "deployed" && !opts.no_purge {
            let settings = purge::settings(self.config, Some(&want.file));
            let manifest = purge::manifest_path(&self.spec.defaults.state_dir, name);
            match purge::run(&target.http_base, &inst.public_url, &self.spec.defaults.cache_paths, &manifest, settings, false, false).await {
                Ok(p) => {
                    match &p.skipped {
                        Some(why) => ui.step(&format!("cache purge: {why}")),
                        None => ui.step(&format!("cache purge: {} URL(s) in {} call(s)", p.purged.len(), p.calls)),
                    }
                    outcome.purge = Some(p);
                }
                Err(e) => outcome.purge_error = Some(e.to_string()),
            }
        }
        Ok(outcome)
    }

    /// `Err` with the reason once the container stopped running.
    async fn alive(&self, id: &str) -> Result<(), String> {
        match docker::inspect(self.docker, id).await {
            Ok(Some(o)) if o.running && o.state != "restarting" => Ok(()),
            Ok(Some(o)) => Err(format!("the new container is {} (exit code {})", o.state, o.exit_code)),
            Ok(None) => Err("the new container disappeared".into()),
            Err(e) => Err(format!("cannot inspect the new container: {e}")),
        }
    }

    fn record(&self, o: &Outcome) -> Result<(), DeployError> {
        let result = match o.result.as_str() {
            "deployed" => "ok",
            other => other,
        };
        let record = AuditRecord {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            who: audit::who(),
            action: o.action.clone(),
            instance: o.instance.clone(),
            image: o.image.clone(),
            previous_image: o.previous_image.clone(),
            env_hash: o.env_hash.clone(),
            result: result.into(),
            duration_ms: o.timings.total_ms,
            gap_ms: o.timings.cutover_gap_ms,
            container: o.container.clone(),
            reason: o.reason.as_ref().map(|r| r.lines().next().unwrap_or_default().to_string()),
        };
        audit::append(&self.spec.defaults.state_dir, &record).map_err(|e| DeployError::Io(format!("cannot append to the audit log: {e}")))
    }
}
