//! Documentation stays true to the one table of settings.

use std::collections::BTreeSet;

use scitex_orochi::config::VARS;

fn mentioned(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"SCITEX_OROCHI_[A-Z0-9_]*[A-Z0-9]").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn configuration_doc_lists_exactly_the_table() {
    let doc = read("docs/configuration.md");
    let rows: BTreeSet<String> = doc.lines().filter(|l| l.starts_with("| `SCITEX_OROCHI_")).flat_map(mentioned).collect();
    let table: BTreeSet<String> = VARS.iter().map(|v| v.name.to_string()).collect();
    assert_eq!(rows, table, "docs/configuration.md table differs from src/config.rs");
    for v in VARS {
        let line = doc.lines().find(|l| l.starts_with(&format!("| `{}`", v.name))).unwrap();
        assert!(line.contains(v.doc), "{} doc text differs", v.name);
    }
}

#[test]
fn readme_and_docs_name_no_unknown_variable() {
    let table: BTreeSet<String> = VARS.iter().map(|v| v.name.to_string()).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec!["README.md".to_string()];
    // The skills too: they are shipped in the binary and read by agents that act on them.
    for dir in ["docs", "skills"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            paths.push(format!("{dir}/{}", e.file_name().to_string_lossy()));
        }
    }
    for path in &paths {
        let unknown: Vec<String> = mentioned(&read(path)).difference(&table).cloned().collect();
        assert!(unknown.is_empty(), "{path} names variables the binary does not read: {unknown:?}");
    }
}
