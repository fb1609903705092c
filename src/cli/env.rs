//! `validate-env`: check an env file, an instance's env file, or the environment against the
//! settings table.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, CliResult, print_json};
use crate::config::{Config, VARS};
use crate::deploy::envfile::EnvFile;
use crate::deploy::spec::Spec;
use crate::deploy::validate::{self, Rules};

/// Check env variables against the settings table: types, required names, unknown and legacy names, placeholder secrets.
#[derive(Args, Debug)]
#[command(after_help = "Without FILE or --instance the process environment is checked.

Examples:
  scitex-orochi validate-env --instance stable     # env/stable.env with stable's rules (deploy/instances.toml)
  scitex-orochi validate-env env/dev.env
  scitex-orochi validate-env --json | jq '.findings[]'

Findings name the variable and the line; secret values are never printed.
Exit codes: 0 valid, 1 invalid, 2 usage.")]
pub struct ValidateEnvArgs {
    /// Env file to check.
    #[arg(conflicts_with = "instance")]
    pub file: Option<PathBuf>,
    /// Check this instance's env file with its rules (required variables, production secrets).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Instance specs (default: deploy/instances.toml here or in a parent folder).
    #[arg(long, value_name = "PATH")]
    pub spec: Option<PathBuf>,
    /// Apply production rules to FILE: no empty, short or placeholder secrets.
    #[arg(long)]
    pub production: bool,
    #[arg(long)]
    pub json: bool,
}

/// The configuration with invalid values left at their defaults, for commands that report
/// bad values themselves instead of refusing to start.
pub fn lenient_config() -> Config {
    Config::from_lookup(|name| {
        let value = std::env::var(name).ok()?;
        let var = VARS.iter().find(|v| v.name == name)?;
        var.check(&value).is_ok().then_some(value)
    })
    .unwrap_or_else(|_| Config::defaults())
}

pub async fn validate_env(a: ValidateEnvArgs) -> CliResult {
    let report = if let Some(name) = &a.instance {
        let path = Spec::locate(a.spec.as_deref())?;
        let spec = Spec::load(&path)?;
        let inst = spec.instance(name)?;
        validate::validate_instance(&spec, inst).0
    } else if let Some(file) = &a.file {
        let parsed = EnvFile::read(file).map_err(|source| CliError::EnvFile { path: file.clone(), source })?;
        validate::validate_file(&parsed, &Rules { production: a.production, ..Default::default() })
    } else {
        validate::validate_environment(std::env::vars())
    };
    if a.json {
        print_json(&report);
    } else {
        print!("{}", report.render());
    }
    if report.valid { Ok(()) } else { Err(CliError::Exit { code: 1, message: format!("{} is invalid", report.source) }) }
}
