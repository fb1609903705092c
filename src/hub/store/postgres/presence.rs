//! The `replicas` and `fleet_agents` tables: each hub process's heartbeat and its agents.
//! Every time is the database's clock ([`NOW_MS`]).

use async_trait::async_trait;

use super::PgStore;
use crate::hub::store::backend::Presence;
use crate::hub::store::error::StoreError;
use crate::hub::store::presence::{AgentRow, Dropped, PresenceChanges};

/// The database's clock in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

#[async_trait]
impl Presence for PgStore {
    async fn publish_presence(&self, changes: PresenceChanges) -> Result<bool, StoreError> {
        let PresenceChanges { rows, gone } = changes;
        let (mut names, mut workspaces, mut infos) = (Vec::new(), Vec::new(), Vec::new());
        for r in rows {
            names.push(r.name);
            workspaces.push(r.workspace);
            infos.push(r.info);
        }
        // One statement: the heartbeat (xmax = 0: the row is new), the names let go, the
        // agents written. A name is in one of the two lists, never both.
        let sql = format!(
            "WITH beat AS (
                 INSERT INTO replicas (id, heartbeat_ms) VALUES ($1, {NOW_MS})
                 ON CONFLICT (id) DO UPDATE SET heartbeat_ms = EXCLUDED.heartbeat_ms
                 RETURNING xmax = 0 AS new
             ), gone AS (
                 DELETE FROM fleet_agents WHERE replica = $1 AND name = ANY($2)
             ), written AS (
                 INSERT INTO fleet_agents (replica, name, workspace_id, info)
                 SELECT $1, * FROM unnest($3::text[], $4::text[], $5::text[])
                 ON CONFLICT (replica, name) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, info = EXCLUDED.info
             )
             SELECT new FROM beat"
        );
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&sql).await?;
        Ok(c.query_one(&stmt, &[&self.replica, &gone, &names, &workspaces, &infos]).await?.get(0))
    }

    async fn fleet_agents(&self, alive_ms: u64) -> Result<Vec<AgentRow>, StoreError> {
        let sql = format!(
            "SELECT f.name, f.workspace_id, f.info FROM fleet_agents f JOIN replicas r ON r.id = f.replica
             WHERE f.replica <> $1 AND r.heartbeat_ms >= {NOW_MS} - $2 ORDER BY r.heartbeat_ms DESC"
        );
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&sql).await?;
        let rows = c.query(&stmt, &[&self.replica, &(alive_ms as i64)]).await?;
        Ok(rows.iter().map(|r| AgentRow { name: r.get(0), workspace: r.get(1), info: r.get(2) }).collect())
    }

    async fn reap_replicas(&self, dead_ms: u64) -> Result<Vec<Dropped>, StoreError> {
        // The outer read sees the table as before the deletes: the dead processes' rows are
        // left out by hand.
        let sql = format!(
            "WITH dead AS (
                 DELETE FROM replicas WHERE heartbeat_ms < {NOW_MS} - $1 AND id <> $2 RETURNING id
             ), dropped AS (
                 DELETE FROM fleet_agents WHERE replica IN (SELECT id FROM dead) RETURNING replica, name
             )
             SELECT d.replica, d.name FROM dropped d
             WHERE NOT EXISTS (SELECT 1 FROM fleet_agents f WHERE f.name = d.name AND f.replica NOT IN (SELECT id FROM dead))"
        );
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&sql).await?;
        let rows = c.query(&stmt, &[&(dead_ms as i64), &self.replica]).await?;
        Ok(rows.iter().map(|r| Dropped { replica: r.get(0), name: r.get(1) }).collect())
    }

    async fn leave_fleet(&self) -> Result<(), StoreError> {
        self.conn().await?.execute("UPDATE replicas SET heartbeat_ms = 0 WHERE id = $1", &[&self.replica]).await?;
        Ok(())
    }
}
