//! The `permissions` table (values in [`crate::hub::store::permissions`]). A pending row
//! changes only once because every change is one conditional `UPDATE`, which PostgreSQL
//! applies to the row's latest version.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::hub::store::backend::PermissionRequests;
use crate::hub::store::permissions::{Answer, ApproverRow, Filter, Request};
use crate::hub::store::{DEFAULT_NAME, StoreError};

const COLUMNS: &str = "id, workspace_id, agent, request_id, tool_name, description, input_preview, frame_id, asker_token_hash, \
     created_ms, expires_ms, status, answered_by, answered_ms, answered_from, answered_via";

#[async_trait]
impl PermissionRequests for PgStore {
    async fn permission(&self, id: String) -> Result<Option<Request>, StoreError> {
        get(&self.conn().await?, &id).await
    }

    async fn permission_by_frame(&self, workspace: String, agent: String, frame_id: String) -> Result<Option<Request>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM permissions WHERE workspace_id = $1 AND agent = $2 AND frame_id = $3");
        Ok(self.conn().await?.query_opt(&sql, &[&workspace, &agent, &frame_id]).await?.map(|r| from_row(&r)))
    }

    async fn insert_permission(&self, r: Request) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .await?
            .execute(
                "INSERT INTO permissions (id, workspace_id, agent, frame_id, request_id, tool_name, description, input_preview,
                     asker_token_hash, created_ms, expires_ms, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending') ON CONFLICT DO NOTHING",
                &[
                    &r.id,
                    &r.workspace_id,
                    &r.agent,
                    &r.frame_id,
                    &r.request_id,
                    &r.tool_name,
                    &r.description,
                    &r.input_preview,
                    &r.asker_token_hash,
                    &r.created_ms,
                    &r.expires_ms,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn answer_permission(&self, id: String, a: Answer) -> Result<Result<Request, Option<Request>>, StoreError> {
        let c = self.conn().await?;
        let sql = format!(
            "UPDATE permissions SET status = $2, answered_by = $3, answered_ms = $4, answered_from = $5, answered_via = $6
             WHERE id = $1 AND status = 'pending' AND expires_ms > $4 RETURNING {COLUMNS}"
        );
        match c.query_opt(&sql, &[&id, &a.status, &a.by, &a.at_ms, &a.from, &a.via]).await? {
            Some(r) => Ok(Ok(from_row(&r))),
            None => Ok(Err(get(&c, &id).await?)),
        }
    }

    async fn expire_permissions(&self, ids: Vec<String>, at_ms: i64) -> Result<Vec<Request>, StoreError> {
        let sql = format!(
            "UPDATE permissions SET status = 'expired', answered_ms = $2 WHERE id = ANY($1) AND status = 'pending' RETURNING {COLUMNS}"
        );
        Ok(self.conn().await?.query(&sql, &[&ids, &at_ms]).await?.iter().map(from_row).collect())
    }

    async fn pending_permissions(&self) -> Result<Vec<Request>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM permissions WHERE status = 'pending' ORDER BY created_ms");
        Ok(self.conn().await?.query(&sql, &[]).await?.iter().map(from_row).collect())
    }

    async fn permissions(&self, f: Filter) -> Result<Vec<Request>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM permissions
             WHERE ($1 OR status = 'pending') AND ($2::text[] IS NULL OR workspace_id = ANY($2)) AND ($3::text IS NULL OR agent = $3)
             ORDER BY created_ms DESC, row_order DESC LIMIT $4"
        );
        let rows = self.conn().await?.query(&sql, &[&f.all, &f.workspaces, &f.agent, &f.limit]).await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn prune_permissions(&self, before_ms: i64) -> Result<usize, StoreError> {
        let n =
            self.conn().await?.execute("DELETE FROM permissions WHERE status != 'pending' AND answered_ms < $1", &[&before_ms]).await?;
        Ok(n as usize)
    }

    async fn approver(&self, token_hash: String) -> Result<Option<ApproverRow>, StoreError> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT t.person, t.workspace_id, w.name = $2 FROM workspace_token_hashes t JOIN workspaces w ON w.id = t.workspace_id
                 WHERE t.token_hash = $1 AND t.role = 'approver'",
                &[&token_hash, &DEFAULT_NAME],
            )
            .await?;
        Ok(row.map(|r| ApproverRow { person: r.get(0), workspace_id: r.get(1), default_workspace: r.get(2) }))
    }
}

fn from_row(r: &Row) -> Request {
    Request {
        id: r.get(0),
        workspace_id: r.get(1),
        agent: r.get(2),
        request_id: r.get(3),
        tool_name: r.get(4),
        description: r.get(5),
        input_preview: r.get(6),
        frame_id: r.get(7),
        asker_token_hash: r.get(8),
        created_ms: r.get(9),
        expires_ms: r.get(10),
        status: r.get(11),
        answered_by: r.get(12),
        answered_ms: r.get(13),
        answered_from: r.get(14),
        answered_via: r.get(15),
    }
}

async fn get(c: &impl GenericClient, id: &str) -> Result<Option<Request>, StoreError> {
    Ok(c.query_opt(&format!("SELECT {COLUMNS} FROM permissions WHERE id = $1"), &[&id]).await?.map(|r| from_row(&r)))
}
