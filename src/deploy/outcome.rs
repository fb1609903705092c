//! What a deploy or rollback did: the [`Outcome`] printed (text or `--json`), turned into an
//! exit code and appended to the audit log.

use std::fmt::{self, Write};

use serde::Serialize;

use super::audit::{self, AuditRecord};
use super::desired::Difference;
use super::health::GatePassed;
use super::purge::PurgeOutcome;

/// Which command asked for the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Rollback,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deploy => "deploy",
            Action::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an apply ended (the `result` of `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApplyResult {
    /// The new container passed the health gate and took the instance's name.
    Deployed,
    /// Nothing differed; nothing was touched.
    InSync,
    /// The plan only (`--dry-run`).
    DryRun,
    /// The health gate failed and the previous container serves again.
    Restored,
    /// A replica's health gate failed after others had passed it: every replica runs its
    /// previous container (image and env) again.
    RolledBack,
    /// The health gate failed and nothing answers.
    Failed,
}

impl ApplyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyResult::Deployed => "deployed",
            ApplyResult::InSync => "in-sync",
            ApplyResult::DryRun => "dry-run",
            ApplyResult::Restored => "restored",
            ApplyResult::RolledBack => "rolled-back",
            ApplyResult::Failed => "failed",
        }
    }

    /// The word in `audit.jsonl`, whose readers (rollback) look for `ok`.
    pub fn audit_word(self) -> &'static str {
        match self {
            ApplyResult::Deployed => "ok",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for ApplyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Durations of one apply, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub image_ms: u64,
    pub stop_old_ms: u64,
    /// From the old instance's last answer to the new one's first (None without an old one).
    pub cutover_gap_ms: Option<u64>,
    pub gate: GatePassed,
    /// From the start of the command to the passed health gate.
    pub deploy_to_healthy_ms: Option<u64>,
    pub total_ms: u64,
}

/// What a plan does to one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaAction {
    /// In sync: left running.
    Keep,
    /// Replaced by a new container behind the health gate.
    Replace,
    /// Not running yet (a first deploy, or scaling up).
    Add,
    /// Beyond `replicas` (scaling down): stopped and removed once the others passed the gate.
    Remove,
}

/// What happened to one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaResult {
    /// A dry run: nothing done.
    Planned,
    /// Not touched (in sync, or not reached after another replica failed).
    Unchanged,
    /// The new container passed the gate and serves.
    Deployed,
    /// Its gate failed; its previous container serves again.
    Restored,
    /// It had passed the gate, then another replica failed: its previous container serves again.
    RolledBack,
    /// Stopped and removed (scaling down), or an added replica removed by a rollback.
    Removed,
    /// Its gate failed and nothing of it answers.
    Failed,
}

impl fmt::Display for ReplicaAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplicaAction::Keep => "keep",
            ReplicaAction::Replace => "replace",
            ReplicaAction::Add => "add",
            ReplicaAction::Remove => "remove",
        })
    }
}

impl fmt::Display for ReplicaResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplicaResult::Planned => "planned",
            ReplicaResult::Unchanged => "unchanged",
            ReplicaResult::Deployed => "deployed",
            ReplicaResult::Restored => "restored",
            ReplicaResult::RolledBack => "rolled-back",
            ReplicaResult::Removed => "removed",
            ReplicaResult::Failed => "failed",
        })
    }
}

/// One replica in an [`Outcome`].
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaOutcome {
    pub index: usize,
    pub container: String,
    /// As the spec names it; `default` for the controller's own engine.
    pub engine: String,
    pub action: ReplicaAction,
    pub result: ReplicaResult,
    /// The image it runs at the end.
    pub image: String,
    /// This replica's own cut-over gap on its ports.
    pub gap_ms: Option<u64>,
    pub gate: Option<GatePassed>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub instance: String,
    pub action: Action,
    pub result: ApplyResult,
    pub container: String,
    pub image: String,
    pub image_built: bool,
    /// What the engine reports for the image deployed (None for a dry run).
    pub image_size_bytes: Option<u64>,
    pub previous_image: String,
    pub env_hash: String,
    pub changes: Vec<Difference>,
    pub timings: Timings,
    /// Each replica: what the plan does to it and what happened.
    pub replicas: Vec<ReplicaOutcome>,
    /// Why the health gate failed, with the last lines of the new container.
    pub reason: Option<String>,
    pub purge: Option<PurgeOutcome>,
    pub purge_error: Option<String>,
}

impl Outcome {
    /// 0 deployed or nothing to do, 4 health gate failed, 7 deployed but the purge failed.
    pub fn exit_code(&self) -> u8 {
        match self.result {
            ApplyResult::Restored | ApplyResult::RolledBack | ApplyResult::Failed => 4,
            _ if self.purge_error.is_some() => 7,
            _ => 0,
        }
    }

    /// The error line of a non-zero exit.
    pub fn failure(&self) -> String {
        match (&self.purge_error, &self.reason) {
            (Some(p), _) => format!("{} deployed, but the cache purge failed: {p}", self.instance),
            (None, Some(r)) if self.result == ApplyResult::Restored => {
                format!("health gate failed; the previous {} serves again: {r}", self.container)
            }
            (None, Some(r)) if self.result == ApplyResult::RolledBack => {
                format!("health gate failed; every replica of {} runs its previous container again: {r}", self.instance)
            }
            (None, Some(r)) => format!("health gate failed: {r}"),
            _ => self.result.to_string(),
        }
    }

    /// The text report on stdout; with `timings`, a last line with the durations.
    pub fn render(&self, timings: bool) -> String {
        let mut out = String::new();
        match self.result {
            ApplyResult::DryRun => {
                let _ = writeln!(out, "[dry-run] {} {} -> {}: {} change(s)", self.action, self.instance, self.image, self.changes.len());
                for c in &self.changes {
                    let _ = writeln!(out, "  {}: {} -> {}", c.field, c.actual, c.desired);
                }
                if self.replicas.len() > 1 {
                    for r in &self.replicas {
                        let _ = writeln!(out, "  replica {} {} on {}: {}", r.index, r.container, r.engine, r.action);
                    }
                }
            }
            ApplyResult::InSync => {
                let _ = writeln!(out, "{} is in sync ({})", self.container, self.image);
            }
            ApplyResult::Deployed => {
                let (action, instance, container, image) = (self.action, &self.instance, &self.container, &self.image);
                let size = self.image_size_bytes.map_or(String::new(), |b| format!(", {:.1} MB", b as f64 / 1e6));
                let _ = writeln!(out, "{action} {instance}: {container} runs {image}{size} ({} change(s), env {})", self.changes.len(), self.env_hash);
                if let Some(p) = &self.purge {
                    for url in p.purged.iter().filter(|_| p.skipped.is_none()) {
                        let _ = writeln!(out, "  purged {url}");
                    }
                }
            }
            other => {
                let _ = writeln!(out, "{} {}: {other}", self.action, self.instance);
            }
        }
        if self.replicas.len() > 1 && self.result != ApplyResult::DryRun {
            for r in &self.replicas {
                let gap = r.gap_ms.map_or(String::new(), |g| format!(", gap {g} ms"));
                let _ = writeln!(out, "  replica {} {} on {}: {} {}{gap}", r.index, r.container, r.engine, r.action, r.result);
            }
        }
        if timings {
            let t = &self.timings;
            let ms = |v: Option<u64>| v.map_or("n/a".to_string(), |v| format!("{v} ms"));
            // With several replicas the gap is the instance's: no replica answering.
            let gap = match (self.replicas.len() > 1, t.cutover_gap_ms) {
                (true, None) => "instance gap none (a replica always answered)".to_string(),
                (true, Some(g)) => format!("instance gap {g} ms"),
                (false, g) => format!("cut-over gap {}", ms(g)),
            };
            let _ = writeln!(
                out,
                "timings: {gap}, deploy to healthy {} (image {} ms, stop old {} ms, /healthz after {} ms, WebSocket ack after {} ms), total {} ms",
                ms(t.deploy_to_healthy_ms),
                t.image_ms,
                t.stop_old_ms,
                t.gate.healthz_ms,
                t.gate.websocket_ms,
                t.total_ms
            );
        }
        out
    }

    /// The line `audit.jsonl` keeps of this outcome (the reason's first line only).
    pub fn audit_record(&self) -> AuditRecord {
        AuditRecord {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            who: audit::who(),
            action: self.action.as_str().into(),
            instance: self.instance.clone(),
            image: self.image.clone(),
            previous_image: self.previous_image.clone(),
            env_hash: self.env_hash.clone(),
            result: self.result.audit_word().into(),
            duration_ms: self.timings.total_ms,
            gap_ms: self.timings.cutover_gap_ms,
            container: self.container.clone(),
            reason: self.reason.as_ref().map(|r| r.lines().next().unwrap_or_default().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_serialize_as_the_documented_words() {
        let words: Vec<String> = [ApplyResult::Deployed, ApplyResult::InSync, ApplyResult::DryRun, ApplyResult::Restored, ApplyResult::RolledBack, ApplyResult::Failed]
            .iter()
            .map(|r| {
                let json = serde_json::to_value(r).unwrap();
                assert_eq!(json, r.as_str(), "Display and JSON agree");
                r.to_string()
            })
            .collect();
        assert_eq!(words, ["deployed", "in-sync", "dry-run", "restored", "rolled-back", "failed"]);
        for r in [ReplicaResult::Planned, ReplicaResult::Unchanged, ReplicaResult::Deployed, ReplicaResult::Restored, ReplicaResult::RolledBack, ReplicaResult::Removed, ReplicaResult::Failed] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.to_string());
        }
        for a in [ReplicaAction::Keep, ReplicaAction::Replace, ReplicaAction::Add, ReplicaAction::Remove] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.to_string());
        }
        assert_eq!(ApplyResult::Deployed.audit_word(), "ok");
        assert_eq!(serde_json::to_value(Action::Rollback).unwrap(), "rollback");
    }
}
