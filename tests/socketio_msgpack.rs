//! The MessagePack parser end to end: socket.io-client 4.8 with socket.io-msgpack-parser,
//! python-socketio with `serializer='msgpack'`, and Chromium with the
//! `socket.io.msgpack.min.js` bundle our server serves, each over polling, WebSocket and
//! upgrade; then hostile MessagePack over a raw WebSocket (every one a clean close, never a
//! panic; the server keeps serving).

mod common;
mod sio_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{Peer, require_peer};
use serde::Serialize;
use sio_support::{Frame, RawClient};
use tokio::process::Command;
use tower_socketio::extract::{AckSender, Data, State};
use tower_socketio::protocol::{Args, Value};
use tower_socketio::{ConnectError, DisconnectReason, Parser, SocketIo, SocketRef};

/// The disconnect reasons the server saw, by socket id.
#[derive(Default)]
struct Seen(Mutex<Vec<(String, String)>>);

#[derive(Serialize)]
struct Nested {
    nested: Vec<Bytes>,
}

#[derive(Serialize)]
struct Refused {
    code: u8,
    bin: Bytes,
}

/// The handlers tests/js/msgpack/cases.mjs expects (see there).
fn handlers(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef, Data(auth): Data<Value>| {
        socket.emit("auth", &auth).ok();
        socket.on("message", async |socket: SocketRef, args: Args| {
            socket.emit("message-back", &args).ok();
        });
        socket.on("message-with-ack", async |args: Args, ack: AckSender| {
            ack.send(&args).ok();
        });
        socket.on("ask", async |socket: SocketRef| {
            let question = (
                "question",
                Bytes::from_static(&[1, 2, 3]),
                Nested {
                    nested: vec![Bytes::from_static(&[4])],
                },
            );
            if let Ok(answer) = socket.emit_with_ack::<Args>("q", &question).await {
                socket.emit("q-answer", &answer).ok();
            }
        });
        socket.on("broadcast-me", async |io: SocketIo, args: Args| {
            io.emit("broadcasted", &args).await.ok();
        });
        socket.on("disconnect-me", async |socket: SocketRef| {
            socket.disconnect()
        });
        socket.on(
            "reason-of",
            async |Data(sid): Data<String>, ack: AckSender, State(seen): State<Arc<Seen>>| {
                let seen = seen.0.lock().unwrap().clone();
                let reason = seen.into_iter().find(|(s, _)| *s == sid).map(|(_, r)| r);
                ack.send(&reason).ok();
            },
        );
        socket.on_disconnect(
            async |socket: SocketRef, reason: DisconnectReason, State(seen): State<Arc<Seen>>| {
                let entry = (socket.id().to_string(), reason.to_string());
                seen.0.lock().unwrap().push(entry);
            },
        );
    });
    io.ns(
        "/custom",
        async |socket: SocketRef, Data(auth): Data<Value>| {
            socket.emit("auth", &auth).ok();
        },
    );
    io.ns("/refuse", async |_: SocketRef| {})
        .use_(async || -> Result<(), ConnectError> {
            Err(ConnectError::new("nope").with_data(&Refused {
                code: 1,
                bin: Bytes::from_static(&[255, 0]),
            }))
        });
}

/// The MessagePack server on a free port, in an axum router that also serves the browser
/// test page and the cases module.
async fn msgpack_server() -> (SocketAddr, SocketIo, Arc<Seen>) {
    use axum::response::IntoResponse;
    let seen = Arc::new(Seen::default());
    let (layer, io) = sio_support::conformance_builder()
        .parser(Parser::MsgPack)
        .with_state(seen.clone())
        .build_layer();
    handlers(&io);
    let file = |body: &'static str, ty: &'static str| {
        move || async move { ([(http::header::CONTENT_TYPE, ty)], body).into_response() }
    };
    let app = axum::Router::new()
        .route(
            "/msgpack-test.html",
            axum::routing::get(file(
                include_str!("js/msgpack/page.html"),
                "text/html; charset=utf-8",
            )),
        )
        .route(
            "/msgpack-cases.mjs",
            axum::routing::get(file(
                include_str!("js/msgpack/cases.mjs"),
                "text/javascript; charset=utf-8",
            )),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, io, seen)
}

const TRANSPORTS: [&str; 3] = ["polling", "websocket", "polling,websocket"];

#[tokio::test]
async fn js_client_with_the_msgpack_parser_on_every_transport() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let (addr, _io, _) = msgpack_server().await;
    for transports in TRANSPORTS {
        let out = common::node_driver_ok(
            "socketio_msgpack.mjs",
            &[&format!("http://{addr}"), "--transports", transports],
        )
        .await;
        assert!(out.contains("11 cases"), "{out}");
    }
}

#[tokio::test]
async fn python_client_with_serializer_msgpack() {
    if require_peer(Peer::Python).is_none() {
        return;
    }
    let (addr, _io, _) = msgpack_server().await;
    let url = format!("http://{addr}");
    for transports in TRANSPORTS {
        common::python_driver_ok(
            "sio_client.py",
            &[&url, "--transports", transports, "--serializer", "msgpack"],
        )
        .await;
        common::python_driver_ok(
            "sio_client.py",
            &[
                &url,
                "--transports",
                transports,
                "--serializer",
                "msgpack",
                "--namespace",
                "/custom",
                "--auth",
                r#"{"token":"abc"}"#,
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn chromium_with_the_msgpack_bundle_from_our_server() {
    let Some(chromium) = require_peer(Peer::Chromium) else {
        return;
    };
    assert!(
        tower_socketio::client_files::is_embedded(),
        "this build has no browser client (see the build script's cargo warning)"
    );
    let (addr, _io, _) = msgpack_server().await;
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("browser/msgpack.mjs"))
        .arg(format!("http://{addr}/msgpack-test.html"))
        .arg("--chromium")
        .arg(&chromium)
        .current_dir(common::js_dir());
    let out = common::expect_success(
        common::run_command(cmd, "node browser/msgpack.mjs", Duration::from_secs(120)).await,
        "the browser with the msgpack bundle",
    );
    assert_eq!(out.matches("11 cases").count(), 3, "{out}");
}

// ---- raw MessagePack over a WebSocket --------------------------------------------------------

/// A packet map, keys in the given order.
fn map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x80 | entries.len() as u8];
    for (k, v) in entries {
        out.push(0xa0 | k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v);
    }
    out
}

const NSP: &[u8] = b"\xa1/";

fn event(data: &[u8]) -> Vec<u8> {
    map(&[("type", b"\x02"), ("data", data), ("nsp", NSP)])
}

/// A raw client connected to `/` with the MessagePack parser (after the `auth` event).
async fn connected(addr: SocketAddr) -> RawClient {
    let mut c = RawClient::connect(addr).await;
    c.send_binary(&map(&[("type", b"\x00"), ("nsp", NSP)]))
        .await;
    let Frame::Binary(reply) = c.recv().await else {
        panic!("no binary CONNECT reply")
    };
    assert!(
        reply.starts_with(b"\x83\xa4type\x00\xa4data\x81\xa3sid"),
        "{reply:x?}"
    );
    let Frame::Binary(auth) = c.recv().await else {
        panic!("no auth event")
    };
    assert_eq!(
        auth,
        map(&[
            ("type", b"\x02"),
            ("data", b"\x92\xa4auth\x80"),
            ("nsp", NSP)
        ])
    );
    c
}

/// The `message-back` echo of an EVENT `message` with these argument bytes.
async fn echo(c: &mut RawClient, args: &[u8], count: u8) -> Vec<u8> {
    let mut data = vec![0x91 + count, 0xa7];
    data.extend_from_slice(b"message");
    data.extend_from_slice(args);
    c.send_binary(&event(&data)).await;
    let Frame::Binary(back) = c.recv().await else {
        panic!("no echo")
    };
    back
}

fn echoed(args: &[u8], count: u8) -> Vec<u8> {
    let mut data = vec![0x91 + count, 0xac];
    data.extend_from_slice(b"message-back");
    data.extend_from_slice(args);
    event(&data)
}

#[tokio::test]
async fn notepack_extensions_from_a_client_are_read_as_plain_values() {
    let (addr, _io, _) = msgpack_server().await;
    let mut c = connected(addr).await;
    // undefined in an array and in a map, Node's ArrayBuffer form, a notepack 2 Date(0), a
    // timestamp, another extension, a number key, invalid UTF-8.
    let args = b"\xd4\x00\x00\x81\xa1u\xd4\x00\x00\xc7\x01\x00\x09\xd7\x00\0\0\0\0\0\0\0\0\xd6\xff\0\0\0\x01\xd5\x05\x01\x02\x81\x07\xc3\xa1\xff";
    let back = echo(&mut c, args, 8).await;
    let mut want = b"\xc0\x80\xc4\x01\x09\xb81970-01-01T00:00:00.000Z\xb81970-01-01T00:00:01.000Z\x92\x05\xc4\x02\x01\x02\x81\xa17\xc3\xa3\xef\xbf\xbd".to_vec();
    assert_eq!(back, echoed(&std::mem::take(&mut want), 8));
    // The CONNECT of the JS client (`data: undefined`) and python's DISCONNECT (`data: nil`).
    let mut c = RawClient::connect(addr).await;
    c.send_binary(&map(&[
        ("type", b"\x00"),
        ("data", b"\xd4\x00\x00"),
        ("nsp", NSP),
    ]))
    .await;
    assert!(matches!(c.recv().await, Frame::Binary(_)));
    assert!(matches!(c.recv().await, Frame::Binary(_)));
    c.send_binary(&map(&[("type", b"\x01"), ("data", b"\xc0"), ("nsp", NSP)]))
        .await;
    // Left cleanly: the connection stays (no namespace: the connect timeout closes it later).
    assert_eq!(c.expect_open_for(Duration::from_millis(200)).await, vec![]);
}

#[tokio::test]
async fn hostile_messagepack_closes_the_connection_and_nothing_else() {
    let (addr, _io, _) = msgpack_server().await;
    let big = |marker: u8| -> Vec<u8> { vec![marker, 0xff, 0xff, 0xff, 0xff] };
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xc0);
    let mut deep_maps = b"\x81\xa1k".repeat(33_000);
    deep_maps.push(0xc0);
    let valid = event(b"\x91\xa1e");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "type is a string",
            map(&[("type", b"\xa12"), ("data", b"\x91\xa1e"), ("nsp", NSP)]),
        ),
        ("type is 5", map(&[("type", b"\x05"), ("nsp", NSP)])),
        (
            "type is a float",
            map(&[("type", b"\xcb\x3f\xf8\0\0\0\0\0\0"), ("nsp", NSP)]),
        ),
        ("type is -1", map(&[("type", b"\xff"), ("nsp", NSP)])),
        ("no type", map(&[("nsp", NSP)])),
        (
            "namespace is a number",
            map(&[("type", b"\x02"), ("data", b"\x91\xa1e"), ("nsp", b"\x01")]),
        ),
        (
            "namespace is nil",
            map(&[("type", b"\x02"), ("data", b"\x91\xa1e"), ("nsp", b"\xc0")]),
        ),
        (
            "namespace is binary",
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1e"),
                ("nsp", b"\xc4\x01/"),
            ]),
        ),
        (
            "no namespace",
            map(&[("type", b"\x02"), ("data", b"\x91\xa1e")]),
        ),
        (
            "id is a string",
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1e"),
                ("id", b"\xa11"),
                ("nsp", NSP),
            ]),
        ),
        (
            "id is a float",
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1e"),
                ("id", b"\xcb\x3f\xf8\0\0\0\0\0\0"),
                ("nsp", NSP),
            ]),
        ),
        (
            "id is negative",
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1e"),
                ("id", b"\xff"),
                ("nsp", NSP),
            ]),
        ),
        (
            "id is nil",
            map(&[
                ("type", b"\x02"),
                ("data", b"\x91\xa1e"),
                ("id", b"\xc0"),
                ("nsp", NSP),
            ]),
        ),
        ("EVENT data is a map", event(b"\x81\xa1a\x01")),
        ("EVENT data is empty", event(b"\x90")),
        ("EVENT name is a boolean", event(b"\x91\xc3")),
        (
            "EVENT name is reserved",
            event(b"\x92\xaadisconnect\xa6forged"),
        ),
        (
            "ACK without id",
            map(&[("type", b"\x03"), ("data", b"\x90"), ("nsp", NSP)]),
        ),
        (
            "ACK data is a string",
            map(&[
                ("type", b"\x03"),
                ("data", b"\xa1x"),
                ("id", b"\x00"),
                ("nsp", NSP),
            ]),
        ),
        (
            "CONNECT data is an array",
            map(&[
                ("type", b"\x00"),
                ("data", b"\x91\x01"),
                ("nsp", b"\xa7/custom"),
            ]),
        ),
        (
            "DISCONNECT data is a number",
            map(&[("type", b"\x01"), ("data", b"\x01"), ("nsp", NSP)]),
        ),
        (
            "CONNECT_ERROR from a client",
            map(&[("type", b"\x04"), ("data", b"\xa1x"), ("nsp", NSP)]),
        ),
        ("not a map", b"\x92\x02\xa1/".to_vec()),
        ("array32 header, no data", big(0xdd)),
        ("map32 header, no data", big(0xdf)),
        ("str32 header, no data", big(0xdb)),
        ("bin32 header, no data", big(0xc6)),
        ("ext32 header, no data", big(0xc9)),
        ("array32 header inside data", event(&big(0xdd))),
        (
            "map32 header inside data",
            event(&[b"\x92\xa1e".as_slice(), &big(0xdf)].concat()),
        ),
        (
            "60 nested array32 headers (300 bytes)",
            big(0xdd).repeat(60),
        ),
        ("arrays nested 100 000 deep", event(&deep)),
        ("maps nested 33 000 deep", event(&deep_maps)),
        ("a trailing byte", [valid.as_slice(), b"\x00"].concat()),
        ("0xc1", b"\xc1".to_vec()),
        ("a truncated packet", valid[..valid.len() - 1].to_vec()),
        ("a nil map key", event(b"\x92\xa1e\x81\xc0\x01")),
    ];
    for (what, frame) in cases {
        let mut c = connected(addr).await;
        c.send_binary(&frame).await;
        c.expect_closed().await;
        // The server serves the next client as before.
        let _ = what;
    }
    // A text message on a MessagePack server: a JSON client cannot connect.
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.expect_closed().await;
    // Still serving.
    let mut c = connected(addr).await;
    assert_eq!(echo(&mut c, b"\x01", 1).await, echoed(b"\x01", 1));
}

#[tokio::test]
async fn a_big_but_honest_message_is_served() {
    let (addr, _io, _) = msgpack_server().await;
    let mut c = connected(addr).await;
    // 500 000 nils as arguments in one 500 KB message: echoed as they came, without
    // deserializing a value.
    let mut data = vec![0xdd];
    data.extend_from_slice(&500_001u32.to_be_bytes());
    data.extend_from_slice(b"\xa7message");
    data.resize(data.len() + 500_000, 0xc0);
    let frame = event(&data);
    c.send_binary(&frame).await;
    let Frame::Binary(back) = c.recv().await else {
        panic!("no echo")
    };
    // The same bytes but the event name, `message-back` for `message`.
    assert_eq!(back.len(), frame.len() + 5);
    assert!(back.ends_with(b"\xc0\xc0\xa3nsp\xa1/"));
}

/// Engine.IO 3 on a MessagePack server (`allow_eio3`): no real client pairs them, so a raw
/// one. Engine.IO 3 frames a binary message with a leading 4 on WebSocket; protocol 4
/// joins `/` by itself and answers with nothing but the namespace.
#[tokio::test]
async fn an_engine_io_3_session_speaks_messagepack_with_protocol_4_rules() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;
    let builder = sio_support::conformance_builder()
        .parser(Parser::MsgPack)
        .allow_eio3(true)
        .with_state(Arc::new(Seen::default()));
    let (addr, _io) = sio_support::serve(builder, handlers).await;
    let url = format!("ws://{addr}/socket.io/?EIO=3&transport=websocket");
    let (mut ws, _) =
        tokio::time::timeout(sio_support::STEP, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
    let mut binary = Vec::new();
    let deadline = tokio::time::Instant::now() + sio_support::STEP;
    while binary.len() < 2 {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no frames from the server")
            .unwrap()
            .unwrap();
        match frame {
            Ws::Binary(b) => binary.push(b.to_vec()),
            // The open packet, pings and pongs of the engine.
            Ws::Text(_) | Ws::Ping(_) | Ws::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // The CONNECT of `/` (protocol 4: no data), then the `auth` event with `{}`.
    assert_eq!(
        binary[0],
        [vec![4], map(&[("type", b"\x00"), ("nsp", NSP)])].concat()
    );
    assert_eq!(
        binary[1],
        [
            vec![4],
            map(&[
                ("type", b"\x02"),
                ("data", b"\x92\xa4auth\x80"),
                ("nsp", NSP)
            ])
        ]
        .concat()
    );
    // An event comes back as it went.
    let frame = [vec![4], event(b"\x92\xa7message\xc4\x01\x07")].concat();
    ws.send(Ws::Binary(frame.into())).await.unwrap();
    loop {
        let next = tokio::time::timeout(sio_support::STEP, ws.next())
            .await
            .expect("no echo")
            .unwrap()
            .unwrap();
        if let Ws::Binary(b) = next {
            assert_eq!(b.to_vec(), [vec![4], echoed(b"\xc4\x01\x07", 1)].concat());
            break;
        }
    }
}
