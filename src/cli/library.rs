//! `skills` and `docs`: browse the markdown embedded in the binary.

use clap::{Args, Subcommand};
use serde_json::json;

use super::{CliResult, print_json};
use crate::library::{Shelf, library};

/// Browse the skills shipped in this binary (markdown with front matter).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi skills list\n  scitex-orochi skills show agent-health-check\n  scitex-orochi skills search 'deploy agent'\n  scitex-orochi skills export ~/.claude/skills\n\nExit codes: 0 ok, 1 unknown name (nearest names suggested) or write failure, 2 usage.")]
pub struct SkillsArgs {
    #[command(subcommand)]
    pub action: Action,
}

/// Browse the documentation shipped in this binary.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi docs list\n  scitex-orochi docs show protocol\n  scitex-orochi docs search 'close code' --json\n\nExit codes: 0 ok, 1 unknown name (nearest names suggested) or write failure, 2 usage.")]
pub struct DocsArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// One line per entry: name and description.
    #[command(after_help = "Examples:\n  scitex-orochi skills list --json\n\nExit codes: 0 ok, 2 usage.")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print one entry's markdown.
    #[command(after_help = "Examples:\n  scitex-orochi docs show configuration\n\nExit codes: 0 ok, 1 unknown name, 2 usage.")]
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Ranked, typo-tolerant search over names, tags, descriptions and text.
    #[command(after_help = "Examples:\n  scitex-orochi skills search etiquete\n\nExit codes: 0 ok (also when nothing matches), 2 usage.")]
    Search {
        query: String,
        #[arg(long)]
        json: bool,
    },
    /// Write every entry into DIR (skills as DIR/<name>/SKILL.md, docs as DIR/<name>.md).
    #[command(after_help = "Examples:\n  scitex-orochi skills export ~/.claude/skills\n  scitex-orochi docs export ./orochi-docs --dry-run\n\nExit codes: 0 ok, 1 write failure, 2 usage.")]
    Export {
        dir: std::path::PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(shelf: Shelf, action: Action) -> CliResult {
    let lib = library(shelf);
    match action {
        Action::List { json } => {
            if json {
                print_json(&lib.entries());
            } else {
                let width = lib.entries().iter().map(|e| e.name.len()).max().unwrap_or(0);
                for e in lib.entries() {
                    println!("{:<width$}  {}", e.name, e.description);
                }
            }
        }
        Action::Show { name, json } => {
            let e = lib.get(&name)?;
            if json {
                print_json(&json!({"name": e.name, "description": e.description, "tags": e.tags, "markdown": e.body}));
            } else {
                println!("{}", e.body.trim_end());
            }
        }
        Action::Search { query, json } => {
            let hits = lib.search(&query)?;
            if json {
                let rows: Vec<_> = hits.iter().map(|(s, e)| json!({"name": e.name, "description": e.description, "score": s})).collect();
                print_json(&rows);
            } else if hits.is_empty() {
                println!("nothing matches {query:?}");
            } else {
                for (_, e) in hits {
                    println!("{}  {}", e.name, e.description);
                }
            }
        }
        Action::Export { dir, json, dry_run } => {
            if dry_run {
                let names: Vec<&str> = lib.entries().iter().map(|e| e.name.as_str()).collect();
                if json { print_json(&json!({"action": "export", "dir": dir, "entries": names})) } else { println!("[dry-run] would write {} {} into {}", names.len(), shelf.label(), dir.display()) }
                return Ok(());
            }
            let written = lib.export(&dir)?;
            if json { print_json(&written) } else { println!("wrote {} {} into {}", written.len(), shelf.label(), dir.display()) }
        }
    }
    Ok(())
}
