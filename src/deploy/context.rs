//! What every stage of a deploy is given: the spec and one Docker engine ([`Engine`]), the
//! options of a deploy ([`ApplyOptions`]), and the person watching it ([`Ui`]). The stages
//! (`placement`, `plan`, `cutover`, `rolling`, `inspect`) are methods of [`Engine`]; the
//! `Controller` (in `controller`) runs them in order.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

use super::image;
use super::spec::Spec;

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

/// The spec and one Docker engine: the engine of a replica, or the controller's own.
#[derive(Clone, Copy)]
pub struct Engine<'a> {
    pub spec: &'a Spec,
    pub docker: &'a Docker,
}

impl<'a> Engine<'a> {
    /// The same spec on another engine.
    pub fn on<'b>(&self, docker: &'b Docker) -> Engine<'b>
    where
        'a: 'b,
    {
        Engine { spec: self.spec, docker }
    }
}
