//! The Redis adapter's messages from other servers, handed to the real adapters of a
//! server with connected clients, as its subscriber would hand them over (the driver has
//! no Redis behind it: `tower_socketio::__private_fuzz::redis::Detached`).
//!
//! The input is messages separated by `0xc1` (a byte MessagePack never uses, and never part
//! of UTF-8 text); the first byte of each picks the channel (every channel the adapters
//! listen on, and a room's broadcast channel), the rest is the payload, in which each
//! `??????` becomes the id of one of the requests this server has waiting (a fetch, a
//! server-side emit with acknowledgements, a broadcast with acknowledgements), so that
//! responses can reach them.
//!
//! Checks: nothing panics; everything the adapters publish in answer is a message the
//! adapter itself reads (JSON or MessagePack); everything the clients receive is valid
//! (see `fuzz/common/harness.rs`); the server then shuts down.
#![cfg(feature = "redis")]
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[path = "../common/harness.rs"]
mod harness;

use std::time::Duration;

use bytes::Bytes;
use harness::{Polling, Server, settle};
use serde_json::Value;
use tower_socketio::__private_fuzz::redis::{Detached, MsgValue};
use tower_socketio::SocketIo;
use tower_socketio::adapter::redis::RedisAdapterConfig;

/// Reads a published message as the adapter reads one: JSON when it starts with `{`,
/// MessagePack otherwise.
fn read_published(channel: &str, payload: &Bytes) -> Value {
    if payload.first() == Some(&b'{') {
        serde_json::from_slice(payload)
            .unwrap_or_else(|e| panic!("published on {channel} bad JSON ({e}): {payload:?}"))
    } else {
        MsgValue::decode(payload)
            .and_then(|v| v.to_json())
            .unwrap_or_else(|e| panic!("published on {channel} bad MessagePack ({e}): {payload:?}"))
    }
}

/// Checks what was published since the last call; returns the request ids seen.
fn published(detached: &Detached) -> Vec<String> {
    let mut ids = Vec::new();
    for (channel, payload) in detached.published() {
        let v = read_published(&channel, &payload);
        if let Some(id) = v.get("requestId").and_then(Value::as_str) {
            ids.push(id.to_owned());
        }
    }
    ids
}

fn with_ids(payload: &[u8], ids: &[String]) -> Bytes {
    const MARK: &[u8] = b"??????";
    let mut out = payload.to_vec();
    let mut n = 0;
    let mut i = 0;
    while !ids.is_empty() && i + MARK.len() <= out.len() {
        if &out[i..i + MARK.len()] == MARK {
            let id = ids[n % ids.len()].as_bytes();
            out.splice(i..i + MARK.len(), id.iter().copied());
            n += 1;
            i += id.len();
        } else {
            i += 1;
        }
    }
    Bytes::from(out)
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    harness::runtime().block_on(async {
        let config = RedisAdapterConfig::new("redis://127.0.0.1:1/")
            .requests_timeout(Duration::from_secs(30));
        let (detached, factory) = Detached::new(config, 1);
        let server = Server::new(SocketIo::builder().adapter(factory));
        let mut client = Polling::open(&server).await;
        client
            .post(Bytes::from_static(b"40\x1e40/admin,{\"token\":\"secret\"}"))
            .await;
        client.post(Bytes::from_static(b"42[\"join\",\"r\"]")).await;

        // Requests that wait for other servers' answers.
        let io = server.io.clone();
        tokio::spawn(async move {
            let _ = io.fetch_sockets().await;
        });
        let io = server.io.clone();
        tokio::spawn(async move {
            let _ = io.server_side_emit_with_ack::<Value>("ping", &1).await;
        });
        let io = server.io.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt as _;
            let mut acks = io.emit_with_ack::<Value>("hello", &"x").await;
            while acks.next().await.is_some() {}
        });
        settle().await;
        let ids = published(&detached);

        let mut channels = detached.channels();
        channels.push("socket.io#/#r#".to_owned());
        channels.push("socket.io#/admin#r#".to_owned());
        for message in data.split(|&b| b == 0xc1).take(32) {
            let Some((&which, payload)) = message.split_first() else {
                continue;
            };
            let channel = &channels[usize::from(which) % channels.len()];
            detached.deliver(channel, with_ids(payload, &ids));
            settle().await;
            published(&detached);
            client.collect().await;
        }
        server.close().await;
        published(&detached);
    });
}
