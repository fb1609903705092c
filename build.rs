//! Puts the git revision into the build, for `--version`: `git rev-parse --short HEAD`, or
//! "unknown" outside a git checkout (a source tarball, a crate download).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    let revision = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OROCHI_GIT_REVISION={revision}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit moves the branch's ref (or packed-refs); a checkout moves HEAD. `--git-path`
    // finds each in a worktree too. Only files that exist: a missing one would rerun every build.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]).filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
