//! Workspaces, their channels, members, invites and hashed tokens (the shared rules in
//! [`crate::hub::store::records`]).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::PgStore;
use crate::hub::store::StoreError;
use crate::hub::store::backend::Workspaces;
use crate::hub::store::records::{DEFAULT_NAME, InviteRow, IssuedToken, NewInvite, TokenRef, TokenRole, WorkspaceRow, token_json};
use crate::protocol::now_ts;

#[async_trait]
impl Workspaces for PgStore {
    async fn workspace(&self, id: String) -> Result<Option<Value>, StoreError> {
        get(&self.conn().await?, &id).await
    }

    async fn workspaces(&self) -> Result<Vec<Value>, StoreError> {
        let c = self.conn().await?;
        let mut out = Vec::new();
        for r in c.query("SELECT id FROM workspaces ORDER BY name", &[]).await? {
            let id: String = r.get(0);
            if let Some(w) = get(&c, &id).await? {
                out.push(w);
            }
        }
        Ok(out)
    }

    async fn workspace_exists(&self, id: String) -> Result<bool, StoreError> {
        Ok(self.conn().await?.query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&id]).await?.is_some())
    }

    async fn create_workspace(&self, name: String, description: String, channels: Vec<String>) -> Result<Option<(String, String)>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = tx
            .execute(
                "INSERT INTO workspaces (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
                &[&id, &name, &description, &now_ts()],
            )
            .await;
        match inserted {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
            other => other?,
        };
        tx.execute(
            "INSERT INTO workspace_channels (workspace_id, channel) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            &[&id, &channels],
        )
        .await?;
        let token = insert_token(&tx, &id, "default", &TokenRole::Member).await?;
        tx.commit().await?;
        Ok(Some((id, token)))
    }

    async fn delete_workspace(&self, id: String) -> Result<Option<Vec<String>>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let hashes: Vec<String> = tx
            .query("SELECT token_hash FROM workspace_token_hashes WHERE workspace_id = $1", &[&id])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let n = tx.execute("DELETE FROM workspaces WHERE id = $1 AND name != $2", &[&id, &DEFAULT_NAME]).await?;
        tx.commit().await?;
        Ok((n > 0).then_some(hashes))
    }

    async fn workspace_invites(&self, id: String) -> Result<Vec<Value>, StoreError> {
        let sql = format!("SELECT {INVITE} FROM workspace_invites WHERE workspace_id = $1 ORDER BY created_at DESC");
        Ok(self.conn().await?.query(&sql, &[&id]).await?.iter().map(|r| invite_row(r, 0).to_json()).collect())
    }

    async fn create_invite(&self, workspace_id: String, invite: NewInvite) -> Result<Value, StoreError> {
        let i = InviteRow::new(&invite);
        self.conn()
            .await?
            .execute(
                &format!("INSERT INTO workspace_invites (workspace_id, {INVITE}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                &[&workspace_id, &i.token, &i.role, &i.created_by, &i.created_at, &i.expires_at, &i.max_uses, &i.use_count],
            )
            .await?;
        Ok(i.created_json(&workspace_id))
    }

    async fn redeem_invite(&self, token: String, agent: String) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let sql = format!("SELECT workspace_id, {INVITE} FROM workspace_invites WHERE token = $1 FOR UPDATE");
        let row = tx.query_opt(&sql, &[&token]).await?.map(|r| (r.get::<_, String>(0), invite_row(&r, 1)));
        let Some((ws, invite)) = row.filter(|(_, i)| i.usable()) else { return Ok(None) };
        tx.execute("UPDATE workspace_invites SET use_count = use_count + 1 WHERE token = $1", &[&token]).await?;
        upsert_member(&tx, &ws, &agent, &invite.member_role()).await?;
        tx.commit().await?;
        Ok(Some(ws))
    }

    async fn token_workspace(&self, hash: String) -> Result<Option<String>, StoreError> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached("SELECT workspace_id FROM workspace_token_hashes WHERE token_hash = $1").await?;
        Ok(c.query_opt(&stmt, &[&hash]).await?.map(|r| r.get(0)))
    }

    async fn workspace_name(&self, id: String) -> Result<Option<String>, StoreError> {
        Ok(self.conn().await?.query_opt("SELECT name FROM workspaces WHERE id = $1", &[&id]).await?.map(|r| r.get(0)))
    }

    async fn add_workspace_channel(&self, id: String, channel: String) -> Result<(), StoreError> {
        self.conn()
            .await?
            .execute("INSERT INTO workspace_channels (workspace_id, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING", &[&id, &channel])
            .await?;
        Ok(())
    }

    async fn add_workspace_member(&self, id: String, agent: String, role: String) -> Result<(), StoreError> {
        upsert_member(&self.conn().await?, &id, &agent, &role).await
    }

    async fn revoke_invite(&self, id: String, invite: String) -> Result<bool, StoreError> {
        let n = self.conn().await?.execute("DELETE FROM workspace_invites WHERE token = $1 AND workspace_id = $2", &[&invite, &id]).await?;
        Ok(n > 0)
    }

    async fn workspace_tokens(&self, id: String) -> Result<Vec<Value>, StoreError> {
        let rows = self
            .conn()
            .await?
            .query(
                "SELECT token_hash, token_hint, label, created_at, role, person FROM workspace_token_hashes
                 WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC",
                &[&id],
            )
            .await?;
        Ok(rows.iter().map(|r| token_json(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect())
    }

    async fn create_token(&self, workspace_id: String, label: String, role: TokenRole) -> Result<String, StoreError> {
        insert_token(&self.conn().await?, &workspace_id, &label, &role).await
    }

    async fn revoke_token(&self, workspace_id: String, token_or_id: String) -> Result<Vec<String>, StoreError> {
        let (condition, key) = match TokenRef::parse(&token_or_id) {
            Some(TokenRef::Hash(h)) => ("token_hash = $2", h),
            Some(TokenRef::IdPrefix(p)) => ("substr(token_hash, 1, 16) = $2", p),
            None => return Ok(Vec::new()),
        };
        let sql = format!("DELETE FROM workspace_token_hashes WHERE workspace_id = $1 AND {condition} RETURNING token_hash");
        Ok(self.conn().await?.query(&sql, &[&workspace_id, &key]).await?.iter().map(|r| r.get(0)).collect())
    }

    async fn ensure_default_workspace(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // Two hubs starting at once on one database create it once.
        tx.execute("SELECT pg_advisory_xact_lock(7170237)", &[]).await?;
        if tx.query_opt("SELECT 1 FROM workspaces WHERE name = $1", &[&DEFAULT_NAME]).await?.is_none() {
            let id = uuid::Uuid::new_v4().to_string();
            tx.execute(
                "INSERT INTO workspaces (id, name, description, created_at) VALUES ($1, $2, 'Default workspace', $3)",
                &[&id, &DEFAULT_NAME, &now_ts()],
            )
            .await?;
            tx.execute("INSERT INTO workspace_channels (workspace_id, channel) VALUES ($1, '#general')", &[&id]).await?;
        }
        Ok(tx.commit().await?)
    }
}

/// The workspace object of the reference, if it exists.
async fn get(c: &impl GenericClient, id: &str) -> Result<Option<Value>, StoreError> {
    let Some(r) = c.query_opt("SELECT id, name, description, settings, created_at FROM workspaces WHERE id = $1", &[&id]).await? else {
        return Ok(None);
    };
    let channels = c.query("SELECT channel FROM workspace_channels WHERE workspace_id = $1 ORDER BY channel", &[&id]).await?;
    let members =
        c.query("SELECT agent_name, role FROM workspace_members WHERE workspace_id = $1 ORDER BY agent_name", &[&id]).await?;
    let row = WorkspaceRow {
        id: r.get(0),
        name: r.get(1),
        description: r.get(2),
        settings: r.get(3),
        created_at: r.get(4),
        channels: channels.iter().map(|r| r.get(0)).collect(),
        members: members.iter().map(|r| (r.get(0), r.get::<_, Option<String>>(1).unwrap_or_default())).collect(),
    };
    Ok(Some(row.to_json()))
}

async fn insert_token(c: &impl GenericClient, workspace_id: &str, label: &str, role: &TokenRole) -> Result<String, StoreError> {
    let issued = IssuedToken::issue();
    let (role, person) = role.columns();
    c.execute(
        "INSERT INTO workspace_token_hashes (token_hash, token_hint, workspace_id, label, created_at, role, person)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&issued.hash, &issued.hint, &workspace_id, &label, &now_ts(), &role, &person],
    )
    .await?;
    Ok(issued.token)
}

/// Adds or updates a member with its role.
async fn upsert_member(c: &impl GenericClient, workspace_id: &str, agent: &str, role: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO workspace_members (workspace_id, agent_name, role, joined_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, agent_name) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at",
        &[&workspace_id, &agent, &role, &now_ts()],
    )
    .await?;
    Ok(())
}

const INVITE: &str = "token, role, created_by, created_at, expires_at, max_uses, use_count";

/// The [`INVITE`] columns from `at` on.
fn invite_row(r: &Row, at: usize) -> InviteRow {
    InviteRow {
        token: r.get(at),
        role: r.get(at + 1),
        created_by: r.get(at + 2),
        created_at: r.get(at + 3),
        expires_at: r.get(at + 4),
        max_uses: r.get::<_, Option<i64>>(at + 5).unwrap_or(0),
        use_count: r.get::<_, Option<i64>>(at + 6).unwrap_or(0),
    }
}
