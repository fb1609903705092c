//! `validate-env`: an env file or the process environment against the one settings table
//! (`config::VARS`). Findings name the variable and the line; secret values are never shown.

use std::collections::BTreeMap;

use serde::Serialize;

use super::envfile::{Entry, EnvFile};
use super::spec::{CONTROLLER_ONLY, Instance, MANAGED, Spec};
use crate::config::{DbLocation, VARS, Var, names};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// 1-based line in the file; `None` for the environment or a missing variable.
    pub line: Option<usize>,
    pub variable: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file checked, or "environment".
    pub source: String,
    pub valid: bool,
    pub checked: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// `file:line: VAR: message` lines, for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let place = match f.line {
                Some(l) => format!("{}:{l}", self.source),
                None => self.source.clone(),
            };
            let kind = if f.severity == Severity::Error { "error" } else { "warning" };
            out.push_str(&format!("{place}: {kind}: {}: {}\n", f.variable, f.message));
        }
        let errors = self.errors().count();
        out.push_str(&format!(
            "{}: {} variable(s) checked, {errors} error(s), {} warning(s): {}\n",
            self.source,
            self.checked,
            self.findings.len() - errors,
            if self.valid { "valid" } else { "invalid" }
        ));
        out
    }
}

/// What an instance adds to the plain table checks.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub instance: Option<String>,
    pub required: Vec<String>,
    /// Refuse empty, short or placeholder secrets.
    pub production: bool,
    /// Warn that these are set by the controller.
    pub managed: Vec<String>,
}

impl Rules {
    pub fn for_instance(spec: &Spec, inst: &Instance) -> Rules {
        let mut managed: Vec<String> = MANAGED.iter().map(|s| s.to_string()).collect();
        if inst.upstream.is_some() {
            managed.push(super::spec::WS_UPSTREAM.into());
        }
        let _ = spec;
        Rules { instance: Some(inst.name.clone()), required: inst.required.clone(), production: inst.production, managed }
    }
}

fn var(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

/// The table name closest to `name`, if it is close enough to be a likely typo.
pub fn nearest(name: &str) -> Option<&'static str> {
    VARS.iter()
        .map(|v| (strsim::damerau_levenshtein(name, v.name), v.name))
        .filter(|(d, candidate)| *d <= 2 + candidate.len() / 6)
        .min()
        .map(|(_, n)| n)
}

/// Values that mean "fill me in".
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    const WORDS: &[&str] =
        &["change-me", "changeme", "change_me", "replace", "placeholder", "example", "dummy", "your-", "your_", "todo", "tbd", "xxx", "secret", "password", "token-here"];
    v.is_empty() || (v.starts_with('<') && v.ends_with('>')) || v.starts_with("${") || WORDS.iter().any(|w| v.contains(w)) || v.chars().all(|c| c == '*' || c == '.' || c == 'x')
}

/// Shortest secret accepted for a production instance.
pub const MIN_SECRET_LEN: usize = 16;

pub fn validate(source: &str, entries: &[Entry], syntax: &[(usize, String)], rules: &Rules) -> Report {
    let mut findings = Vec::new();
    let mut push = |severity, line, variable: &str, message: String| {
        findings.push(Finding { severity, line, variable: variable.to_string(), message })
    };
    for (line, message) in syntax {
        push(Severity::Error, Some(*line), "(syntax)", message.clone());
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        let line = (e.line > 0).then_some(e.line);
        if let Some(first) = seen.insert(&e.key, e.line)
            && line.is_some()
        {
            push(Severity::Warning, line, &e.key, format!("also set on line {first}; this later value wins"));
        }
        if let Some(v) = var(&e.key) {
            if let Err(msg) = v.check(&e.value) {
                let msg = msg.strip_prefix(&format!("{}: ", v.name)).unwrap_or(&msg).to_string();
                push(Severity::Error, line, v.name, msg);
            } else if v.secret && rules.production && !(CONTROLLER_ONLY.contains(&v.name) && e.value.trim().is_empty()) {
                if is_placeholder(&e.value) {
                    push(Severity::Error, line, v.name, "empty or placeholder secret refused for a production instance".into());
                } else if e.value.trim().len() < MIN_SECRET_LEN {
                    push(Severity::Error, line, v.name, format!("secret shorter than {MIN_SECRET_LEN} characters refused for a production instance"));
                }
            }
            let shared_store = v.name == names::DB && DbLocation::names_postgres(&e.value);
            if let Some(problem) = (shared_store && v.check(&e.value).is_ok()).then(|| postgres_url_problem(&e.value)).flatten() {
                push(Severity::Error, line, v.name, problem.into());
            }
            if rules.managed.iter().any(|m| m == v.name) && !shared_store {
                let who = rules.instance.as_deref().unwrap_or("the instance");
                push(Severity::Warning, line, v.name, format!("set by the deploy controller from deploy/instances.toml for {who}; this value is ignored"));
            }
        } else if let Some(rest) = e.key.strip_prefix("SCITEX_OROCHI_") {
            let hint = match nearest(&e.key) {
                Some(n) => format!("; did you mean {n}?"),
                None => String::new(),
            };
            let _ = rest;
            push(Severity::Error, line, &e.key, format!("unknown variable{hint} (see docs/configuration.md)"));
        } else if let Some(rest) = e.key.strip_prefix("OROCHI_") {
            let modern = format!("SCITEX_OROCHI_{rest}");
            let hint = if var(&modern).is_some() { format!("; use {modern}") } else { nearest(&modern).map(|n| format!("; did you mean {n}?")).unwrap_or_default() };
            push(Severity::Error, line, &e.key, format!("legacy name, not read{hint}"));
        } else if e.key.starts_with("SCITEX_") {
            push(Severity::Warning, line, &e.key, "not read by scitex-orochi; passed to the container unchanged".into());
        }
    }
    // The deploy's health gate registers with the admin token; a PostgreSQL store keeps a
    // generated one in its database, not in the data folder where the gate would read it.
    let db_is_url = entries.iter().rev().find(|e| e.key == names::DB).is_some_and(|e| DbLocation::names_postgres(&e.value));
    let has_token = entries.iter().any(|e| (e.key == names::ADMIN_TOKEN || e.key == names::TOKEN) && !e.value.trim().is_empty());
    if rules.instance.is_some() && db_is_url && !has_token {
        let message = "a PostgreSQL store keeps a generated admin token in the database, where the deploy's health gate cannot read it: set SCITEX_OROCHI_ADMIN_TOKEN here";
        push(Severity::Error, None, names::ADMIN_TOKEN, message.into());
    }
    for name in &rules.required {
        let present = entries.iter().rev().find(|e| &e.key == name);
        match present {
            None => push(Severity::Error, None, name, format!("required for instance {} but not set", rules.instance.as_deref().unwrap_or("?"))),
            Some(e) if e.value.trim().is_empty() => push(Severity::Error, Some(e.line).filter(|l| *l > 0), name, "required but empty".into()),
            _ => {}
        }
    }
    let valid = !findings.iter().any(|f| f.severity == Severity::Error);
    Report { source: source.to_string(), valid, checked: entries.len(), findings }
}

/// What a `postgres://` URL lacks for the hub to reach one database: a host (or a `host=`
/// socket folder) and a database name. Never quotes the URL (it may hold a password).
fn postgres_url_problem(raw: &str) -> Option<&'static str> {
    let Ok(config) = raw.trim().parse::<tokio_postgres::Config>() else { return Some("not a valid PostgreSQL URL") };
    if config.get_hosts().is_empty() {
        return Some("the PostgreSQL URL names no host (postgres://user@host/db, or ?host=/socket/dir)");
    }
    if config.get_dbname().is_none_or(str::is_empty) {
        return Some("the PostgreSQL URL names no database (postgres://user@host/db)");
    }
    None
}

/// Checks a parsed env file.
pub fn validate_file(file: &EnvFile, rules: &Rules) -> Report {
    let syntax: Vec<(usize, String)> = file.errors.iter().map(|e| (e.line, e.message.clone())).collect();
    validate(&file.path.display().to_string(), &file.entries, &syntax, rules)
}

/// Checks an instance's env file; a missing file is an error finding.
pub fn validate_instance(spec: &Spec, inst: &Instance) -> (Report, Option<EnvFile>) {
    let rules = Rules::for_instance(spec, inst);
    match EnvFile::read(&inst.env_file) {
        Ok(file) => (validate_file(&file, &rules), Some(file)),
        Err(e) => {
            let source = inst.env_file.display().to_string();
            let example = format!("{}.example", inst.env_file.display());
            let finding = Finding { severity: Severity::Error, line: None, variable: "(file)".into(), message: format!("cannot read: {e}; start from {example}") };
            (Report { source, valid: false, checked: 0, findings: vec![finding] }, None)
        }
    }
}

/// Checks the `SCITEX_OROCHI_*` and `OROCHI_*` variables of an environment.
pub fn validate_environment(vars: impl IntoIterator<Item = (String, String)>) -> Report {
    let entries: Vec<Entry> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("SCITEX_OROCHI_") || k.starts_with("OROCHI_"))
        .map(|(key, value)| Entry { line: 0, key, value })
        .collect();
    validate("environment", &entries, &[], &Rules::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(text: &str, rules: &Rules) -> Report {
        validate_file(&EnvFile::parse(Path::new("s.env"), text), rules)
    }

    #[test]
    fn a_postgres_url_needs_a_host_and_a_database_and_its_password_is_never_shown() {
        let rules = Rules::default();
        let ok = check("SCITEX_OROCHI_DB=postgres://orochi:hunter2@db.example/orochi\nSCITEX_OROCHI_DB=postgres:///orochi?host=/run/postgresql\nSCITEX_OROCHI_DB=postgres://orochi:hunter2@/orochi?host=/run/orochi-pg\n", &rules);
        assert!(!ok.findings.iter().any(|f| f.severity == Severity::Error), "{:?}", ok.findings);
        let r = check("SCITEX_OROCHI_DB=postgres://orochi:hunter2@db.example\nSCITEX_OROCHI_DB=postgres:///orochi\nSCITEX_OROCHI_DB=mysql://orochi:hunter2@db/x\n", &rules);
        let text = format!("{:?}", r.findings);
        assert!(text.contains("names no database") && text.contains("names no host") && text.contains("mysql"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_instance_on_postgresql_names_its_admin_token() {
        let rules = Rules { instance: Some("stable".into()), ..Default::default() };
        let r = check("SCITEX_OROCHI_DB=postgres://o:pw@db/orochi\n", &rules);
        assert!(!r.valid && format!("{:?}", r.findings).contains("health gate"), "{:?}", r.findings);
        let r = check("SCITEX_OROCHI_DB=postgres://o:pw@db/orochi\nSCITEX_OROCHI_ADMIN_TOKEN=a-long-enough-admin-token-0123456789\n", &rules);
        assert!(r.valid, "{:?}", r.findings);
        assert!(check("SCITEX_OROCHI_PORT=9559\n", &rules).valid);
    }

    #[test]
    fn names_line_and_variable_never_the_secret() {
        let rules = Rules { production: true, required: vec!["SCITEX_OROCHI_ADMIN_TOKEN".into()], ..Default::default() };
        let r = check("SCITEX_OROCHI_PORT=99999\nSCITEX_OROCHI_DASHBORD_PORT=1\nOROCHI_DB=x\nSCITEX_OROCHI_ADMIN_TOKEN=change-me-hunter2\n", &rules);
        assert!(!r.valid);
        let text = r.render();
        assert!(text.contains("s.env:1: error: SCITEX_OROCHI_PORT"), "{text}");
        assert!(text.contains("did you mean SCITEX_OROCHI_DASHBOARD_PORT?"), "{text}");
        assert!(text.contains("s.env:3: error: OROCHI_DB: legacy name, not read; use SCITEX_OROCHI_DB"), "{text}");
        assert!(text.contains("s.env:4: error: SCITEX_OROCHI_ADMIN_TOKEN: empty or placeholder"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let ok = check("SCITEX_OROCHI_ADMIN_TOKEN=Zq8v1c9K2m4Lp0Rt7Wx3\n", &rules);
        assert!(ok.valid, "{}", ok.render());
        assert!(!check("", &rules).valid);
    }

    #[test]
    fn a_line_that_is_not_a_variable_is_named_by_number_only() {
        let pasted = "SCITEX_OROCHI_PORT=9559\nsk-live hunter2-9f8e7d\nBearer hunter2-abc=def\nTOKEN='hunter2\n";
        let text = check(pasted, &Rules::default()).render();
        for line in 2..=4 {
            assert!(text.contains(&format!("s.env:{line}: error: (syntax)")), "{text}");
        }
        assert!(!text.contains("hunter2"), "{text}");
    }
}
