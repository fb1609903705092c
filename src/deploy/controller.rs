//! The deploy controller on top of the stages: it plans ([`Controller::plan`]) and applies
//! ([`Controller::apply`]) a [`DeployPlan`], one named stage after the other.
//!
//! Announce and take the instance lock ([`InstanceLock`]); build or check the image on every
//! engine (`realise_image`); survey the instance again; stop when it is in sync; ask before
//! replacing a running container; then the rolling deploy (`Engine::roll`, in `rolling`),
//! which cuts over one replica at a time (`Engine::cut_over`, in `cutover`). Every outcome
//! that touched a container is appended to the audit log; a successful one then purges the CDN
//! cache ([`Controller::purge_cache`]).

use std::time::{Duration, Instant};

use bollard::Docker;

use super::DeployError;
use super::audit;
use super::context::{ApplyOptions, Engine, Ui};
use super::envfile::EnvFile;
use super::health::GateTarget;
use super::image;
use super::inspect::InstanceStatus;
use super::lock::InstanceLock;
use super::docker::Observed;
use super::outcome::{Action, ApplyResult, Outcome, ReplicaAction};
use super::placement::Placed;
use super::plan::{DeployPlan, Fleet, ImageChoice};
use super::purge;
use super::rolling::previous_image;
use super::spec::{Instance, Spec};
use crate::config::Config;

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

impl<'a> Controller<'a> {
    /// The stages' view: the spec and the controller's own engine.
    pub fn engine(&self) -> Engine<'a> {
        Engine { spec: self.spec, docker: self.docker }
    }

    /// The plan of deploying `name` with `opts`.
    pub async fn plan(&self, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        self.plan_action(Action::Deploy, name, opts).await
    }

    /// The plan of returning `name` to `opts.image`, else to its previous image.
    pub async fn rollback_plan(&self, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        let target = match &opts.image {
            Some(i) => i.clone(),
            None => self.engine().previous_image(name).await?,
        };
        let opts = ApplyOptions { image: Some(target), force: true, ..opts.clone() };
        self.plan_action(Action::Rollback, name, &opts).await
    }

    async fn plan_action(&self, action: Action, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        let started = Instant::now();
        let inst = self.spec.instance(name)?;
        let image = self.engine().choose_image(opts)?;
        let fleet = self.engine().survey_fleet(inst, image.tag(), false).await?;
        Ok(DeployPlan {
            action,
            instance: name.into(),
            container: self.spec.container_name(inst),
            image,
            fleet,
            force: opts.force,
            no_purge: opts.no_purge,
            deadline: opts.deadline.unwrap_or(Duration::from_secs(self.spec.defaults.health_deadline_secs)),
            started,
        })
    }

    /// `deploy status`: every replica of every instance (see `inspect`).
    pub async fn status(&self, opts: &ApplyOptions) -> Result<Vec<InstanceStatus>, DeployError> {
        self.engine().status(opts).await
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
        let mut now = self.engine().survey_fleet(inst, &image.tag, true).await?;
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
        outcome.result = self.engine().roll(&plan, inst, &image.tag, &mut now, &mut outcome, ui).await?;
        outcome.timings.total_ms = plan.started.elapsed().as_millis() as u64;
        self.record(&outcome)?;
        if outcome.result == ApplyResult::Deployed && !plan.no_purge {
            let first = &now.replicas[0];
            let target = self.engine().gate_target(inst, &first.placed.replica, &first.survey.desired.file);
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
            let r = realise_image(&p.docker, choice, ui).await?;
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

    fn record(&self, o: &Outcome) -> Result<(), DeployError> {
        let state_dir = &self.spec.defaults.state_dir;
        audit::append(state_dir, &o.audit_record()).map_err(|source| DeployError::Audit { path: audit::path(state_dir), source })
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

/// The plan's image, built when it must be; an `--image` the engine lacks is an error.
async fn realise_image(docker: &Docker, choice: &ImageChoice, ui: &mut dyn Ui) -> Result<Realised, DeployError> {
    let t = Instant::now();
    let (tag, built) = match choice {
        ImageChoice::Existing(tag) => {
            if !image::exists(docker, tag).await? {
                return Err(DeployError::NoImage(tag.clone()));
            }
            (tag.clone(), false)
        }
        ImageChoice::Build { source, .. } => {
            let (r, built) = image::ensure(docker, source, &mut |p| ui.build_progress(p)).await?;
            (r.tag, built)
        }
    };
    let size = image::size(docker, &tag).await?;
    ui.step(&format!("image {tag}: {}, {:.1} MB", if built { "built" } else { "present" }, size as f64 / 1e6));
    Ok(Realised { tag, built, size, ms: t.elapsed().as_millis() as u64 })
}
