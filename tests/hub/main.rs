//! Integration tests: one binary, real hubs on 127.0.0.1, real sockets.

mod common;
// Shared with the other test binaries, which use more of it.
#[allow(dead_code)]
#[path = "../support/nginx.rs"]
mod nginx;
mod dashboard_http;
mod bridge;
mod protocol;
mod push;
mod python_compat;
mod cli;
mod cli_streams;
mod client;
mod completions;
mod docs;
mod doctor;
mod durability;
mod http_api;
mod inbox;
mod library;
mod permissions;
mod resume_positions;
mod robustness;
mod skills_catalog;
mod todos;
mod threads;
mod observer_subscribe;
mod typed_frames;
mod pg;
mod migrate_db;
mod pg_doctor;
