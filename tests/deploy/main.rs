//! Deploy controller tests: the real Docker engine on this machine (containers and images
//! named uniquely, removed even when a test fails), a fake Cloudflare API and fake content on
//! 127.0.0.1, the CLI's exit codes, the test run's PostgreSQL (loopback and its unix socket).
//! Nothing outside 127.0.0.1 and the local engine is used.

mod apply;
mod cli_paths;
mod cloudflare;
mod common;
mod cutover;
mod edge;
mod files;
// Shared with tests/tls; this binary does not restart its edge.
#[path = "../support/nginx.rs"]
#[allow(dead_code)]
mod nginx;
mod image_size;
// The test run's PostgreSQL, shared with tests/hub; this binary uses its shared server only.
#[path = "../support/pg.rs"]
#[allow(dead_code)]
mod pg;
mod plan;
mod purge_modules;
mod replicas;
mod replicas_pg;
mod rollback;
mod settings;
