//! A minimal HTTP `CONNECT` proxy on 127.0.0.1 that records each tunnel's target and its
//! `Proxy-Authorization`.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Connect {
    pub port: u16,
    targets: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Connect {
    pub async fn start() -> Connect {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, seen.clone()));
            }
        });
        Connect { port, targets, task }
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().iter().map(|(t, _)| t.clone()).collect()
    }

    /// The `Proxy-Authorization` of each tunnel ("" without one).
    pub fn auths(&self) -> Vec<String> {
        self.targets.lock().unwrap().iter().map(|(_, a)| a.clone()).collect()
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(mut client: TcpStream, seen: Arc<Mutex<Vec<(String, String)>>>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        let Ok(b) = client.read_u8().await else { return };
        head.push(b);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").await;
        return;
    };
    let auth = head.lines().find_map(|l| l.strip_prefix("Proxy-Authorization: ").or_else(|| l.strip_prefix("proxy-authorization: "))).unwrap_or("");
    seen.lock().unwrap().push((target.to_string(), auth.to_string()));
    let Ok(mut upstream) = TcpStream::connect(target.replace("localhost", "127.0.0.1")).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n").await;
        return;
    };
    if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_ok() {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
