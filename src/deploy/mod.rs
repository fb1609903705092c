//! The deploy controller: reconciles the Docker engine to the desired state kept in the
//! repository (`deploy/instances.toml` and `env/<instance>.env`), GitOps style. See
//! docs/deploy.md for the commands, the file formats and the cut-over.

pub mod audit;
pub mod cloudflare;
pub mod compose;
pub mod controller;
pub mod docker;
pub mod doctor;
pub mod envfile;
pub mod health;
pub mod hub_checks;
pub mod image;
pub mod inspect;
pub mod lock;
pub mod plan;
pub mod public_urls;
pub mod purge;
pub mod spec;
pub mod validate;

pub use controller::{ApplyOptions, Controller, Outcome, Ui};
pub use inspect::{InstanceStatus, PlanReport};
pub use spec::{Instance, Spec};

/// Why a deploy command could not do its job (a failed health gate is an [`Outcome`] instead).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error("{} is invalid; nothing was touched\n{}", .0.source, .0.render().trim_end())]
    InvalidEnv(Box<validate::Report>),
    #[error("cannot reach the Docker engine: {0}")]
    Unreachable(String),
    #[error("Docker: {0}")]
    Docker(#[from] docker::DockerError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("image {0} is not in the engine (nothing can be pulled here)")]
    NoImage(String),
    #[error("no previous image to roll back to for {0} (no label on the container, nothing in the audit log)")]
    NoPrevious(String),
    #[error("cancelled; nothing was changed (without a terminal to ask on, pass --yes)")]
    Aborted,
    #[error("{0}")]
    Io(String),
}

impl DeployError {
    /// Exit codes documented in `scitex-orochi deploy --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            DeployError::Unreachable(_) => 3,
            DeployError::InvalidEnv(_) => 5,
            DeployError::Lock(lock::LockError::Held { .. }) => 6,
            _ => 1,
        }
    }
}

impl From<std::io::Error> for DeployError {
    fn from(e: std::io::Error) -> Self {
        DeployError::Io(e.to_string())
    }
}
