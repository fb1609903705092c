//! `migrate-db`: copy a SQLite database into an empty PostgreSQL one.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{CliError, CliResult, print_json};
use crate::config::{DbLocation, PostgresUrl};
use crate::hub::store::migrate::{self, MigrateError, Source};

/// Exit code when the target database already holds rows.
const EXIT_NOT_EMPTY: u8 = 3;
/// Exit code when the copy did not verify (nothing was committed).
const EXIT_VERIFY: u8 = 4;

/// Copy a SQLite database (every table, ids and seq as they are) into an empty PostgreSQL one.
#[derive(Args, Debug)]
#[command(after_help = "Stop the hub first: rows written during the copy would fail the verification.

Examples:
  scitex-orochi migrate-db --from orochi-data/orochi.db --to postgres://orochi@/orochi?host=/run/postgresql --dry-run
  scitex-orochi migrate-db --from orochi-data/orochi.db --to \"$PG_URL\" --yes
  scitex-orochi migrate-db --from orochi.db --to \"$PG_URL\" --yes --json

The copy runs in one transaction: the target's schema is created, every table copied, each
channel's head set, then rows per table and heads per channel are checked against the source
before the commit. Then start the hub with SCITEX_OROCHI_DB set to the URL. The generated admin
token and push keys (files beside the SQLite database) are not copied: keep them through
SCITEX_OROCHI_ADMIN_TOKEN and SCITEX_OROCHI_VAPID_*, or let the hub generate new ones.

Exit codes: 0 copied and verified, 1 failure, 2 usage, 3 the target is not empty,
4 verification failed (nothing committed).")]
pub struct MigrateDbArgs {
    /// The SQLite database file (opened read-only).
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The PostgreSQL database: postgres://user[:password]@host[:port]/db (or ?host=/socket/dir).
    #[arg(long, value_name = "URL", value_parser = parse_target)]
    pub to: PostgresUrl,
    /// Say what would be copied (tables and row counts, whether the target is empty); write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before copying.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
}

fn parse_target(raw: &str) -> Result<PostgresUrl, String> {
    match DbLocation::parse(raw) {
        Ok(DbLocation::Postgres(url)) => Ok(url),
        Ok(DbLocation::File(_)) => Err("expected a postgres:// or postgresql:// URL".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn fail(e: MigrateError) -> CliError {
    let code = match e {
        MigrateError::NotEmpty(_) => EXIT_NOT_EMPTY,
        MigrateError::Verify(_) => EXIT_VERIFY,
        _ => 1,
    };
    CliError::Exit { code, message: super::with_causes(&e) }
}

pub async fn migrate_db(a: MigrateDbArgs) -> CliResult {
    if !a.from.is_file() {
        return Err(CliError::Exit { code: 1, message: format!("no SQLite database at {}", a.from.display()) });
    }
    let src = Source::open(&a.from).map_err(fail)?;
    let counts = src.counts().map_err(fail)?;
    let mut pg = migrate::connect(&a.to).await.map_err(fail)?;
    if a.dry_run {
        let found = migrate::target_rows(&pg).await.map_err(fail)?;
        if a.json {
            print_json(&json!({"dry_run": true, "from": a.from, "to": a.to.to_string(), "tables": table_json(&counts), "target_rows": table_json(&found)}));
        } else {
            println!("[dry-run] would copy {} into {}:", a.from.display(), a.to);
            for (t, n) in &counts {
                println!("  {t:<24} {n:>10} rows");
            }
            println!("  channel heads set from the copied messages");
            if !found.is_empty() {
                println!("the target is not empty: migrate-db would refuse it");
            }
        }
        return if found.is_empty() { Ok(()) } else { Err(fail(MigrateError::NotEmpty(found))) };
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let question = format!("Copy {total} rows from {} into {}?", a.from.display(), a.to);
    if !a.yes && !super::confirm(&question)? {
        return Err(CliError::NotConfirmed);
    }
    let bars = Bars::new(!a.json && std::io::stderr().is_terminal());
    let copied = migrate::copy(&src, &mut pg, &mut |t, done, total| bars.show(t, done, total)).await.map_err(fail)?;
    bars.finish();
    if a.json {
        print_json(&json!({"from": a.from, "to": a.to.to_string(), "tables": table_json(&copied.tables), "channels": copied.channels, "verified": true}));
    } else {
        println!("copied {total} rows in {} tables; {} channel heads set; counts and heads verified", copied.tables.len(), copied.channels);
        println!("next: start the hub with SCITEX_OROCHI_DB set to the URL");
    }
    Ok(())
}

fn table_json<T: AsRef<str>>(rows: &[(T, u64)]) -> serde_json::Value {
    rows.iter().map(|(t, n)| (t.as_ref().to_string(), json!(n))).collect::<serde_json::Map<_, _>>().into()
}

/// One progress bar per table, on a terminal only.
struct Bars {
    on: bool,
    multi: indicatif::MultiProgress,
    current: std::cell::RefCell<Option<(String, indicatif::ProgressBar)>>,
}

impl Bars {
    fn new(on: bool) -> Bars {
        Bars { on, multi: indicatif::MultiProgress::new(), current: Default::default() }
    }

    fn show(&self, table: &str, done: u64, total: u64) {
        if !self.on {
            return;
        }
        let mut current = self.current.borrow_mut();
        if current.as_ref().is_none_or(|(t, _)| t != table) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let style = indicatif::ProgressStyle::with_template("{msg:<24} {bar:30} {pos}/{len} rows").expect("valid template");
            let bar = self.multi.add(indicatif::ProgressBar::new(total).with_style(style).with_message(table.to_string()));
            *current = Some((table.to_string(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some((_, bar)) = self.current.borrow_mut().take() {
            bar.finish();
        }
    }
}
