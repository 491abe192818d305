//! Engine.IO 3 hostile input over HTTP and WebSocket, and JSONP polling: every bad payload
//! is a 400 that closes its session with nothing of it delivered, nothing panics or
//! hangs, and other sessions go on.

mod engine_support;
mod engine_v3_support;

use std::time::Duration;

use bytes::Bytes;
use engine_support::*;
use engine_v3_support::*;
use futures_util::SinkExt as _;
use http::StatusCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower_socketio::engine::{DisconnectReason, EngineConfig, Sid};

/// A session of each kind that must keep working.
struct Witness {
    v3: Sid,
    v4: Sid,
}

impl Witness {
    async fn new(server: &TestServer) -> Self {
        Witness {
            v3: server.open_v3(true).await,
            v4: server.open_polling().await,
        }
    }

    async fn check(&self, server: &TestServer) {
        assert_eq!(server.push3(self.v3, "6:4alive").await.text(), "ok");
        assert_eq!(server.poll3(self.v3).await.text(), "6:4alive");
        assert_eq!(server.push(self.v4, "4alive").await.text(), "ok");
        assert_eq!(server.poll(self.v4).await.text(), "4alive");
    }
}

/// Posts `body` to a fresh session: refused with 400 code 3, the session closed, no
/// message of the body delivered.
async fn refused(server: &TestServer, binary: bool, body: &[u8]) {
    let sid = server.open_v3(!binary).await;
    let r = if binary {
        server.push3_binary(sid, body.to_vec()).await
    } else {
        server.push3(sid, body.to_vec()).await
    };
    let shown = String::from_utf8_lossy(body);
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{shown:?}");
    assert_eq!(r.json()["code"], 3, "{shown:?}");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError,
        "{shown:?}"
    );
    let mut events = server.events.lock().await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, Event::Message(s, _) | Event::Binary(s, _) if s == sid),
            "{shown:?} delivered {e:?}"
        );
    }
    drop(events);
    server
        .poll3(sid)
        .await
        .assert_error(400, 1, "Session ID unknown");
}

#[tokio::test]
async fn bad_text_payloads() {
    let server = start(v3_quiet()).await;
    let witness = Witness::new(&server).await;
    let twenty = b"99999999999999999999:4hey";
    for body in [
        &b"abc"[..],
        b":4hey",
        b"-1:4",
        b"a:4hey",
        b"99:4hey",
        twenty,
        "5:4😀".as_bytes(),
        // A length that ends inside a surrogate pair.
        "2:4😀".as_bytes(),
        b"0x4:4hey",
        b" 4:4hey",
        b"4e0:4hey",
        // Good packets before the bad one are not delivered either.
        b"6:4hello1:9",
        b"6:4hello4:",
        b"6:4hellox",
        b"1:7",
        b"1:b",
        b"3:b4!",
        b"7:b4AQ!ID",
        b"6:b9AQID",
        b"",
    ] {
        refused(&server, false, body).await;
    }
    witness.check(&server).await;
}

#[tokio::test]
async fn bad_binary_payloads() {
    let server = start(v3_quiet()).await;
    let witness = Witness::new(&server).await;
    let mut digits_311 = vec![0u8];
    digits_311.extend(std::iter::repeat_n(1u8, 311));
    digits_311.extend_from_slice(b"\xff4hi");
    let mut digits_312 = vec![0u8];
    digits_312.extend(std::iter::repeat_n(1u8, 312));
    digits_312.extend_from_slice(b"\xff4hi");
    let mut no_end = vec![0u8];
    no_end.extend(std::iter::repeat_n(5u8, 5000));
    for body in [
        &digits_311[..],
        &digits_312[..],
        &no_end[..],
        b"\x00\x01\x02",
        b"\x00",
        b"\x00\x09\x09\xff4hi",
        // socketioxide #739 (an infinite loop there).
        b"\x01\x05\xff\x04\x01\x02",
        b"\x00\x0a\xff4hellohello",
        // socketioxide #741 (a panic in debug builds there; tests run in debug).
        b"\x00\xd0\xff\x34",
        b"\x00\xff4hi",
        b"\x00\x00\xff",
        b"\x00\x03\xff\x34\xc3\x28",
        b"\x01\x02\xff\x09\x01",
        b"\x07\x02\xff\x04\x01",
        b"\x01\x01\xff\x02",
        b"\x00\x06\xff4hello\x00\x01\xff7",
    ] {
        refused(&server, true, body).await;
    }
    witness.check(&server).await;
}

#[tokio::test]
async fn every_decoded_packet_is_checked_against_max_payload() {
    // Invalid UTF-8 in a text body is read with replacement characters, which are longer:
    // a body within the limit can carry a packet over it.
    let config = EngineConfig::builder()
        .ping_interval(Duration::from_secs(30))
        .ping_timeout(Duration::from_secs(30))
        .max_payload(20)
        .allow_eio3(true)
        .build();
    let server = start(config).await;
    let mut body = b"9:4".to_vec();
    body.extend(std::iter::repeat_n(0xffu8, 8));
    assert!(body.len() <= 20);
    refused(&server, false, &body).await;
    // A body over the limit is a 413.
    let sid = server.open_v3(true).await;
    let r = server.push3(sid, vec![b'x'; 21]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn odd_websocket_input() {
    let server = start(v3_quiet()).await;
    let witness = Witness::new(&server).await;
    // The upgrade refuses anything but the probe, then `5`; polling goes on.
    let sid = server.open_v3(true).await;
    let mut ws = server
        .ws(&format!("EIO=3&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "4hello").await;
    expect_closed(&mut ws).await;
    let mut ws = server
        .ws(&format!("EIO=3&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "5").await;
    expect_closed(&mut ws).await;
    assert_eq!(server.push3(sid, "6:4still").await.text(), "ok");
    assert_eq!(server.poll3(sid).await.text(), "6:4still");
    // An oversized frame.
    let config = EngineConfig::builder()
        .max_payload(1000)
        .allow_eio3(true)
        .build();
    let small = start(config).await;
    let (mut ws, sid) = small.open_ws3("").await;
    let _ = ws
        .send(WsMessage::text(format!("4{}", "x".repeat(2000))))
        .await;
    expect_closed(&mut ws).await;
    assert_eq!(
        small.wait_disconnect(sid).await,
        DisconnectReason::TransportError
    );
    witness.check(&server).await;
}

// ---- JSONP ----

/// The text payload inside a JSONP script `___eio[<n>]("...");`.
fn script_payload(script: &str, index: u32) -> String {
    let head = format!("___eio[{index}](");
    let literal = script
        .strip_prefix(&head)
        .and_then(|s| s.strip_suffix(");"))
        .unwrap_or_else(|| panic!("not a JSONP script: {script:?}"));
    serde_json::from_str(literal).expect("a JSON string")
}

async fn jsonp_post(server: &TestServer, sid: Sid, form: &str) -> Reply {
    server
        .post3(sid, "application/x-www-form-urlencoded", form.to_owned())
        .await
}

#[tokio::test]
async fn jsonp_polling() {
    let server = start(v3_quiet()).await;
    let r = server.get("EIO=3&transport=polling&j=a1b2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=UTF-8")
    );
    let payload = script_payload(&r.text(), 12);
    let (_, open) = split_payload(&payload);
    let sid = open_sid(open);
    let query = format!("EIO=3&transport=polling&sid={sid}&j=99");

    // The form's `d` is a text payload, the client's newline escaping undone.
    let r = jsonp_post(&server, sid, "d=6%3A4hello").await;
    assert_eq!(r.text(), "ok");
    // The callback index is the handshake's, whatever later requests say.
    assert_eq!(
        script_payload(&server.get(&query).await.text(), 12),
        "6:4hello"
    );
    assert_eq!(
        jsonp_post(&server, sid, "d=7%3A4x%5Cny%5C%5Cnz")
            .await
            .text(),
        "ok"
    );
    assert_eq!(
        script_payload(&server.get(&query).await.text(), 12),
        "7:4x\ny\\nz"
    );
    // A JSONP client always gets binary as base64; quotes, backslashes, line separators
    // and `</script>` are escaped for the script.
    assert_eq!(
        jsonp_post(&server, sid, "d=10%3Ab4AQIDBA%3D%3D")
            .await
            .text(),
        "ok"
    );
    assert_eq!(
        script_payload(&server.get(&query).await.text(), 12),
        "10:b4AQIDBA=="
    );
    let tricky = "4a\u{2028}b\u{2029}c\"d\\e</script>\u{1}f";
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("d", &format!("{}:{tricky}", tricky.encode_utf16().count()))
        .finish();
    assert_eq!(jsonp_post(&server, sid, &form).await.text(), "ok");
    let script = server.get(&query).await.text();
    assert!(
        script.contains("\\u2028b\\u2029c\\\"d\\\\e</script>\\u0001f"),
        "{script}"
    );
    assert!(!script.contains('\u{2028}'));

    // A form without `d` (or with two) is ignored.
    assert_eq!(jsonp_post(&server, sid, "x=1").await.text(), "ok");
    assert_eq!(
        jsonp_post(&server, sid, "d=1%3A2&d=1%3A2").await.text(),
        "ok"
    );
    assert!(server.has_session(sid));
    // A `d` that is no payload closes the session.
    let r = jsonp_post(&server, sid, "d=abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::PacketParsingError
    );

    for body in ["d=", "d=6%3A4hello%ZZ"] {
        let r = server.get("EIO=3&transport=polling&j=0").await;
        let sid = open_sid(split_payload(&script_payload(&r.text(), 0)).1);
        assert_eq!(
            jsonp_post(&server, sid, body).await.status,
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }
    // A `j` without digits is refused; JSONP is Engine.IO 3 only.
    server
        .get("EIO=3&transport=polling&j=x")
        .await
        .assert_error(400, 3, "Bad request");
    let r = server.get("EIO=4&transport=polling&j=1").await;
    assert!(r.text().starts_with("0{"), "{}", r.text());
}

#[tokio::test]
async fn jsonp_pings_and_binary_from_a_session_without_b64() {
    let server = start(v3_quiet()).await;
    let r = server.get("EIO=3&transport=polling&j=0").await;
    let sid = open_sid(split_payload(&script_payload(&r.text(), 0)).1);
    assert_eq!(jsonp_post(&server, sid, "d=1%3A2").await.text(), "ok");
    let query = format!("EIO=3&transport=polling&sid={sid}");
    assert_eq!(script_payload(&server.get(&query).await.text(), 0), "1:3");
    let socket = server.engine.get_socket(sid).unwrap();
    socket.send(Bytes::from_static(&[1, 2, 3]).into()).unwrap();
    assert_eq!(
        script_payload(&server.get(&query).await.text(), 0),
        "6:b4AQID"
    );
}
