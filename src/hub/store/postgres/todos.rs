//! The `todos` table (types and validation in [`crate::hub::features::todos`], the patch rules
//! in [`crate::hub::store::records`]). A change reads the row `FOR UPDATE`, so two hubs
//! patching one task apply one after the other.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::hub::features::todos::{Claim, Filter, NewTodo, Todo, TodoPatch};
use crate::hub::store::StoreError;
use crate::hub::store::backend::Todos;
use crate::hub::store::records::{claimable, done_patch, patch_todo};
use crate::protocol::now_ts;

#[async_trait]
impl Todos for PgStore {
    async fn todos(&self, f: Filter) -> Result<Vec<Todo>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM todos
             WHERE (cardinality($1::text[]) = 0 OR status = ANY($1)) AND (cardinality($2::text[]) = 0 OR priority = ANY($2))
               AND ($3::text IS NULL OR assignee = $3) AND ($4::text IS NULL OR workspace_id = $4)
             ORDER BY CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END,
                      CASE status WHEN 'done' THEN 1 ELSE 0 END, id DESC"
        );
        let rows = self.conn().await?.query(&sql, &[&f.statuses, &f.priorities, &f.assignee, &f.workspace]).await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn todo(&self, id: i64) -> Result<Option<Todo>, StoreError> {
        get(&self.conn().await?, id, "").await
    }

    async fn create_todo(&self, t: NewTodo) -> Result<Todo, StoreError> {
        let status = if t.assignee.is_empty() { "open" } else { "claimed" };
        let row = self
            .conn()
            .await?
            .query_one(
                &format!(
                    "INSERT INTO todos (title, body, priority, status, assignee, created_by, created_at, updated_at, workspace_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING {COLUMNS}"
                ),
                &[&t.title, &t.body, &t.priority, &status, &t.assignee, &t.created_by, &now_ts(), &t.workspace_id],
            )
            .await?;
        Ok(from_row(&row))
    }

    async fn update_todo(&self, id: i64, patch: TodoPatch) -> Result<Result<Option<Todo>, String>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let out = update(&tx, id, &patch).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn claim_todo(&self, id: i64, who: String) -> Result<Claim, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(t) = get(&tx, id, "FOR UPDATE").await? else { return Ok(Claim::NotFound) };
        if !claimable(&t, &who) {
            return Ok(Claim::Refused(t));
        }
        let row = tx
            .query_one(
                &format!("UPDATE todos SET status = 'claimed', assignee = $2, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"),
                &[&id, &who, &now_ts()],
            )
            .await?;
        tx.commit().await?;
        Ok(Claim::Claimed(from_row(&row)))
    }

    async fn close_todo(&self, id: i64) -> Result<Option<Todo>, StoreError> {
        Ok(self.update_todo(id, done_patch()).await?.ok().flatten())
    }

    async fn delete_todo(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.conn().await?.execute("DELETE FROM todos WHERE id = $1", &[&id]).await? > 0)
    }
}

const COLUMNS: &str = "id, title, body, priority, status, assignee, created_by, created_at, updated_at, closed_at, workspace_id";

fn from_row(r: &Row) -> Todo {
    Todo {
        id: r.get(0),
        title: r.get(1),
        body: r.get(2),
        priority: r.get(3),
        status: r.get(4),
        assignee: r.get(5),
        created_by: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
        closed_at: r.get(9),
        workspace_id: r.get(10),
    }
}

/// The task, read with `lock` (`""` or `FOR UPDATE`).
async fn get(c: &impl GenericClient, id: i64, lock: &str) -> Result<Option<Todo>, StoreError> {
    Ok(c.query_opt(&format!("SELECT {COLUMNS} FROM todos WHERE id = $1 {lock}"), &[&id]).await?.map(|r| from_row(&r)))
}

/// Applies a patch (see [`patch_todo`]) inside `c`'s transaction; `Ok(None)` for an unknown id.
async fn update(c: &impl GenericClient, id: i64, p: &TodoPatch) -> Result<Result<Option<Todo>, String>, StoreError> {
    let Some(mut t) = get(c, id, "FOR UPDATE").await? else { return Ok(Ok(None)) };
    let now = now_ts();
    if let Err(e) = patch_todo(&mut t, p, &now) {
        return Ok(Err(e));
    }
    let row = c
        .query_one(
            &format!(
                "UPDATE todos SET title = $2, body = $3, priority = $4, status = $5, assignee = $6, updated_at = $7, closed_at = $8
                 WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &t.title, &t.body, &t.priority, &t.status, &t.assignee, &now, &t.closed_at],
        )
        .await?;
    Ok(Ok(Some(from_row(&row))))
}
