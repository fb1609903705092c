//! The deploy plan: what an apply would change, computed before anything is touched.
//!
//! `Controller::plan` (in `controller`) validates the env file, chooses the image without
//! building it ([`Engine::choose_image`]), and surveys the instance ([`Engine::survey_fleet`]):
//! for each replica on its engine, the desired container, the one that runs, their differences
//! ([`Engine::survey`], the only place that sequence is written), and the replicas beyond
//! `replicas` that scaling down removes ([`Fleet`]). A dry run prints that plan, `deploy plan`
//! prints its [`PlanReport`], and `Controller::apply` consumes it: once it holds the lock and
//! the image exists, it surveys again, so the cut-over works on what runs at that moment.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::context::{ApplyOptions, Engine};
use super::desired::{self, Difference};
use super::docker::{self, Observed};
use super::envfile::EnvFile;
use super::image::ImageSource;
use super::outcome::{Action, ApplyResult, Outcome, ReplicaAction, ReplicaOutcome, ReplicaResult, Timings};
use super::placement::{Placed, Surplus};
use super::replicas::Replica;
use super::spec::Instance;
use super::{DeployError, validate};
use crate::config::names;

/// Where the image of a deploy comes from.
#[derive(Debug, Clone)]
pub enum ImageChoice {
    /// An image the engine should already have (`--image`, a rollback).
    Existing(String),
    /// Packaged from a binary; `tag` is the name the build gets (an unchanged one is reused).
    Build { source: ImageSource, tag: String },
}

impl ImageChoice {
    pub fn tag(&self) -> &str {
        match self {
            ImageChoice::Existing(tag) | ImageChoice::Build { tag, .. } => tag,
        }
    }
}

/// The container the spec asks for, with what it was computed from.
pub struct Desired {
    pub container: docker::ContainerSpec,
    /// The image's id, `None` while the engine does not have it.
    pub image_id: Option<String>,
    pub env_hash: String,
    /// The validated env file (the gate's token and the purge credentials come from it).
    pub file: EnvFile,
}

/// One instance's desired container next to the one that runs.
pub struct Survey {
    pub desired: Desired,
    /// The container as the engine reports it: the one a cut-over stops and replaces.
    pub existing: Option<Observed>,
    /// The same seen through its port holder (the holder's ports, not running when the holder
    /// is not): what the diff compares.
    pub observed: Option<Observed>,
    pub changes: Vec<Difference>,
}

/// The instance as surveyed: each replica next to its desired container, and the replicas
/// beyond `replicas` that still exist.
pub struct Fleet {
    pub replicas: Vec<ReplicaSurvey>,
    pub surplus: Vec<Surplus>,
}

pub struct ReplicaSurvey {
    pub placed: Placed,
    pub survey: Survey,
}

impl ReplicaSurvey {
    pub fn action(&self, force: bool) -> ReplicaAction {
        match &self.survey.existing {
            None => ReplicaAction::Add,
            Some(_) if force || !self.survey.changes.is_empty() => ReplicaAction::Replace,
            Some(_) => ReplicaAction::Keep,
        }
    }
}

impl Fleet {
    /// Every difference; with several replicas each is prefixed by its container, and each
    /// surplus replica is one.
    pub fn changes(&self) -> Vec<Difference> {
        let several = self.replicas.len() > 1 || !self.surplus.is_empty();
        let mut out = Vec::new();
        for r in &self.replicas {
            for c in &r.survey.changes {
                let field = if several { format!("{}: {}", r.placed.replica.container, c.field) } else { c.field.clone() };
                out.push(Difference { field, ..c.clone() });
            }
        }
        for s in &self.surplus {
            out.push(Difference { field: format!("replica {}", s.index), desired: "(none)".into(), actual: s.name().to_string() });
        }
        out
    }

    /// Replica 0: the instance's own container name, env hash and history.
    pub fn first(&self) -> &Survey {
        &self.replicas[0].survey
    }

    /// Each replica's row of an outcome, all with `result`, and the surplus ones.
    fn outcomes(&self, force: bool, image: &str, result: ReplicaResult) -> Vec<ReplicaOutcome> {
        let row = |index, container: &str, engine: &Option<String>, action, image: String| ReplicaOutcome {
            index,
            container: container.to_string(),
            engine: engine.clone().unwrap_or_else(|| "default".into()),
            action,
            result,
            image,
            gap_ms: None,
            gate: None,
        };
        let mut out: Vec<ReplicaOutcome> = self
            .replicas
            .iter()
            .map(|r| {
                let running = r.survey.existing.as_ref().map(|o| o.image.clone());
                let shown = if result == ReplicaResult::Planned { image.to_string() } else { running.unwrap_or_default() };
                row(r.placed.replica.index, &r.placed.replica.container, &r.placed.replica.engine, r.action(force), shown)
            })
            .collect();
        out.extend(self.surplus.iter().map(|s| row(s.index, s.name(), &s.engine, ReplicaAction::Remove, String::new())));
        out
    }
}

/// Everything an apply needs to decide, computed with nothing touched.
pub struct DeployPlan {
    pub action: Action,
    pub instance: String,
    /// Replica 0's container (the instance's own name).
    pub container: String,
    pub image: ImageChoice,
    pub fleet: Fleet,
    /// Replace the containers even when they are in sync (a rollback always does).
    pub force: bool,
    pub no_purge: bool,
    /// Health-gate deadline (of each replica).
    pub deadline: Duration,
    /// When planning started: the outcome's durations count from here.
    pub started: Instant,
}

/// `deploy plan`: desired against running, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub instance: String,
    pub container: String,
    pub in_sync: bool,
    pub desired_image: String,
    /// Replica 0's.
    pub actual_image: Option<String>,
    pub desired_env_hash: String,
    /// Replica 0's.
    pub actual_env_hash: Option<String>,
    pub changes: Vec<Difference>,
    /// Each replica and what a deploy would do to it.
    pub replicas: Vec<ReplicaOutcome>,
}

impl DeployPlan {
    pub fn report(&self) -> PlanReport {
        let s = self.fleet.first();
        let changes = self.fleet.changes();
        PlanReport {
            instance: self.instance.clone(),
            container: self.container.clone(),
            in_sync: changes.is_empty(),
            desired_image: self.image.tag().to_string(),
            actual_image: s.observed.as_ref().map(|o| o.image.clone()),
            desired_env_hash: s.desired.env_hash.clone(),
            actual_env_hash: s.observed.as_ref().map(|o| desired::env_hash(&desired::actual_env(&s.desired.container, o))),
            changes,
            replicas: self.fleet.outcomes(false, self.image.tag(), ReplicaResult::Planned),
        }
    }

    /// The outcome of `--dry-run`: this plan, nothing done.
    pub fn dry_run(self) -> Outcome {
        let mut outcome = self.outcome(ApplyResult::DryRun, self.image.tag(), &self.fleet);
        outcome.timings.total_ms = self.started.elapsed().as_millis() as u64;
        outcome
    }

    /// An outcome of this plan with `image` and what `fleet` found; its replicas are planned
    /// (a dry run) or unchanged until the apply says otherwise.
    pub(super) fn outcome(&self, result: ApplyResult, image: &str, fleet: &Fleet) -> Outcome {
        let each = if result == ApplyResult::DryRun { ReplicaResult::Planned } else { ReplicaResult::Unchanged };
        Outcome {
            instance: self.instance.clone(),
            action: self.action,
            result,
            container: self.container.clone(),
            image: image.to_string(),
            image_built: false,
            image_size_bytes: None,
            previous_image: String::new(),
            env_hash: fleet.first().desired.env_hash.clone(),
            changes: fleet.changes(),
            timings: Timings::default(),
            replicas: fleet.outcomes(self.force, image, each),
            reason: None,
            purge: None,
            purge_error: None,
        }
    }
}

impl Engine<'_> {
    /// The image `opts` asks for, without building it.
    pub(super) fn choose_image(&self, opts: &ApplyOptions) -> Result<ImageChoice, DeployError> {
        if let Some(tag) = &opts.image {
            return Ok(ImageChoice::Existing(tag.clone()));
        }
        let source = ImageSource::current(&self.spec.defaults.image, &self.spec.dir, opts.binary.as_deref()).map_err(DeployError::Executable)?;
        let tag = source.identify()?.0.tag;
        Ok(ImageChoice::Build { source, tag })
    }

    /// Every replica surveyed on its engine, and the surplus ones.
    pub(super) async fn survey_fleet(&self, inst: &Instance, tag: &str, create_dir: bool) -> Result<Fleet, DeployError> {
        let placed = self.placed(inst).await?;
        let surplus = self.surplus(inst, &placed).await?;
        let mut replicas = Vec::new();
        for p in placed {
            let survey = self.on(&p.docker).survey(inst, &p.replica, tag, create_dir).await?;
            replicas.push(ReplicaSurvey { placed: p, survey });
        }
        Ok(Fleet { replicas, surplus })
    }

    /// Compute the desired container of replica `r` with `tag`, inspect the running one,
    /// diff them. `create_dir` creates a missing data folder first (its owner is the default
    /// user).
    pub(super) async fn survey(&self, inst: &Instance, r: &Replica, tag: &str, create_dir: bool) -> Result<Survey, DeployError> {
        let desired = self.desired(inst, r, tag, create_dir).await?;
        let existing = docker::inspect(self.docker, &r.container).await?;
        let observed = match existing.clone() {
            Some(o) => Some(docker::through_holder(self.docker, o).await?),
            None => None,
        };
        let changes = desired::diff(&desired.container, desired.image_id.as_deref(), observed.as_ref());
        Ok(Survey { desired, existing, observed, changes })
    }

    /// Validated env file and the container the spec asks for with `tag`.
    async fn desired(&self, inst: &Instance, r: &Replica, tag: &str, create_dir: bool) -> Result<Desired, DeployError> {
        let (report, file) = validate::validate_instance(self.spec, inst);
        let Some(file) = file.filter(|_| report.valid) else { return Err(DeployError::InvalidEnv(Box::new(report))) };
        self.spec.check_store(inst, file.get(names::DB))?;
        self.spec.check_reach(inst, r, file.get(names::DB))?;
        let env = self.spec.container_env(inst, &file.pairs());
        let env_hash = desired::env_hash(&env);
        let container = desired::desired(self.spec, inst, r, env, tag, &self.user_for(inst, create_dir));
        let image_id = docker::image_id(self.docker, tag).await?;
        Ok(Desired { container, image_id, env_hash, file })
    }

    fn user_for(&self, inst: &Instance, create_dir: bool) -> String {
        if let Some(u) = &inst.user {
            return u.clone();
        }
        if create_dir && let Err(e) = std::fs::create_dir_all(&inst.data_dir) {
            tracing::warn!(dir = %inst.data_dir.display(), error = %e, "cannot create the data folder");
        }
        super::spec::owner_of(&inst.data_dir).unwrap_or_else(|| "0:0".into())
    }
}
