//! The agent bridge as Claude Code sees it: `scitex-orochi mcp` spawned as a child process,
//! spoken to over stdio, against a real hub on 127.0.0.1.

mod bad_input;
mod harness;
mod inbox;
mod permissions;
mod push;
mod tools;
mod threads;
