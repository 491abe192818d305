//! The version seam: negotiation, open packets, heartbeats, polling bodies of each kind.

use super::*;

fn query(q: &str) -> Query<'_> {
    Query::parse(q)
}

fn v3(binary: bool, jsonp: Option<u32>) -> Protocol {
    Protocol::V3(Framing3 { binary, jsonp })
}

#[test]
fn eio_values() {
    assert_eq!(parse_eio("4"), Some(ProtocolVersion::V4));
    assert_eq!(parse_eio("3"), Some(ProtocolVersion::V3));
    assert_eq!(parse_eio("04"), None);
    assert_eq!(parse_eio("4 "), None);
    assert_eq!(parse_eio(""), None);
}

#[test]
fn negotiation() {
    let n = |q: &str, polling: bool, allow: bool| Protocol::negotiate(&query(q), polling, allow);
    assert_eq!(n("EIO=4", true, false), Ok(Protocol::V4));
    assert_eq!(n("EIO=4&j=1&b64=1", true, true), Ok(Protocol::V4));
    assert_eq!(
        n("EIO=3", true, false),
        Err(Refused::Version(Some(ProtocolVersion::V3)))
    );
    // Missing or other values are refused, whether or not Engine.IO 3 is on.
    for q in ["", "EIO=5", "EIO=abc", "EIO=3&EIO=3", "EIO=2"] {
        assert!(matches!(n(q, true, true), Err(Refused::Version(_))), "{q}");
    }
    assert_eq!(n("EIO=3", true, true), Ok(v3(true, None)));
    assert_eq!(n("EIO=3&b64=", true, true), Ok(v3(true, None)));
    for b64 in ["1", "0", "true", "false"] {
        assert_eq!(
            n(&format!("EIO=3&b64={b64}"), true, true),
            Ok(v3(false, None)),
            "{b64}"
        );
    }
    assert_eq!(n("EIO=3&b64=1&b64=1", true, true), Ok(v3(false, None)));
    // JSONP: always text, index from the digits; none is a bad request.
    assert_eq!(n("EIO=3&j=a1b2", true, true), Ok(v3(false, Some(12))));
    assert_eq!(n("EIO=3&j=", true, true), Err(Refused::Jsonp));
    assert_eq!(n("EIO=3&j=x", true, true), Err(Refused::Jsonp));
    // A repeated `j` is no JSONP (as in Node), nor is `j` on a WebSocket.
    assert_eq!(n("EIO=3&j=1&j=2", true, true), Ok(v3(true, None)));
    assert_eq!(n("EIO=3&j=1", false, true), Ok(v3(true, None)));
    assert_eq!(HttpError::from(Refused::Jsonp), HttpError::BadRequest);
}

#[test]
fn upgrade_takes_the_framing_of_its_own_request() {
    let polling = v3(false, None);
    assert_eq!(polling.for_upgrade(&query("EIO=3&sid=x")), v3(true, None));
    assert_eq!(polling.for_upgrade(&query("EIO=3&b64=1")), v3(false, None));
    assert_eq!(v3(true, Some(1)).for_upgrade(&query("")), v3(true, None));
    assert_eq!(Protocol::V4.for_upgrade(&query("b64=1")), Protocol::V4);
    assert_eq!(v3(true, None).version(), ProtocolVersion::V3);
}

#[test]
fn open_payloads() {
    let ms = Duration::from_millis;
    assert_eq!(
        Protocol::V4.open_payload("abc", true, ms(300), ms(200), 1_000_000),
        r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
    );
    assert!(
        Protocol::V4
            .open_payload("x", false, ms(1), ms(1), 5)
            .contains(r#""upgrades":[]"#)
    );
    assert_eq!(
        v3(true, None).open_payload("abc", true, ms(300), ms(200), 1_000_000),
        r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200}"#
    );
}

#[test]
fn v4_heartbeat_schedule() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut hb = Protocol::V4.heartbeat(t0, ms(300), ms(200));
    assert_eq!(hb.next_event(), t0 + ms(300));
    assert_eq!(hb.poll(t0 + ms(299)), Beat::Wait);
    assert!(
        !hb.on_pong(t0 + ms(100)),
        "a pong without a ping is ignored"
    );
    assert_eq!(hb.poll(t0 + ms(301)), Beat::Ping);
    assert_eq!(hb.next_event(), t0 + ms(500));
    assert!(!hb.expired(t0 + ms(499)));
    assert!(hb.expired(t0 + ms(500)));
    assert!(hb.on_pong(t0 + ms(350)));
    assert_eq!(hb.next_event(), t0 + ms(650));
    // A client ping does not move an Engine.IO 4 heartbeat.
    hb.on_client_ping(t0 + ms(600));
    assert_eq!(hb.next_event(), t0 + ms(650));
    assert_eq!(hb.poll(t0 + ms(851)), Beat::TimedOut);
    assert_eq!(Protocol::V4.on_client_ping(), ClientPing::Refuse);
    assert_eq!(Protocol::V4.on_client_pong(), ClientPong::Accept);
}

#[test]
fn v3_heartbeat_waits_for_the_clients_pings() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut hb = v3(true, None).heartbeat(t0, ms(300), ms(200));
    // Never a server ping; dead at interval + timeout.
    assert_eq!(hb.next_event(), t0 + ms(500));
    assert_eq!(hb.poll(t0 + ms(400)), Beat::Wait);
    assert!(!hb.expired(t0 + ms(499)));
    hb.on_client_ping(t0 + ms(450));
    assert_eq!(hb.next_event(), t0 + ms(950));
    assert_eq!(hb.poll(t0 + ms(900)), Beat::Wait);
    assert!(hb.expired(t0 + ms(950)));
    assert_eq!(hb.poll(t0 + ms(950)), Beat::TimedOut);
    assert_eq!(v3(true, None).on_client_ping(), ClientPing::Answer);
    assert_eq!(v3(true, None).on_client_pong(), ClientPong::Refuse);
}

fn post(
    p: Protocol,
    body: &'static [u8],
    ct: Option<&'static str>,
) -> Result<Vec<Packet>, DecodeError> {
    let ct = ct.map(HeaderValue::from_static);
    p.decode_post(Bytes::from_static(body), ct.as_ref(), 1_000_000)
        .map(|d| d.map(Result::unwrap).collect())
}

#[test]
fn post_bodies_by_kind() {
    let hello = Packet::Message(Str::from("hello"));
    let session = v3(false, None);
    assert_eq!(post(session, b"6:4hello", None), Ok(vec![hello.clone()]));
    assert_eq!(
        post(session, b"6:4hello", Some("text/plain;charset=UTF-8")),
        Ok(vec![hello.clone()])
    );
    for ct in [
        "application/octet-stream",
        "Application/Octet-Stream",
        "application/octet-stream; charset=UTF-8",
    ] {
        assert_eq!(
            post(session, b"\x00\x06\xff4hello", Some(ct)),
            Ok(vec![hello.clone()]),
            "{ct}"
        );
    }
    // A binary body on a session that writes base64 is still read.
    assert_eq!(
        post(
            v3(true, None),
            &[1, 2, 0xff, 4, 9],
            Some("application/octet-stream")
        ),
        Ok(vec![Packet::Binary(Bytes::from_static(&[9]))])
    );
    // Errors come back before any packet.
    assert_eq!(
        post(session, b"6:4hello1:9", None),
        Err(DecodeError::UnknownType)
    );
    assert_eq!(post(session, b"", None), Err(DecodeError::Empty));
    assert_eq!(
        post(session, b"", Some("application/octet-stream")),
        Ok(vec![])
    );
    // Engine.IO 4 is unchanged.
    assert_eq!(post(Protocol::V4, b"4hello", None), Ok(vec![hello.clone()]));
    assert_eq!(
        post(Protocol::V4, b"\xff", None),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn jsonp_post_bodies() {
    let jsonp = v3(false, Some(0));
    let form = Some("application/x-www-form-urlencoded");
    assert_eq!(
        post(jsonp, b"d=6%3A4hello", form),
        Ok(vec![Packet::Message(Str::from("hello"))])
    );
    // The client's newline escaping is undone: `4x<LF>y\nz`.
    assert_eq!(
        post(jsonp, b"d=7%3A4x%5Cny%5C%5Cnz", form),
        Ok(vec![Packet::Message(Str::from("x\ny\\nz"))])
    );
    // No `d`, or two: nothing, and no error.
    assert_eq!(post(jsonp, b"x=1", form), Ok(vec![]));
    assert_eq!(post(jsonp, b"d=1:2&d=1:2", form), Ok(vec![]));
    // `d` that is no payload.
    assert_eq!(post(jsonp, b"d=", form), Err(DecodeError::Empty));
    assert_eq!(post(jsonp, b"d=abc", form), Err(DecodeError::InvalidLength));
    assert_eq!(
        post(jsonp, b"d=6%3A4hello%ZZ", form),
        Err(DecodeError::InvalidLength)
    );
    // Whatever the Content-Type, a JSONP session reads a form.
    assert_eq!(
        post(jsonp, b"d=1%3A6", Some("application/octet-stream")),
        Ok(vec![Packet::Noop])
    );
}

fn write(p: Protocol, packets: &[Outgoing<'_>], max: usize) -> (Vec<u8>, &'static str, usize) {
    let mut w = p.payload_writer(max);
    assert!(w.is_empty());
    let mut taken = 0;
    for packet in packets {
        if w.push(*packet) {
            taken += 1;
        }
    }
    let body = w.finish();
    (body.body.to_vec(), body.content_type, taken)
}

#[test]
fn poll_bodies_by_kind() {
    let hello = Message::from("hello");
    let data = Message::from(vec![1u8, 2, 3, 4]);
    let both = [Outgoing::Message(&hello), Outgoing::Message(&data)];
    assert_eq!(
        write(Protocol::V4, &both, 100),
        (
            b"4hello\x1ebAQIDBA==".to_vec(),
            "text/plain; charset=UTF-8",
            2
        )
    );
    assert_eq!(
        write(v3(false, None), &both, 100),
        (
            b"6:4hello10:b4AQIDBA==".to_vec(),
            "text/plain; charset=UTF-8",
            2
        )
    );
    assert_eq!(
        write(v3(true, None), &both, 100),
        (
            b"\x00\x06\xff4hello\x01\x05\xff\x04\x01\x02\x03\x04".to_vec(),
            "application/octet-stream",
            2
        )
    );
    assert_eq!(
        write(v3(true, None), &both[..1], 100),
        (b"6:4hello".to_vec(), "text/plain; charset=UTF-8", 1)
    );
    assert_eq!(
        write(v3(false, Some(3)), &both, 100),
        (
            br#"___eio[3]("6:4hello10:b4AQIDBA==");"#.to_vec(),
            "text/javascript; charset=UTF-8",
            2
        )
    );
    // The limit: the first packet always goes.
    assert_eq!(write(Protocol::V4, &both, 3).2, 1);
    assert_eq!(write(v3(false, None), &both, 3).2, 1);
    // Control packets go whatever the limit.
    let mut w = v3(false, None).payload_writer(1);
    w.push_always(Outgoing::Pong);
    w.push_always(Outgoing::Noop);
    assert_eq!(&w.finish().body[..], b"1:31:6");
}

#[test]
fn websocket_frames_by_version() {
    let data = Message::from(vec![1u8, 2]);
    assert_eq!(
        Protocol::V4.ws_frame(Outgoing::Message(&data)),
        WsMessage::binary(vec![1u8, 2])
    );
    assert_eq!(
        v3(true, None).ws_frame(Outgoing::Message(&data)),
        WsMessage::binary(vec![4u8, 1, 2])
    );
    assert_eq!(
        v3(false, None).ws_frame(Outgoing::Message(&data)),
        WsMessage::text("b4AQI=")
    );
    assert_eq!(
        Protocol::V4.decode_ws_binary(Bytes::from_static(&[4, 1])),
        Ok(Packet::Binary(Bytes::from_static(&[4, 1])))
    );
    assert_eq!(
        v3(true, None).decode_ws_binary(Bytes::from_static(&[4, 1])),
        Ok(Packet::Binary(Bytes::from_static(&[1])))
    );
    assert_eq!(
        v3(true, None).decode_ws_text(Bytes::from_static(b"b4AQ==")),
        Ok(Packet::Binary(Bytes::from_static(&[1])))
    );
}
