//! The `key_marks` table and `messages.client_key` (see [`crate::hub::store::keys`]).

use async_trait::async_trait;

use super::PgStore;
use crate::hub::store::StoreError;
use crate::hub::store::backend::IdempotencyKeys;
use crate::hub::store::keys::{KEY_LIFETIME, PURGE_STEP};

#[async_trait]
impl IdempotencyKeys for PgStore {
    async fn mark_keys(&self, now: i64) -> Result<Option<(i64, i64)>, StoreError> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO key_marks (at, last_id) VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM messages))
             ON CONFLICT (at) DO UPDATE SET last_id = excluded.last_id",
            &[&now],
        )
        .await?;
        let row = c
            .query_one(
                "SELECT (SELECT last_id FROM key_marks ORDER BY at LIMIT 1),
                        (SELECT last_id FROM key_marks WHERE at <= $1 ORDER BY at DESC LIMIT 1)",
                &[&(now - KEY_LIFETIME.as_secs() as i64)],
            )
            .await?;
        let (from, to): (i64, Option<i64>) = (row.get(0), row.get(1));
        Ok(to.filter(|t| *t > from).map(|t| (from, t)))
    }

    async fn clear_keys(&self, from: i64, to: i64) -> Result<(i64, usize), StoreError> {
        let through = to.min(from + PURGE_STEP);
        let n = self
            .conn()
            .await?
            .execute("UPDATE messages SET client_key = NULL WHERE id > $1 AND id <= $2 AND client_key IS NOT NULL", &[&from, &through])
            .await?;
        Ok((through, n as usize))
    }

    async fn forget_key_marks(&self, to: i64) -> Result<(), StoreError> {
        self.conn().await?.execute("DELETE FROM key_marks WHERE last_id < $1", &[&to]).await?;
        Ok(())
    }
}
