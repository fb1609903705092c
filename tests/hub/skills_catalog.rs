//! The skills catalog against the product description: every sub-skill it lists ships in the
//! binary, is found by `skills search`, and is linked from the index skill.

use crate::library::{cli, json_out};

/// The nineteen sub-skills the product description lists. It calls the principles
/// "orochi-operating-principles" but links them to fleet-operating-principles.md, the name
/// they ship under; a search for the product's name must still find them (below).
const SUB_SKILLS: [&str; 19] = [
    "agent-deployment",
    "agent-health-check",
    "agent-self-evolution",
    "pane-state-patterns",
    "permission-prompt-patterns",
    "agent-types",
    "fleet-operating-principles",
    "skill-manager-architecture",
    "cli-conventions",
    "env-vars",
    "python-venv-convention",
    "quality-checks",
    "connectivity-probe",
    "hpc-etiquette",
    "spartan-hpc-startup-pattern",
    "dashboard-features",
    "compute-resources",
    "scientific-figure-standards",
    "skills-public-vs-private",
];

/// Words a user would search with for each subject, and the skill that must come first.
const TOPICS: [(&str, &str); 8] = [
    ("lesson evidence", "agent-self-evolution"),
    ("daemon export skills", "skill-manager-architecture"),
    ("venv symlink", "python-venv-convention"),
    ("smoke test", "quality-checks"),
    ("ssh bash -lc", "connectivity-probe"),
    ("lmod module chain", "spartan-hpc-startup-pattern"),
    ("error bars statistics", "scientific-figure-standards"),
    ("orochi-operating-principles", "fleet-operating-principles"),
];

#[tokio::test]
async fn every_sub_skill_of_the_product_description_ships_is_found_and_is_indexed() {
    let list = json_out(&cli(&["skills", "list", "--json"]).await);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let missing: Vec<&str> = SUB_SKILLS.into_iter().filter(|n| !names.contains(n)).collect();
    assert!(missing.is_empty(), "not in `skills list --json`: {missing:?}");
    for e in list.as_array().unwrap().iter().filter(|e| SUB_SKILLS.contains(&e["name"].as_str().unwrap())) {
        assert!(!e["tags"].as_array().unwrap().is_empty(), "no tags in the front matter: {e}");
    }

    let index = json_out(&cli(&["skills", "show", "scitex-orochi", "--json"]).await);
    let index = index["markdown"].as_str().unwrap();
    let unlisted: Vec<&str> = SUB_SKILLS.into_iter().filter(|n| !index.contains(&format!("| `{n}` |"))).collect();
    assert!(unlisted.is_empty(), "not in the index skill's table: {unlisted:?}");

    for name in SUB_SKILLS {
        let hits = json_out(&cli(&["skills", "search", name, "--json"]).await);
        assert_eq!(hits[0]["name"], name, "searching its own name: {hits}");
    }
    for (query, expected) in TOPICS {
        let hits = json_out(&cli(&["skills", "search", query, "--json"]).await);
        assert_eq!(hits[0]["name"], expected, "searching {query:?}: {hits}");
    }
}

/// The code a markdown text shows: whole lines of fenced blocks, and inline `spans`.
fn code_of(markdown: &str) -> Vec<String> {
    let mut code = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            code.push(line.to_string());
        } else {
            code.extend(line.split('`').skip(1).step_by(2).map(String::from));
        }
    }
    code
}

/// The words of each `scitex-orochi ...` command in a line of code, quoted arguments and
/// what follows the command (pipes, redirections, comments) left out.
fn invocations(code: &str) -> Vec<Vec<String>> {
    let quoted = regex::Regex::new(r#"'[^']*'|"[^"]*""#).unwrap();
    let start = regex::Regex::new(r"(?:^|[\s(/$])scitex-orochi(?:\s|$)").unwrap();
    let code = quoted.replace_all(code, "ARG");
    start
        .find_iter(&code)
        .map(|m| {
            let rest = &code[m.end()..];
            let end = rest.find(['|', ';', '&', '>', '<', ')', '#']).unwrap_or(rest.len());
            rest[..end].split_whitespace().map(|w| w.trim_matches(['[', ']']).to_string()).collect()
        })
        .collect()
}

/// Whether `cmd` or one of the commands above it (global options) has this option.
fn has_option(path: &[&clap::Command], word: &str) -> bool {
    let name = word.split('=').next().unwrap();
    path.iter().any(|c| {
        c.get_arguments().any(|a| match name.strip_prefix("--") {
            Some(long) => a.get_long() == Some(long),
            None => name.len() == 2 && a.get_short() == name.chars().nth(1),
        })
    })
}

/// A skill that teaches a command the binary does not have sends agents into errors: every
/// `scitex-orochi ...` in the skills' code names real subcommands and real options of them.
#[test]
fn commands_shown_in_skills_exist() {
    use clap::CommandFactory;
    let mut root = scitex_orochi::cli::Cli::command();
    root.build();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for e in scitex_orochi::library::library(scitex_orochi::library::Shelf::Skills).entries() {
        for words in code_of(&e.body).iter().flat_map(|line| invocations(line)) {
            let mut path = vec![&root];
            let mut positional = false;
            for w in &words {
                let cmd = *path.last().unwrap();
                if w.starts_with('-') {
                    if !has_option(&path, w) {
                        wrong.push(format!("{}: {} has no option {w} in `scitex-orochi {}`", e.name, cmd.get_name(), words.join(" ")));
                    }
                } else if !positional && cmd.has_subcommands() {
                    match cmd.find_subcommand(w) {
                        Some(sub) => path.push(sub),
                        None => wrong.push(format!("{}: no command {w:?} in `scitex-orochi {}`", e.name, words.join(" "))),
                    }
                    positional = cmd.find_subcommand(w).is_none();
                } else {
                    positional = true;
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} commands found: the extraction is broken");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
