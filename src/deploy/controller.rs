//! Apply: carries out a [`DeployPlan`], one named stage after the other.
//!
//! Announce and take the instance lock ([`InstanceLock`]); build or check the image on every
//! engine ([`Controller::realise_image`]); survey the instance again; stop when it is in
//! sync; ask before replacing a running container; then the rolling deploy
//! ([`Controller::roll`], in `rolling`), which cuts over one replica at a time
//! ([`Controller::cut_over`]): keep or replace the port holder, create the new container under
//! `<name>-next`, stop the old one, start the new one behind the health gate, and on success
//! keep the old container as `<name>-prev` and take its name ([`Controller::promote`]), on
//! failure remove the new one and start the old one again ([`Controller::restore`]).
//! Every outcome that touched a container is appended to the audit log; a successful one
//! then purges the CDN cache ([`Controller::purge_cache`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;

use super::DeployError;
use super::audit;
use super::desired::LABEL_PREVIOUS_IMAGE;
use super::docker::{self, ContainerSpec, Observed};
use super::envfile::EnvFile;
use super::health::{self, GatePassed, GateTarget, Prober, TokenSource};
use super::image;
use super::lock::InstanceLock;
use super::outcome::{Action, ApplyResult, Outcome, ReplicaAction};
use super::placement::Placed;
use super::plan::{DeployPlan, Fleet, ImageChoice, Survey};
use super::rolling::prev_name;
use super::purge;
use super::replicas::Replica;
use super::spec::{Instance, Spec};
use crate::config::{Config, names};

/// How the controller talks to a person: progress lines and confirmations.
pub trait Ui {
    fn step(&mut self, message: &str);
    fn build_progress(&mut self, _progress: image::BuildProgress) {}
    /// Asked before a running container is replaced; `true` proceeds.
    fn confirm(&mut self, question: &str) -> bool;
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

pub struct Controller<'a> {
    pub spec: &'a Spec,
    pub docker: &'a Docker,
    /// The controller's own configuration (Cloudflare credentials, preferred over the env
    /// file's when set).
    pub config: &'a Config,
}

/// The image an apply deploys, once it exists.
struct Realised {
    tag: String,
    built: bool,
    /// As the engine reports it.
    size: u64,
    ms: u64,
}

/// The running container a cut-over replaces, stopped at most once: before a port holder is
/// replaced (it owns the ports), else just before the new container starts.
struct Old<'o> {
    running: Option<&'o Observed>,
    stopped: bool,
    stop_ms: u64,
}

/// What one replica's cut-over did.
pub(super) struct Cut {
    pub new_id: String,
    pub stop_old_ms: u64,
    /// The replica's own gap on its ports (None without an old container answering).
    pub gap: Option<Duration>,
    pub gate: Result<GatePassed, GateFailure>,
}

pub(super) struct GateFailure {
    /// The old container answers again.
    pub restored: bool,
    /// With the new container's last lines.
    pub reason: String,
}

impl Controller<'_> {
    /// Where the health gate probes a replica, and the token it registers with.
    pub fn gate_target(&self, inst: &Instance, r: &Replica, file: &EnvFile) -> GateTarget {
        let token = [names::ADMIN_TOKEN, names::TOKEN]
            .iter()
            .find_map(|k| file.get(k).filter(|v| !v.is_empty()))
            .map(|v| TokenSource::Value(v.to_string()))
            .unwrap_or_else(|| TokenSource::File(inst.data_dir.join(".admin-token")));
        let agent = if r.index == 0 { format!("deploy-gate-{}", inst.name) } else { format!("deploy-gate-{}-{}", inst.name, r.index) };
        GateTarget { http_base: r.http_base(), ws_url: r.ws_url(), token, agent }
    }

    /// Carries out `plan` (see the module doc for the stages).
    pub async fn apply(&self, plan: DeployPlan, ui: &mut dyn Ui) -> Result<Outcome, DeployError> {
        let inst = self.spec.instance(&plan.instance)?;
        if plan.action == Action::Rollback {
            ui.step(&format!("rollback {} to {}", plan.instance, plan.image.tag()));
        }
        ui.step(&format!("env {}: valid", inst.env_file.display()));
        let _lock = InstanceLock::acquire(&self.spec.defaults.state_dir, &plan.instance)?;
        let image = self.realise_everywhere(&plan.fleet.replicas.iter().map(|r| &r.placed).collect::<Vec<_>>(), &plan.image, ui).await?;
        let mut now = self.survey_fleet(inst, &image.tag, true).await?;
        // In sync unless the cut-over below says otherwise.
        let mut outcome = plan.outcome(ApplyResult::InSync, &image.tag, &now);
        outcome.image_built = image.built;
        outcome.image_size_bytes = Some(image.size);
        outcome.timings.image_ms = image.ms;
        if outcome.changes.is_empty() && !plan.force {
            outcome.timings.total_ms = plan.started.elapsed().as_millis() as u64;
            ui.step(&format!("{} is in sync; nothing to do (--force replaces it anyway)", plan.container));
            return Ok(outcome);
        }
        outcome.previous_image = previous_image(now.first().existing.as_ref(), &image.tag);
        confirm_replace(ui, &plan, &now, &image.tag, outcome.changes.len())?;
        outcome.result = self.roll(&plan, inst, &image.tag, &mut now, &mut outcome, ui).await?;
        outcome.timings.total_ms = plan.started.elapsed().as_millis() as u64;
        self.record(&outcome)?;
        if outcome.result == ApplyResult::Deployed && !plan.no_purge {
            let first = &now.replicas[0];
            let target = self.gate_target(inst, &first.placed.replica, &first.survey.desired.file);
            self.purge_cache(inst, &target, &first.survey.desired.file, &mut outcome, ui).await;
        }
        Ok(outcome)
    }

    /// The plan's image on the engine of every replica in `placed` (each engine once).
    async fn realise_everywhere(&self, placed: &[&Placed], choice: &ImageChoice, ui: &mut dyn Ui) -> Result<Realised, DeployError> {
        let mut first: Option<Realised> = None;
        let mut seen = std::collections::BTreeSet::new();
        for p in placed.iter().filter(|p| seen.insert(p.replica.engine.clone())) {
            if p.replica.engine.is_some() {
                ui.step(&format!("engine {}", p.replica.engine_name()));
            }
            let r = self.on(&p.docker).realise_image(choice, ui).await?;
            match first.as_mut() {
                None => first = Some(r),
                Some(f) => {
                    f.built |= r.built;
                    f.ms += r.ms;
                }
            }
        }
        Ok(first.expect("an instance has at least one replica"))
    }

    /// The plan's image, built when it must be; an `--image` the engine lacks is an error.
    async fn realise_image(&self, choice: &ImageChoice, ui: &mut dyn Ui) -> Result<Realised, DeployError> {
        let t = Instant::now();
        let (tag, built) = match choice {
            ImageChoice::Existing(tag) => {
                if !image::exists(self.docker, tag).await? {
                    return Err(DeployError::NoImage(tag.clone()));
                }
                (tag.clone(), false)
            }
            ImageChoice::Build { source, .. } => {
                let (r, built) = image::ensure(self.docker, source, &mut |p| ui.build_progress(p)).await?;
                (r.tag, built)
            }
        };
        let size = image::size(self.docker, &tag).await?;
        ui.step(&format!("image {tag}: {}, {:.1} MB", if built { "built" } else { "present" }, size as f64 / 1e6));
        Ok(Realised { tag, built, size, ms: t.elapsed().as_millis() as u64 })
    }

    /// Replaces replica `r`'s running container with the surveyed one behind the health gate;
    /// on failure the old one is started again.
    pub(super) async fn cut_over(&self, plan: &DeployPlan, inst: &Instance, r: &Replica, now: &mut Survey, target: &GateTarget, ui: &mut dyn Ui) -> Result<Cut, DeployError> {
        let mut old = Old { running: now.existing.as_ref().filter(|o| o.running), stopped: false, stop_ms: 0 };
        let prober = self.start_prober(old.running, target, ui).await;
        let tag = now.desired.container.image.clone();
        self.ensure_port_holder(inst, r, &tag, &mut old, ui).await?;
        let new_id = self.create_next(&r.container, &mut now.desired.container).await?;
        self.stop_old(&r.container, &mut old, ui).await?;
        ui.step(&format!("starting {}; health gate (deadline {} s)", now.desired.container.name, plan.deadline.as_secs_f64()));
        let gate = self.start_behind_gate(&new_id, target, plan.deadline).await;
        let gap = match prober {
            Some(p) => p.finish().await,
            None => None,
        };
        let gate = match gate {
            Ok(passed) => {
                self.promote(&new_id, &r.container, now.existing.as_ref(), ui).await?;
                Ok(passed)
            }
            Err(reason) => {
                let (restored, reason) = self.restore(&new_id, &r.container, old.running, target, plan.deadline, &reason, ui).await?;
                Err(GateFailure { restored, reason })
            }
        };
        Ok(Cut { new_id, stop_old_ms: old.stop_ms, gap, gate })
    }

    /// Measures the cut-over gap on the published port while an old container serves.
    async fn start_prober(&self, old: Option<&Observed>, target: &GateTarget, ui: &mut dyn Ui) -> Option<Prober> {
        let mut prober = old.map(|_| Prober::start(vec![target.http_base.clone()]));
        if let Some(p) = prober.as_mut()
            && !p.ready(Duration::from_secs(2)).await
        {
            ui.step("the running container does not answer /healthz; the gap is not measured");
        }
        prober
    }

    /// The port holder keeps the published ports and the network namespace across
    /// cut-overs; only a change of ports (or a first deploy) replaces it.
    async fn ensure_port_holder(&self, inst: &Instance, r: &Replica, tag: &str, old: &mut Old<'_>, ui: &mut dyn Ui) -> Result<(), DeployError> {
        let holder_spec = super::desired::holder(self.spec, inst, r, tag);
        match docker::inspect(self.docker, &holder_spec.name).await? {
            Some(h) if h.ports == holder_spec.ports => {
                if !h.running {
                    docker::start(self.docker, &h.id).await?;
                }
            }
            existing => {
                self.stop_old(&r.container, old, ui).await?;
                if let Some(h) = existing {
                    docker::remove(self.docker, &h.id).await?;
                }
                ui.step(&format!("publishing the ports with {}", holder_spec.name));
                let id = docker::create(self.docker, &holder_spec).await?;
                docker::start(self.docker, &id).await?;
            }
        }
        Ok(())
    }

    /// Creates the new container as `<container>-next` (replacing a leftover one).
    async fn create_next(&self, container: &str, spec: &mut ContainerSpec) -> Result<String, DeployError> {
        let next_name = format!("{container}-next");
        docker::remove(self.docker, &next_name).await?;
        spec.name = next_name;
        Ok(docker::create(self.docker, spec).await?)
    }

    async fn stop_old(&self, container: &str, old: &mut Old<'_>, ui: &mut dyn Ui) -> Result<(), DeployError> {
        if let Some(o) = old.running.filter(|_| !old.stopped) {
            ui.step(&format!("stopping {} ({})", container, &o.id[..12.min(o.id.len())]));
            let t = Instant::now();
            docker::stop(self.docker, &o.id, self.spec.defaults.stop_timeout_secs).await?;
            old.stop_ms = t.elapsed().as_millis() as u64;
            old.stopped = true;
        }
        Ok(())
    }

    /// Starts the new container and waits for the health gate; `Err` is the reason it failed.
    async fn start_behind_gate(&self, new_id: &str, target: &GateTarget, deadline: Duration) -> Result<GatePassed, String> {
        match docker::start(self.docker, new_id).await {
            Err(e) => Err(format!("cannot start the new container: {e}")),
            Ok(()) => health::gate(target, deadline, || self.alive(new_id)).await,
        }
    }

    /// The gate passed: the new container takes the name; the old one, stopped, is kept as
    /// `<name>-prev` until every replica passed (a rollback of all starts it again).
    async fn promote(&self, new_id: &str, container: &str, existing: Option<&Observed>, ui: &mut dyn Ui) -> Result<(), DeployError> {
        if let Some(o) = existing {
            let prev = prev_name(container);
            docker::remove(self.docker, &prev).await?;
            docker::rename(self.docker, &o.id, &prev).await?;
        }
        docker::rename(self.docker, new_id, container).await?;
        ui.step(&format!("{container} healthy: /healthz and WebSocket register acked"));
        Ok(())
    }

    /// The gate failed: the new container goes (its last lines join the reason) and the old
    /// one starts again. `true` when the old one answers `/healthz` within `deadline`.
    #[allow(clippy::too_many_arguments)] // one stage's inputs; a struct would only rename them
    async fn restore(
        &self,
        new_id: &str,
        container: &str,
        old: Option<&Observed>,
        target: &GateTarget,
        deadline: Duration,
        reason: &str,
        ui: &mut dyn Ui,
    ) -> Result<(bool, String), DeployError> {
        ui.step(&format!("health gate failed: {reason}"));
        let logs = docker::log_tail(self.docker, new_id, 20).await;
        docker::remove(self.docker, new_id).await?;
        let restored = match old {
            Some(o) => self.restart_previous(container, o, target, deadline, ui).await,
            None => false,
        };
        let logs = if logs.trim().is_empty() { String::new() } else { format!("\nlast lines of the new container:\n{}", logs.trim_end()) };
        Ok((restored, format!("{reason}{logs}")))
    }

    /// Starts a previous container again; `true` once it answers `/healthz` within `deadline`.
    pub(super) async fn restart_previous(&self, container: &str, old: &Observed, target: &GateTarget, deadline: Duration, ui: &mut dyn Ui) -> bool {
        ui.step(&format!("restarting the previous {container}"));
        if let Err(e) = docker::start(self.docker, &old.id).await {
            ui.step(&format!("cannot restart the previous container: {e}"));
        }
        let client = crate::http_client::client(Duration::from_millis(800));
        let until = Instant::now() + deadline;
        loop {
            if health::healthz(&client, &target.http_base).await.is_ok() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Purges the changed public URLs; a failure is recorded in the outcome (exit code 7).
    async fn purge_cache(&self, inst: &Instance, target: &GateTarget, file: &EnvFile, outcome: &mut Outcome, ui: &mut dyn Ui) {
        let settings = purge::settings(self.config, Some(file));
        let manifest = purge::manifest_path(&self.spec.defaults.state_dir, &inst.name);
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
        let state_dir = &self.spec.defaults.state_dir;
        audit::append(state_dir, &o.audit_record()).map_err(|source| DeployError::Audit { path: audit::path(state_dir), source })
    }
}

/// The image a rollback of the new container returns to: the old container's image, or when
/// that is already `tag`, the one it would have returned to.
pub(super) fn previous_image(existing: Option<&Observed>, tag: &str) -> String {
    match existing {
        Some(o) if o.image != tag => o.image.clone(),
        Some(o) => o.labels.get(LABEL_PREVIOUS_IMAGE).cloned().unwrap_or_default(),
        None => String::new(),
    }
}

/// Asks before a running container is replaced or removed.
fn confirm_replace(ui: &mut dyn Ui, plan: &DeployPlan, fleet: &Fleet, tag: &str, changes: usize) -> Result<(), DeployError> {
    let replaced: Vec<&Observed> = fleet
        .replicas
        .iter()
        .filter(|r| r.action(plan.force) == ReplicaAction::Replace)
        .filter_map(|r| r.survey.existing.as_ref().filter(|o| o.running))
        .collect();
    let question = match (fleet.replicas.len(), replaced.first()) {
        (1, None) if fleet.surplus.is_empty() => return Ok(()),
        (1, Some(o)) if fleet.surplus.is_empty() => format!("Replace the running {} ({} -> {tag}, {changes} change(s))?", plan.container, o.image),
        _ if replaced.is_empty() && fleet.surplus.is_empty() => return Ok(()),
        (n, _) => format!(
            "Roll {} running replica(s) of {} to {tag} and remove {} ({n} replica(s) wanted, {changes} change(s))?",
            replaced.len(),
            plan.instance,
            fleet.surplus.len()
        ),
    };
    if ui.confirm(&question) { Ok(()) } else { Err(DeployError::Aborted) }
}
