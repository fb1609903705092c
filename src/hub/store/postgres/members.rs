//! Remembered channel membership, changed inside the transaction of the message batch a change
//! arrives with.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio::sync::oneshot;

use super::PgStore;
use super::writer::Job;
use crate::hub::store::StoreError;
use crate::hub::store::backend::Membership;
use crate::hub::store::message::MembershipChange;

#[async_trait]
impl Membership for PgStore {
    async fn change_membership(&self, change: MembershipChange) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Membership(change, tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn saved_channels(&self, agent: String) -> Result<Vec<String>, StoreError> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached("SELECT channel FROM channel_members WHERE agent = $1").await?;
        Ok(c.query(&stmt, &[&agent]).await?.iter().map(|r| r.get(0)).collect())
    }

    async fn channel_members(&self, channel: String) -> Result<Vec<String>, StoreError> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached("SELECT agent FROM channel_members WHERE channel = $1 ORDER BY agent").await?;
        Ok(c.query(&stmt, &[&channel]).await?.iter().map(|r| r.get(0)).collect())
    }
}

/// Applies a change inside the writer's batch transaction.
pub(super) async fn apply(c: &impl GenericClient, change: &MembershipChange) -> Result<(), StoreError> {
    let sql = if change.join {
        "INSERT INTO channel_members (agent, channel) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM channel_members WHERE agent = $1 AND channel = ANY($2)"
    };
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, &[&change.agent, &change.channels]).await?;
    Ok(())
}
