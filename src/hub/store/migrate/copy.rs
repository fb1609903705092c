//! The copy itself: one transaction on the target, table by table in batches, then heads,
//! identity counters and the checks.

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};

use super::{MigrateError, Source, TABLES, Table, target_rows};
use crate::hub::store::postgres::schema;

/// Rows per INSERT at most; fewer for wide tables, under PostgreSQL's 65,535 parameters.
const BATCH_ROWS: usize = 1000;

/// What a migration copied (and verified).
#[derive(Debug)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64)>,
    /// Channels whose head was set and verified.
    pub channels: usize,
}

/// One target column.
struct Column {
    name: String,
    /// `text` or `bigint`, as the PostgreSQL schema declares it.
    pg_type: String,
    identity: bool,
}

/// Copies every table of `src` into the empty database behind `pg` (its schema is created or
/// brought up to date first). `progress(table, rows copied, rows in the table)` is called
/// after each batch.
pub async fn copy(src: &Source, pg: &mut Client, progress: &mut dyn FnMut(&str, u64, u64)) -> Result<Copied, MigrateError> {
    let counts = src.counts()?;
    schema::migrate(pg).await?;
    let tx = pg.transaction().await?;
    // A hub starting on the target meanwhile waits for the commit (its migration takes this lock).
    tx.execute("SELECT pg_advisory_xact_lock(7170236)", &[]).await?;
    let found = target_rows(&tx).await?;
    if !found.is_empty() {
        return Err(MigrateError::NotEmpty(found));
    }
    for (t, &(_, total)) in TABLES.iter().zip(&counts) {
        let columns = target_columns(&tx, t, src).await?;
        copy_table(src, &tx, t, &columns, total, progress).await?;
        for c in columns.iter().filter(|c| c.identity) {
            // The next generated id follows the copied ones.
            tx.execute(
                &format!("SELECT setval(pg_get_serial_sequence('{0}', '{1}'), COALESCE(MAX({1}), 0) + 1, false) FROM {0}", t.name, c.name),
                &[],
            )
            .await?;
        }
    }
    tx.execute("INSERT INTO channel_heads (channel, seq) SELECT channel, MAX(seq) FROM messages GROUP BY channel", &[]).await?;
    let channels = verify(src, &tx, &counts).await?;
    tx.commit().await?;
    Ok(Copied { tables: counts, channels })
}

/// The target's columns of `t`, checked against the source's: the same set, apart from the
/// column that takes SQLite's `rowid`.
async fn target_columns(tx: &Transaction<'_>, t: &Table, src: &Source) -> Result<Vec<Column>, MigrateError> {
    let rows = tx
        .query(
            "SELECT column_name::text, data_type::text, is_identity = 'YES' FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&t.name],
        )
        .await?;
    let columns: Vec<Column> = rows.iter().map(|r| Column { name: r.get(0), pg_type: r.get(1), identity: r.get(2) }).collect();
    let sqlite = src.columns(t)?;
    let mismatch = columns
        .iter()
        .map(|c| &c.name)
        .find(|n| !sqlite.contains(n) && t.rowid_column != Some(n.as_str()))
        .or_else(|| sqlite.iter().find(|n| !columns.iter().any(|c| &c.name == *n)));
    if let Some(column) = mismatch {
        return Err(MigrateError::Columns { table: t.name, column: column.clone(), sqlite });
    }
    Ok(columns)
}

async fn copy_table(
    src: &Source,
    tx: &Transaction<'_>,
    t: &Table,
    columns: &[Column],
    total: u64,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<(), MigrateError> {
    let select: Vec<&str> =
        columns.iter().map(|c| if t.rowid_column == Some(c.name.as_str()) { "rowid" } else { c.name.as_str() }).collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let batch = BATCH_ROWS.min(60_000 / columns.len());
    let read = format!("SELECT rowid, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT {batch}", select.join(", "), t.name);
    progress(t.name, 0, total);
    let (mut after, mut done) = (i64::MIN, 0u64);
    loop {
        let rows = read_batch(src, &read, after, columns.len())?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(rows.len() * columns.len());
        for (_, values) in &rows {
            for (c, v) in columns.iter().zip(values) {
                params.push(convert(t, c, v)?);
            }
        }
        let tuples: Vec<String> = (0..rows.len())
            .map(|r| format!("({})", (1..=columns.len()).map(|i| format!("${}", r * columns.len() + i)).collect::<Vec<_>>().join(", ")))
            .collect();
        let insert = format!("INSERT INTO {} ({}) VALUES {}", t.name, names.join(", "), tuples.join(", "));
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        tx.execute(&insert, &refs).await?;
        done += rows.len() as u64;
        progress(t.name, done, total);
    }
    Ok(())
}

/// One batch of `(rowid, values)` after `after`, in rowid order.
fn read_batch(src: &Source, sql: &str, after: i64, width: usize) -> Result<Vec<(i64, Vec<Value>)>, MigrateError> {
    let mut st = src.conn.prepare_cached(sql).map_err(src.fail())?;
    let rows = st
        .query_map([after], |r| Ok((r.get(0)?, (1..=width).map(|i| r.get(i)).collect::<Result<Vec<Value>, _>>()?)))
        .map_err(src.fail())?;
    rows.collect::<Result<_, _>>().map_err(src.fail())
}

/// A SQLite value as the target column's type (SQLite's columns are typed loosely).
fn convert(t: &Table, c: &Column, v: &Value) -> Result<Box<dyn ToSql + Sync + Send>, MigrateError> {
    let bad = || MigrateError::Value { table: t.name, column: c.name.clone(), value: kind(v), pg_type: c.pg_type.clone() };
    Ok(match (c.pg_type.as_str(), v) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("bigint", Value::Integer(i)) => Box::new(Some(*i)),
        ("bigint", Value::Text(s)) => Box::new(Some(s.trim().parse::<i64>().map_err(|_| bad())?)),
        ("text", Value::Null) => Box::new(None::<String>),
        ("text", Value::Text(s)) => Box::new(Some(s.clone())),
        ("text", Value::Integer(i)) => Box::new(Some(i.to_string())),
        ("text", Value::Real(f)) => Box::new(Some(f.to_string())),
        ("text", Value::Blob(b)) => Box::new(Some(String::from_utf8(b.clone()).map_err(|_| bad())?)),
        _ => return Err(bad()),
    })
}

/// What a value is, without the value (a column may hold a secret).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Integer(_) => "an integer",
        Value::Real(_) => "a real number",
        Value::Text(_) => "a text",
        Value::Blob(_) => "a blob",
    }
}

/// Rows per table and each channel's head, against the source; returns how many channels.
async fn verify(src: &Source, tx: &Transaction<'_>, counts: &[(&'static str, u64)]) -> Result<usize, MigrateError> {
    let mut wrong = Vec::new();
    for &(table, expected) in counts {
        let n: i64 = tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await?.get(0);
        if n as u64 != expected {
            wrong.push(format!("{table}: {n} rows, the source has {expected}"));
        }
    }
    let heads = src.heads()?;
    let target: Vec<(String, i64)> = tx
        .query("SELECT h.channel, h.seq FROM channel_heads h ORDER BY h.channel COLLATE \"C\"", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if target != heads {
        let differs = heads.iter().filter(|h| !target.contains(h)).map(|(c, s)| format!("{c} (head {s} in the source)"));
        wrong.push(format!("channel heads differ: {}", differs.collect::<Vec<_>>().join(", ")));
    }
    if wrong.is_empty() { Ok(heads.len()) } else { Err(MigrateError::Verify(wrong)) }
}
