//! Engine.IO 3 helpers over the engine test support: sessions opened with `EIO=3`, text,
//! binary and JSONP requests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use tower_socketio::engine::{EngineConfig, Sid};

use crate::engine_support::*;

/// The conformance options (300 ms / 200 ms) with Engine.IO 3 on.
pub fn v3_config() -> EngineConfig {
    EngineConfig::builder()
        .path("/engine.io")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .allow_eio3(true)
        .build()
}

/// Engine.IO 3 on, with a heartbeat long enough not to matter.
pub fn v3_quiet() -> EngineConfig {
    EngineConfig::builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_secs(30))
        .allow_eio3(true)
        .build()
}

/// Splits a text payload at its first `:`: the length and the packet (what the official
/// suite's decoder does with a handshake answer).
pub fn split_payload(payload: &str) -> (&str, &str) {
    payload.split_once(':').expect("a payload with a length")
}

/// The length of text in UTF-16 code units.
pub fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

impl TestServer {
    /// Opens an Engine.IO 3 polling session; `b64` asks for base64 (Node's Node.js client),
    /// else the session reads binary payloads (a browser with XHR2).
    pub async fn open_v3(&self, b64: bool) -> Sid {
        let query = if b64 {
            "EIO=3&transport=polling&b64=1"
        } else {
            "EIO=3&transport=polling"
        };
        let r = self.get(query).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.text();
        let (len, packet) = split_payload(&body);
        assert_eq!(len, units(packet).to_string());
        open_sid(packet)
    }

    pub fn v3_query(&self, sid: Sid) -> String {
        format!("EIO=3&transport=polling&sid={sid}")
    }

    pub async fn poll3(&self, sid: Sid) -> Reply {
        self.get(&self.v3_query(sid)).await
    }

    /// POSTs a text payload (`text/plain`, as engine.io-client 3 does).
    pub async fn push3(&self, sid: Sid, body: impl Into<Bytes>) -> Reply {
        self.post3(sid, "text/plain;charset=UTF-8", body).await
    }

    /// POSTs a binary (XHR2) payload.
    pub async fn push3_binary(&self, sid: Sid, body: impl Into<Bytes>) -> Reply {
        self.post3(sid, "application/octet-stream", body).await
    }

    pub async fn post3(&self, sid: Sid, content_type: &str, body: impl Into<Bytes>) -> Reply {
        http(
            self.addr,
            Method::POST,
            &self.url(&self.v3_query(sid)),
            &[("content-type", content_type)],
            body.into(),
        )
        .await
    }

    /// A polling GET of an Engine.IO 3 session running in the background.
    pub fn poll3_task(&self, sid: Sid) -> tokio::task::JoinHandle<Reply> {
        let addr = self.addr;
        let url = self.url(&self.v3_query(sid));
        tokio::spawn(async move { http(addr, Method::GET, &url, &[], Bytes::new()).await })
    }

    /// Opens an Engine.IO 3 WebSocket session.
    pub async fn open_ws3(&self, query: &str) -> (Ws, Sid) {
        let mut ws = self.ws(&format!("EIO=3&transport=websocket{query}")).await;
        let open = recv_text(&mut ws).await;
        (ws, open_sid(&open))
    }

    /// Whether a session with this id is still open.
    pub fn has_session(&self, sid: Sid) -> bool {
        self.engine.get_socket(sid).is_some()
    }
}
