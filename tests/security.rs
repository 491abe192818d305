//! The security record's tests (docs/security.md): one test per known advisory of Node's
//! `socket.io`, `engine.io`, `socket.io-parser` and `ws`, and per crash fix in socketioxide's
//! changelogs. Each name starts with the advisory or the fix it answers.
//!
//! Every test runs its server on a runtime of its own whose threads carry the test's name,
//! and fails when any of them panicked, also where the server catches the panic to go on.

mod common;
mod engine_support;
mod sio_support;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt as _;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sio_support::{Frame, RawClient, STEP, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tower_socketio::extract::{AckSender, Data, Event, State, TryData};
use tower_socketio::protocol::{Args, Decoder, ProtocolError, Spread, Value as Any};
use tower_socketio::{SocketIo, SocketIoBuilder, SocketRef};

// ---------------------------------------------------------------------------------------
// Harness: a runtime per test, panics counted per runtime.

/// Names of the threads that panicked.
static PANICKED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            PANICKED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(name);
            default(info);
        }));
    });
}

/// Runs `test` on a multi-threaded runtime whose threads are named after the test, then
/// fails if any of them panicked.
fn run<F: Future<Output = ()>>(test: F) {
    count_panics();
    let name = std::thread::current()
        .name()
        .unwrap_or("security")
        .to_owned();
    let threads = format!("srv:{name}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(threads.clone())
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(test);
    drop(rt);
    let panicked: Vec<String> = PANICKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|t| **t == threads || **t == name)
        .cloned()
        .collect();
    assert!(
        panicked.is_empty(),
        "{} panic(s) in the server's threads",
        panicked.len()
    );
}

fn quiet() -> SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_secs(30))
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A server with `/` whose `echo` acknowledges its arguments and whose events' names are
/// kept in the returned list.
async fn echo_server(builder: SocketIoBuilder) -> (SocketAddr, SocketIo, Seen) {
    let events: Seen = Arc::default();
    let (addr, io) = serve(builder.with_state(events.clone()), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on("echo", async |args: Args, ack: AckSender| {
                ack.send(&args).ok();
            });
            socket.on_any(async |Event(name): Event, State(seen): State<Seen>| {
                seen.lock().unwrap().push(name);
            });
        });
    })
    .await;
    (addr, io, events)
}

/// A client on `/` that still gets answers.
async fn assert_serves(addr: SocketAddr) {
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
    c.send(r#"421["echo","still here"]"#).await;
    assert_eq!(c.recv_text().await, r#"431["still here"]"#);
}

async fn get(addr: SocketAddr, query: &str, headers: &[(&str, &str)]) -> engine_support::Reply {
    let url = format!("/socket.io/?{query}");
    engine_support::http(addr, Method::GET, &url, headers, Bytes::new()).await
}

async fn post(addr: SocketAddr, query: &str, body: impl Into<Bytes>) -> engine_support::Reply {
    let url = format!("/socket.io/?{query}");
    engine_support::http(addr, Method::POST, &url, &[], body.into()).await
}

async fn polling_sid(addr: SocketAddr) -> String {
    let r = get(addr, "EIO=4&transport=polling", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    engine_support::open_json(&r.text())["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// A WebSocket client of raw frames, to send what a well-behaved library never would.

struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: {addr}\r\n\
             connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut ws = RawWs {
            stream,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&ws.buf[..i]).into_owned();
                ws.buf.drain(..i + 4);
                break head;
            }
            ws.fill().await.expect("the handshake answer");
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let (opcode, payload) = ws.frame().await.expect("the open packet");
        assert_eq!(opcode, 1);
        assert!(payload.starts_with(b"0{"));
        ws
    }

    async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(STEP, self.stream.read(&mut chunk))
            .await
            .expect("nothing read in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Some(())
    }

    /// Writes one masked frame: the first byte (FIN, RSV bits, opcode) as given.
    async fn send_raw(&mut self, first: u8, payload: &[u8]) {
        let mut frame = vec![first];
        let mask = [0x11u8, 0x22, 0x33, 0x44];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let _ = self.stream.write_all(&frame).await;
    }

    /// The next frame's opcode and payload exactly as the server wrote it; `None` once the
    /// connection is gone.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let opcode = self.buf[0] & 0x0f;
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                let (len, head) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (
                        usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                        4,
                    ),
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    n @ 0..=125 => (usize::from(n), 2),
                    _ => (usize::MAX, 0),
                };
                if head > 0 && self.buf.len() >= head + len {
                    let payload = self.buf[head..head + len].to_vec();
                    self.buf.drain(..head + len);
                    return Some((opcode, payload));
                }
            }
            self.fill().await?;
        }
    }

    /// The close frame the server sends, skipping other frames.
    async fn close_frame(&mut self) -> Option<Vec<u8>> {
        while let Some((opcode, payload)) = self.frame().await {
            if opcode == 8 {
                return Some(payload);
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Advisories of socket.io, engine.io, socket.io-parser and ws.

/// CVE-2020-28481 (socket.io < 2.4.0): every origin was allowed by default, answered with
/// CORS headers. By default we grant no origin cross-origin access (no CORS headers, as
/// Node's Socket.IO 3+); configured origins are checked and the others refused.
#[test]
fn cve_2020_28481_no_origin_is_granted_cross_origin_access_by_default() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        let evil = [("origin", "https://evil.example")];
        let r = get(addr, "EIO=4&transport=polling", &evil).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-credentials"), None);
        let preflight = engine_support::http(
            addr,
            Method::OPTIONS,
            "/socket.io/?EIO=4&transport=polling",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            Bytes::new(),
        )
        .await;
        assert_eq!(preflight.header("access-control-allow-origin"), None);

        let (addr, _io, _) = echo_server(quiet().origins(["https://app.example"])).await;
        get(addr, "EIO=4&transport=polling", &evil)
            .await
            .assert_error(403, 4, "Forbidden");
        let r = get(
            addr,
            "EIO=4&transport=polling",
            &[("origin", "https://app.example")],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
    });
}

/// CVE-2020-36048 (engine.io < 4.0.0): a 100 MB default `maxHttpBufferSize` let a client
/// make the server buffer huge POST bodies. Ours is 1 MB, and a body is refused with 413
/// as soon as it passes the limit, without waiting for the rest.
#[test]
fn cve_2020_36048_polling_bodies_stop_at_max_payload() {
    run(async {
        let (addr, io, _) = echo_server(quiet()).await;
        assert_eq!(io.engine_config().max_payload(), 1_000_000);
        let sid = polling_sid(addr).await;
        let q = format!("EIO=4&transport=polling&sid={sid}");
        let r = post(addr, &q, vec![b'4'; 1_000_001]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

        // Announces 100 MB, sends 2 MB: answered without the rest.
        let sid = polling_sid(addr).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\n\
             content-length: 100000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'4'; 64 * 1024];
        for _ in 0..32 {
            if stream.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let reply = engine_support::read_all(&mut stream, Duration::from_secs(5)).await;
        assert!(
            String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 413"),
            "{:?}",
            String::from_utf8_lossy(&reply[..reply.len().min(200)])
        );
        assert_serves(addr).await;
    });
}

/// CVE-2020-36049 (socket.io-parser < 3.4.1): a huge packet whose header (a long run of
/// digits) was read by string concatenation exhausted memory. Ours reads digits in place,
/// bounded: an ack id or attachment count of 900 000 digits is refused at once.
#[test]
fn cve_2020_36049_huge_packet_headers_are_refused_in_linear_time() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        let digits = "7".repeat(900_000);
        for packet in [
            format!(r#"42{digits}["echo"]"#),
            format!(r#"45{digits}-["echo"]"#),
            format!(r#"42/{digits}["echo"]"#),
        ] {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            assert!(c.recv_text().await.starts_with("40{"));
            c.send(&packet).await;
            c.expect_closed().await;
        }
        let decoder = Decoder::default();
        assert!(matches!(
            decoder.decode_text(format!(r#"2{digits}["x"]"#).into()),
            Err(ProtocolError::InvalidAckId)
        ));
        assert_serves(addr).await;
    });
}

/// CVE-2022-2421 (socket.io-parser < 4.2.1): a `_placeholder` whose `num` was not a valid
/// index (a string such as `"toString"`, out of range, negative, fractional) put
/// references to functions in the decoded arguments. Ours refuses every such packet.
#[test]
fn cve_2022_2421_placeholders_must_name_an_attachment() {
    run(async {
        let (addr, _io, events) = echo_server(quiet()).await;
        for bad in [
            r#"451-["x",{"_placeholder":true,"num":"toString"}]"#,
            r#"451-["x",{"_placeholder":true,"num":"0"}]"#,
            r#"451-["x",{"_placeholder":true,"num":1}]"#,
            r#"451-["x",{"_placeholder":true,"num":-1}]"#,
            r#"451-["x",{"_placeholder":true,"num":0.5}]"#,
            r#"451-["x",{"_placeholder":true}]"#,
            r#"451-["x",{"_placeholder":true,"num":{"_placeholder":true,"num":0}}]"#,
        ] {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            assert!(c.recv_text().await.starts_with("40{"));
            c.send(bad).await;
            c.send_binary(&[1, 2, 3]).await;
            c.expect_closed().await;
        }
        assert!(
            events.lock().unwrap().is_empty(),
            "{:?}",
            events.lock().unwrap()
        );
        // A valid one is delivered.
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send(r#"451-1["echo",{"_placeholder":true,"num":0}]"#)
            .await;
        c.send_binary(&[1, 2, 3]).await;
        assert_eq!(
            c.recv_text().await,
            r#"461-1[{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(c.recv().await, Frame::Binary(vec![1, 2, 3]));
    });
}

/// CVE-2022-21676 (engine.io < 6.1.1): a WebSocket frame with RSV2/RSV3 set raised an
/// uncaught exception that killed the process. Ours closes that connection with 1002.
#[test]
fn cve_2022_21676_reserved_websocket_bits_close_only_that_connection() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        for first in [
            0x80 | 0x20 | 0x1,
            0x80 | 0x10 | 0x1,
            0x80 | 0x40 | 0x1,
            0x80 | 0x0b,
        ] {
            let mut ws = RawWs::connect(addr).await;
            ws.send_raw(first, b"40").await;
            let close = ws.close_frame().await.expect("a close frame");
            assert_eq!(&close[..2], &1002u16.to_be_bytes(), "first byte {first:#x}");
        }
        // With tungstenite's client too.
        let mut c = RawClient::connect(addr).await;
        let mut frame = WsFrame::message(b"40".to_vec(), OpCode::Data(OpData::Text), true);
        frame.header_mut().rsv2 = true;
        let _ = c.ws.send(WsMessage::Frame(frame)).await;
        c.expect_closed().await;
        assert_serves(addr).await;
    });
}

/// CVE-2023-31125 (engine.io < 6.4.2): `transport=__proto__` reached a property of the
/// object prototype and crashed the process. Our query values are only compared with the
/// names we know.
#[test]
fn cve_2023_31125_prototype_names_in_the_query_are_unknown_values() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        for t in [
            "__proto__",
            "constructor",
            "toString",
            "hasOwnProperty",
            "prototype",
        ] {
            get(addr, &format!("EIO=4&transport={t}"), &[])
                .await
                .assert_error(400, 0, "Transport unknown");
            let r = engine_support::http(
                addr,
                Method::GET,
                &format!("/socket.io/?EIO=4&transport={t}"),
                &[
                    ("connection", "Upgrade"),
                    ("upgrade", "websocket"),
                    ("sec-websocket-version", "13"),
                    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ],
                Bytes::new(),
            )
            .await;
            r.assert_error(400, 0, "Transport unknown");
            get(addr, &format!("EIO=4&transport=polling&sid={t}"), &[])
                .await
                .assert_error(400, 1, "Session ID unknown");
            get(addr, &format!("EIO={t}&transport=polling"), &[])
                .await
                .assert_error(400, 5, "Unsupported protocol version");
        }
        assert_serves(addr).await;
    });
}

/// CVE-2023-32695 (socket.io-parser < 4.2.3): an event whose name was not a string (an
/// object, an array, nothing) raised an uncaught exception. Ours refuses such a packet
/// (the connection closes, as with Node 4.8); numbers stay names, as in Node.
#[test]
fn cve_2023_32695_event_names_must_be_strings_or_numbers() {
    run(async {
        let (addr, _io, events) = echo_server(quiet()).await;
        for bad in [
            r#"42[{"toString":"x"}]"#,
            r#"42[["x"]]"#,
            r#"42[null]"#,
            r#"42[true]"#,
            r#"42[]"#,
            r#"42{}"#,
            r#"42"x""#,
            r#"42["connect"]"#,
            r#"42["disconnecting"]"#,
        ] {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            assert!(c.recv_text().await.starts_with("40{"));
            c.send(bad).await;
            c.expect_closed().await;
        }
        assert!(
            events.lock().unwrap().is_empty(),
            "{:?}",
            events.lock().unwrap()
        );
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send(r#"42[42,"a"]"#).await;
        c.send(r#"421["echo"]"#).await;
        assert_eq!(c.recv_text().await, "431[]");
        assert_eq!(
            *events.lock().unwrap(),
            vec!["42".to_owned(), "echo".to_owned()]
        );
    });
}

/// CVE-2024-38355 (socket.io < 4.6.2): a client emitting `error` raised Node's unhandled
/// `error` event and killed the process. Here `error` is an event like any other: no
/// listener, nothing happens; with one, it runs.
#[test]
fn cve_2024_38355_an_error_event_from_the_client_is_an_ordinary_event() {
    run(async {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (addr, _io) = serve(quiet().with_state(got.clone()), |io| {
            io.ns("/", async |socket: SocketRef| {
                socket.on("echo", async |args: Args, ack: AckSender| {
                    ack.send(&args).ok();
                });
            });
            io.ns("/listening", async |socket: SocketRef| {
                socket.on(
                    "error",
                    async |Data(v): Data<Value>, State(seen): State<Arc<Mutex<Vec<Value>>>>| {
                        seen.lock().unwrap().push(v);
                    },
                );
            });
        })
        .await;
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send(r#"42["error"]"#).await;
        c.send(r#"42["error",{"message":"boom"}]"#).await;
        c.send("40/listening,").await;
        assert!(c.recv_text().await.starts_with("40/listening,{"));
        c.send(r#"42/listening,["error",{"message":"boom"}]"#).await;
        c.send(r#"421["echo","alive"]"#).await;
        assert_eq!(c.recv_text().await, r#"431["alive"]"#);
        assert_eq!(*got.lock().unwrap(), vec![json!({"message": "boom"})]);
    });
}

/// CVE-2026-33151 (socket.io-parser < 4.2.6): the number of binary attachments a packet
/// announces was unbounded, so one packet could make the server buffer without limit.
/// Ours takes at most `max_attachments` (10 by default, as Node's fix).
#[test]
fn cve_2026_33151_attachments_per_packet_are_bounded() {
    run(async {
        let (addr, _io, events) = echo_server(quiet()).await;
        let placeholders = |n: usize| {
            (0..n)
                .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        for announced in ["11", "1000", "18446744073709551616"] {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            assert!(c.recv_text().await.starts_with("40{"));
            c.send(&format!(r#"45{announced}-["x",{}]"#, placeholders(11)))
                .await;
            c.expect_closed().await;
        }
        assert!(events.lock().unwrap().is_empty());
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send(&format!(r#"4510-1["echo",{}]"#, placeholders(10)))
            .await;
        for i in 0..10u8 {
            c.send_binary(&[i]).await;
        }
        assert!(c.recv_text().await.starts_with("4610-1["));
        for i in 0..10u8 {
            assert_eq!(c.recv().await, Frame::Binary(vec![i]));
        }
        let strict = serve(quiet().max_attachments(2), |io| {
            io.ns("/", async |_: SocketRef| {});
        })
        .await;
        let mut c = RawClient::connect(strict.0).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.send(&format!(r#"453-["x",{}]"#, placeholders(3))).await;
        c.expect_closed().await;
    });
}

/// CVE-2026-45736 (ws < 8.20.1): `websocket.close()` with a typed-array reason sent
/// uninitialized memory to the peer. Our close frames carry their code and reason, exactly:
/// the payload is 2 bytes plus the reason's.
#[test]
fn cve_2026_45736_close_frames_carry_exactly_their_code_and_reason() {
    run(async {
        let (addr, io, _) = echo_server(quiet().max_payload(1000)).await;
        // Over max_payload: 1009 "message too big".
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0x81, &vec![b'4'; 2000]).await;
        let close = ws.close_frame().await.expect("a close frame");
        assert_eq!(
            close,
            [&1009u16.to_be_bytes()[..], b"message too big"].concat()
        );
        // Invalid UTF-8: 1007 "invalid UTF-8".
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0x81, b"4\xff\xfe").await;
        let close = ws.close_frame().await.expect("a close frame");
        assert_eq!(
            close,
            [&1007u16.to_be_bytes()[..], b"invalid UTF-8"].concat()
        );
        // A reserved bit: 1002 and no reason.
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0xc1, b"40").await;
        assert_eq!(
            ws.close_frame().await.expect("a close frame"),
            1002u16.to_be_bytes()
        );
        // The server closing: 1000 and no reason.
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0x81, b"40").await;
        let (_, connected) = ws.frame().await.expect("the CONNECT answer");
        assert!(connected.starts_with(b"40{"));
        for socket in io.sockets().sockets() {
            socket.conn().close();
        }
        assert_eq!(
            ws.close_frame().await.expect("a close frame"),
            1000u16.to_be_bytes()
        );
    });
}

/// CVE-2026-48779 (ws < 8.21.0): tiny fragments and data chunks were each kept as a buffer
/// of their own, so memory grew with their count rather than their bytes. Ours appends
/// fragments to one buffer bounded by `max_payload`: 200 000 empty fragments cost
/// nothing, one-byte fragments past `max_payload` close the connection with 1009.
#[test]
fn cve_2026_48779_fragments_are_bounded_by_bytes_not_count() {
    run(async {
        let (addr, _io, _) = echo_server(quiet().max_payload(100_000)).await;
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0x81, b"40").await;
        assert!(
            ws.frame()
                .await
                .expect("CONNECT answer")
                .1
                .starts_with(b"40{")
        );
        // 200 000 empty continuation frames between the start and the end of a message.
        let start = br#"421["echo","#;
        ws.send_raw(0x01, start).await;
        let mut burst = Vec::new();
        let empty = [0x00u8, 0x80, 0, 0, 0, 0];
        for _ in 0..200_000 {
            burst.extend_from_slice(&empty);
        }
        ws.stream.write_all(&burst).await.unwrap();
        ws.send_raw(0x80, br#""ok"]"#).await;
        let (opcode, answer) = ws.frame().await.expect("the acknowledgement");
        assert_eq!((opcode, answer.as_slice()), (1, &br#"431["ok"]"#[..]));
        // One-byte fragments past max_payload.
        ws.send_raw(0x01, b"4").await;
        let mut burst = Vec::new();
        for _ in 0..100_001 {
            burst.extend_from_slice(&[0x00, 0x81, 0, 0, 0, 0, b'a']);
        }
        let _ = ws.stream.write_all(&burst).await;
        let close = ws.close_frame().await.expect("a close frame");
        assert_eq!(&close[..2], &1009u16.to_be_bytes());
        assert_serves(addr).await;
    });
}

/// CVE-2024-37890 (ws < 8.17.1): a handshake with more headers than the server expects
/// crashed it. Ours (hyper) answers 431 and goes on.
#[test]
fn cve_2024_37890_a_handshake_with_thousands_of_headers_is_refused() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        let mut req = String::from(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: x\r\n\
             connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        for i in 0..2000 {
            req.push_str(&format!("x-h{i}: {i}\r\n"));
        }
        req.push_str("\r\n");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let _ = stream.write_all(req.as_bytes()).await;
        let reply = engine_support::read_all(&mut stream, Duration::from_secs(5)).await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
            "{reply}"
        );
        assert_serves(addr).await;
    });
}

// ---------------------------------------------------------------------------------------
// Crash fixes in socketioxide's changelogs.

/// socketioxide #320 (engineioxide 0.13.1): a panic on WebSocket messages the server did
/// not expect (pings, pongs, binary where text was due). Ours ignores control frames and
/// treats a stray binary message as a protocol error of that connection.
#[test]
fn socketioxide_320_unexpected_websocket_messages_do_not_panic() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        let mut c = RawClient::connect(addr).await;
        c.ws.send(WsMessage::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        c.ws.send(WsMessage::Pong(Bytes::from_static(b"q")))
            .await
            .unwrap();
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        c.ws.send(WsMessage::Ping(Bytes::new())).await.unwrap();
        c.send("3").await;
        c.send("6").await;
        c.send("3probe").await;
        c.send("5").await;
        c.send(r#"421["echo",1]"#).await;
        assert_eq!(c.recv_text().await, "431[1]");
        // A binary message no packet announced.
        c.send_binary(&[1, 2, 3]).await;
        c.expect_closed().await;
        // A continuation frame that continues nothing.
        let mut ws = RawWs::connect(addr).await;
        ws.send_raw(0x80, b"x").await;
        assert!(ws.close_frame().await.is_some());
        assert_serves(addr).await;
    });
}

/// socketioxide 0.11.0 (#252): a panic under load when the connect timeout fired as the
/// CONNECT arrived. Here 100 clients CONNECT around a 40 ms connect timeout: each is
/// either connected or closed, and the server goes on.
#[test]
fn socketioxide_252_connects_racing_the_connect_timeout_do_not_panic() {
    run(async {
        let (addr, io, _) = echo_server(quiet().connect_timeout(Duration::from_millis(40))).await;
        let mut tasks = Vec::new();
        for i in 0..100u64 {
            tasks.push(tokio::spawn(async move {
                let mut c = RawClient::connect(addr).await;
                tokio::time::sleep(Duration::from_millis(20 + i % 40)).await;
                let _ = c.ws.send(WsMessage::text("40")).await;
                match c.recv_within(STEP).await {
                    Some(Frame::Text(t)) => assert!(t.starts_with("40{"), "{t}"),
                    Some(Frame::Closed) => {}
                    other => panic!("{other:?}"),
                }
            }));
        }
        for t in tasks {
            t.await.expect("a client task");
        }
        assert_serves(addr).await;
        drop(io);
    });
}

/// socketioxide #311 (0.13.0): namespace calls from a disconnect handler deadlocked the
/// server. Ours: a disconnect handler that creates a namespace, lists sockets, broadcasts,
/// fetches and disconnects others leaves the server serving.
#[test]
fn socketioxide_311_namespace_calls_in_disconnect_handlers_do_not_deadlock() {
    run(async {
        let (addr, io) = serve(quiet(), |io| {
            io.ns("/", async |socket: SocketRef| {
                socket.on("echo", async |args: Args, ack: AckSender| {
                    ack.send(&args).ok();
                });
                socket.on_disconnect(async |socket: SocketRef, io: SocketIo| {
                    let ns = io.ns("/made-on-disconnect", async |_: SocketRef| {});
                    let _ = ns.sockets();
                    let _ = socket.namespace().sockets();
                    let _ = socket.rooms();
                    socket.leave_all();
                    socket.broadcast().emit("left", &1).await.ok();
                    let _ = io.fetch_sockets().await;
                    io.of("/other").disconnect_sockets(true).await.ok();
                });
            });
        })
        .await;
        for _ in 0..20 {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            assert!(c.recv_text().await.starts_with("40{"));
            c.send("41").await;
            let mut c2 = RawClient::connect(addr).await;
            c2.send("40").await;
            assert!(c2.recv_text().await.starts_with("40{"));
            drop(c2);
        }
        assert_serves(addr).await;
        tokio::time::timeout(STEP, io.close())
            .await
            .expect("close finished");
    });
}

/// socketioxide #232 (0.11.1): under load the binary attachments of a packet were not kept
/// next to it, a protocol error for the client. Here 8 tasks emit binary events to one
/// client at once: every binary packet is followed by exactly its attachments.
#[test]
fn socketioxide_232_attachments_stay_next_to_their_packet_under_load() {
    run(async {
        let (addr, _io) = serve(quiet(), |io| {
            io.ns("/", async |socket: SocketRef| {
                socket.on("go", async |socket: SocketRef| {
                    for t in 0..8u8 {
                        let socket = socket.clone();
                        tokio::spawn(async move {
                            for i in 0..50u8 {
                                let a = Bytes::from(vec![t, i]);
                                let b = Bytes::from(vec![t, i, 0xff]);
                                socket.emit("bin", &(a, "x", b)).ok();
                                socket
                                    .broadcast()
                                    .emit("bin", &Bytes::from(vec![t]))
                                    .await
                                    .ok();
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                        });
                    }
                });
            });
        })
        .await;
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        assert!(c.recv_text().await.starts_with("40{"));
        let mut other = RawClient::connect(addr).await;
        other.send("40").await;
        assert!(other.recv_text().await.starts_with("40{"));
        c.send(r#"42["go"]"#).await;
        // Read until the emitters are done (a full queue refuses emits: count what came).
        let mut packets = 0;
        while let Some(frame) = c.recv_within(Duration::from_secs(1)).await {
            let Frame::Text(text) = frame else {
                panic!("a binary message where a packet was due: {frame:?}");
            };
            assert_eq!(&text[..4], "452-", "{text}");
            for k in 0..2 {
                match c.recv().await {
                    Frame::Binary(b) => assert_eq!(b.len(), 2 + k, "{text}"),
                    other => panic!("attachment {k} of {text}: {other:?}"),
                }
            }
            packets += 1;
        }
        let mut broadcasts = 0;
        while let Some(frame) = other.recv_within(Duration::from_secs(1)).await {
            let Frame::Text(text) = frame else {
                panic!("a binary message where a packet was due: {frame:?}");
            };
            assert_eq!(&text[..4], "451-", "{text}");
            assert!(matches!(other.recv().await, Frame::Binary(b) if b.len() == 1));
            broadcasts += 1;
        }
        assert!(
            packets >= 100 && broadcasts >= 100,
            "{packets} and {broadcasts} packets"
        );
    });
}

/// socketioxide #731 (engineioxide 0.17.4): a polling session whose WebSocket upgrade was
/// started and never completed stayed in memory. Ours: the upgrade times out, then the
/// heartbeat ends a session nobody polls.
#[test]
fn socketioxide_731_sessions_with_abandoned_upgrades_are_freed() {
    run(async {
        let builder = SocketIo::builder()
            .ping_interval(Duration::from_millis(100))
            .ping_timeout(Duration::from_millis(100))
            .upgrade_timeout(Duration::from_millis(200));
        let (addr, io, _) = echo_server(builder).await;
        let mut held = Vec::new();
        for i in 0..20 {
            let sid = polling_sid(addr).await;
            let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
            let mut ws = engine_support::ws_connect(&url).await;
            if i % 2 == 0 {
                let _ = ws.send(WsMessage::text("2probe")).await;
            }
            held.push(ws);
        }
        assert_eq!(io.connections(), 20);
        tokio::time::timeout(Duration::from_secs(5), async {
            while io.connections() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("every abandoned session is freed");
        drop(held);
    });
}

/// socketioxide 0.17.4 (engineioxide): the Engine.IO 3 payload decoder looped forever on a
/// truncated packet and could panic on malicious lengths. Ours (served with `allow_eio3`)
/// refuses truncated payloads, lengths past the body and over-long length fields at once,
/// text and binary; Engine.IO 3 stays refused by default.
#[test]
fn socketioxide_v3_decoder_fixes_truncated_and_malicious_v3_payloads_are_refused() {
    run(async {
        let (addr, _io, _) = echo_server(quiet()).await;
        get(addr, "EIO=3&transport=polling", &[])
            .await
            .assert_error(400, 5, "Unsupported protocol version");

        let (addr, io, _) = echo_server(quiet().allow_eio3(true)).await;
        let bodies: [(&[u8], bool); 7] = [
            (b"5:4ab", false),
            (b"99999999999:4x", false),
            (b"3:4ab2", false),
            (b":4ab", false),
            (b"\x01\x05\xff\x04\x01\x02", true),
            (
                b"\x00\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\xff4",
                true,
            ),
            (b"\x00\x02", true),
        ];
        for (body, octet) in bodies {
            let r = get(addr, "EIO=3&transport=polling", &[]).await;
            assert_eq!(r.status, StatusCode::OK);
            let sid = r.text()[r.text().find("\"sid\":\"").unwrap() + 7..][..20].to_owned();
            let url = format!("/socket.io/?EIO=3&transport=polling&sid={sid}");
            let headers: &[(&str, &str)] = if octet {
                &[("content-type", "application/octet-stream")]
            } else {
                &[("content-type", "text/plain;charset=UTF-8")]
            };
            let started = std::time::Instant::now();
            let reply = engine_support::http(
                addr,
                Method::POST,
                &url,
                headers,
                Bytes::copy_from_slice(body),
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{body:?} took long"
            );
        }
        tokio::time::timeout(STEP, async {
            while io.connections() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("every refused session is closed");
        assert_serves(addr).await;
    });
}

/// socketioxide 0.17.2 (engineioxide): sockets leaked when closing took unusual paths.
/// Here 60 connections end every way there is (client DISCONNECT, transport close,
/// server disconnect, a protocol error, mid-CONNECT, over polling): nothing is left.
#[test]
fn socketioxide_leaky_closes_every_way_of_ending_leaves_nothing() {
    run(async {
        let (addr, io) = serve(quiet(), |io| {
            io.ns("/", async |socket: SocketRef| {
                socket.join("room");
                socket.on("bye", async |socket: SocketRef| socket.disconnect());
                socket.on("slow", async |ack: AckSender| {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    ack.send(&1).ok();
                });
            });
            io.ns("/custom", async |_: SocketRef| {});
        })
        .await;
        for i in 0..60 {
            let mut c = RawClient::connect(addr).await;
            c.send("40").await;
            if i % 6 != 5 {
                assert!(c.recv_text().await.starts_with("40{"));
                c.send("40/custom,").await;
                assert!(c.recv_text().await.starts_with("40/custom,"));
            }
            match i % 6 {
                0 => c.send("41").await,
                1 => drop(c),
                2 => c.send(r#"42["bye"]"#).await,
                3 => c.send("4x").await,
                4 => {
                    c.send(r#"421["slow"]"#).await;
                    drop(c);
                }
                _ => drop(c),
            }
        }
        for _ in 0..10 {
            let sid = polling_sid(addr).await;
            let q = format!("EIO=4&transport=polling&sid={sid}");
            assert_eq!(post(addr, &q, "40").await.text(), "ok");
            assert_eq!(post(addr, &q, "1").await.text(), "ok");
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let sockets = io.of("/").sockets().len() + io.of("/custom").sockets().len();
                let rooms = io.of("/").adapter().rooms().len();
                if sockets == 0 && rooms == 0 && io.connections() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("every socket, room and session is gone");
    });
}

/// socketioxide #627 (0.18.1): a socket refused by a namespace's middleware stayed in the
/// namespace and its adapter. Ours: 50 refusals (also one whose client leaves while the
/// middleware runs) leave the namespace empty.
#[test]
fn socketioxide_627_refused_connections_leave_nothing_behind() {
    run(async {
        let (addr, io) = serve(quiet(), |io| {
            io.ns("/", async |_: SocketRef| {});
            let guarded = io.ns("/guarded", async |socket: SocketRef| {
                socket.join("members");
            });
            guarded.use_(async |TryData(auth): TryData<Value>| {
                tokio::time::sleep(Duration::from_millis(5)).await;
                match auth {
                    Ok(a) if a["token"] == "ok" => Ok(()),
                    _ => Err("refused"),
                }
            });
        })
        .await;
        for i in 0..50 {
            let mut c = RawClient::connect(addr).await;
            c.send(r#"40/guarded,{"token":"no"}"#).await;
            if i % 5 == 0 {
                drop(c);
                continue;
            }
            let t = c.recv_text().await;
            assert!(t.starts_with(r#"44/guarded,{"message":"refused""#), "{t}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ns = io.of("/guarded");
        assert_eq!(ns.sockets().len(), 0);
        assert!(ns.adapter().rooms().is_empty());
        let mut c = RawClient::connect(addr).await;
        c.send(r#"40/guarded,{"token":"ok"}"#).await;
        assert!(c.recv_text().await.starts_with("40/guarded,{"));
        assert_eq!(ns.sockets().len(), 1);
    });
}

// ---------------------------------------------------------------------------------------
// Found by issue 10's hostile input.

/// The Node server of `tests/js/lone_surrogates_server.mjs`; killed when dropped.
async fn node_surrogates_server() -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(common::node())
        .arg(common::js_dir().join("lone_surrogates_server.mjs"))
        .current_dir(common::js_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node did not start");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the Node server did not start in 20 s")
        .expect("reading the Node server's output")
        .expect("the Node server exited");
    let port: u16 = line
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the Node server: {line}"));
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// What a server answers to packets with lone surrogates, as JSON values: Node's `\ud800`
/// escapes (a JavaScript string keeps the lone half) read as U+FFFD, ours are U+FFFD.
async fn surrogate_answers(addr: SocketAddr) -> Vec<Value> {
    let normalize = |t: String| {
        let t = t
            .replace("\\ud800", "\u{fffd}")
            .replace("\\udfff", "\u{fffd}");
        let json = t.trim_start_matches(|c: char| c.is_ascii_digit());
        serde_json::from_str::<Value>(json).unwrap_or_else(|e| panic!("{t}: {e}"))
    };
    let mut c = RawClient::connect(addr).await;
    c.send(r#"40{"k":"x\ud800y","\udfff":1}"#).await;
    assert!(c.recv_text().await.starts_with("40{"));
    let mut answers = vec![normalize(c.recv_text().await)];
    for packet in [
        r#"42["\ud800",1]"#,
        r#"42["pair","\ud83d\ude00","\udfffz"]"#,
    ] {
        c.send(packet).await;
        answers.push(normalize(c.recv_text().await));
    }
    // The connection is still open.
    c.send(r#"42["still"]"#).await;
    answers.push(normalize(c.recv_text().await));
    answers
}

/// Issue 10, finding 9: a lone surrogate escape (`"\ud800"`) in an event name closed the
/// connection, and in the CONNECT auth skipped the connect handler; Node 4.8 accepts both.
/// Ours reads each lone surrogate as U+FFFD: the same answers as Node's, but for that
/// character (a Rust string cannot hold half a UTF-16 pair).
#[test]
fn issue10_lone_surrogates_are_accepted_as_node_does() {
    run(async {
        let (addr, _io) = serve(quiet(), |io| {
            io.ns("/", async |socket: SocketRef, Data(auth): Data<Value>| {
                socket.emit("auth", &auth).ok();
                socket.on_any(async |socket: SocketRef, Event(name): Event, args: Args| {
                    let mut got = vec![Any::String(name)];
                    got.extend(args.deserialize_all::<Vec<Any>>().unwrap_or_default());
                    socket.emit("got", &Spread(got)).ok();
                });
            });
        })
        .await;
        let ours = surrogate_answers(addr).await;
        assert_eq!(
            ours,
            vec![
                json!(["auth", {"k": "x\u{fffd}y", "\u{fffd}": 1}]),
                json!(["got", "\u{fffd}", 1]),
                json!(["got", "pair", "\u{1f600}", "\u{fffd}z"]),
                json!(["got", "still"]),
            ]
        );
        if common::require_peer(common::Peer::NodeModules).is_none() {
            return;
        }
        let (_node, node_addr) = node_surrogates_server().await;
        assert_eq!(
            surrogate_answers(node_addr).await,
            ours,
            "Node 4.8 answers the same"
        );
    });
}
