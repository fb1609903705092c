//! One replica's cut-over ([`Engine::cut_over`]): keep or replace the port holder, create the
//! new container under `<name>-next`, stop the old one, start the new one behind the health
//! gate, and on success keep the old container as `<name>-prev` and take its name
//! ([`Engine::promote`]), on failure remove the new one and start the old one again
//! ([`Engine::restore`]).

use std::time::{Duration, Instant};

use super::DeployError;
use super::context::{Engine, Ui};
use super::docker::{self, ContainerSpec, Observed};
use super::envfile::EnvFile;
use super::health::{self, GatePassed, GateTarget, Prober, TokenSource};
use super::plan::{DeployPlan, Survey};
use super::replicas::Replica;
use super::spec::Instance;
use crate::config::names;

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

/// Where a replaced container waits while the other replicas roll.
pub(super) fn prev_name(container: &str) -> String {
    format!("{container}-prev")
}

impl Engine<'_> {
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

    /// `Err` with the reason once the container stopped running.
    async fn alive(&self, id: &str) -> Result<(), String> {
        match docker::inspect(self.docker, id).await {
            Ok(Some(o)) if o.running && o.state != "restarting" => Ok(()),
            Ok(Some(o)) => Err(format!("the new container is {} (exit code {})", o.state, o.exit_code)),
            Ok(None) => Err("the new container disappeared".into()),
            Err(e) => Err(format!("cannot inspect the new container: {e}")),
        }
    }
}
