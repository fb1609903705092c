//! The `name_claims` table: which workspace holds which agent name (the rules and the cache in
//! [`crate::hub::state::names`]).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::StoreError;
use crate::hub::store::backend::NameClaims;
use crate::hub::store::records::{ClaimOutcome, NameClaim};
use crate::protocol::now_ts;

#[async_trait]
impl NameClaims for SqliteStore {
    async fn name_claims(&self, workspace: Option<String>) -> Result<Vec<NameClaim>, StoreError> {
        self.read(move |c| {
            let row = |r: &rusqlite::Row<'_>| Ok(NameClaim { name: r.get(0)?, workspace_id: r.get(1)?, claimed_at: r.get(2)? });
            let sql = "SELECT name, workspace_id, claimed_at FROM name_claims WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY name";
            c.prepare(sql)?.query_map([workspace], row)?.collect()
        })
        .await
    }

    async fn record_name_claims(&self, claims: Vec<(String, String)>, limit: u64) -> Result<Vec<ClaimOutcome>, StoreError> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ts();
            let mut held: HashMap<&str, u64> = HashMap::new();
            let mut out = Vec::with_capacity(claims.len());
            {
                let mut holder = tx.prepare_cached("SELECT workspace_id FROM name_claims WHERE name = ?1")?;
                let mut count = tx.prepare_cached("SELECT COUNT(*) FROM name_claims WHERE workspace_id = ?1")?;
                let mut insert = tx.prepare_cached("INSERT INTO name_claims (name, workspace_id, claimed_at) VALUES (?1, ?2, ?3)")?;
                for (name, ws) in &claims {
                    let outcome = match holder.query_row([name], |r| r.get::<_, String>(0)).optional()? {
                        Some(h) => ClaimOutcome::Holder(h),
                        None => {
                            let n = match held.get_mut(ws.as_str()) {
                                Some(n) => n,
                                None => held.entry(ws.as_str()).or_insert(count.query_row([ws], |r| r.get::<_, i64>(0))? as u64),
                            };
                            if !ws.is_empty() && *n >= limit {
                                ClaimOutcome::Full
                            } else {
                                insert.execute(params![name, ws, now])?;
                                *n += 1;
                                ClaimOutcome::Holder(ws.clone())
                            }
                        }
                    };
                    out.push(outcome);
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn release_name(&self, name: String) -> Result<bool, StoreError> {
        self.write(move |c| Ok(c.execute("DELETE FROM name_claims WHERE name = ?1", [&name])? > 0)).await
    }

    async fn release_workspace_names(&self, workspace: String) -> Result<Vec<String>, StoreError> {
        self.write(move |c| {
            c.prepare("DELETE FROM name_claims WHERE workspace_id = ?1 RETURNING name")?.query_map([&workspace], |r| r.get(0))?.collect()
        })
        .await
    }
}
