//! Mentions waiting for their agent (see the SQLite twin for the rules): rows written in the
//! message's own transaction, at most `max` per agent. Agent names compare without ASCII case
//! through `lower(agent)`, which the indexes cover.

use deadpool_postgres::GenericClient;

use super::messages::{ROW, history_row};
use crate::hub::store::StoreError;
use crate::hub::store::keys::unix_now;
use crate::hub::store::message::{Recipient, Waiting};

/// Adds one waiting mention of the message stored as row `message_id`, dropping the agent's
/// oldest beyond `max`; returns the new row's id.
pub(super) async fn insert(c: &impl GenericClient, r: &Recipient, message_id: i64, max: u64) -> Result<i64, StoreError> {
    let stmt = c.prepare_cached("INSERT INTO inbox (workspace_id, agent, message_id, at) VALUES ($1, $2, $3, $4) RETURNING id").await?;
    let id: i64 = c.query_one(&stmt, &[&r.workspace, &r.agent, &message_id, &unix_now()]).await?.get(0);
    let stmt = c
        .prepare_cached(
            "DELETE FROM inbox WHERE workspace_id = $1 AND lower(agent) = lower($2) AND id <=
                 (SELECT id FROM inbox WHERE workspace_id = $1 AND lower(agent) = lower($2) ORDER BY id DESC LIMIT 1 OFFSET $3)",
        )
        .await?;
    let dropped = c.execute(&stmt, &[&r.workspace, &r.agent, &(max as i64)]).await?;
    if dropped > 0 {
        let stmt = c
            .prepare_cached(
                "INSERT INTO inbox_dropped (workspace_id, agent, dropped) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace_id, lower(agent)) DO UPDATE SET dropped = inbox_dropped.dropped + excluded.dropped",
            )
            .await?;
        c.execute(&stmt, &[&r.workspace, &r.agent, &(dropped as i64)]).await?;
    }
    Ok(id)
}

/// Forgets mentions whose live frame reached their agent.
pub(super) async fn delivered(c: &impl GenericClient, ids: &[i64]) -> Result<(), StoreError> {
    if !ids.is_empty() {
        let stmt = c.prepare_cached("DELETE FROM inbox WHERE id = ANY($1)").await?;
        c.execute(&stmt, &[&ids]).await?;
    }
    Ok(())
}

/// Whether anything waits for the agent: mentions or a dropped count.
pub(super) async fn any(c: &impl GenericClient, workspace: &str, agent: &str) -> Result<bool, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM inbox WHERE workspace_id = $1 AND lower(agent) = lower($2))
                 OR EXISTS (SELECT 1 FROM inbox_dropped WHERE workspace_id = $1 AND lower(agent) = lower($2))",
        )
        .await?;
    Ok(c.query_one(&stmt, &[&workspace, &agent]).await?.get(0))
}

/// The agent's waiting mentions newer than `since` (unix seconds) that its workspace may read,
/// oldest first, and its dropped count.
pub(super) async fn waiting(c: &impl GenericClient, workspace: &str, agent: &str, since: i64) -> Result<Waiting, StoreError> {
    let columns = ROW.split(", ").map(|col| format!("m.{col}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT i.id, {columns} FROM inbox i JOIN messages m ON m.id = i.message_id
         WHERE i.workspace_id = $1 AND lower(i.agent) = lower($2) AND i.at >= $3 AND (m.audience IS NULL OR m.audience = $1)
         ORDER BY m.id"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &[&workspace, &agent, &since]).await?.iter().map(|r| (r.get(0), history_row(r, 1))).collect();
    let stmt = c.prepare_cached("SELECT dropped FROM inbox_dropped WHERE workspace_id = $1 AND lower(agent) = lower($2)").await?;
    let dropped: Option<i64> = c.query_opt(&stmt, &[&workspace, &agent]).await?.map(|r| r.get(0));
    Ok(Waiting { rows, dropped: dropped.unwrap_or(0) as u64 })
}

/// Forgets what the agent was handed: the `sent` rows, and the dropped count once it was told.
pub(super) async fn handed(c: &impl GenericClient, workspace: &str, agent: &str, sent: &[i64], told: bool) -> Result<(), StoreError> {
    delivered(c, sent).await?;
    if told {
        c.execute("DELETE FROM inbox_dropped WHERE workspace_id = $1 AND lower(agent) = lower($2)", &[&workspace, &agent]).await?;
    }
    Ok(())
}

/// Puts the messages named by `msg_ids` back into `r`'s inbox.
pub(super) async fn requeue(c: &impl GenericClient, r: &Recipient, msg_ids: &[String], max: u64) -> Result<(), StoreError> {
    let stmt = c.prepare_cached("SELECT id FROM messages WHERE msg_id = $1 LIMIT 1").await?;
    for msg_id in msg_ids {
        if let Some(row) = c.query_opt(&stmt, &[msg_id]).await? {
            insert(c, r, row.get(0), max).await?;
        }
    }
    Ok(())
}

/// Drops mentions older than `before` (unix seconds); returns how many went.
pub(super) async fn expire(c: &impl GenericClient, before: i64) -> Result<usize, StoreError> {
    Ok(c.execute("DELETE FROM inbox WHERE at < $1", &[&before]).await? as usize)
}
