//! Read-only views of the instances: `status`, and the image a rollback returns to (`plan`
//! is in [`super::plan`]).

use serde::Serialize;

use super::audit;
use super::context::{ApplyOptions, Engine};
use super::docker::{self, Observed, Published};
use super::desired::{Difference, LABEL_PREVIOUS_IMAGE};
use super::outcome::ApplyResult;
use super::spec::Instance;
use super::{DeployError, image};

/// One row of `deploy status`: one replica of an instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub instance: String,
    /// The replica's index (0 for an instance of one).
    pub replica: usize,
    /// The engine it runs on as the spec names it; `default` for the controller's own.
    pub engine: String,
    pub container: String,
    pub public_url: String,
    pub state: String,
    pub health: String,
    pub version: String,
    pub image: String,
    pub uptime_secs: u64,
    pub ports: Vec<Published>,
    /// "in sync", "drifted", "not deployed", "surplus" (beyond `replicas`: the next deploy
    /// removes it), or why it could not be computed.
    pub drift: String,
    pub changes: Vec<Difference>,
}

impl Engine<'_> {
    pub async fn status(&self, opts: &ApplyOptions) -> Result<Vec<InstanceStatus>, DeployError> {
        let image = self.choose_image(opts);
        let mut out = Vec::new();
        for inst in self.spec.instances.values() {
            let placed = self.placed(inst).await?;
            for p in &placed {
                let c = self.on(&p.docker);
                let observed = docker::inspect_instance(c.docker, &p.replica.container).await?;
                let (drift, changes) = match (&observed, &image) {
                    (None, _) => ("not deployed".to_string(), Vec::new()),
                    (Some(_), Err(e)) => (format!("unknown: {e}"), Vec::new()),
                    (Some(_), Ok(image)) => match c.survey(inst, &p.replica, image.tag(), false).await {
                        Ok(s) if s.changes.is_empty() => ("in sync".into(), s.changes),
                        Ok(s) => ("drifted".into(), s.changes),
                        Err(e) => (format!("unknown: {}", e.to_string().lines().next().unwrap_or_default()), Vec::new()),
                    },
                };
                out.push(row(inst, p.replica.index, p.replica.engine_name(), &p.replica.container, observed.as_ref(), drift, changes));
            }
            for s in self.surplus(inst, &placed).await? {
                let observed = match &s.hub {
                    Some((id, _)) => docker::inspect_instance(&s.docker, id).await?,
                    None => None,
                };
                let engine = s.engine.clone().unwrap_or_else(|| "default".into());
                out.push(row(inst, s.index, engine, s.name(), observed.as_ref(), "surplus".into(), Vec::new()));
            }
        }
        Ok(out)
    }

    /// The image to roll back to: the container's previous-image label, else the newest
    /// successful deploy in the audit log with another image.
    pub async fn previous_image(&self, name: &str) -> Result<String, DeployError> {
        let inst = self.spec.instance(name)?;
        let placed = self.placed(inst).await?;
        let first = &placed[0];
        let current = docker::inspect(&first.docker, &first.replica.container).await?;
        let current_image = current.as_ref().map(|o| o.image.clone()).unwrap_or_default();
        if let Some(prev) = current.as_ref().and_then(|o| o.labels.get(LABEL_PREVIOUS_IMAGE)).filter(|p| !p.is_empty()) {
            return Ok(prev.clone());
        }
        audit::read(&self.spec.defaults.state_dir)
            .into_iter()
            .rev()
            .find(|r| r.instance == name && r.result == ApplyResult::Deployed.audit_word() && r.image != current_image)
            .map(|r| r.image)
            .ok_or_else(|| DeployError::NoPrevious(name.into()))
    }
}

fn row(inst: &Instance, replica: usize, engine: String, container: &str, o: Option<&Observed>, drift: String, changes: Vec<Difference>) -> InstanceStatus {
    InstanceStatus {
        instance: inst.name.clone(),
        replica,
        engine,
        container: container.to_string(),
        public_url: inst.public_url.clone(),
        state: o.map(|o| o.state.clone()).unwrap_or_else(|| "absent".into()),
        health: o.map(|o| o.health.clone()).unwrap_or_default(),
        version: o.and_then(|o| o.labels.get(image::LABEL_VERSION).cloned()).unwrap_or_default(),
        image: o.map(|o| o.image.clone()).unwrap_or_default(),
        uptime_secs: o.map(Observed::uptime_secs).unwrap_or(0),
        ports: o.map(|o| o.ports.clone()).unwrap_or_default(),
        drift,
        changes,
    }
}
