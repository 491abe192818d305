//! Hostile input: nothing panics, hangs or grows without bound, and other sessions
//! are never affected.

mod engine_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_support::*;
use futures_util::SinkExt as _;
use http::{Method, StatusCode};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tower_socketio::engine::{DisconnectReason, EngineConfig, Sid};

/// A WebSocket session and a polling session that must keep working.
struct Witness {
    ws: Ws,
    sid: Sid,
}

impl Witness {
    async fn new(server: &TestServer) -> Self {
        let (ws, _) = server.open_ws().await;
        let sid = server.open_polling().await;
        Witness { ws, sid }
    }

    async fn check(&mut self, server: &TestServer) {
        send_text(&mut self.ws, "4alive").await;
        assert_eq!(recv_text(&mut self.ws).await, "4alive");
        assert_eq!(server.push(self.sid, "4alive").await.text(), "ok");
        assert_eq!(server.poll(self.sid).await.text(), "4alive");
    }
}

#[tokio::test]
async fn odd_handshake_queries_are_refused() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    for (query, code) in [
        ("EIO=%34&transport=polling", 5),
        ("EIO=4%00&transport=polling", 5),
        ("EIO=99999999999999999999999&transport=polling", 5),
        ("EIO[]=4&transport=polling", 5),
        ("EIO=-4&transport=polling", 5),
        ("EIO=4&transport=constructor", 0),
        ("EIO=4&transport=__proto__", 0),
        ("EIO=4&transport=toString", 0),
        ("EIO=4&transport=polling&transport=polling", 0),
        ("EIO=4&transport=polling&sid=__proto__", 1),
        ("EIO=4&transport=polling&sid=constructor", 1),
        ("EIO=4&transport=polling&sid=%00%00", 1),
        ("EIO=4&transport=polling&sid=a&sid=b", 1),
        ("&&&==&=&EIO", 0),
    ] {
        let r = server.get(query).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.json()["code"], code, "{query}");
    }
    assert_eq!(server.engine.sessions_count(), 2);
    witness.check(&server).await;
}

#[tokio::test]
async fn huge_query_strings_are_refused_without_harm() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    for size in [10_000usize, 60_000, 1_000_000] {
        let query = format!("EIO=4&transport=polling&pad={}", "x".repeat(size));
        let request =
            format!("GET /engine.io/?{query} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        // The server may stop reading and close before everything is written.
        let _ = stream.write_all(request.as_bytes()).await;
        let reply = read_all(&mut stream, Duration::from_secs(3)).await;
        let reply = String::from_utf8_lossy(&reply);
        // Either the HTTP layer refuses it, or the engine handles it normally
        // (unknown parameters are ignored): never a hang or a crash.
        assert!(
            reply.is_empty()
                || reply.starts_with("HTTP/1.1 200")
                || reply.starts_with("HTTP/1.1 4"),
            "size {size}: {}",
            &reply[..reply.len().min(100)]
        );
    }
    // A long sid is an unknown session; one that makes the head pass 16 KiB
    // (`max_http_header_size`) is refused before it is looked at, as Node's http server
    // does (431).
    let sid_param = format!("EIO=4&transport=polling&sid={}", "s".repeat(10_000));
    server
        .get(&sid_param)
        .await
        .assert_error(400, 1, "Session ID unknown");
    let sid_param = format!("EIO=4&transport=polling&sid={}", "s".repeat(50_000));
    let reply = server.get(&sid_param).await;
    assert_eq!(reply.status.as_u16(), 431, "body: {}", reply.text());
    assert!(reply.body.is_empty());
    witness.check(&server).await;
}

#[tokio::test]
async fn a_2mb_websocket_message_closes_that_connection_only() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    let (mut ws, sid) = server.open_ws().await;
    let big = format!("4{}", "a".repeat(2 * 1024 * 1024));
    let _ = ws.send(WsMessage::text(big)).await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
    // Binary too.
    let (mut ws, sid) = server.open_ws().await;
    let _ = ws.send(WsMessage::binary(vec![0u8; 2 * 1024 * 1024])).await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
    witness.check(&server).await;
}

#[tokio::test]
async fn websocket_limits_come_from_max_payload() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(Duration::from_secs(30))
            .max_payload(1000)
            .build(),
    )
    .await;
    let (mut ws, _) = server.open_ws().await;
    // Exactly max_payload bytes in the frame.
    let at_limit = format!("4{}", "a".repeat(999));
    send_text(&mut ws, &at_limit).await;
    assert_eq!(recv_text(&mut ws).await, at_limit);
    // One more byte.
    let over = format!("4{}", "a".repeat(1000));
    let _ = ws.send(WsMessage::text(over)).await;
    expect_closed(&mut ws).await;
    // Fragments adding up to more than max_payload.
    let (mut ws, sid) = server.open_ws().await;
    let _ = ws
        .feed(WsMessage::Frame(Frame::message(
            b"4".to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    for _ in 0..2000 {
        if ws
            .feed(WsMessage::Frame(Frame::message(
                b"a".to_vec(),
                OpCode::Data(Data::Continue),
                false,
            )))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = ws.flush().await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
}

#[tokio::test]
async fn one_hundred_thousand_one_byte_fragments_are_handled_in_bounds() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    let (mut ws, _) = server.open_ws().await;
    let started = Instant::now();
    ws.feed(WsMessage::Frame(Frame::message(
        b"4".to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    for i in 1..100_000 {
        let last = i == 99_999;
        ws.feed(WsMessage::Frame(Frame::message(
            b"a".to_vec(),
            OpCode::Data(Data::Continue),
            last,
        )))
        .await
        .unwrap();
    }
    ws.flush().await.unwrap();
    // 100 000 bytes in all: under max_payload, so it is one message, echoed whole.
    let echoed = recv_text(&mut ws).await;
    assert_eq!(echoed.len(), 100_000);
    assert!(echoed.starts_with("4aaa"));
    assert!(started.elapsed() < Duration::from_secs(10));
    witness.check(&server).await;
}

#[tokio::test]
async fn a_stalled_post_does_not_block_others_and_ends_with_its_session() {
    let server = start(conformance_config()).await;
    let sid = server.open_polling().await;
    let head = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n4half"
    );
    let mut stalled = server.raw(head.as_bytes()).await;
    // Others are served meanwhile (with a short heartbeat, answered here).
    let (mut ws, _) = server.open_ws().await;
    send_text(&mut ws, "4meanwhile").await;
    loop {
        match recv_text(&mut ws).await.as_str() {
            "2" => send_text(&mut ws, "3").await,
            echoed => {
                assert_eq!(echoed, "4meanwhile");
                break;
            }
        }
    }
    let other = server.open_polling().await;
    assert_eq!(server.push(other, "4x").await.text(), "ok");
    // The stalled session dies of its heartbeat, and its POST is answered then.
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );
    let reply = read_all(&mut stalled, Duration::from_secs(2)).await;
    assert!(String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400"));
}

#[tokio::test]
async fn half_sent_headers_do_not_block_others() {
    let server = start(quiet_config()).await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(
            server
                .raw(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .await,
        );
    }
    let mut witness = Witness::new(&server).await;
    witness.check(&server).await;
    for s in &mut slow {
        let _ = s.write_all(b"a").await;
    }
    witness.check(&server).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_the_connection() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    let (mut ws, sid) = server.open_ws().await;
    let _ = ws
        .send(WsMessage::Frame(Frame::message(
            b"4\xff\xfe".to_vec(),
            OpCode::Data(Data::Text),
            true,
        )))
        .await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
    witness.check(&server).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_polling_body_gets_400() {
    let server = start(quiet_config()).await;
    let mut witness = Witness::new(&server).await;
    let sid = server.open_polling().await;
    let r = server
        .push(sid, Bytes::from_static(b"4\xff\xfe\x1e4ok"))
        .await;
    r.assert_error(400, 3, "Bad request");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
    // Binary packets with broken base64 too.
    let sid = server.open_polling().await;
    server
        .push(sid, "b!!!")
        .await
        .assert_error(400, 3, "Bad request");
    witness.check(&server).await;
}

#[tokio::test]
async fn upgrade_packet_without_probe_is_refused() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "5").await;
    expect_closed(&mut ws).await;
    // The session goes on over polling.
    assert_eq!(server.push(sid, "4still").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4still");
}

#[tokio::test]
async fn a_second_upgrade_during_the_first_is_closed() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut first = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    let mut second = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    expect_closed(&mut second).await;
    send_text(&mut first, "2probe").await;
    assert_eq!(recv_text(&mut first).await, "3probe");
    let mut third = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    expect_closed(&mut third).await;
    send_text(&mut first, "5").await;
    send_text(&mut first, "4done").await;
    assert_eq!(recv_text(&mut first).await, "4done");
}

#[tokio::test]
async fn other_packets_during_the_upgrade_fail_it_and_polling_goes_on() {
    let server = start(quiet_config()).await;
    for (before_probe, packet) in [
        (true, WsMessage::text("4hello")),
        (false, WsMessage::text("4hello")),
        (false, WsMessage::binary(vec![1u8])),
        (false, WsMessage::text("2probe")),
        (false, WsMessage::text("3")),
        (true, WsMessage::text("x")),
    ] {
        let sid = server.open_polling().await;
        let mut ws = server
            .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
            .await;
        if !before_probe {
            send_text(&mut ws, "2probe").await;
            assert_eq!(recv_text(&mut ws).await, "3probe");
        }
        ws.send(packet.clone()).await.unwrap();
        expect_closed(&mut ws).await;
        assert_eq!(server.push(sid, "4poll").await.text(), "ok", "{packet:?}");
        assert_eq!(server.poll(sid).await.text(), "4poll", "{packet:?}");
    }
    assert!(server.engine.sessions_count() >= 6);
}

#[tokio::test]
async fn websocket_handshake_variants_are_checked() {
    let server = start(quiet_config()).await;
    // Wrong version, missing key: not a WebSocket handshake this server completes.
    for extra in [
        vec![("sec-websocket-version", "8")],
        vec![("sec-websocket-key", "")],
    ] {
        let mut headers = vec![("connection", "Upgrade"), ("upgrade", "websocket")];
        headers.extend(extra);
        if !headers.iter().any(|(k, _)| *k == "sec-websocket-version") {
            headers.push(("sec-websocket-version", "13"));
        }
        let r = http(
            server.addr,
            Method::GET,
            &server.url("EIO=4&transport=websocket"),
            &headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(server.engine.sessions_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_has_a_bounded_queue_and_others_keep_their_latency() {
    let server = start(quiet_config()).await;
    let (slow, slow_sid) = server.open_ws().await;
    let socket = server.engine.get_socket(slow_sid).unwrap();
    let chunk = tower_socketio::engine::Str::from("z".repeat(64 * 1024));
    // The slow client never reads: the kernel buffers fill, then the queue.
    let mut full = false;
    for _ in 0..10_000 {
        match socket.send(tower_socketio::engine::Message::Text(chunk.clone())) {
            Ok(()) => tokio::task::yield_now().await,
            Err(tower_socketio::engine::SendError::Full) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full, "the queue never filled: it is not bounded");
    // Another client is served at once.
    let (mut fast, _) = server.open_ws().await;
    for _ in 0..20 {
        let started = Instant::now();
        send_text(&mut fast, "4ping").await;
        assert_eq!(recv_text(&mut fast).await, "4ping");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connect_disconnect_cycles_leave_nothing_behind() {
    let server = start(quiet_config()).await;
    let handle = tokio::runtime::Handle::current();
    let baseline = handle.metrics().num_alive_tasks();
    let mut weak = Vec::new();
    for i in 0..300 {
        let (mut ws, sid) = server.open_ws().await;
        if i % 50 == 0 {
            weak.push(std::sync::Arc::downgrade(
                &server.engine.get_socket(sid).unwrap(),
            ));
        }
        ws.close(None).await.unwrap();
        let sid = server.open_polling().await;
        if i % 50 == 0 {
            weak.push(std::sync::Arc::downgrade(
                &server.engine.get_socket(sid).unwrap(),
            ));
        }
        assert_eq!(server.push(sid, "1").await.text(), "ok");
    }
    server.wait_no_sessions().await;
    wait_until(|| weak.iter().all(|w| w.strong_count() == 0)).await;
    wait_until(|| handle.metrics().num_alive_tasks() <= baseline).await;
}
