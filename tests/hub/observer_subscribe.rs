//! The observer socket is subscribed from the moment its handshake is answered: the
//! dashboard resumes its history as soon as the socket opens and counts on the socket for
//! every later message, so one committed in between must not be lost.

use serde_json::{Value, json};

use crate::common::*;

/// Each round opens a fresh observer and, as soon as the handshake is answered, reads the
/// observer count and posts a message: the count includes it and the message arrives on it.
/// (When the hub registered the observer only once its socket task ran, the post could be
/// broadcast before, and the message never came.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_gets_what_is_committed_right_after_the_handshake() {
    let h = start_hub().await;
    let url = format!("{}?token={ADMIN}", h.http("/ws").replace("http", "ws"));
    let http = reqwest::Client::new();
    for round in 0..20 {
        let mut obs = Peer::connect(&url).await;
        let stats: Value = http.get(h.http("/api/stats")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["observers_connected"], 1, "round {round}: counted once answered");
        let content = format!("right after the handshake {round}");
        let body = json!({"sender": "poster", "payload": {"channel": "#general", "content": content}});
        let r = http.post(h.http("/api/messages")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        let got = obs.recv_until(|f| f["type"] == "message").await;
        assert_eq!(got["payload"]["content"], content.as_str(), "round {round}");
        obs.ws.close(None).await.unwrap();
        // The next round counts one observer again: wait for this one to be gone.
        wait_for_observers(&http, &h, 0).await;
    }
}

async fn wait_for_observers(http: &reqwest::Client, h: &TestHub, want: u64) {
    let started = std::time::Instant::now();
    loop {
        let stats: Value = http.get(h.http("/api/stats")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        if stats["observers_connected"] == want {
            return;
        }
        assert!(started.elapsed() < WAIT, "observers_connected stays {}", stats["observers_connected"]);
        tokio::task::yield_now().await;
    }
}
