//! Shared pieces of the engine tests: an echo handler that records what happens,
//! servers on 127.0.0.1:0 (plain hyper, or any tower service), a small HTTP client
//! and WebSocket helpers.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower::ServiceExt as _;
use tower_socketio::engine::{
    DisconnectReason, EngineConfig, EngineHandler, EngineIo, EngineService, Message, Sid, Socket,
    Str, TransportType,
};

/// A value a test layer puts in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(pub &'static str);

/// What the echo handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Connect {
        sid: Sid,
        transport: TransportType,
        tag: Option<Tag>,
        remote: Option<SocketAddr>,
    },
    Message(Sid, String),
    Binary(Sid, Bytes),
    Upgrade(Sid),
    Disconnect(Sid, DisconnectReason),
}

/// Sends every message back unchanged and records every call.
pub struct Echo {
    events: mpsc::UnboundedSender<Event>,
}

impl Echo {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Echo { events: tx }, rx)
    }
}

impl EngineHandler for Echo {
    type Data = ();

    fn on_connect(&self, socket: Arc<Socket<()>>) {
        let _ = self.events.send(Event::Connect {
            sid: socket.id(),
            transport: socket.transport(),
            tag: socket.req_parts().extensions.get::<Tag>().cloned(),
            remote: socket.remote_addr(),
        });
    }

    fn on_disconnect(&self, socket: Arc<Socket<()>>, reason: DisconnectReason) {
        let _ = self.events.send(Event::Disconnect(socket.id(), reason));
    }

    fn on_message(&self, msg: Str, socket: &Arc<Socket<()>>) {
        let _ = self
            .events
            .send(Event::Message(socket.id(), msg.to_string()));
        let _ = socket.send(Message::Text(msg));
    }

    fn on_binary(&self, data: Bytes, socket: &Arc<Socket<()>>) {
        let _ = self.events.send(Event::Binary(socket.id(), data.clone()));
        let _ = socket.send(Message::Binary(data));
    }

    fn on_upgrade(&self, socket: &Arc<Socket<()>>) {
        let _ = self.events.send(Event::Upgrade(socket.id()));
    }
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<EngineIo<Echo>>,
    pub events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    pub path: String,
}

impl TestServer {
    /// `/engine.io/?EIO=4&transport=polling` and the like.
    pub fn url(&self, query: &str) -> String {
        format!("{}/?{}", self.path, query)
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}{}/?{}", self.addr, self.path, query)
    }

    /// Waits for the next event matching `pred` (others are skipped), at most 5 s.
    pub async fn wait_event(&self, pred: impl Fn(&Event) -> bool) -> Event {
        let mut events = self.events.lock().await;
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let e = events.recv().await.expect("handler gone");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("event did not come")
    }

    /// Waits for the disconnect of `sid` and returns its reason.
    pub async fn wait_disconnect(&self, sid: Sid) -> DisconnectReason {
        match self
            .wait_event(|e| matches!(e, Event::Disconnect(s, _) if *s == sid))
            .await
        {
            Event::Disconnect(_, reason) => reason,
            _ => unreachable!(),
        }
    }

    pub async fn get(&self, query: &str) -> Reply {
        http(self.addr, Method::GET, &self.url(query), &[], Bytes::new()).await
    }

    pub async fn post(&self, query: &str, body: impl Into<Bytes>) -> Reply {
        http(self.addr, Method::POST, &self.url(query), &[], body.into()).await
    }

    /// Opens a polling session and returns its id.
    pub async fn open_polling(&self) -> Sid {
        let r = self.get("EIO=4&transport=polling").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        open_sid(&r.text())
    }

    pub async fn poll(&self, sid: Sid) -> Reply {
        self.get(&format!("EIO=4&transport=polling&sid={sid}"))
            .await
    }

    pub async fn push(&self, sid: Sid, body: impl Into<Bytes>) -> Reply {
        self.post(&format!("EIO=4&transport=polling&sid={sid}"), body)
            .await
    }

    pub async fn ws(&self, query: &str) -> Ws {
        ws_connect(&self.ws_url(query)).await
    }

    /// Opens a WebSocket session and returns it with its id.
    pub async fn open_ws(&self) -> (Ws, Sid) {
        let mut ws = self.ws("EIO=4&transport=websocket").await;
        let open = recv_text(&mut ws).await;
        (ws, open_sid(&open))
    }

    /// Waits until the engine has no session left (at most 5 s).
    pub async fn wait_no_sessions(&self) {
        wait_until(|| self.engine.sessions_count() == 0).await;
    }
}

/// The sid of an open packet `0{...}`.
pub fn open_sid(open: &str) -> Sid {
    let v = open_json(open);
    v["sid"]
        .as_str()
        .expect("sid")
        .parse()
        .expect("a valid sid")
}

pub fn open_json(open: &str) -> serde_json::Value {
    assert!(open.starts_with('0'), "not an open packet: {open:?}");
    serde_json::from_str(&open[1..]).expect("open packet JSON")
}

/// Polls `cond` every 10 ms, for at most 5 s.
pub async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The options of the conformance server: pingInterval 300 ms, pingTimeout 200 ms.
pub fn conformance_config() -> EngineConfig {
    EngineConfig::builder()
        .path("/engine.io")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .build()
}

/// A config with a long heartbeat, for tests that must not see pings.
pub fn quiet_config() -> EngineConfig {
    EngineConfig::builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_secs(30))
        .build()
}

/// Starts the echo engine, standalone (EngineService over plain hyper).
pub async fn start(config: EngineConfig) -> TestServer {
    let path = config.path().trim_end_matches('/').to_owned();
    let (echo, events) = Echo::new();
    let engine = EngineIo::new(echo, config);
    let addr = serve(EngineService::new(engine.clone())).await;
    TestServer {
        addr,
        engine,
        events: tokio::sync::Mutex::new(events),
        path,
    }
}

/// Starts the echo engine in front of `f(service)`, e.g. an axum app; `make` gets the
/// engine and returns the address it serves on.
pub async fn start_with<F, Fut>(config: EngineConfig, make: F) -> TestServer
where
    F: FnOnce(Arc<EngineIo<Echo>>) -> Fut,
    Fut: Future<Output = SocketAddr>,
{
    let path = config.path().trim_end_matches('/').to_owned();
    let (echo, events) = Echo::new();
    let engine = EngineIo::new(echo, config);
    let addr = make(engine.clone()).await;
    TestServer {
        addr,
        engine,
        events: tokio::sync::Mutex::new(events),
        path,
    }
}

/// Serves a tower service with plain hyper (HTTP/1.1 with upgrades) on 127.0.0.1:0.
/// The peer address goes into each request's extensions.
pub async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let hyper_service =
                    hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(peer);
                        service.clone().oneshot(req)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper_service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an Engine.IO error answer.
    pub fn assert_error(&self, status: u16, code: u64, message: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(
            self.json(),
            serde_json::json!({ "code": code, "message": message })
        );
    }
}

/// One HTTP/1.1 request on a new connection (5 s limit).
pub async fn http(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    tokio::time::timeout(Duration::from_secs(5), async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).expect("request");
        let res = sender.send_request(req).await.expect("response");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    })
    .await
    .expect("HTTP request timed out")
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects a WebSocket client (5 s limit).
pub async fn ws_connect(url: &str) -> Ws {
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("WebSocket connect timed out")
    .expect("WebSocket connect")
    .0
}

/// The next frame, skipping WebSocket-level pings (5 s limit); `None` when closed.
pub async fn recv(ws: &mut Ws) -> Option<WsMessage> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(m)) => return Some(m),
            }
        }
    })
    .await
    .expect("no WebSocket frame in time")
}

/// The next text frame.
pub async fn recv_text(ws: &mut Ws) -> String {
    match recv(ws).await {
        Some(WsMessage::Text(t)) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::text(text)).await.expect("send");
}

/// Waits until the server closes the WebSocket (5 s limit).
pub async fn expect_closed(ws: &mut Ws) {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the server did not close the WebSocket");
}

impl TestServer {
    /// A polling GET running in the background.
    pub fn poll_task(&self, sid: Sid) -> tokio::task::JoinHandle<Reply> {
        let addr = self.addr;
        let url = self.url(&format!("EIO=4&transport=polling&sid={sid}"));
        tokio::spawn(async move { http(addr, Method::GET, &url, &[], Bytes::new()).await })
    }

    /// A WebSocket handshake sent as a plain request (to read refusals).
    pub async fn ws_handshake_reply(&self, query: &str, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        headers.extend_from_slice(extra);
        http(
            self.addr,
            Method::GET,
            &self.url(query),
            &headers,
            Bytes::new(),
        )
        .await
    }

    /// Sends raw bytes on a new connection and returns the stream.
    pub async fn raw(&self, bytes: &[u8]) -> TcpStream {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
        stream
    }
}

/// Reads what the server sends on `stream` until it closes or `limit` passes.
pub async fn read_all(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    out
}
