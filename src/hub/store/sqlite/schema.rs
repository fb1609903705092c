//! Tables and migrations. `messages` keeps the reference's columns so an existing Python hub
//! database opens here; `seq` is added and backfilled per channel in id order.

use rusqlite::Connection;
use rusqlite::config::DbConfig;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    content TEXT NOT NULL,
    mentions TEXT,
    metadata TEXT,
    sender_type TEXT NOT NULL DEFAULT 'human'
);
CREATE TABLE IF NOT EXISTS channel_members (
    agent TEXT NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (agent, channel)
);
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    description TEXT DEFAULT '',
    created_at TEXT,
    settings TEXT DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS workspace_channels (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    PRIMARY KEY (workspace_id, channel)
);
CREATE TABLE IF NOT EXISTS workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_name TEXT NOT NULL,
    role TEXT DEFAULT 'member',
    joined_at TEXT,
    PRIMARY KEY (workspace_id, agent_name)
);
CREATE TABLE IF NOT EXISTS workspace_invites (
    token TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role TEXT DEFAULT 'member',
    created_by TEXT,
    created_at TEXT,
    expires_at TEXT,
    max_uses INTEGER DEFAULT 0,
    use_count INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reactions (
    message_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    reactor TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (message_id, emoji, reactor)
);
CREATE TABLE IF NOT EXISTS agent_health (
    workspace_id TEXT NOT NULL DEFAULT '',
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    ts TEXT NOT NULL,
    PRIMARY KEY (workspace_id, agent)
);
CREATE TABLE IF NOT EXISTS push_subscriptions (
    endpoint TEXT PRIMARY KEY,
    keys_p256dh TEXT NOT NULL,
    keys_auth TEXT NOT NULL,
    user_agent TEXT,
    created_at TEXT,
    owner TEXT NOT NULL DEFAULT '',
    channels TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS workspace_token_hashes (
    token_hash TEXT PRIMARY KEY,
    token_hint TEXT NOT NULL,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    label TEXT DEFAULT '',
    created_at TEXT
);
CREATE TABLE IF NOT EXISTS todos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    priority TEXT NOT NULL DEFAULT 'medium',
    status TEXT NOT NULL DEFAULT 'open',
    assignee TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_todos_status ON todos(status);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    agent TEXT NOT NULL COLLATE NOCASE,
    message_id INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_inbox_agent ON inbox(workspace_id, agent, id);
CREATE TABLE IF NOT EXISTS inbox_dropped (
    workspace_id TEXT NOT NULL,
    agent TEXT NOT NULL COLLATE NOCASE,
    dropped INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, agent)
);
CREATE TABLE IF NOT EXISTS key_marks (
    at INTEGER PRIMARY KEY,
    last_id INTEGER NOT NULL
);
";

pub fn configure(conn: &Connection, sync: &str) -> rusqlite::Result<()> {
    configure_reader(conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// What every connection needs, the read-only ones too.
pub fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    // First, so a second hub opening the same file waits for locks instead of failing.
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // Plans that never depend on bound values: otherwise a cached statement whose `LIMIT ?`
    // changes is compiled again at its next step (measured: 9 % of the hub's CPU while a
    // restarted fleet replayed its history).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // The statements of all domains, so none is prepared again after an eviction.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Distinct statements a connection keeps prepared.
const STATEMENT_CACHE: usize = 128;

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    let has_seq: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'seq'")?
        .exists([])?;
    if !has_seq {
        conn.execute_batch(
            "ALTER TABLE messages ADD COLUMN seq INTEGER;
             UPDATE messages SET seq = (SELECT r.rn FROM
                 (SELECT id, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY id) AS rn FROM messages) r
                 WHERE r.id = messages.id);",
        )?;
    }
    conn.execute_batch("CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_channel_seq ON messages(channel, seq);")?;
    add_audience(conn)?;
    add_client_key(conn)?;
    // The reference's indexes on `channel` (a prefix of the one above), `sender` and `ts` serve
    // no query here (every read is by channel and seq, or by id), and each costs a b-tree insert
    // per message.
    conn.execute_batch(
        "DROP INDEX IF EXISTS idx_messages_channel; DROP INDEX IF EXISTS idx_messages_sender;
         DROP INDEX IF EXISTS idx_messages_ts;",
    )?;
    // Reactions look messages up by id.
    conn.execute_batch("CREATE INDEX IF NOT EXISTS idx_messages_msg_id ON messages(msg_id);")?;
    claim_names(conn)?;
    own_by_workspace(conn)?;
    super::permissions::migrate(conn)?;
    Ok(())
}

/// Names belong to the workspace that first used them (see `hub::names`). A database from
/// before claims existed starts with the names the admin placed in a workspace
/// (`workspace_members`, oldest first, the default workspace's as the admin's `""`); every other
/// name already seen (old messages, memberships) is claimed by whoever uses it first. Names
/// compare without ASCII case, as `hub::names` does.
fn claim_names(conn: &Connection) -> rusqlite::Result<()> {
    let exists = conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'name_claims'")?.exists([])?;
    if exists {
        return Ok(());
    }
    conn.execute_batch(
        "CREATE TABLE name_claims (
             name TEXT PRIMARY KEY COLLATE NOCASE,
             workspace_id TEXT NOT NULL,
             claimed_at TEXT NOT NULL
         );
         CREATE INDEX idx_name_claims_workspace ON name_claims(workspace_id);
         INSERT OR IGNORE INTO name_claims (name, workspace_id, claimed_at)
             SELECT m.agent_name,
                    CASE WHEN w.name = 'default' THEN '' ELSE m.workspace_id END,
                    COALESCE(m.joined_at, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
             FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
             ORDER BY m.joined_at, m.rowid;",
    )
}

/// Media, todos and push subscriptions record the workspace that created them; rows from
/// before are the admin's (`""`), which is who could create them then.
fn own_by_workspace(conn: &Connection) -> rusqlite::Result<()> {
    for table in ["todos", "push_subscriptions"] {
        let has: bool = conn
            .prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'workspace_id'"))?
            .exists([])?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';"))?;
        }
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS media_files (
             path TEXT PRIMARY KEY,
             workspace_id TEXT NOT NULL,
             created_at TEXT NOT NULL
         );",
    )
}

/// Adds `client_key` (the sender's idempotency key while it lives, see `keys`), unique per sender.
fn add_client_key(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'client_key'")?.exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN client_key TEXT;")?;
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_messages_client_key ON messages(sender, client_key) WHERE client_key IS NOT NULL;",
    )
}

/// Adds `audience` (who may read a row; NULL: everyone). Rows stored before it get what the
/// routing then implied where that is known: with no workspace besides the default one, every
/// agent was an admin-token agent, so registered agents' rows (`sender_type = 'agent'`) reached
/// the admin's agents only (`''`) and the rest everyone. Otherwise an old row's workspace is
/// unknown and it stays readable by everyone.
fn add_audience(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = 'audience'")?.exists([])?;
    if has {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch("ALTER TABLE messages ADD COLUMN audience TEXT;")?;
    let only_default: bool = !tx
        .prepare("SELECT 1 FROM workspaces WHERE name != ?1")?
        .exists([crate::hub::store::records::DEFAULT_NAME])?;
    if only_default {
        tx.execute("UPDATE messages SET audience = '' WHERE sender_type = 'agent'", [])?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database from before ownership: members become claims, old rows the admin's.
    #[test]
    fn existing_databases_gain_claims_and_owners() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE todos (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, body TEXT NOT NULL DEFAULT '',
                 priority TEXT NOT NULL DEFAULT 'medium', status TEXT NOT NULL DEFAULT 'open', assignee TEXT NOT NULL DEFAULT '',
                 created_by TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_at TEXT);
             INSERT INTO todos (title, created_at, updated_at) VALUES ('old', 't', 't');
             CREATE TABLE workspaces (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT DEFAULT '',
                 created_at TEXT, settings TEXT DEFAULT '{}');
             CREATE TABLE workspace_members (workspace_id TEXT NOT NULL, agent_name TEXT NOT NULL, role TEXT DEFAULT 'member',
                 joined_at TEXT, PRIMARY KEY (workspace_id, agent_name));
             INSERT INTO workspaces (id, name) VALUES ('d-id', 'default'), ('lab-id', 'lab');
             INSERT INTO workspace_members VALUES ('d-id', 'head', 'member', '1'), ('lab-id', 'worker', 'member', '2'),
                 ('lab-id', 'head', 'member', '3'), ('lab-id', 'HEAD', 'member', '4');",
        )
        .unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        let claims: Vec<(String, String)> = c
            .prepare("SELECT name, workspace_id FROM name_claims ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(claims, [("head".into(), String::new()), ("worker".into(), "lab-id".into())]);
        let owner: String = c.query_row("SELECT workspace_id FROM todos", [], |r| r.get(0)).unwrap();
        assert_eq!(owner, "");
        assert!(c.prepare("SELECT workspace_id FROM push_subscriptions").is_ok());
        assert!(c.prepare("SELECT path, workspace_id FROM media_files").is_ok());
}

    /// A database as it was before `audience`: the reference's columns and `seq`.
    fn old_database(extra_workspace: bool) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA.replace("sender_type TEXT NOT NULL DEFAULT 'human'", "sender_type TEXT NOT NULL DEFAULT 'human', seq INTEGER").as_str())
            .unwrap();
        c.execute("INSERT INTO workspaces (id, name) VALUES ('w0', 'default')", []).unwrap();
        if extra_workspace {
            c.execute("INSERT INTO workspaces (id, name) VALUES ('w1', 'team')", []).unwrap();
        }
        for (i, kind) in ["agent", "human"].iter().enumerate() {
            c.execute(
                "INSERT INTO messages (msg_id, ts, channel, sender, content, sender_type, seq) VALUES (?1, 't', '#g', 's', 'x', ?2, ?3)",
                rusqlite::params![format!("m{i}"), kind, i as i64 + 1],
            )
            .unwrap();
        }
        c
    }

    fn audiences(c: &Connection) -> Vec<Option<String>> {
        c.prepare("SELECT audience FROM messages ORDER BY id").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn old_rows_get_the_audience_the_old_routing_implied() {
        let c = old_database(false);
        migrate(&c).unwrap();
        assert_eq!(audiences(&c), [Some(String::new()), None], "admin agents' rows to the admin's agents, the rest to everyone");
        migrate(&c).unwrap();
        assert_eq!(audiences(&c), [Some(String::new()), None], "migrating again changes nothing");
    }

    #[test]
    fn old_rows_of_a_multi_workspace_database_stay_readable_by_everyone() {
        let c = old_database(true);
        migrate(&c).unwrap();
        assert_eq!(audiences(&c), [None, None]);
    }
}
