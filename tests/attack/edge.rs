//! The listeners as a stranger meets them: signals, slow and idle connections, close codes.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::ChildHub;

/// Eight pipelined requests, then close at once: the hub writes responses into a socket the
/// peer already closed (EPIPE/ECONNRESET), which must not kill it.
#[tokio::test]
async fn pipelined_requests_then_close_do_not_kill_the_hub() {
    let mut hub = ChildHub::start().await;
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(8);
    for round in 0..200 {
        for port in [hub.http_port, hub.ws_port] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let _ = s.write_all(request.as_bytes()).await;
            drop(s);
        }
        if round % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            hub.assert_alive();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    hub.assert_serving().await;
}
