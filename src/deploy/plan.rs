//! The deploy plan: what an apply would change, computed before anything is touched.
//!
//! [`Controller::plan`] validates the env file, chooses the image without building it, and
//! surveys the instance: the desired container, the one that runs, their differences
//! ([`Controller::survey`], the only place that sequence is written). A dry run prints that
//! plan, `deploy plan` prints its [`PlanReport`], and [`Controller::apply`] consumes it: once
//! it holds the lock and the image exists, it surveys again, so the cut-over works on what
//! runs at that moment.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::controller::{ApplyOptions, Controller};
use super::desired::{self, Difference};
use super::docker::{self, Observed};
use super::envfile::EnvFile;
use super::image::ImageSource;
use super::outcome::{Action, ApplyResult, Outcome, Timings};
use super::spec::Instance;
use super::{DeployError, validate};

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

/// Everything an apply needs to decide, computed with nothing touched.
pub struct DeployPlan {
    pub action: Action,
    pub instance: String,
    pub container: String,
    pub image: ImageChoice,
    pub survey: Survey,
    /// Replace the container even when it is in sync (a rollback always does).
    pub force: bool,
    pub no_purge: bool,
    /// Health-gate deadline.
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
    pub actual_image: Option<String>,
    pub desired_env_hash: String,
    pub actual_env_hash: Option<String>,
    pub changes: Vec<Difference>,
}

impl DeployPlan {
    pub fn report(&self) -> PlanReport {
        let s = &self.survey;
        PlanReport {
            instance: self.instance.clone(),
            container: self.container.clone(),
            in_sync: s.changes.is_empty(),
            desired_image: self.image.tag().to_string(),
            actual_image: s.observed.as_ref().map(|o| o.image.clone()),
            desired_env_hash: s.desired.env_hash.clone(),
            actual_env_hash: s.observed.as_ref().map(|o| desired::env_hash(&desired::actual_env(&s.desired.container, o))),
            changes: s.changes.clone(),
        }
    }

    /// The outcome of `--dry-run`: this plan, nothing done.
    pub fn dry_run(self) -> Outcome {
        let mut outcome = self.outcome(ApplyResult::DryRun, self.image.tag(), &self.survey);
        outcome.timings.total_ms = self.started.elapsed().as_millis() as u64;
        outcome
    }

    /// An outcome of this plan with `image` and the differences `survey` found.
    pub(super) fn outcome(&self, result: ApplyResult, image: &str, survey: &Survey) -> Outcome {
        Outcome {
            instance: self.instance.clone(),
            action: self.action,
            result,
            container: self.container.clone(),
            image: image.to_string(),
            image_built: false,
            image_size_bytes: None,
            previous_image: String::new(),
            env_hash: survey.desired.env_hash.clone(),
            changes: survey.changes.clone(),
            timings: Timings::default(),
            reason: None,
            purge: None,
            purge_error: None,
        }
    }
}

impl Controller<'_> {
    /// The plan of deploying `name` with `opts`.
    pub async fn plan(&self, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        self.plan_action(Action::Deploy, name, opts).await
    }

    /// The plan of returning `name` to `opts.image`, else to its previous image.
    pub async fn rollback_plan(&self, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        let target = match &opts.image {
            Some(i) => i.clone(),
            None => self.previous_image(name).await?,
        };
        let opts = ApplyOptions { image: Some(target), force: true, ..opts.clone() };
        self.plan_action(Action::Rollback, name, &opts).await
    }

    async fn plan_action(&self, action: Action, name: &str, opts: &ApplyOptions) -> Result<DeployPlan, DeployError> {
        let started = Instant::now();
        let inst = self.spec.instance(name)?;
        let image = self.choose_image(opts)?;
        let survey = self.survey(inst, image.tag(), false).await?;
        Ok(DeployPlan {
            action,
            instance: name.into(),
            container: self.spec.container_name(inst),
            image,
            survey,
            force: opts.force,
            no_purge: opts.no_purge,
            deadline: opts.deadline.unwrap_or(Duration::from_secs(self.spec.defaults.health_deadline_secs)),
            started,
        })
    }

    /// The image `opts` asks for, without building it.
    pub(super) fn choose_image(&self, opts: &ApplyOptions) -> Result<ImageChoice, DeployError> {
        if let Some(tag) = &opts.image {
            return Ok(ImageChoice::Existing(tag.clone()));
        }
        let source = ImageSource::current(&self.spec.defaults.image, &self.spec.dir, opts.binary.as_deref()).map_err(DeployError::Executable)?;
        let tag = source.identify()?.0.tag;
        Ok(ImageChoice::Build { source, tag })
    }

    /// Compute the desired container with `tag`, inspect the running one, diff them.
    /// `create_dir` creates a missing data folder first (its owner is the default user).
    pub(super) async fn survey(&self, inst: &Instance, tag: &str, create_dir: bool) -> Result<Survey, DeployError> {
        let desired = self.desired(inst, tag, create_dir).await?;
        let existing = docker::inspect(self.docker, &self.spec.container_name(inst)).await?;
        let observed = match existing.clone() {
            Some(o) => Some(docker::through_holder(self.docker, o).await?),
            None => None,
        };
        let changes = desired::diff(&desired.container, desired.image_id.as_deref(), observed.as_ref());
        Ok(Survey { desired, existing, observed, changes })
    }

    /// Validated env file and the container the spec asks for with `tag`.
    async fn desired(&self, inst: &Instance, tag: &str, create_dir: bool) -> Result<Desired, DeployError> {
        let (report, file) = validate::validate_instance(self.spec, inst);
        let Some(file) = file.filter(|_| report.valid) else { return Err(DeployError::InvalidEnv(Box::new(report))) };
        let env = self.spec.container_env(inst, &file.pairs());
        let env_hash = desired::env_hash(&env);
        let container = desired::desired(self.spec, inst, env, tag, &self.user_for(inst, create_dir));
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
