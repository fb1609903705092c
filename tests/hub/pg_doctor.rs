//! `doctor` on a PostgreSQL `SCITEX_OROCHI_DB`: it connects and compares the schema version,
//! creates nothing, and never shows the URL's password.

use std::path::Path;

use scitex_orochi::config::DbLocation;

use crate::common::*;
use crate::doctor::{by, doctor, ports};
use crate::pg::server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_the_schema_version_of_a_postgresql_database_and_hides_its_password() {
    let url = server::shared().fresh_db().await;
    let with_password = url.replacen("postgres@", "postgres:hunter2-secret@", 1);
    let h = start_hub().await;
    let (out, report) = doctor(ports(&h), ADMIN, Path::new(&with_password), "doc-agent").await;
    let db = by(&report, "database");
    assert_eq!(db["status"], "warn", "{db}");
    assert!(db["detail"].as_str().unwrap().contains("no hub schema yet"), "{db}");
    assert!(db["detail"].as_str().unwrap().contains("postgres:***@"), "{db}");
    let (_, again) = doctor(ports(&h), ADMIN, Path::new(&with_password), "doc-agent").await;
    assert_eq!(by(&again, "database")["status"], "warn", "doctor created the schema: {again}");

    let _pg_hub = start_hub_with(|c| c.db = DbLocation::parse(&url).unwrap()).await;
    let (out2, report) = doctor(ports(&h), ADMIN, Path::new(&with_password), "doc-agent").await;
    let db = by(&report, "database");
    assert_eq!(db["status"], "ok", "{db}");
    assert!(db["detail"].as_str().unwrap().contains("schema version"), "{db}");
    for o in [out, out2] {
        let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!all.contains("hunter2"), "{all}");
    }

    let (out, report) = doctor(ports(&h), ADMIN, Path::new("postgres://postgres:hunter2-secret@127.0.0.1:1/none"), "doc-agent").await;
    assert_eq!(by(&report, "database")["status"], "fail", "{report}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
}
