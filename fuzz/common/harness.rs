//! What the connection and Redis targets share: a server with handlers for every kind of
//! event, driven in process through its tower service by a long-polling client, on a fresh
//! single-threaded Tokio runtime per input, and the checks made on everything the server
//! writes back.
//!
//! Included by path from the targets (`#[path = "../common/harness.rs"] mod harness;`), so
//! that the fuzz binaries and `tests/fuzz_corpus.rs` compile the same code.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;
use tower_socketio::__private_fuzz::engine::{self as eio, Packet as EioPacket};
use tower_socketio::engine::Message;
use tower_socketio::extract::{AckSender, Data, Event, TryData};
use tower_socketio::protocol::{Args, Codec, DecoderConfig, PacketReader, Parser, Revision};
use tower_socketio::{SocketIo, SocketIoBuilder, SocketIoService, SocketRef};

/// A fresh runtime for one input: nothing carries over from the previous one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// Turns of the scheduler per [`settle`].
pub const SETTLE_TURNS: usize = 8;

/// Lets every task that can make progress run (handlers, the session task, the pending
/// GET). Nothing in the harness waits on the network or a timer, so a bounded number of
/// turns of the scheduler is enough.
pub async fn settle() {
    for _ in 0..SETTLE_TURNS {
        tokio::task::yield_now().await;
    }
}

/// The server's handlers: connect middleware that reads the auth, events that answer,
/// join and leave rooms, broadcast, send binary, wait, disconnect; a second namespace with
/// a refusing middleware, and dynamic namespaces.
pub fn handlers(io: &SocketIo) {
    let root = io.ns(
        "/",
        async |socket: SocketRef, TryData(auth): TryData<Value>| {
            if let Ok(auth) = auth {
                socket.emit("auth", &auth).ok();
            }
            events(&socket);
        },
    );
    root.use_(async |TryData(auth): TryData<Value>| match auth {
        Ok(Value::Object(m)) if m.contains_key("deny") => Err("denied"),
        _ => Ok(()),
    });
    let admin = io.ns("/admin", async |socket: SocketRef| events(&socket));
    admin.use_(async |Data(auth): Data<Value>| {
        tokio::task::yield_now().await;
        if auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(tower_socketio::ConnectError::new("unauthorized").with_data(&auth))
        }
    });
    io.dyn_ns("/dyn/{id}", async |socket: SocketRef| events(&socket));
}

fn events(socket: &SocketRef) {
    socket.on(
        "echo",
        async |socket: SocketRef, args: Args, ack: AckSender| {
            if ack.is_requested() {
                ack.send(&args).ok();
            } else {
                socket.emit("echo", &args).ok();
            }
        },
    );
    socket.on(
        "typed",
        async |Data((a, b)): Data<(String, u32)>, ack: AckSender| {
            ack.send(&(b, a)).ok();
        },
    );
    socket.on(
        "bin",
        async |socket: SocketRef, Data(b): Data<Bytes>, ack: AckSender| {
            socket.emit("bin", &(b.clone(), "x", b.clone())).ok();
            ack.send(&b).ok();
        },
    );
    socket.on(
        "join",
        async |socket: SocketRef, Data(room): Data<String>| {
            socket.join(room);
        },
    );
    socket.on(
        "leave",
        async |socket: SocketRef, Data(room): Data<String>| {
            socket.leave(room);
        },
    );
    socket.on(
        "to",
        async |socket: SocketRef, Data((room, v)): Data<(String, Value)>| {
            socket.to(room).emit("to", &v).await.ok();
        },
    );
    socket.on("all", async |socket: SocketRef, args: Args| {
        socket.broadcast().emit("all", &args).await.ok();
    });
    socket.on(
        "ask",
        async |socket: SocketRef, args: Args, ack: AckSender| {
            // An acknowledgement the client must answer, then the answer goes back.
            let answer = socket
                .timeout(Duration::from_secs(30))
                .emit_with_ack::<Value>("ask", &args)
                .await;
            drop(answer);
            ack.send(&()).ok();
        },
    );
    socket.on("wait", async |ack: AckSender| {
        tokio::task::yield_now().await;
        ack.send(&"waited").ok();
    });
    socket.on("rooms", async |socket: SocketRef, ack: AckSender| {
        ack.send(&socket.rooms()).ok();
    });
    socket.on("bye", async |socket: SocketRef| socket.disconnect());
    socket.on("close", async |socket: SocketRef| socket.conn().close());
    socket.on_any(async |Event(name): Event, TryData(v): TryData<Value>| {
        let _ = (name, v.is_ok());
    });
    socket.use_(|_socket, event| {
        if event.event == "forbidden" {
            Err("forbidden".to_owned())
        } else {
            Ok(())
        }
    });
    socket.on_disconnect(async |socket: SocketRef| {
        socket
            .broadcast()
            .emit("left", socket.id().as_str())
            .await
            .ok();
    });
}

/// A server to drive: its service and handle.
pub struct Server {
    pub svc: SocketIoService,
    pub io: SocketIo,
}

impl Server {
    /// A server built from `builder` with [`handlers`].
    pub fn new(builder: SocketIoBuilder) -> Self {
        let (svc, io) = builder.build_svc();
        handlers(&io);
        Server { svc, io }
    }

    /// One request to the service.
    pub async fn request(&self, method: Method, query: &str, body: Bytes) -> (StatusCode, Bytes) {
        let (status, body, _) = request(&self.svc, method, query, body, false).await;
        (status, body)
    }

    /// Ends the server as a user would (`SocketIo::close`), which must finish.
    pub async fn close(self) {
        let closing = tokio::time::timeout(Duration::from_secs(10), self.io.close());
        if closing.await.is_err() {
            panic!("SocketIo::close did not finish in 10 s");
        }
    }
}

/// One request; its answer's status, body and whether it is `application/octet-stream`.
async fn request(
    svc: &SocketIoService,
    method: Method,
    query: &str,
    body: Bytes,
    octet_stream: bool,
) -> (StatusCode, Bytes, bool) {
    let content_type = if octet_stream {
        "application/octet-stream"
    } else {
        "text/plain;charset=UTF-8"
    };
    let req = Request::builder()
        .method(method)
        .uri(format!("/socket.io/?{query}"))
        .header("content-type", content_type)
        .body(Full::new(body))
        .expect("a valid request");
    let res = svc
        .clone()
        .oneshot(req)
        .await
        .expect("the service is infallible");
    let status = res.status();
    let octet = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let body = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, body, octet)
}

/// A long-polling client: one GET always pending (as a real client keeps one), POSTs as
/// the input says, and every answer checked.
pub struct Polling {
    svc: SocketIoService,
    sid: String,
    /// `EIO=4`, or `EIO=3` (a Socket.IO 2 client).
    eio: u8,
    framing: eio::Framing,
    /// How this client reads the server's Socket.IO packets (no limits of the server's own:
    /// an auth nested 127 deep comes back one level deeper inside the `auth` event).
    reader: PacketReader,
    pending: Option<JoinHandle<(StatusCode, Bytes, bool)>>,
    /// Socket.IO messages read so far, for checks.
    pub received: Vec<Message>,
    /// The session is over (a 400, or a close packet).
    pub closed: bool,
}

impl Polling {
    /// Opens an Engine.IO 4 session (Socket.IO 3 and 4 clients).
    pub async fn open(server: &Server) -> Self {
        Self::open_eio(server, 4).await
    }

    /// Opens an Engine.IO 3 session (a Socket.IO 2 client, which the server joins to `/`
    /// by itself); the server must serve Engine.IO 3.
    pub async fn open_v3(server: &Server) -> Self {
        Self::open_eio(server, 3).await
    }

    async fn open_eio(server: &Server, eio: u8) -> Self {
        let query = format!("EIO={eio}&transport=polling");
        let (status, body) = server.request(Method::GET, &query, Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "handshake refused");
        let text = std::str::from_utf8(&body).expect("the open packet is UTF-8");
        let at = text.find("{").expect("an open packet");
        let json: Value = serde_json::Deserializer::from_str(&text[at..])
            .into_iter::<Value>()
            .next()
            .expect("a JSON object")
            .expect("the open packet is JSON");
        let sid = json["sid"].as_str().expect("a sid").to_owned();
        let framing = eio::Framing::from_query(&query, true).expect("a served framing");
        let revision = if eio == 3 { Revision::V4 } else { Revision::V5 };
        let reader = Codec::new(Parser::Json, revision).reader(
            DecoderConfig::default()
                .with_max_attachments(usize::MAX)
                .with_max_depth(usize::MAX),
        );
        let mut c = Polling {
            svc: server.svc.clone(),
            sid,
            eio,
            framing,
            reader,
            pending: None,
            received: Vec::new(),
            closed: false,
        };
        // An Engine.IO 3 handshake may carry more than the open packet (the `40` of `/`).
        let packets = framing
            .decode_post(body.clone(), false, usize::MAX)
            .unwrap_or_else(|e| panic!("the handshake {body:?} does not read back: {e}"));
        for p in packets.into_iter().skip(1) {
            match p {
                Ok(EioPacket::Message(m)) => c.check_message(m),
                other => panic!("the handshake carries {other:?}"),
            }
        }
        c.poll();
        c
    }

    fn query(&self) -> String {
        format!("EIO={}&transport=polling&sid={}", self.eio, self.sid)
    }

    /// Starts the next GET unless one is pending.
    fn poll(&mut self) {
        if self.pending.is_none() && !self.closed {
            let svc = self.svc.clone();
            let query = self.query();
            self.pending = Some(tokio::spawn(async move {
                request(&svc, Method::GET, &query, Bytes::new(), false).await
            }));
        }
    }

    /// Takes the pending GET's answer if it came, checks it, and starts the next one.
    pub async fn collect(&mut self) {
        settle().await;
        for _ in 0..4 {
            let Some(handle) = self.pending.as_ref() else {
                return;
            };
            if !handle.is_finished() {
                return;
            }
            let handle = self.pending.take().expect("checked above");
            let (status, body, octet) = handle.await.expect("the GET task never panics");
            self.check_get(status, body, octet);
            self.poll();
            settle().await;
        }
    }

    /// POSTs a payload as the client wrote it; the session closes on a 400.
    pub async fn post(&mut self, body: Bytes) -> StatusCode {
        self.post_as(body, false).await
    }

    /// POSTs a payload, as `application/octet-stream` or text.
    pub async fn post_as(&mut self, body: Bytes, octet_stream: bool) -> StatusCode {
        if self.closed {
            return StatusCode::BAD_REQUEST;
        }
        let query = self.query();
        let (status, reply, _) = request(&self.svc, Method::POST, &query, body, octet_stream).await;
        match status {
            StatusCode::OK => assert_eq!(&reply[..], b"ok", "a POST answered 200 says ok"),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("a POST answered {other}"),
        }
        self.collect().await;
        status
    }

    fn check_get(&mut self, status: StatusCode, body: Bytes, octet: bool) {
        if status == StatusCode::BAD_REQUEST {
            // The session ended (a parse error closes it without a close packet).
            self.closed = true;
            return;
        }
        assert_eq!(status, StatusCode::OK, "a GET answered {status}");
        let packets = self
            .framing
            .decode_post(body.clone(), octet, usize::MAX)
            .unwrap_or_else(|e| {
                panic!("the server wrote a payload it cannot read ({e}): {body:?}")
            });
        for p in packets {
            let p = p.unwrap_or_else(|e| panic!("the server wrote a bad packet ({e}): {body:?}"));
            match p {
                EioPacket::Message(m) => self.check_message(m),
                EioPacket::Close => self.closed = true,
                EioPacket::Ping { probe: false } | EioPacket::Noop => {}
                // Engine.IO 3: the client pings, the server answers.
                EioPacket::Pong { probe: false } if self.eio == 3 => {}
                other => panic!("the server sent {other:?} over polling"),
            }
        }
    }

    /// Everything the server sends is a valid Socket.IO packet of the client's protocol,
    /// attachments right after the binary packet that announces them.
    fn check_message(&mut self, m: Message) {
        if let Err(e) = self.reader.feed(m.clone()) {
            panic!("the server wrote what the client cannot read ({e}): {m:?}");
        }
        if self.received.len() < 4096 {
            self.received.push(m);
        }
    }
}

/// A server-side operation named by the byte after `!` on a line of the input.
pub async fn server_op(io: &SocketIo, op: u8, arg: &[u8]) {
    let text = String::from_utf8_lossy(arg).into_owned();
    match op {
        b'e' => {
            io.emit("srv", &text).await.ok();
        }
        b'b' => {
            io.emit("srv-bin", &Bytes::copy_from_slice(arg)).await.ok();
        }
        b'a' => {
            let io = io.clone();
            tokio::spawn(async move {
                let mut acks = io
                    .timeout(Duration::from_secs(30))
                    .emit_with_ack::<Value>("srv-ack", &text)
                    .await;
                use futures_util::StreamExt as _;
                while acks.next().await.is_some() {}
            });
        }
        b'j' => {
            io.sockets_join(text).await.ok();
        }
        b'l' => {
            io.sockets_leave(text).await.ok();
        }
        b't' => {
            io.to(text).emit("room", &1).await.ok();
        }
        b'd' => {
            io.disconnect_sockets(false).await.ok();
        }
        b'D' => {
            io.disconnect_sockets(true).await.ok();
        }
        b'f' => {
            let io = io.clone();
            tokio::spawn(async move {
                let _ = io.fetch_sockets().await;
            });
        }
        b's' => {
            let _ = io.server_side_emit("srv-side", &text).await;
        }
        b'x' => {
            for socket in io.sockets().sockets() {
                socket.emit("direct", &text).ok();
            }
        }
        _ => {}
    }
}

/// The lines of an input: POST bodies, or `!` and an operation.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n').take(64)
}
