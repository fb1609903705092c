//! The `name_claims` table: which workspace holds which agent name (the rules and the cache in
//! [`crate::hub::state::names`]). Names compare without ASCII case through `lower(name)`.

use std::collections::HashMap;

use async_trait::async_trait;

use super::PgStore;
use crate::hub::store::StoreError;
use crate::hub::store::backend::NameClaims;
use crate::hub::store::records::{ClaimOutcome, NameClaim};
use crate::protocol::now_ts;

/// Serializes claim batches of every hub process on the database, as SQLite's write lock does.
const CLAIMS_LOCK: i64 = 7_170_238;

#[async_trait]
impl NameClaims for PgStore {
    async fn name_claims(&self, workspace: Option<String>) -> Result<Vec<NameClaim>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT name, workspace_id, claimed_at FROM name_claims WHERE $1::text IS NULL OR workspace_id = $1
                 ORDER BY lower(name), name",
                &[&workspace],
            )
            .await?;
        Ok(rows.iter().map(|r| NameClaim { name: r.get(0), workspace_id: r.get(1), claimed_at: r.get(2) }).collect())
    }

    async fn record_name_claims(&self, claims: Vec<(String, String)>, limit: u64) -> Result<Vec<ClaimOutcome>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIMS_LOCK]).await?;
        let holder = tx.prepare_cached("SELECT workspace_id FROM name_claims WHERE lower(name) = lower($1)").await?;
        let count = tx.prepare_cached("SELECT COUNT(*) FROM name_claims WHERE workspace_id = $1").await?;
        let insert = tx.prepare_cached("INSERT INTO name_claims (name, workspace_id, claimed_at) VALUES ($1, $2, $3)").await?;
        let now = now_ts();
        let mut held: HashMap<&str, u64> = HashMap::new();
        let mut out = Vec::with_capacity(claims.len());
        for (name, ws) in &claims {
            if let Some(h) = tx.query_opt(&holder, &[name]).await? {
                out.push(ClaimOutcome::Holder(h.get(0)));
                continue;
            }
            let n = match held.get_mut(ws.as_str()) {
                Some(n) => n,
                None => {
                    let stored: i64 = tx.query_one(&count, &[ws]).await?.get(0);
                    held.entry(ws.as_str()).or_insert(stored as u64)
                }
            };
            if !ws.is_empty() && *n >= limit {
                out.push(ClaimOutcome::Full);
            } else {
                tx.execute(&insert, &[name, ws, &now]).await?;
                *n += 1;
                out.push(ClaimOutcome::Holder(ws.clone()));
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn release_name(&self, name: String) -> Result<bool, StoreError> {
        Ok(self.conn().await?.execute("DELETE FROM name_claims WHERE lower(name) = lower($1)", &[&name]).await? > 0)
    }

    async fn release_workspace_names(&self, workspace: String) -> Result<Vec<String>, StoreError> {
        let rows = self.conn().await?.query("DELETE FROM name_claims WHERE workspace_id = $1 RETURNING name", &[&workspace]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
