//! `sslmode=require`: the hub reaches PostgreSQL over TLS and verifies the server's
//! certificate against its trusted roots (`SSL_CERT_FILE`); an untrusted one stops the start.

use std::time::Duration;

use super::hub::{hub_command, spawn_hub};
use super::server::PgServer;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_connects_over_verified_tls_only() {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let pg = PgServer::private_tls(&cert.cert.pem(), &cert.signing_key.serialize_pem());
    let url = format!("{}?sslmode=require", pg.fresh_db().await);
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("server.pem");
    std::fs::write(&trusted, cert.cert.pem()).unwrap();

    // Without the certificate among its roots the hub does not start.
    let (ws, http) = (free_port(), free_port());
    let mut refused = spawn_hub(&url, dir.path(), ws, http);
    let status = tokio::time::timeout(Duration::from_secs(30), refused.wait()).await.expect("the hub gives up").unwrap();
    assert!(!status.success(), "an unverified server certificate is refused");

    let mut hub = hub_command(&url, dir.path(), ws, http).env("SSL_CERT_FILE", &trusted).spawn().unwrap();
    wait_healthy(&format!("http://127.0.0.1:{http}")).await;
    let mut p = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    p.register("writer", &[]).await;
    assert_eq!(p.say("writer", "#tls", "over TLS").await["payload"]["seq"], 1);
    let (client, conn) = tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=postgres dbname=postgres", pg.port), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE a.application_name = 'scitex-orochi'",
            &[],
        )
        .await
        .unwrap();
    let (tls, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(all > 0 && tls == all, "every connection of the hub is TLS: {tls} of {all}");
    hub.start_kill().unwrap();
}
