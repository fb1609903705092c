//! The hub image: `FROM scratch` around the statically linked binary (deploy/Dockerfile),
//! built through the Engine API from an in-memory tar context. Nothing is pulled. The binary
//! is packed stripped (no debug info, no symbol table): nothing in the container reads them,
//! and they are most of an unstripped binary's size; the build keeps them outside the image.
//! Tags are `<repo>:<version>-<hash>`, the hash covering the binary, the Dockerfile and the
//! git revision, so an unchanged build is reused instead of rebuilt.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// The Dockerfile, shared with people who use `docker build`.
pub const DOCKERFILE: &str = include_str!("../../deploy/Dockerfile");
/// Path of the binary inside the image.
pub const BINARY_IN_IMAGE: &str = "/scitex-orochi";
pub const LABEL_VERSION: &str = "org.opencontainers.image.version";
pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
pub const LABEL_BINARY_SHA: &str = "scitex.orochi.binary-sha256";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read the binary {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0} is not a 64-bit ELF executable")]
    NotElf(PathBuf),
    #[error("{0} is dynamically linked and cannot run in a FROM scratch image; build it static (see docs/deploy.md)")]
    Dynamic(PathBuf),
    #[error("cannot strip {path}: {reason}")]
    Strip { path: PathBuf, reason: String },
    #[error("image build failed: {0}")]
    Build(String),
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
}

/// What goes into an image.
#[derive(Debug, Clone)]
pub struct ImageSource {
    pub binary: PathBuf,
    pub repo: String,
    pub version: String,
    pub revision: String,
}

/// An image identity computed from its source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageRef {
    pub tag: String,
    pub version: String,
    pub revision: String,
    pub binary_sha256: String,
}

impl ImageSource {
    /// The running executable, labelled with this build's version and the revision of `repo_dir`.
    pub fn current(repo: &str, repo_dir: &Path, binary: Option<&Path>) -> std::io::Result<ImageSource> {
        let binary = match binary {
            Some(b) => b.to_path_buf(),
            None => std::env::current_exe()?,
        };
        Ok(ImageSource { binary, repo: repo.into(), version: crate::VERSION.into(), revision: git_revision(repo_dir) })
    }

    /// Reads and checks the binary and computes the tag.
    pub fn identify(&self) -> Result<(ImageRef, Vec<u8>), ImageError> {
        let bytes = std::fs::read(&self.binary).map_err(|source| ImageError::Read { path: self.binary.clone(), source })?;
        check_static(&self.binary, &bytes)?;
        let binary_sha256 = hex::encode(Sha256::digest(&bytes));
        let mut h = Sha256::new();
        h.update(binary_sha256.as_bytes());
        h.update(DOCKERFILE.as_bytes());
        h.update(self.revision.as_bytes());
        let short = &hex::encode(h.finalize())[..12];
        let tag = format!("{}:{}-{short}", self.repo, self.version);
        Ok((ImageRef { tag, version: self.version.clone(), revision: self.revision.clone(), binary_sha256 }, bytes))
    }
}

/// `git rev-parse --short=12 HEAD` of `dir`, `-dirty` when the tree has changes, else "unknown".
pub fn git_revision(dir: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        _ => "unknown".into(),
    }
}

/// `elf` without its debug sections and symbol table, as `strip` would leave it: what runs is
/// byte for byte the same code and data.
pub fn strip(path: &Path, elf: &[u8]) -> Result<Vec<u8>, ImageError> {
    let fail = |e: object::build::Error| ImageError::Strip { path: path.to_path_buf(), reason: e.to_string() };
    let mut builder = object::build::elf::Builder::read(elf).map_err(fail)?;
    for section in builder.sections.iter_mut() {
        let name = section.name.as_slice();
        if name.starts_with(b".debug_") || name.starts_with(b".zdebug_") || name == b".symtab" || name == b".strtab" {
            section.delete = true;
        }
    }
    // The symbol table goes with its section; the loader reads only the dynamic one.
    for symbol in builder.symbols.iter_mut() {
        symbol.delete = true;
    }
    builder.delete_orphans();
    let mut out = Vec::with_capacity(elf.len() / 2);
    builder.write(&mut out).map_err(fail)?;
    Ok(out)
}

/// A static executable has no PT_INTERP program header.
pub fn check_static(path: &Path, elf: &[u8]) -> Result<(), ImageError> {
    let not_elf = || ImageError::NotElf(path.to_path_buf());
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err(not_elf());
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = elf.get(at..at + 4).ok_or_else(not_elf)?;
        if u32::from_le_bytes(p_type.try_into().expect("4 bytes")) == 3 {
            return Err(ImageError::Dynamic(path.to_path_buf()));
        }
    }
    Ok(())
}

/// The build context: the Dockerfile and the binary (mode 0755).
pub fn context_tar(binary: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::with_capacity(binary.len() + 8192));
    for (name, data, mode) in [("Dockerfile", DOCKERFILE.as_bytes(), 0o644), ("scitex-orochi", binary, 0o755)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data).expect("writing to memory");
    }
    tar.into_inner().expect("writing to memory")
}

/// Whether the engine already has `tag`.
pub async fn exists(docker: &Docker, tag: &str) -> Result<bool, bollard::errors::Error> {
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What an image build reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum BuildProgress<'a> {
    /// Bytes of the build context handed to the engine so far, of `total`.
    Upload { sent: u64, total: u64 },
    /// A line of the builder's log.
    Line(&'a str),
}

/// Size of the pieces the build context is uploaded in (the unit of upload progress).
const UPLOAD_CHUNK: usize = 1 << 20;

/// Builds the image unless the engine has it; `progress` hears the upload and the builder.
/// Returns the image and whether it was built now.
pub async fn ensure(docker: &Docker, source: &ImageSource, progress: &mut dyn FnMut(BuildProgress)) -> Result<(ImageRef, bool), ImageError> {
    let (image, bytes) = source.identify()?;
    if exists(docker, &image.tag).await? {
        return Ok((image, false));
    }
    let stripped = strip(&source.binary, &bytes)?;
    drop(bytes);
    build(docker, &image, &stripped, progress).await?;
    Ok((image, true))
}

/// The size the engine reports for `tag` (its layers; for a FROM scratch image, the binary).
pub async fn size(docker: &Docker, tag: &str) -> Result<u64, bollard::errors::Error> {
    Ok(docker.inspect_image(tag).await?.size.unwrap_or(0).max(0) as u64)
}

async fn build(docker: &Docker, image: &ImageRef, binary: &[u8], progress: &mut dyn FnMut(BuildProgress)) -> Result<(), ImageError> {
    let context = bytes::Bytes::from(context_tar(binary));
    let total = context.len() as u64;
    // The body is polled by the connection, not here: it reports what it hands over.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
    let chunks: Vec<bytes::Bytes> = (0..context.len()).step_by(UPLOAD_CHUNK).map(|at| context.slice(at..(at + UPLOAD_CHUNK).min(context.len()))).collect();
    let body = futures_util::stream::iter(chunks).map(move |chunk| {
        let _ = sent_tx.send(chunk.len() as u64);
        chunk
    });
    let labels = HashMap::from([(LABEL_BINARY_SHA, image.binary_sha256.as_str())]);
    let args = HashMap::from([("VERSION", image.version.as_str()), ("REVISION", image.revision.as_str())]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&image.tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .buildargs(&args)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_stream(body)));
    let (mut sent, mut uploading) = (0, true);
    loop {
        let item = tokio::select! {
            n = sent_rx.recv(), if uploading => {
                match n {
                    Some(n) => {
                        sent += n;
                        progress(BuildProgress::Upload { sent, total });
                    }
                    None => uploading = false,
                }
                continue;
            }
            item = stream.next() => item,
        };
        let Some(item) = item else { break };
        let info = item.map_err(|e| match e {
            bollard::errors::Error::DockerStreamError { error } => ImageError::Build(error),
            other => ImageError::Docker(other),
        })?;
        if let Some(detail) = info.error_detail {
            return Err(ImageError::Build(detail.message.unwrap_or_default()));
        }
        if let Some(line) = info.stream.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            progress(BuildProgress::Line(line));
        }
    }
    if !exists(docker, &image.tag).await? {
        return Err(ImageError::Build(format!("the engine reported no error but has no {}", image.tag)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_static_and_packs() {
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&me).unwrap();
        check_static(&me, &bytes).expect("the build is configured static (.cargo/config.toml)");
        assert!(check_static(&me, b"#!/bin/sh\n").is_err());
        let tar = context_tar(b"\x7fELF");
        let mut archive = tar::Archive::new(&tar[..]);
        let names: Vec<String> = archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, vec!["Dockerfile", "scitex-orochi"]);
        assert!(DOCKERFILE.contains(r#"CMD ["/scitex-orochi", "healthcheck"]"#));
    }

    #[test]
    fn strip_drops_debug_info_and_symbols_and_stays_static() {
        let me = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&me).unwrap();
        let names = |elf: &[u8]| -> Vec<Vec<u8>> {
            object::build::elf::Builder::read(elf).unwrap().sections.iter().map(|s| s.name.as_slice().to_vec()).collect()
        };
        assert!(names(&bytes).iter().any(|n| n.starts_with(b".debug_")), "a test build has debug info to strip");
        let stripped = strip(&me, &bytes).unwrap();
        check_static(&me, &stripped).unwrap();
        let left = names(&stripped);
        assert!(left.iter().all(|n| !n.starts_with(b".debug_") && n != b".symtab"), "{:?}", left.iter().map(|n| String::from_utf8_lossy(n)).collect::<Vec<_>>());
        assert!(left.iter().any(|n| n == b".text"));
        assert!(stripped.len() * 2 < bytes.len(), "{} of {} bytes left", stripped.len(), bytes.len());
        // And it still runs: this very test binary, stripped, lists its tests.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("stripped");
        std::fs::write(&copy, &stripped).unwrap();
        std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let listed = std::process::Command::new(&copy).args(["--list", "strip_drops"]).output().unwrap();
        assert!(String::from_utf8_lossy(&listed.stdout).contains("strip_drops_debug_info"), "{listed:?}");
        assert!(matches!(strip(&me, b"\x7fELF not really"), Err(ImageError::Strip { .. })));
    }
}
