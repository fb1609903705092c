//! The deploy controller: reconciles the Docker engine to the desired state kept in the
//! repository (`deploy/instances.toml` and `env/<instance>.env`), GitOps style. See
//! docs/deploy.md for the commands, the file formats and the cut-over.
//!
//! A deploy is computed before it acts: [`Controller::plan`] returns a [`DeployPlan`]
//! (`plan`), which a dry run prints and [`Controller::apply`] consumes (`controller`), giving
//! an [`Outcome`] (`outcome`). The rest are the parts they use, below the controller:
//! - `context`: what every stage is given ([`Engine`]: the spec and one Docker engine; the
//!   options; the [`Ui`]);
//! - `spec`, `envfile`, `validate`, `store_reach`: the desired state as written, and its
//!   checks (`store_reach`: the containers can reach the PostgreSQL the env file names);
//! - `replicas`, `placement`, `rolling`, `cutover`: an instance's replicas, the engines they
//!   run on, the rolling deploy that cuts them over one at a time, and one replica's cut-over;
//! - `desired`: the containers it asks for, and their differences from running ones;
//! - `docker`, `image`: the engine, and the image packaged from this binary;
//! - `health`, `lock`, `audit`: the health gate, the instance lock, the audit log;
//! - `purge`, `cloudflare`, `public_urls`: the CDN purge after a deploy, and its checks;
//! - `inspect`, `compose`, `doctor`, `check`: status, the compose equivalent, diagnostics
//!   (`check`: the line each of `doctor`'s checks returns).

pub mod audit;
pub mod check;
pub mod cloudflare;
pub mod compose;
pub mod context;
pub mod controller;
mod cutover;
pub mod desired;
pub mod docker;
pub mod doctor;
pub mod envfile;
pub mod health;
pub mod hub_checks;
pub mod image;
pub mod inspect;
pub mod lock;
pub mod outcome;
pub mod placement;
pub mod plan;
pub mod public_urls;
pub mod replicas;
mod rolling;
pub mod purge;
pub mod spec;
mod store_reach;
pub mod validate;

pub use context::{ApplyOptions, Engine, Ui};
pub use controller::Controller;
pub use inspect::InstanceStatus;
pub use outcome::{Action, ApplyResult, Outcome};
pub use plan::{DeployPlan, PlanReport};
pub use spec::{Instance, Spec};

/// Why a deploy command could not do its job (a failed health gate is an [`Outcome`] instead).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("{} is invalid; nothing was touched\n{}", .0.source, .0.render().trim_end())]
    InvalidEnv(Box<validate::Report>),
    #[error("cannot reach the Docker engine: {0}; is it running, and does DOCKER_HOST (or /var/run/docker.sock) point at it?")]
    Unreachable(#[source] docker::DockerError),
    #[error("cannot reach the Docker engine {engine} named in the spec: {source}")]
    Engine { engine: String, source: docker::DockerError },
    #[error("Docker: {0}")]
    Docker(#[from] docker::DockerError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error("cannot find this executable to package: {0}; pass --binary PATH or --image TAG")]
    Executable(#[source] std::io::Error),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("image {0} is not in the engine (nothing can be pulled here); load it with docker load, or deploy without --image to build one")]
    NoImage(String),
    #[error("no previous image to roll back to for {0} (no label on the container, nothing in the audit log); pass --to TAG")]
    NoPrevious(String),
    #[error("cancelled; nothing was changed (without a terminal to ask on, pass --yes)")]
    Aborted,
    #[error("cannot append to the audit log {path}: {source}; check that the spec's state_dir is writable")]
    Audit { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Purge(#[from] cloudflare::PurgeError),
}

impl DeployError {
    /// Exit codes documented in `scitex-orochi deploy --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            DeployError::Unreachable(_) | DeployError::Engine { .. } => 3,
            DeployError::InvalidEnv(_) => 5,
            DeployError::Lock(lock::LockError::Held { .. }) => 6,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn errors_keep_their_cause_and_name_the_next_step() {
        let engine = docker::DockerError::DockerResponseServerError { status_code: 500, message: "engine down".into() };
        let e = DeployError::Unreachable(engine);
        assert_eq!(e.exit_code(), 3);
        assert!(e.source().is_some_and(|s| s.to_string().contains("engine down")), "{e}");
        assert!(e.to_string().contains("DOCKER_HOST"), "{e}");
        let e = DeployError::Audit { path: "/state/audit.jsonl".into(), source: std::io::Error::from(std::io::ErrorKind::PermissionDenied) };
        assert!(e.source().is_some() && e.to_string().contains("state_dir is writable"), "{e}");
        assert!(DeployError::NoPrevious("stable".into()).to_string().contains("--to TAG"));
    }
}
