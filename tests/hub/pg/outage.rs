//! PostgreSQL stopped under load and started again: the sender gets `STORE_UNAVAILABLE` for
//! what could not be stored, nothing acked is lost, and the same hub stores again once the
//! database is back, without a restart.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use scitex_orochi::config::DbLocation;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use super::server::PgServer;
use crate::common::*;

/// What the sender heard: acks (frame id to seq and msg_id) and error codes.
#[derive(Default)]
struct Heard {
    acked: HashMap<String, (u64, String)>,
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_under_load_answers_store_unavailable_and_the_hub_recovers() {
    let pg = std::sync::Arc::new(PgServer::private());
    let url = pg.fresh_db().await;
    let h = start_hub_with(|c| c.db = DbLocation::parse(&url).unwrap()).await;
    let writer = h.agent("writer", &[]).await;
    let (mut sink, mut stream) = writer.ws.split();
    let (stop, mut stopped) = watch::channel(false);
    let sender = tokio::spawn(async move {
        let mut i = 0u32;
        while !*stopped.borrow_and_update() {
            let f = json!({"type": "message", "sender": "writer", "id": format!("m{i}"), "payload": {"channel": "#load", "content": format!("{i}")}});
            sink.send(Message::text(f.to_string())).await.expect("the hub keeps the socket open");
            i += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        i
    });
    // The reader reports each frame's outcome as it comes.
    let (heard_tx, mut heard) = mpsc::unbounded_channel::<(String, Result<(u64, String), String>)>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(t) = msg else { continue };
            let f: Value = serde_json::from_str(t.as_str()).unwrap();
            let Some(id) = f["payload"]["ref"].as_str().filter(|r| r.starts_with('m')) else { continue };
            let outcome = match f["type"].as_str() {
                Some("ack") => Ok((f["payload"]["seq"].as_u64().unwrap(), f["payload"]["msg_id"].as_str().unwrap().to_string())),
                Some("error") => Err(f["payload"]["code"].as_str().unwrap_or_default().to_string()),
                _ => continue,
            };
            if heard_tx.send((id.to_string(), outcome)).is_err() {
                return;
            }
        }
    });
    let mut log = Heard::default();
    let mut listen_until = async |log: &mut Heard, done: &dyn Fn(&Heard) -> bool| {
        while !done(log) {
            let (id, outcome) = tokio::time::timeout(Duration::from_secs(30), heard.recv()).await.expect("the hub answers").expect("reader alive");
            match outcome {
                Ok(placed) => drop(log.acked.insert(id, placed)),
                Err(code) => log.errors.push(code),
            }
        }
    };
    listen_until(&mut log, &|l| l.acked.len() >= 100).await;
    let server = pg.clone();
    tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    listen_until(&mut log, &|l| l.errors.len() >= 20).await;
    let rest = reqwest::Client::new()
        .post(h.http("/api/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"sender": "writer", "payload": {"channel": "#load", "content": "by REST"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 503, "REST says the store is unavailable: {}", rest.text().await.unwrap());
    let server = pg.clone();
    tokio::task::spawn_blocking(move || server.start()).await.unwrap();
    let before = log.acked.len();
    listen_until(&mut log, &|l| l.acked.len() >= before + 100).await;
    stop.send(true).unwrap();
    let sent = sender.await.unwrap();
    reader.abort();

    assert!(log.errors.iter().all(|c| c == "STORE_UNAVAILABLE"), "errors while the database was down: {:?}", log.errors);
    let rows = all_rows(&h.hub.http_url(), "#load").await;
    let stored: HashMap<&str, u64> = rows.iter().map(|r| (r["msg_id"].as_str().unwrap(), r["seq"].as_u64().unwrap())).collect();
    for (id, (seq, msg_id)) in &log.acked {
        assert_eq!(stored.get(msg_id.as_str()), Some(seq), "acked frame {id} lost or renumbered");
    }
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>(), "seq is gapless across the outage");
    eprintln!("sent {sent}, acked {}, refused {}, stored {}", log.acked.len(), log.errors.len(), rows.len());
}
