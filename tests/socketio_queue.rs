//! The outgoing queue, bounded in bytes: a client reading at its link's speed gets every
//! packet through bursts (one POST of 62,000 events, 129 broadcasts in one polling round
//! trip, a few MB over WebSocket), `emit_wait` waits for room instead of failing, and a
//! client that stopped reading is still cut (see socketio_core's slow reader test).

mod engine_support;
mod sio_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use sio_support::{Frame, RawClient, STEP, serve};
use tower_socketio::{SocketIo, SocketRef};

const RECORD: char = '\u{1e}';

async fn http(
    addr: SocketAddr,
    method: Method,
    query: &str,
    body: String,
) -> engine_support::Reply {
    engine_support::http(
        addr,
        method,
        &format!("/socket.io/?EIO=4&transport=polling{query}"),
        &[],
        Bytes::from(body),
    )
    .await
}

/// A polling connection joined to `/`: its sid.
async fn polling_client(addr: SocketAddr) -> String {
    let open = http(addr, Method::GET, "", String::new()).await;
    let sid = engine_support::open_json(&open.text())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = format!("&sid={sid}");
    assert_eq!(http(addr, Method::POST, &q, "40".into()).await.text(), "ok");
    let reply = http(addr, Method::GET, &q, String::new()).await;
    assert!(reply.text().starts_with("40{"), "{}", reply.text());
    sid
}

/// Polls until `want` packets matching `pred` came; panics if the session ends first.
async fn poll_until(addr: SocketAddr, sid: &str, want: usize, pred: impl Fn(&str) -> bool) {
    let q = format!("&sid={sid}");
    let mut got = 0;
    while got < want {
        let reply = http(addr, Method::GET, &q, String::new()).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "the session ended after {got} of {want}: {}",
            reply.text()
        );
        for packet in reply.text().split(RECORD) {
            assert_ne!(packet, "1", "closed after {got} of {want}");
            if pred(packet) {
                got += 1;
            }
        }
    }
}

fn echo(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef| {
        socket.on("e", async |socket: SocketRef, tower_socketio::extract::Data(n): tower_socketio::extract::Data<u32>| {
            socket.emit("back", &n).ok();
        });
    });
}

#[tokio::test]
async fn one_post_of_62000_events_gets_every_echo() {
    let (addr, _io) = serve(SocketIo::builder(), echo).await;
    let sid = polling_client(addr).await;
    let n = 62_000u32;
    let body: Vec<String> = (0..n).map(|i| format!("42[\"e\",{i}]")).collect();
    let body = body.join(&RECORD.to_string());
    assert!(body.len() < 1_000_000, "{} bytes", body.len());
    let q = format!("&sid={sid}");
    assert_eq!(http(addr, Method::POST, &q, body).await.text(), "ok");
    poll_until(addr, &sid, n as usize, |p| p.starts_with("42[\"back\"")).await;
}

#[tokio::test]
async fn a_burst_of_broadcasts_in_one_polling_round_trip_keeps_the_client() {
    let (addr, io) = serve(SocketIo::builder(), echo).await;
    let sid = polling_client(addr).await;
    // 1,000 broadcasts while the client has no GET open (between two polls).
    for i in 0..1000u32 {
        io.emit("burst", &i).await.unwrap();
    }
    poll_until(addr, &sid, 1000, |p| p.starts_with("42[\"burst\"")).await;
    assert_eq!(io.sockets().len(), 1);
}

#[tokio::test]
async fn a_few_megabytes_of_broadcasts_reach_a_websocket_client_that_reads() {
    let (addr, io) = serve(SocketIo::builder(), |io| {
        io.ns("/", async |_socket: SocketRef| {});
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.recv_text().await;
    let payload = "x".repeat(4 * 1024);
    let count = 1000; // about 4 MB, emitted at once
    for _ in 0..count {
        io.emit("bulk", &payload).await.unwrap();
    }
    let mut got = 0;
    while got < count {
        match c.recv().await {
            Frame::Text(t) if t.starts_with("42[\"bulk\"") => got += 1,
            Frame::Closed => panic!("closed after {got} of {count}"),
            _ => {}
        }
    }
    assert_eq!(io.sockets().len(), 1);
}

#[tokio::test]
async fn emit_wait_waits_for_room_and_loses_nothing() {
    // A small budget, so that the client's pause fills it at once.
    let (addr, _io) = serve(SocketIo::builder().max_buffered_bytes(256 * 1024), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on("go", async |socket: SocketRef| {
                let payload = "y".repeat(64 * 1024);
                let mut full = false;
                for i in 0..400u32 {
                    // `emit` fails on the way (the queue is full) ...
                    full |= socket.emit("probe", &payload).is_err();
                    // ... `emit_wait` waits instead.
                    socket.emit_wait("n", &(i, &payload)).await.unwrap();
                }
                socket.emit_wait("done", &full).await.unwrap();
            });
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.recv_text().await;
    c.send("42[\"go\"]").await;
    // Not reading for a while: the socket buffers and the queue fill up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (next, done) = read_in_order(&mut c).await;
    assert_eq!(done, "42[\"done\",true]", "the queue never filled");
    assert_eq!(next, 400);
}

#[tokio::test]
async fn emits_keep_their_order_while_writes_move_between_the_sender_and_the_queue() {
    // Small and large packets mixed: a small one to an idle socket is written by the
    // sender itself, a large one fills the socket and the rest queue behind it until the
    // session's task has written them, then senders write directly again.
    let (addr, _io) = serve(SocketIo::builder().max_buffered_bytes(64 << 20), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on("go", async |socket: SocketRef| {
                let big = "z".repeat(48 * 1024);
                for i in 0..600u32 {
                    let text = if i % 7 == 0 { big.as_str() } else { "s" };
                    socket.emit("n", &(i, text)).unwrap();
                    if i % 50 == 0 {
                        // Room for the task to drain the queue, so that direct writes
                        // start again.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                socket.emit("done", &()).unwrap();
            });
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.recv_text().await;
    c.send("42[\"go\"]").await;
    // A pause while the emits begin: the kernel's buffers fill.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (next, _) = read_in_order(&mut c).await;
    assert_eq!(next, 600);
}

/// Reads the `n` events (numbered from 0, checked in order) until `done`; how many came,
/// and the `done` frame.
async fn read_in_order(c: &mut RawClient) -> (u32, String) {
    let mut next = 0u32;
    loop {
        match tokio::time::timeout(STEP, c.recv()).await.expect("stalled") {
            Frame::Text(t) if t.starts_with("42[\"n\"") => {
                let v: serde_json::Value = serde_json::from_str(&t[2..]).unwrap();
                assert_eq!(v[1], next, "out of order");
                next += 1;
            }
            Frame::Text(t) if t.starts_with("42[\"done\"") => return (next, t.to_string()),
            Frame::Text(_) => {}
            other => panic!("unexpected {other:?} after {next}"),
        }
    }
}

#[tokio::test]
async fn broadcasts_from_a_burst_of_frames_arrive_in_order() {
    // A publisher sends many frames at once: the server reads them together, and their
    // broadcasts are queued for each member (not written one by one); every member gets
    // them all, in order, and a broadcast after the burst is written directly again.
    let (addr, _io) = serve(SocketIo::builder(), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on(
                "join",
                async |socket: SocketRef, tower_socketio::extract::Data(room): tower_socketio::extract::Data<String>| {
                    socket.join(room);
                    socket.emit("joined", &()).unwrap();
                },
            );
            socket.on(
                "pub",
                async |socket: SocketRef, tower_socketio::extract::Data(n): tower_socketio::extract::Data<u32>| {
                    socket.to("r").emit("m", &n).await.unwrap();
                },
            );
        });
    })
    .await;
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut m = RawClient::connect(addr).await;
        m.send("40").await;
        m.recv_text().await;
        m.send("42[\"join\",\"r\"]").await;
        loop {
            if let Frame::Text(t) = m.recv().await {
                if t.starts_with("42[\"joined\"") {
                    break;
                }
            }
        }
        members.push(m);
    }
    let mut publisher = RawClient::connect(addr).await;
    publisher.send("40").await;
    publisher.recv_text().await;
    let count = 300u32;
    for n in 0..count {
        publisher.send(&format!("42[\"pub\",{n}]")).await;
    }
    for m in &mut members {
        let mut next = 0u32;
        while next < count {
            match tokio::time::timeout(STEP, m.recv()).await.expect("stalled") {
                Frame::Text(t) if t.starts_with("42[\"m\"") => {
                    let v: serde_json::Value = serde_json::from_str(&t[2..]).unwrap();
                    assert_eq!(v[1], next, "out of order");
                    next += 1;
                }
                Frame::Text(_) => {}
                other => panic!("unexpected {other:?} after {next}"),
            }
        }
    }
}
