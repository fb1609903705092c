//! Two replicas behind nginx configured as docs/scale-out.md shows (plain HTTP here; tests/tls
//! runs the TLS part): during a rolling deploy every request through the edge is answered, and
//! an agent connected through it comes back through it on its own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scitex_orochi::client::{ClientOptions, OrochiClient};
use tokio::sync::watch;

use super::common::*;
use super::replicas::poll;

/// nginx in front of the replicas' HTTP ports, its own process, killed on drop.
struct Edge {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Edge {
    fn start(replica_ports: &[u16]) -> Edge {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).expect("nginx is installed (apt-get install nginx-light)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("nginx.conf"), conf(dir.path(), port, replica_ports)).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .args(["-e", "stderr", "-c"])
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "nginx did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Edge { port, child, _dir: dir }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The upstream and location of docs/scale-out.md, without TLS.
fn conf(dir: &Path, port: u16, replica_ports: &[u16]) -> String {
    let d = dir.display();
    let servers: String = replica_ports.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=0;\n")).collect();
    format!(
        r#"pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream orochi_stable {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://orochi_stable;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
    }}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_a_rolling_deploy_answers_every_request() {
    let image = shared_image().await;
    let fx = Fixture::replicated(20, 2);
    let variant = variant_of(&image, &fx).await;
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let edge = Edge::start(&[fx.stable.http, fx.stable.http + 1]);

    let mut options = ClientOptions::new(format!("ws://127.0.0.1:{}/ws/agent/", edge.port), ADMIN_TOKEN, "edge-agent");
    options.channels = vec!["#edge".into()];
    options.heartbeat = None;
    let agent = OrochiClient::connect(options).await.expect("registers through the edge");
    agent.send("#edge", "before", None).await.expect("acked through the edge");

    let (stop_tx, stop) = watch::channel(false);
    let poller = poll(vec![format!("http://127.0.0.1:{}/healthz", edge.port)], stop);
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--image", &variant]).await;
    stop_tx.send(true).unwrap();
    let rounds = poller.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let failed = rounds.iter().filter(|r| !r[0]).count();
    assert!(rounds.len() > 10 && failed == 0, "{failed} of {} requests through the edge failed", rounds.len());

    // Both replicas were replaced, so the agent's socket was closed (1012) at least once; it
    // came back through the edge and sends again.
    let receipt = tokio::time::timeout(Duration::from_secs(30), agent.send("#edge", "after", None)).await.expect("no hang").expect("acked after the deploy");
    assert!(agent.status().reconnects >= 1, "the agent reconnected: {:?}", agent.status());
    eprintln!("behind nginx: {} requests during the rolling deploy, none failed; the agent reconnected {} time(s), sent at seq {}", rounds.len(), agent.status().reconnects, receipt.seq);
    agent.close().await;
}
