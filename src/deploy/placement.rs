//! Where an instance's replicas run: one connection per engine the spec names, and the
//! containers of replicas the spec no longer asks for (what scaling down removes).

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;

use super::context::Engine;
use super::desired::LABEL_INSTANCE;
use super::docker;
use super::replicas::{Replica, engine_url};
use super::spec::Instance;
use super::DeployError;

/// A replica with the engine it runs on.
pub struct Placed {
    pub replica: Replica,
    pub docker: Docker,
}

/// A replica beyond `replicas`, as found on an engine: its hub container and port holder
/// (`(id, name)` each, when it exists).
pub struct Surplus {
    pub index: usize,
    pub engine: Option<String>,
    pub docker: Docker,
    pub hub: Option<(String, String)>,
    pub holder: Option<(String, String)>,
}

impl Surplus {
    /// The name status and the plan show: the hub container's, else the holder's.
    pub fn name(&self) -> &str {
        self.hub.as_ref().or(self.holder.as_ref()).map(|(_, n)| n.as_str()).unwrap_or_default()
    }
}

impl Engine<'_> {
    /// The replicas of `inst`, each with a connection to its engine (one per engine).
    pub async fn placed(&self, inst: &Instance) -> Result<Vec<Placed>, DeployError> {
        let mut engines: BTreeMap<String, Docker> = BTreeMap::new();
        let mut out = Vec::new();
        for replica in self.spec.replicas(inst) {
            let docker = match &replica.engine {
                None => self.docker.clone(),
                Some(e) if engines.contains_key(e) => engines[e].clone(),
                Some(e) => {
                    let d = docker::connect_to(&engine_url(e)).await.map_err(|source| DeployError::Engine { engine: e.clone(), source })?;
                    engines.insert(e.clone(), d.clone());
                    d
                }
            };
            out.push(Placed { replica, docker });
        }
        Ok(out)
    }

    /// Containers named like replicas at or beyond `inst.replicas` on the engines `placed`
    /// uses, in index order. (An engine dropped from the spec is not searched.)
    pub async fn surplus(&self, inst: &Instance, placed: &[Placed]) -> Result<Vec<Surplus>, DeployError> {
        let mut engines = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut out: Vec<Surplus> = Vec::new();
        for p in placed.iter().filter(|p| engines.insert(p.replica.engine.clone())) {
            for (id, name) in docker::list_labelled(&p.docker, LABEL_INSTANCE, &inst.name).await? {
                let Some(index) = self.spec.replica_index_of(inst, &name).filter(|i| *i >= inst.replicas) else { continue };
                // Two spellings of one engine list the same containers.
                if !ids.insert(id.clone()) {
                    continue;
                }
                let at = match out.iter().position(|s| s.index == index) {
                    Some(at) => at,
                    None => {
                        out.push(Surplus { index, engine: p.replica.engine.clone(), docker: p.docker.clone(), hub: None, holder: None });
                        out.len() - 1
                    }
                };
                let slot = if name.ends_with("-ports") { &mut out[at].holder } else { &mut out[at].hub };
                *slot = Some((id, name));
            }
        }
        out.sort_by_key(|s| s.index);
        Ok(out)
    }
}
