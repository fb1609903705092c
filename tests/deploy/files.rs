//! The tracked deploy files stay consistent: compose files, env examples, env validation CLI.

use std::path::Path;

use scitex_orochi::config::VARS;
use scitex_orochi::deploy::spec::Spec;
use scitex_orochi::deploy::{compose, image};

use super::common::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn compose_files_equal_what_the_specs_generate() {
    let spec = Spec::load(&repo().join("deploy/instances.toml")).unwrap();
    assert!(spec.instances.contains_key("stable") && spec.instances.contains_key("dev"));
    for (name, inst) in &spec.instances {
        let path = repo().join(format!("compose/{name}.yml"));
        let tracked = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(tracked, compose::render(&spec, inst), "{} is stale: run `scitex-orochi deploy compose {name} > compose/{name}.yml`", path.display());
    }
    let dev = spec.instance("dev").unwrap();
    let stable = spec.instance("stable").unwrap();
    assert_eq!((stable.dashboard_port, stable.ws_port, dev.dashboard_port, dev.ws_port), (8559, 9559, 8560, 9560));
    assert_eq!(dev.data_dir, stable.data_dir, "dev shares stable's data");
    assert_eq!(dev.upstream.as_deref(), Some("stable"));
}

#[test]
fn env_examples_and_dockerfile_use_only_known_variables() {
    let re = regex::Regex::new(r"SCITEX_OROCHI_[A-Z0-9_]*[A-Z0-9]").unwrap();
    for file in ["env/stable.env.example", "env/dev.env.example", "deploy/Dockerfile", "deploy/README.md"] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        for m in re.find_iter(&text) {
            assert!(VARS.iter().any(|v| v.name == m.as_str()), "{file} names {} which is not in src/config.rs", m.as_str());
        }
    }
    assert_eq!(image::DOCKERFILE, std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap());
    assert!(image::DOCKERFILE.contains("FROM scratch") && image::DOCKERFILE.contains(r#"HEALTHCHECK"#));
}

#[tokio::test]
async fn validate_env_names_lines_and_never_prints_secrets() {
    let fx = Fixture::new(5);
    fx.write_env("stable", "# comment\nSCITEX_OROCHI_PORT=99999\nSCITEX_OROCHI_DASHBORD_PORT=8559\nOROCHI_TOKEN=x\nSCITEX_OROCHI_ADMIN_TOKEN=changeme-supersecret\nnot a line\nBearer sk_live_pasted=abc\n");
    let out = fx.raw(&["validate-env", "--instance", "stable", "--spec", &fx.spec_path().display().to_string()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    for want in ["stable.env:2: error: SCITEX_OROCHI_PORT", "stable.env:3: error: SCITEX_OROCHI_DASHBORD_PORT: unknown variable; did you mean SCITEX_OROCHI_DASHBOARD_PORT?", "stable.env:4: error: OROCHI_TOKEN: legacy name, not read; use SCITEX_OROCHI_TOKEN", "stable.env:5: error: SCITEX_OROCHI_ADMIN_TOKEN", "stable.env:6: error: (syntax)", "stable.env:7: error: (syntax)"] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
    assert!(!all.contains("supersecret"), "a secret value was printed:\n{all}");
    assert!(!all.contains("sk_live_pasted"), "the text of a line that is not a variable was printed:\n{all}");

    // A valid file, as JSON.
    fx.write_env("dev", "SCITEX_OROCHI_LOG=debug\n");
    let out = fx.raw(&["validate-env", "--instance", "dev", "--json", "--spec", &fx.spec_path().display().to_string()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["valid"], true);

    // The process environment: a bad value does not stop the command, it is reported.
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(["validate-env"]).env("SCITEX_OROCHI_PORT", "http").env("SCITEX_OROCHI_TOKENN", "x");
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("SCITEX_OROCHI_PORT") && all.contains("did you mean SCITEX_OROCHI_TOKEN?"), "{all}");
}
