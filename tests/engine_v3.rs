//! Engine.IO 3 (Socket.IO 2 clients), against a real server on 127.0.0.1:0: every case of
//! the official v3 test suite (socketio/engine.io-protocol, branch `v3`) in tests of our
//! own, then what the suite does not check (heartbeat across the upgrade, the refusal
//! warning, the binary framing of a parked GET).
//!
//! The suite's cases, and where they are here:
//!
//! | suite | here |
//! | --- | --- |
//! | handshake, polling: opens a session; invalid `transport`; invalid method | `polling_handshake_is_one_open_packet_without_max_payload`, `polling_handshake_refusals` |
//! | handshake, WebSocket: opens a session; invalid `EIO`; invalid `transport` | `websocket_handshake_is_an_open_packet_without_upgrades` |
//! | message, polling: one, several, text and base64 binary, text and binary (XHR2) | `polling_echoes_text_packets_in_one_payload`, `polling_echoes_binary_as_base64_or_as_a_binary_payload` |
//! | message, polling: invalid packet format; (pending) duplicate poll | `an_invalid_payload_closes_the_session`, `a_second_concurrent_get_closes_the_session` |
//! | message, WebSocket: text, binary, invalid packet format | `websocket_echoes_text_and_binary_frames`, `the_open_packet_comes_after_the_websocket_is_open`, `an_invalid_websocket_frame_closes_the_session` |
//! | heartbeat, polling: ping/pong, ping timeout | `polling_pings_are_answered_with_pongs`, `polling_session_dies_interval_plus_timeout_after_its_last_ping` |
//! | heartbeat, WebSocket: ping/pong, ping timeout | `websocket_pings_are_answered_and_silence_times_out` |
//! | close, polling and WebSocket | `a_polling_close_packet_answers_the_get_sent_with_it`, `a_websocket_close_packet_closes_at_once` |
//! | upgrade: upgrades; HTTP after upgrade; second WebSocket after upgrade | `upgrade_from_polling_to_websocket`, `a_get_right_after_the_upgrade_packet_is_refused` |

mod engine_support;
mod engine_v3_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_support::*;
use engine_v3_support::*;
use futures_util::SinkExt as _;
use http::{Method, StatusCode};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower_socketio::engine::{DisconnectReason, EngineConfig, Message, TransportType};

const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

// ---- handshake (suite 1-6) ----

#[tokio::test]
async fn polling_handshake_is_one_open_packet_without_max_payload() {
    let server = start(v3_config()).await;
    let r = server.get("EIO=3&transport=polling").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(TEXT_PLAIN));
    let body = r.text();
    let (len, packet) = split_payload(&body);
    // The whole rest of the body is the one packet, its length in UTF-16 units.
    assert_eq!(len, units(packet).to_string());
    let v = open_json(packet);
    let mut keys: Vec<_> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert_eq!(v["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(v["pingInterval"], 300);
    assert_eq!(v["pingTimeout"], 200);
    let sid = open_sid(packet);
    let socket = server.engine.get_socket(sid).unwrap();
    assert_eq!(
        socket.protocol(),
        tower_socketio::engine::ProtocolVersion::V3
    );
    assert_eq!(socket.transport(), TransportType::Polling);
}

#[tokio::test]
async fn polling_handshake_refusals() {
    let server = start(v3_config()).await;
    server
        .get("EIO=3")
        .await
        .assert_error(400, 0, "Transport unknown");
    server
        .get("EIO=3&transport=abc")
        .await
        .assert_error(400, 0, "Transport unknown");
    let r = server.post("EIO=3&transport=polling", "").await;
    r.assert_error(400, 2, "Bad handshake method");
    // Unlike Node with allowEIO3, a missing or other EIO is not served as 3.
    for q in [
        "transport=polling",
        "EIO=5&transport=polling",
        "EIO=abc&transport=polling",
    ] {
        server
            .get(q)
            .await
            .assert_error(400, 5, "Unsupported protocol version");
    }
    assert_eq!(server.engine.sessions_count(), 0);
}

#[tokio::test]
async fn websocket_handshake_is_an_open_packet_without_upgrades() {
    let server = start(v3_config()).await;
    let mut ws = server.ws("EIO=3&transport=websocket").await;
    let open = recv_text(&mut ws).await;
    let v = open_json(&open);
    assert_eq!(v["upgrades"], serde_json::json!([]));
    assert_eq!(v["pingInterval"], 300);
    assert_eq!(v["pingTimeout"], 200);
    assert!(v.get("maxPayload").is_none());
    for q in ["transport=websocket", "EIO=abc&transport=websocket"] {
        server.ws_handshake_reply(q, &[]).await.assert_error(
            400,
            5,
            "Unsupported protocol version",
        );
    }
    for q in ["EIO=3", "EIO=3&transport=abc"] {
        server
            .ws_handshake_reply(q, &[])
            .await
            .assert_error(400, 0, "Transport unknown");
    }
}

// ---- messages over polling (suite 7-11, and the pending one) ----

#[tokio::test]
async fn polling_echoes_text_packets_in_one_payload() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let r = server.push3(sid, "6:4hello").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok"));
    assert_eq!(server.poll3(sid).await.text(), "6:4hello");
    // Three packets in one POST: the three echoes come in one GET.
    assert_eq!(
        server.push3(sid, "6:4test16:4test26:4test3").await.text(),
        "ok"
    );
    let r = server.poll3(sid).await;
    assert_eq!(r.header("content-type"), Some(TEXT_PLAIN));
    assert_eq!(r.text(), "6:4test16:4test26:4test3");
}

#[tokio::test]
async fn polling_echoes_binary_as_base64_or_as_a_binary_payload() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    assert_eq!(
        server.push3(sid, "6:4hello10:b4AQIDBA==").await.text(),
        "ok"
    );
    assert_eq!(server.poll3(sid).await.text(), "6:4hello10:b4AQIDBA==");

    // Without b64, the client reads binary payloads.
    let sid = server.open_v3(false).await;
    assert_eq!(
        server.push3(sid, "6:4hello10:b4AQIDBA==").await.text(),
        "ok"
    );
    let r = server.poll3(sid).await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        &r.body[..],
        &[
            0, 6, 255, 52, 104, 101, 108, 108, 111, 1, 5, 255, 4, 1, 2, 3, 4
        ]
    );
}

#[tokio::test]
async fn an_invalid_payload_closes_the_session() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    server
        .push3(sid, "abc")
        .await
        .assert_error(400, 3, "Bad request");
    server
        .poll3(sid)
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );
}

#[tokio::test]
async fn a_second_concurrent_get_closes_the_session() {
    let server = start(v3_quiet()).await;
    let sid = server.open_v3(true).await;
    let first = server.poll3_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let second = server.poll3(sid).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(first.await.unwrap().text(), "1:1");
    assert_eq!(server.poll3(sid).await.status, StatusCode::BAD_REQUEST);
}

// ---- messages over WebSocket (suite 12-14) ----

#[tokio::test]
async fn websocket_echoes_text_and_binary_frames() {
    let server = start(v3_config()).await;
    let (mut ws, _) = server.open_ws3("").await;
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
    ws.send(WsMessage::binary(vec![4u8, 1, 2, 3, 4]))
        .await
        .unwrap();
    assert_eq!(
        recv(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 1, 2, 3, 4]))
    );
    // A text frame `b4…` is a binary message too; with b64 the echo is text.
    send_text(&mut ws, "b4AQID").await;
    assert_eq!(
        recv(&mut ws).await,
        Some(WsMessage::binary(vec![4u8, 1, 2, 3]))
    );
    let (mut ws, _) = server.open_ws3("&b64=1").await;
    ws.send(WsMessage::binary(vec![4u8, 9])).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "b4CQ==");
}

#[tokio::test]
async fn the_open_packet_comes_after_the_websocket_is_open() {
    // A client that starts to listen once its WebSocket is open (the official suite does)
    // must still get the open packet: the server sends a WebSocket ping first and the open
    // packet when the pong comes.
    let server = start(v3_config()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("EIO=3&transport=websocket"))
        .await
        .unwrap();
    use futures_util::StreamExt as _;
    let first = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(Ok(WsMessage::Ping(_)))), "{first:?}");
    assert!(recv_text(&mut ws).await.starts_with("0{"));
}

#[tokio::test]
async fn an_invalid_websocket_frame_closes_the_session() {
    let server = start(v3_config()).await;
    for frame in [
        WsMessage::text("abc"),
        WsMessage::text(""),
        WsMessage::text("7"),
        WsMessage::text("3"),
        WsMessage::text("b9AQ=="),
        WsMessage::binary(vec![9u8, 1]),
        WsMessage::binary(Vec::<u8>::new()),
        WsMessage::binary(vec![1u8]),
        WsMessage::binary(vec![2u8]),
    ] {
        let (mut ws, sid) = server.open_ws3("").await;
        ws.send(frame.clone()).await.unwrap();
        expect_closed(&mut ws).await;
        let reason = server.wait_disconnect(sid).await;
        assert!(
            matches!(
                reason,
                DisconnectReason::PacketParsingError | DisconnectReason::TransportError
            ),
            "{frame:?}: {reason:?}"
        );
    }
}

// ---- heartbeat (suite 15-18) ----

#[tokio::test]
async fn polling_pings_are_answered_with_pongs() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    for _ in 0..3 {
        assert_eq!(server.push3(sid, "1:2").await.text(), "ok");
        assert_eq!(server.poll3(sid).await.text(), "1:3");
    }
    // The probe is echoed; other ping data is not.
    assert_eq!(server.push3(sid, "6:2probe").await.text(), "ok");
    assert_eq!(server.poll3(sid).await.text(), "6:3probe");
    assert_eq!(server.push3(sid, "4:2abc").await.text(), "ok");
    assert_eq!(server.poll3(sid).await.text(), "1:3");
    // A pong that waited for the GET goes out first, then the messages.
    assert_eq!(server.push3(sid, "1:26:4hello").await.text(), "ok");
    assert_eq!(server.poll3(sid).await.text(), "1:36:4hello");
}

#[tokio::test]
async fn a_pending_get_carries_the_pong() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let pending = server.poll3_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(server.push3(sid, "1:2").await.text(), "ok");
    assert_eq!(pending.await.unwrap().text(), "1:3");
}

#[tokio::test]
async fn polling_session_dies_interval_plus_timeout_after_its_last_ping() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let opened = Instant::now();
    // Interval + timeout after the handshake's answer came (as the official suite waits),
    // a ping is too late: the request is refused (the deadline is checked on arrival, not
    // only by a timer).
    tokio::time::sleep_until((opened + Duration::from_millis(500)).into()).await;
    server
        .push3(sid, "1:2")
        .await
        .assert_error(400, 1, "Session ID unknown");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );

    // Pings keep it alive for several intervals; the server never pings.
    let sid = server.open_v3(true).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.push3(sid, "1:2").await.text(), "ok");
        assert_eq!(server.poll3(sid).await.text(), "1:3");
    }
    assert!(server.has_session(sid));
}

#[tokio::test]
async fn websocket_pings_are_answered_and_silence_times_out() {
    let server = start(v3_config()).await;
    let (mut ws, sid) = server.open_ws3("").await;
    for _ in 0..3 {
        send_text(&mut ws, "2").await;
        assert_eq!(recv_text(&mut ws).await, "3");
    }
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    // Kept alive across several intervals by pings...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send_text(&mut ws, "2").await;
        assert_eq!(recv_text(&mut ws).await, "3");
    }
    // ...and closed about interval + timeout after the last one.
    let silent = Instant::now();
    expect_closed(&mut ws).await;
    let waited = silent.elapsed();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );
}

#[tokio::test]
async fn a_pong_from_the_client_closes_the_session() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    assert_eq!(
        server.push3(sid, "1:3").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
}

// ---- close (suite 19-20) ----

#[tokio::test]
async fn a_polling_close_packet_answers_the_get_sent_with_it() {
    let server = start(v3_config()).await;
    // GET first, then the close.
    let sid = server.open_v3(true).await;
    let pending = server.poll3_task(sid);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(server.push3(sid, "1:1").await.text(), "ok");
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "1:6"));
    assert_eq!(server.poll3(sid).await.status, StatusCode::BAD_REQUEST);

    // The close first, its GET a moment later (the two raced on the wire).
    let sid = server.open_v3(true).await;
    let close = {
        let addr = server.addr;
        let url = server.url(&server.v3_query(sid));
        tokio::spawn(async move {
            http(addr, Method::POST, &url, &[], Bytes::from_static(b"1:1")).await
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = server.poll3(sid).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "1:6"));
    assert_eq!(close.await.unwrap().text(), "ok");
    assert_eq!(server.poll3(sid).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportClose
    );
}

#[tokio::test]
async fn a_websocket_close_packet_closes_at_once() {
    let server = start(v3_config()).await;
    let (mut ws, sid) = server.open_ws3("").await;
    let sent = Instant::now();
    send_text(&mut ws, "1").await;
    expect_closed(&mut ws).await;
    // Not by the ping timeout (Node ignores a WebSocket `1`).
    assert!(sent.elapsed() < Duration::from_millis(400));
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::TransportClose
    );
}

// ---- upgrade (suite 21-23) ----

/// Upgrades a polling session: probe, noop on the GET, `5`. Returns the WebSocket.
async fn upgrade(server: &TestServer, sid: tower_socketio::engine::Sid, query: &str) -> Ws {
    let mut ws = server
        .ws(&format!("EIO=3&transport=websocket&sid={sid}{query}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    let r = server.poll3(sid).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "1:6"));
    send_text(&mut ws, "5").await;
    ws
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let mut ws = upgrade(&server, sid, "").await;
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
    // The WebSocket writes binary frames: its own request has no b64, whatever the
    // handshake's.
    ws.send(WsMessage::binary(vec![4u8, 7])).await.unwrap();
    assert_eq!(recv(&mut ws).await, Some(WsMessage::binary(vec![4u8, 7])));
    server
        .wait_event(|e| matches!(e, Event::Upgrade(s) if *s == sid))
        .await;

    // Polling with that sid is refused now.
    server.poll3(sid).await.assert_error(400, 3, "Bad request");
    // A second WebSocket with the sid is closed; the first goes on.
    let mut second = server
        .ws(&format!("EIO=3&transport=websocket&sid={sid}"))
        .await;
    expect_closed(&mut second).await;
    send_text(&mut ws, "4again").await;
    assert_eq!(recv_text(&mut ws).await, "4again");
}

#[tokio::test]
async fn a_get_right_after_the_upgrade_packet_is_refused() {
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let mut ws = server
        .ws(&format!("EIO=3&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    assert_eq!(server.poll3(sid).await.status, StatusCode::BAD_REQUEST);
    send_text(&mut ws, "4hello").await;
    assert_eq!(recv_text(&mut ws).await, "4hello");
}

#[tokio::test]
async fn an_upgraded_session_that_stops_pinging_is_closed() {
    // Node never times out an upgraded Engine.IO 3 session (its timer is cleared by the
    // upgrade); this server keeps the deadline across the upgrade.
    let server = start(v3_config()).await;
    let sid = server.open_v3(true).await;
    let mut ws = upgrade(&server, sid, "&b64=1").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        send_text(&mut ws, "2").await;
        assert_eq!(recv_text(&mut ws).await, "3");
    }
    // With b64 on the upgrade request, binary echoes are text.
    ws.send(WsMessage::binary(vec![4u8, 1])).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "b4AQ==");
    let silent = Instant::now();
    expect_closed(&mut ws).await;
    assert!(silent.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::HeartbeatTimeout
    );
}

// ---- beyond the suite ----

#[tokio::test(flavor = "current_thread")]
async fn a_refused_eio3_logs_one_warning_naming_the_option() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(quiet_config()).await;
    for _ in 0..3 {
        server.get("EIO=3&transport=polling").await.assert_error(
            400,
            5,
            "Unsupported protocol version",
        );
        server
            .ws_handshake_reply("EIO=3&transport=websocket", &[])
            .await
            .assert_error(400, 5, "Unsupported protocol version");
    }
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logs.matches("allow_eio3").count(), 1, "{logs}");
    assert!(logs.contains("WARN"), "{logs}");
    // A missing EIO is the client's mistake, not a configuration matter: no warning.
    server.get("transport=polling").await;
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logs.lines().count(), 1, "{logs}");
}

#[tokio::test]
async fn both_versions_are_served_at_once() {
    let server = start(v3_config()).await;
    let v3 = server.open_v3(true).await;
    let v4 = server.open_polling().await;
    assert_eq!(server.push3(v3, "6:4hello").await.text(), "ok");
    assert_eq!(server.push(v4, "4hello").await.text(), "ok");
    assert_eq!(server.poll3(v3).await.text(), "6:4hello");
    assert_eq!(server.poll(v4).await.text(), "4hello");
    // A session keeps the version of its handshake, whatever later requests say.
    assert_eq!(
        server
            .post(&format!("EIO=4&transport=polling&sid={v3}"), "6:4again")
            .await
            .text(),
        "ok"
    );
    assert_eq!(server.poll3(v3).await.text(), "6:4again");
}

#[tokio::test]
async fn a_parked_get_writes_a_batch_with_binary_as_a_binary_payload() {
    // socketioxide #737: a GET that waited on an empty queue, then a text and a binary
    // message queued together.
    let server = start(v3_quiet()).await;
    let sid = server.open_v3(false).await;
    let pending = server.poll3_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let socket = server.engine.get_socket(sid).unwrap();
    socket
        .send_batch([Message::from("hello€"), Message::from(vec![1u8, 2, 3, 4])])
        .unwrap();
    let r = pending.await.unwrap();
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let mut expected = vec![0u8, 9, 0xff];
    expected.extend_from_slice("4hello€".as_bytes());
    expected.extend_from_slice(&[1, 5, 0xff, 4, 1, 2, 3, 4]);
    assert_eq!(&r.body[..], &expected[..]);
}

#[tokio::test]
async fn poll_answers_stop_at_max_payload_in_their_own_framing() {
    // socketioxide #738: the size must be counted again for each packet.
    let max = "10:b4AQIDBA==".len();
    let config = EngineConfig::builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_secs(30))
        .max_payload(max)
        .allow_eio3(true)
        .build();
    let server = start(config).await;
    let sid = server.open_v3(true).await;
    let socket = server.engine.get_socket(sid).unwrap();
    socket.send(Message::from(vec![1u8, 2, 3, 4])).unwrap();
    socket.send(Message::from("hello€")).unwrap();
    socket.send(Message::from("hello€")).unwrap();
    assert_eq!(server.poll3(sid).await.text(), "10:b4AQIDBA==");
    assert_eq!(server.poll3(sid).await.text(), "7:4hello€");
    assert_eq!(server.poll3(sid).await.text(), "7:4hello€");
}

#[tokio::test]
async fn xhr2_binary_posts_are_read() {
    // python-socketio 4 posts every payload this way, text included.
    let server = start(v3_config()).await;
    let sid = server.open_v3(false).await;
    let r = server.push3_binary(sid, &b"\x00\x01\xff2"[..]).await;
    assert_eq!(r.text(), "ok");
    assert_eq!(server.poll3(sid).await.text(), "1:3");
    let mut body = b"\x00\x06\xff4hello".to_vec();
    body.extend_from_slice(&[1, 4, 0xff, 4, 1, 2, 3]);
    assert_eq!(server.push3_binary(sid, body).await.text(), "ok");
    let r = server.poll3(sid).await;
    assert_eq!(
        &r.body[..],
        b"\x00\x06\xff4hello\x01\x04\xff\x04\x01\x02\x03"
    );
    // An empty binary body carries nothing and harms nothing.
    assert_eq!(server.push3_binary(sid, Bytes::new()).await.text(), "ok");
    assert!(server.has_session(sid));
}

#[tokio::test]
async fn a_payload_split_anywhere_reads_the_same() {
    // The body arrives in two chunks, cut at every byte (inside the emoji too).
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let server = start(v3_quiet()).await;
    let payload = "3:4😀6:4hello".as_bytes();
    for cut in 0..=payload.len() {
        let sid = server.open_v3(true).await;
        let chunks = vec![
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::copy_from_slice(&payload[..cut]))),
            Ok(Frame::data(Bytes::copy_from_slice(&payload[cut..]))),
        ];
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = http::Request::post(server.url(&server.v3_query(sid)))
            .header("host", "x")
            .body(StreamBody::new(futures_util::stream::iter(chunks)))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "cut at {cut}");
        assert_eq!(
            server.poll3(sid).await.text(),
            "3:4😀6:4hello",
            "cut at {cut}"
        );
    }
}
