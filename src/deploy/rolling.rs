//! The rolling deploy of an instance's replicas: one replica at a time through its health
//! gate (`Engine::cut_over`, in `cutover`), so that while one is cut over the others serve. When a
//! replica fails its gate, its old container is started again and every replica that had
//! already passed returns to its previous container (same image, same env), kept stopped as
//! `<name>-prev` until then: the outcome says `rolled-back`. Once every replica passed, the
//! `-prev` containers and the replicas beyond `replicas` (scaling down) are removed.

use std::time::Duration;

use super::DeployError;
use super::audit;
use super::context::{Engine, Ui};
use super::cutover::prev_name;
use super::desired::{LABEL_DEPLOYED_AT, LABEL_DEPLOYED_BY, LABEL_PREVIOUS_IMAGE};
use super::docker::{self, ContainerSpec, Observed};
use super::health::{GateTarget, Prober};
use super::outcome::{ApplyResult, Outcome, ReplicaAction, ReplicaResult};
use super::plan::{DeployPlan, Fleet};
use super::spec::Instance;

/// A replica that passed its gate in this apply.
struct Passed {
    /// Its position in the fleet.
    k: usize,
    new_id: String,
    /// The container it replaced (now `<name>-prev`), `None` when it was added.
    prev: Option<Observed>,
    target: GateTarget,
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

/// The history labels: previous image, when and by whom.
pub(super) fn label_history(container: &mut ContainerSpec, previous_image: &str) {
    let labels = &mut container.labels;
    labels.insert(LABEL_PREVIOUS_IMAGE.into(), previous_image.to_string());
    labels.insert(LABEL_DEPLOYED_AT.into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    labels.insert(LABEL_DEPLOYED_BY.into(), audit::who());
}

fn ms(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_millis() as u64)
}

impl Engine<'_> {
    /// Cuts over every replica the plan replaces or adds, one at a time, then removes the
    /// surplus ones; on a failed gate, rolls every replica back. With several replicas, the
    /// outcome's `cutover_gap_ms` is the longest time no replica answered (`None`: always one).
    pub(super) async fn roll(&self, plan: &DeployPlan, inst: &Instance, tag: &str, fleet: &mut Fleet, outcome: &mut Outcome, ui: &mut dyn Ui) -> Result<ApplyResult, DeployError> {
        let several = fleet.replicas.len() > 1 || !fleet.surplus.is_empty();
        let any_running = fleet.replicas.iter().any(|r| r.survey.existing.as_ref().is_some_and(|o| o.running));
        let mut watch = (several && any_running).then(|| Prober::start(fleet.replicas.iter().map(|r| r.placed.replica.http_base()).collect()));
        if let Some(w) = watch.as_mut()
            && !w.ready(Duration::from_secs(2)).await
        {
            ui.step("no replica answers /healthz; the instance's gap is not measured");
        }
        let mut passed: Vec<Passed> = Vec::new();
        // Set when a gate failed: whether the instance serves as before that replica's cut-over.
        let mut failed: Option<bool> = None;
        for k in 0..fleet.replicas.len() {
            let action = fleet.replicas[k].action(plan.force);
            if action == ReplicaAction::Keep {
                continue;
            }
            let others_running =
                fleet.replicas.iter().enumerate().any(|(j, x)| j != k && x.survey.existing.as_ref().is_some_and(|o| o.running));
            let r = &mut fleet.replicas[k];
            let replica = r.placed.replica.clone();
            if several {
                ui.step(&format!("replica {} ({}) on {}: {action}", replica.index, replica.container, replica.engine_name()));
            }
            label_history(&mut r.survey.desired.container, &previous_image(r.survey.existing.as_ref(), tag));
            let target = self.gate_target(inst, &replica, &r.survey.desired.file);
            let cut = self.on(&r.placed.docker).cut_over(plan, inst, &replica, &mut r.survey, &target, ui).await?;
            let row = &mut outcome.replicas[k];
            row.gap_ms = ms(cut.gap);
            outcome.timings.stop_old_ms += cut.stop_old_ms;
            if !several {
                outcome.timings.cutover_gap_ms = row.gap_ms;
            }
            match cut.gate {
                Ok(gate) => {
                    (row.gate, row.result, row.image) = (Some(gate), ReplicaResult::Deployed, tag.to_string());
                    outcome.timings.gate = gate;
                    outcome.timings.deploy_to_healthy_ms = Some(plan.started.elapsed().as_millis() as u64);
                    passed.push(Passed { k, new_id: cut.new_id, prev: r.survey.existing.clone(), target });
                }
                Err(f) => {
                    row.result = if f.restored { ReplicaResult::Restored } else { ReplicaResult::Failed };
                    outcome.reason = Some(f.reason);
                    // An added replica leaves nothing behind; the others serve as before.
                    failed = Some(f.restored || (r.survey.existing.is_none() && others_running));
                    break;
                }
            }
        }
        let result = match failed {
            None => {
                self.finish(fleet, &passed, outcome, ui).await?;
                ApplyResult::Deployed
            }
            Some(serves) => {
                let back = self.revert(fleet, &passed, plan.deadline, outcome, ui).await?;
                match (serves && back, passed.is_empty()) {
                    (false, _) => ApplyResult::Failed,
                    (true, true) => ApplyResult::Restored,
                    (true, false) => ApplyResult::RolledBack,
                }
            }
        };
        if let Some(w) = watch {
            outcome.timings.cutover_gap_ms = ms(w.finish().await);
        }
        Ok(result)
    }

    /// Every replica passed: the kept previous containers go, and so do the surplus replicas
    /// (SIGTERM first, so their agents move to the others).
    async fn finish(&self, fleet: &Fleet, passed: &[Passed], outcome: &mut Outcome, ui: &mut dyn Ui) -> Result<(), DeployError> {
        for p in passed.iter().filter(|p| p.prev.is_some()) {
            let r = &fleet.replicas[p.k];
            docker::remove(&r.placed.docker, &prev_name(&r.placed.replica.container)).await?;
        }
        for (j, s) in fleet.surplus.iter().enumerate() {
            ui.step(&format!("removing replica {} ({})", s.index, s.name()));
            if let Some((id, _)) = &s.hub {
                docker::stop(&s.docker, id, self.spec.defaults.stop_timeout_secs).await?;
                docker::remove(&s.docker, id).await?;
            }
            if let Some((id, _)) = &s.holder {
                docker::remove(&s.docker, id).await?;
            }
            outcome.replicas[fleet.replicas.len() + j].result = ReplicaResult::Removed;
        }
        Ok(())
    }

    /// Returns the replicas that passed to their previous containers, last first; `true`
    /// when every one that was running answers again.
    async fn revert(&self, fleet: &Fleet, passed: &[Passed], deadline: Duration, outcome: &mut Outcome, ui: &mut dyn Ui) -> Result<bool, DeployError> {
        let mut all = true;
        for p in passed.iter().rev() {
            let r = &fleet.replicas[p.k];
            let (c, container) = (self.on(&r.placed.docker), &r.placed.replica.container);
            ui.step(&format!("rolling back {container}"));
            docker::stop(c.docker, &p.new_id, self.spec.defaults.stop_timeout_secs).await?;
            docker::remove(c.docker, &p.new_id).await?;
            let row = &mut outcome.replicas[p.k];
            match &p.prev {
                Some(o) => {
                    docker::rename(c.docker, &o.id, container).await?;
                    let back = !o.running || c.restart_previous(container, o, &p.target, deadline, ui).await;
                    (row.result, row.image) = (if back { ReplicaResult::RolledBack } else { ReplicaResult::Failed }, o.image.clone());
                    all &= back;
                }
                None => (row.result, row.image) = (ReplicaResult::Removed, String::new()),
            }
        }
        Ok(all)
    }
}
