//! The Engine.IO 4 cases of CONFORMANCE.md, against a real server on 127.0.0.1:0.

mod engine_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_support::*;
use futures_util::SinkExt as _;
use http::{Method, StatusCode};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower_socketio::engine::{
    CookieConfig, DisconnectReason, EngineConfig, Message, Str, TransportType,
};

const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

// ---- handshake ----

#[tokio::test]
async fn polling_handshake_sends_the_open_packet_with_exactly_five_keys() {
    let server = start(conformance_config()).await;
    let r = server.get("EIO=4&transport=polling").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(TEXT_PLAIN));
    assert!(r.header("set-cookie").is_none(), "no cookie by default");
    let v = open_json(&r.text());
    let obj = v.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ]
    );
    assert_eq!(v["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(v["pingInterval"], 300);
    assert_eq!(v["pingTimeout"], 200);
    assert_eq!(v["maxPayload"], 1_000_000);
    let sid = v["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 20);
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    match server
        .wait_event(|e| matches!(e, Event::Connect { .. }))
        .await
    {
        Event::Connect {
            sid: s,
            transport,
            remote,
            ..
        } => {
            assert_eq!(s.as_str(), sid);
            assert_eq!(transport, TransportType::Polling);
            assert!(remote.is_some_and(|a| a.ip().is_loopback()));
        }
        _ => unreachable!(),
    }
    // The path with and without its trailing slash.
    let r = http(
        server.addr,
        Method::GET,
        "/engine.io?EIO=4&transport=polling&t=abc",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = http(
        server.addr,
        Method::GET,
        "/engine.io-x/?EIO=4&transport=polling",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn websocket_handshake_sends_the_open_packet_without_upgrades() {
    let server = start(conformance_config()).await;
    let mut ws = server.ws("EIO=4&transport=websocket").await;
    let open = recv_text(&mut ws).await;
    let v = open_json(&open);
    assert_eq!(v.as_object().unwrap().len(), 5);
    assert_eq!(v["upgrades"], serde_json::json!([]));
    assert_eq!(v["pingInterval"], 300);
    assert_eq!(v["pingTimeout"], 200);
    assert_eq!(v["maxPayload"], 1_000_000);
    let sid = open_sid(&open);
    match server
        .wait_event(|e| matches!(e, Event::Connect { .. }))
        .await
    {
        Event::Connect {
            sid: s, transport, ..
        } => {
            assert_eq!(s, sid);
            assert_eq!(transport, TransportType::Websocket);
        }
        _ => unreachable!(),
    }
    assert_eq!(
        server.engine.get_socket(sid).unwrap().transport(),
        TransportType::Websocket
    );
}

#[tokio::test]
async fn polling_only_server_offers_no_upgrade() {
    let server = start(
        EngineConfig::builder()
            .transports([TransportType::Polling])
            .build(),
    )
    .await;
    let r = server.get("EIO=4&transport=polling").await;
    assert_eq!(open_json(&r.text())["upgrades"], serde_json::json!([]));
    server
        .ws_handshake_reply("EIO=4&transport=websocket", &[])
        .await
        .assert_error(400, 0, "Transport unknown");
}

#[tokio::test]
async fn websocket_only_server_refuses_polling() {
    let server = start(
        EngineConfig::builder()
            .transports([TransportType::Websocket])
            .build(),
    )
    .await;
    server
        .get("EIO=4&transport=polling")
        .await
        .assert_error(400, 0, "Transport unknown");
    let (_ws, _sid) = server.open_ws().await;
}

// ---- error codes ----

#[tokio::test]
async fn code_0_transport_unknown() {
    let server = start(conformance_config()).await;
    for q in [
        "EIO=4",
        "EIO=4&transport=abc",
        "EIO=4&transport=",
        "EIO=4&transport=POLLING",
    ] {
        server
            .get(q)
            .await
            .assert_error(400, 0, "Transport unknown");
    }
    server
        .ws_handshake_reply("EIO=4", &[])
        .await
        .assert_error(400, 0, "Transport unknown");
    server
        .ws_handshake_reply("EIO=4&transport=abc", &[])
        .await
        .assert_error(400, 0, "Transport unknown");
}

#[tokio::test]
async fn code_1_session_id_unknown() {
    let server = start(conformance_config()).await;
    for q in [
        "EIO=4&transport=polling&sid=aaaaaaaaaaaaaaaaaaaa",
        "EIO=4&transport=polling&sid=short",
        "EIO=4&transport=polling&sid=",
    ] {
        server
            .get(q)
            .await
            .assert_error(400, 1, "Session ID unknown");
        server
            .post(q, "4x")
            .await
            .assert_error(400, 1, "Session ID unknown");
    }
    server
        .ws_handshake_reply("EIO=4&transport=websocket&sid=aaaaaaaaaaaaaaaaaaaa", &[])
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn code_2_bad_handshake_method() {
    let server = start(conformance_config()).await;
    server
        .post("EIO=4&transport=polling", "")
        .await
        .assert_error(400, 2, "Bad handshake method");
    http(
        server.addr,
        Method::PUT,
        &server.url("EIO=4&transport=polling"),
        &[],
        Bytes::new(),
    )
    .await
    .assert_error(400, 2, "Bad handshake method");
    assert_eq!(server.engine.sessions_count(), 0);
}

#[tokio::test]
async fn code_3_bad_request() {
    let server = start(conformance_config()).await;
    // A plain GET asking for the WebSocket transport.
    server
        .get("EIO=4&transport=websocket")
        .await
        .assert_error(400, 3, "Bad request");
    let sid = server.open_polling().await;
    server
        .get(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await
        .assert_error(400, 3, "Bad request");
    // Another method on a session.
    http(
        server.addr,
        Method::PUT,
        &server.url(&format!("EIO=4&transport=polling&sid={sid}")),
        &[],
        Bytes::new(),
    )
    .await
    .assert_error(400, 3, "Bad request");
}

#[tokio::test]
async fn code_5_unsupported_protocol_version() {
    let server = start(conformance_config()).await;
    for q in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
        "EIO=5&transport=polling",
        "EIO=04&transport=polling",
        "EIO=4&EIO=4&transport=polling",
    ] {
        server
            .get(q)
            .await
            .assert_error(400, 5, "Unsupported protocol version");
    }
    for q in [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=3&transport=websocket",
    ] {
        server.ws_handshake_reply(q, &[]).await.assert_error(
            400,
            5,
            "Unsupported protocol version",
        );
    }
    assert_eq!(server.engine.sessions_count(), 0);
}

// ---- polling ----

#[tokio::test]
async fn polling_carries_text_packets_joined_by_record_separators() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let r = server.push(sid, "4hello").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "ok");
    assert_eq!(r.header("content-type"), Some(TEXT_PLAIN));
    let r = server.poll(sid).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(TEXT_PLAIN));
    assert_eq!(r.text(), "4hello");

    assert_eq!(
        server.push(sid, "4test1\x1e4test2\x1e4test3").await.text(),
        "ok"
    );
    assert_eq!(server.poll(sid).await.text(), "4test1\x1e4test2\x1e4test3");

    // UTF-8 text survives unchanged.
    assert_eq!(server.push(sid, "4héllo €亜Б").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4héllo €亜Б");
}

#[tokio::test]
async fn polling_carries_binary_as_b_and_base64() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    assert_eq!(server.push(sid, "4hello\x1ebAQIDBA==").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4hello\x1ebAQIDBA==");
    server
        .wait_event(|e| matches!(e, Event::Binary(_, b) if b[..] == [1, 2, 3, 4]))
        .await;
    // Server-sent binary.
    let socket = server.engine.get_socket(sid).unwrap();
    socket
        .send(Message::Binary(Bytes::from_static(&[1, 2, 3])))
        .unwrap();
    assert_eq!(server.poll(sid).await.text(), "bAQID");
}

#[tokio::test]
async fn a_get_answers_with_everything_queued_up_to_max_payload() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(Duration::from_secs(30))
            .max_payload(100)
            .build(),
    )
    .await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    let forty = "x".repeat(39);
    for _ in 0..5 {
        socket
            .send(Message::Text(Str::from(forty.clone())))
            .unwrap();
    }
    let packet = format!("4{forty}");
    // 40 + 1 + 40 = 81 bytes fit; a third would make 122.
    assert_eq!(
        server.poll(sid).await.text(),
        format!("{packet}\x1e{packet}")
    );
    assert_eq!(
        server.poll(sid).await.text(),
        format!("{packet}\x1e{packet}")
    );
    assert_eq!(server.poll(sid).await.text(), packet);
    // A single message over the limit still goes out, alone.
    let big = "y".repeat(300);
    socket.send(Message::Text(Str::from(big.clone()))).unwrap();
    assert_eq!(server.poll(sid).await.text(), format!("4{big}"));
}

#[tokio::test]
async fn post_over_max_payload_gets_413() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let body = format!("4{}", "a".repeat(1_000_000));
    let r = server.push(sid, body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);

    // Exactly max_payload is fine.
    let sid = server.open_polling().await;
    let body = format!("4{}", "a".repeat(999_999));
    assert_eq!(server.push(sid, body).await.status, StatusCode::OK);
}

#[tokio::test]
async fn chunked_post_over_max_payload_gets_413() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let head = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut stream = server.raw(head.as_bytes()).await;
    use tokio::io::AsyncWriteExt as _;
    let chunk = vec![b'a'; 100_000];
    for _ in 0..11 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let reply = read_all(&mut stream, Duration::from_secs(2)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invalid_post_closes_the_session() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    server
        .push(sid, "abc")
        .await
        .assert_error(400, 3, "Bad request");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(server.push(sid, "4x").await.status, StatusCode::BAD_REQUEST);

    // Packets before the bad one are delivered, in order.
    let sid = server.open_polling().await;
    assert_eq!(
        server.push(sid, "4one\x1e9\x1e4two").await.status,
        StatusCode::BAD_REQUEST
    );
    server
        .wait_event(|e| matches!(e, Event::Message(s, m) if *s == sid && m == "one"))
        .await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
}

#[tokio::test]
async fn a_second_concurrent_get_closes_the_session_and_the_pending_get_gets_1() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = server
        .get(&format!("EIO=4&transport=polling&sid={sid}&t=burst"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let first = pending.await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text(), "1");
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
}

#[tokio::test]
async fn a_second_concurrent_post_closes_the_session() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // A POST whose body never completes.
    let head = format!(
        "POST /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n4ab"
    );
    let _stalled = server.raw(head.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.push(sid, "4x").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(pending.await.unwrap().text(), "1");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
}

#[tokio::test]
async fn a_cancelled_get_closes_the_session() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let req =
        format!("GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\n\r\n");
    let stream = server.raw(req.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(stream);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
}

// ---- heartbeat ----

#[tokio::test]
async fn polling_heartbeat_pings_every_interval() {
    let server = start(conformance_config()).await;
    let opened = Instant::now();
    let sid = server.open_polling().await;
    let mut last = opened;
    for _ in 0..3 {
        let r = server.poll(sid).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "2");
        let now = Instant::now();
        assert!(
            now - last >= Duration::from_millis(290),
            "ping too early: {:?}",
            now - last
        );
        last = now;
        assert_eq!(server.push(sid, "3").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn polling_session_dies_exactly_at_interval_plus_timeout() {
    let server = start(conformance_config()).await;
    let sid = server.open_polling().await;
    // As the official suite does: wait pingInterval + pingTimeout, no more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );

    // And the POST flavour of the same check.
    let sid = server.open_polling().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.push(sid, "3").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn polling_session_lives_while_pongs_come() {
    let server = start(conformance_config()).await;
    let sid = server.open_polling().await;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let r = server.poll(sid).await;
        assert_eq!(r.status, StatusCode::OK);
        if r.text() == "2" {
            assert_eq!(server.push(sid, "3").await.status, StatusCode::OK);
        }
    }
    assert!(server.engine.get_socket(sid).is_some());
}

#[tokio::test]
async fn websocket_heartbeat_pings_and_times_out() {
    let server = start(conformance_config()).await;
    let opened = Instant::now();
    let (mut ws, sid) = server.open_ws().await;
    for _ in 0..3 {
        assert_eq!(recv_text(&mut ws).await, "2");
        send_text(&mut ws, "3").await;
    }
    assert!(opened.elapsed() >= Duration::from_millis(890));
    // Stop answering: closed pingTimeout after the next ping.
    assert_eq!(recv_text(&mut ws).await, "2");
    let pinged = Instant::now();
    expect_closed(&mut ws).await;
    let waited = pinged.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );
}

#[tokio::test]
async fn a_client_ping_is_refused_in_v4() {
    let server = start(quiet_config()).await;
    let (mut ws, sid) = server.open_ws().await;
    send_text(&mut ws, "2").await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
}

// ---- messages and close over WebSocket ----

#[tokio::test]
async fn websocket_carries_text_and_raw_binary() {
    let server = start(quiet_config()).await;
    let (mut ws, _sid) = server.open_ws().await;
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
    ws.send(WsMessage::binary(vec![1u8, 2, 3, 4]))
        .await
        .unwrap();
    match recv(&mut ws).await {
        Some(WsMessage::Binary(b)) => assert_eq!(&b[..], &[1, 2, 3, 4]),
        other => panic!("{other:?}"),
    }
    // Empty text message.
    send_text(&mut ws, "4").await;
    assert_eq!(recv_text(&mut ws).await, "4");
}

#[tokio::test]
async fn invalid_websocket_packet_closes_it() {
    let server = start(quiet_config()).await;
    let (mut ws, sid) = server.open_ws().await;
    send_text(&mut ws, "abc").await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
    let (mut ws, sid) = server.open_ws().await;
    send_text(&mut ws, "").await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
}

#[tokio::test]
async fn polling_close_packet_ends_the_pending_get_with_noop() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(server.push(sid, "1").await.text(), "ok");
    let r = pending.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "6");
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportClose
    );
}

#[tokio::test]
async fn websocket_close_packet_and_close_frame_end_the_session() {
    let server = start(quiet_config()).await;
    let (mut ws, sid) = server.open_ws().await;
    send_text(&mut ws, "1").await;
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportClose
    );

    let (mut ws, sid) = server.open_ws().await;
    ws.close(None).await.unwrap();
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportClose
    );
    server.wait_no_sessions().await;
}

// ---- upgrade ----

#[tokio::test]
async fn upgrade_with_probe_flushes_buffered_packets_on_the_websocket() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    // The next GET is ended with a noop.
    let r = server.poll(sid).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "6");
    // Packets sent while the upgrade is pending wait for the WebSocket.
    assert_eq!(server.push(sid, "4during").await.text(), "ok");
    server
        .wait_event(|e| matches!(e, Event::Message(_, m) if m == "during"))
        .await;
    send_text(&mut ws, "5").await;
    assert_eq!(recv_text(&mut ws).await, "4during");
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
    server.wait_event(|e| *e == Event::Upgrade(sid)).await;
    assert_eq!(
        server.engine.get_socket(sid).unwrap().transport(),
        TransportType::Websocket
    );
}

#[tokio::test]
async fn the_pending_get_ends_with_noop_at_once_when_the_probe_is_answered() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    let probed = Instant::now();
    assert_eq!(recv_text(&mut ws).await, "3probe");
    let r = pending.await.unwrap();
    assert_eq!(r.text(), "6");
    assert!(
        probed.elapsed() < Duration::from_millis(90),
        "{:?}",
        probed.elapsed()
    );
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4hi").await;
    assert_eq!(recv_text(&mut ws).await, "4hi");
}

#[tokio::test]
async fn polling_after_upgrade_gets_400() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    // No waiting for the server to read the `5`: the official suite does not either.
    server.poll(sid).await.assert_error(400, 3, "Bad request");
    server
        .push(sid, "4x")
        .await
        .assert_error(400, 3, "Bad request");
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
}

#[tokio::test]
async fn a_second_websocket_after_upgrade_is_closed() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    let mut second = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    expect_closed(&mut second).await;
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
}

#[tokio::test]
async fn no_upgrade_packet_within_upgrade_timeout_drops_the_websocket_and_leaks_nothing() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(Duration::from_secs(30))
            .upgrade_timeout(Duration::from_millis(300))
            .build(),
    )
    .await;
    let sid = server.open_polling().await;
    let tasks_before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let started = Instant::now();
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    expect_closed(&mut ws).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    drop(ws);
    // The session goes on over polling.
    assert_eq!(server.push(sid, "4still").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4still");
    // The upgrade's task is gone.
    wait_until(|| {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            <= tasks_before
    })
    .await;
    // And a new upgrade works.
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4up").await;
    assert_eq!(recv_text(&mut ws).await, "4up");
}

// ---- cookie, compression ----

#[tokio::test]
async fn cookie_is_set_on_the_handshake_when_configured() {
    let server = start(
        EngineConfig::builder()
            .cookie(Some(CookieConfig::new()))
            .build(),
    )
    .await;
    let r = server.get("EIO=4&transport=polling").await;
    let sid = open_sid(&r.text());
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    // Not on later requests.
    assert_eq!(server.push(sid, "4x").await.header("set-cookie"), None);
    // On the WebSocket handshake too.
    let r = server
        .ws_handshake_reply("EIO=4&transport=websocket", &[])
        .await;
    assert_eq!(r.status, StatusCode::SWITCHING_PROTOCOLS);
    assert!(r.header("set-cookie").is_some_and(|c| c.starts_with("io=")));
}

#[tokio::test]
async fn large_polling_responses_are_compressed_when_accepted() {
    use std::io::Read as _;
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    let text = "compress me ".repeat(200);
    socket.send(Message::Text(Str::from(text.clone()))).unwrap();
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("accept-encoding", "gzip, deflate")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut out = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{text}"));

    socket.send(Message::Text(Str::from(text.clone()))).unwrap();
    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("accept-encoding", "deflate")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("deflate"));
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, format!("4{text}"));

    // Small responses and clients without Accept-Encoding get plain text.
    socket.send(Message::Text(Str::from(text.clone()))).unwrap();
    let r = server.poll(sid).await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), format!("4{text}"));
    socket.send(Message::Text(Str::from("small"))).unwrap();
    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("accept-encoding", "gzip")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let server = start(EngineConfig::builder().http_compression(false).build()).await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    socket
        .send(Message::Text(Str::from("z".repeat(5000))))
        .unwrap();
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("accept-encoding", "gzip")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body.len(), 5001);
}
