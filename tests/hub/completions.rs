//! `completions` scripts that the shells themselves accept, and `--version` naming the revision.

use tokio::process::Command;

async fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scitex-orochi")).args(args).env_clear().output().await.unwrap()
}

fn installed(shell: &str) -> bool {
    std::process::Command::new("sh").args(["-c", &format!("command -v {shell}")]).output().is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn completions_are_valid_scripts_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = cli(&["completions", shell]).await;
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).unwrap();
        // Subcommands and their flags are in it.
        for word in ["send", "doctor", "completions", "json"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
        // bash is on every machine the suite runs on; the others are checked where they are.
        if shell != "bash" && !installed(shell) {
            eprintln!("{shell} not installed: its script was generated but not parsed");
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("completion.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let checked = Command::new(shell).arg("-n").arg(&file).output().await.unwrap();
        assert!(checked.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&checked.stderr));
    }
    // A broken script is caught by the same check (the check can fail).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.bash"), "_f() { if then; }").unwrap();
    assert!(!Command::new("bash").arg("-n").arg(dir.path().join("bad.bash")).output().await.unwrap().status.success());

    let out = cli(&["completions", "tcsh"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn version_names_the_git_revision() {
    let out = cli(&["--version"]).await;
    assert!(out.status.success());
    let git = std::process::Command::new("git").args(["rev-parse", "--short", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    let revision = match git {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_string(),
        _ => "unknown".into(),
    };
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("scitex-orochi {} ({revision})", env!("CARGO_PKG_VERSION")));
}
