//! Shared support for the Socket.IO integration tests: a conformance-like server on a free
//! loopback port, and a raw Engine.IO/WebSocket client with bounded waits.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower_socketio::{SocketIo, SocketIoBuilder};

/// How long any single wait may take.
pub const STEP: Duration = Duration::from_secs(5);

/// The conformance example itself (its `main` is not used here).
#[path = "../../examples/socketio_conformance.rs"]
mod example;

/// The conformance server's settings (pingInterval 300, pingTimeout 200, connectTimeout 1000).
pub fn conformance_builder() -> SocketIoBuilder {
    example::builder()
}

/// Registers the conformance handlers on `/` and `/custom`.
pub fn conformance_handlers(io: &SocketIo) {
    example::handlers(io)
}

/// Serves `io`'s service on a free loopback port.
pub async fn serve(
    builder: SocketIoBuilder,
    setup: impl FnOnce(&SocketIo),
) -> (SocketAddr, SocketIo) {
    let (svc, io) = builder.build_svc();
    setup(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    (addr, io)
}

/// The conformance server on a free port.
pub async fn conformance_server() -> (SocketAddr, SocketIo) {
    serve(conformance_builder(), conformance_handlers).await
}

/// A raw Engine.IO 4 WebSocket client that answers pings by itself.
pub struct RawClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub open: serde_json::Value,
}

/// What the client read.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Closed,
}

impl RawClient {
    /// Connects over WebSocket and reads the open packet.
    pub async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect timed out")
            .expect("websocket connect failed");
        let open = match tokio::time::timeout(STEP, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
            other => panic!("expected the open packet, got {other:?}"),
        };
        assert!(open.starts_with('0'), "open packet: {open}");
        let open = serde_json::from_str(&open[1..]).unwrap();
        RawClient { ws, open }
    }

    /// Sends a text frame as written (`40`, `42["x"]`, …).
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send failed");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(Message::Binary(data.to_vec().into()))
            .await
            .expect("send failed");
    }

    /// The next frame that is not a ping (pings are answered).
    pub async fn recv(&mut self) -> Frame {
        self.recv_within(STEP).await.expect("no frame in time")
    }

    /// The next frame that is not a ping, or `None` when nothing came in `d`.
    pub async fn recv_within(&mut self, d: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Message::Text("3".into())).await;
                }
                Some(Ok(Message::Text(t))) => return Some(Frame::Text(t.to_string())),
                Some(Ok(Message::Binary(b))) => return Some(Frame::Binary(b.to_vec())),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Frame::Closed),
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next text frame.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Frame::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Asserts the server closes the connection in time (pings are answered meanwhile).
    pub async fn expect_closed(&mut self) {
        loop {
            match self.recv_within(STEP).await {
                Some(Frame::Closed) => return,
                Some(_) => continue,
                None => panic!("the server did not close the connection"),
            }
        }
    }

    /// Asserts the connection stays open for `d` (answering pings), returning other frames.
    pub async fn expect_open_for(&mut self, d: Duration) -> Vec<Frame> {
        let deadline = tokio::time::Instant::now() + d;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return got;
            }
            match self.recv_within(left).await {
                Some(Frame::Closed) => panic!("the connection closed; frames before: {got:?}"),
                Some(f) => got.push(f),
                None => return got,
            }
        }
    }

    /// Connects to `/` and returns the CONNECT answer's socket id, after the `auth` event.
    pub async fn connect_main(&mut self) -> String {
        self.send("40").await;
        let t = self.recv_text().await;
        assert!(t.starts_with("40{"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&t[2..]).unwrap();
        let auth = self.recv_text().await;
        assert_eq!(auth, r#"42["auth",{}]"#);
        v["sid"].as_str().unwrap().to_owned()
    }
}
