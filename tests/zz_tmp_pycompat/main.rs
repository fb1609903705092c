// TEMPORARY (python_compat helper): removed before the report.
#[allow(dead_code)]
#[path = "../hub/common.rs"]
mod common;
#[path = "../hub/python_compat.rs"]
mod python_compat;
