//! Browser tests: the dashboard in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver against real hubs on 127.0.0.1. One browser
//! session runs the whole scenario; screenshots of every tab go to
//! `target/browser-screenshots/`.

#[allow(dead_code)]
#[path = "../hub/common.rs"]
mod common;
mod approvals;
mod chat;
mod dashboard;
mod driver;
mod origins;
mod panels;
mod paste;
mod push;
mod threads;
