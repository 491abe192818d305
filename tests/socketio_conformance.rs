//! The Socket.IO 5 cases of CONFORMANCE.md, at the packet level, against the conformance
//! handlers on a real server, with a raw WebSocket client.

mod sio_support;

use std::time::Duration;

use sio_support::{Frame, RawClient, conformance_server};

#[tokio::test]
async fn connect_to_main_namespace_answers_sid_then_runs_handler() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    let t = c.recv_text().await;
    assert!(t.starts_with("40{"), "{t}");
    let v: serde_json::Value = serde_json::from_str(&t[2..]).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "exactly the key sid: {t}");
    let sid = obj["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 20);
    assert_ne!(
        sid,
        c.open["sid"].as_str().unwrap(),
        "socket id differs from the engine sid"
    );
    assert_eq!(c.recv_text().await, r#"42["auth",{}]"#);
}

#[tokio::test]
async fn connect_with_auth_payload() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.send(r#"40{"token":"123"}"#).await;
    assert!(c.recv_text().await.starts_with("40{\"sid\":"));
    assert_eq!(c.recv_text().await, r#"42["auth",{"token":"123"}]"#);
}

#[tokio::test]
async fn connect_to_custom_namespace_with_and_without_comma() {
    for frame in ["40/custom,", "40/custom"] {
        let (addr, _io) = conformance_server().await;
        let mut c = RawClient::connect(addr).await;
        c.send(frame).await;
        let t = c.recv_text().await;
        assert!(t.starts_with("40/custom,{\"sid\":"), "{frame}: {t}");
        assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
    }
}

#[tokio::test]
async fn unknown_namespace_gets_connect_error() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.send("40/random").await;
    assert_eq!(
        c.recv_text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
    // The connection stays usable.
    c.connect_main().await;
}

#[tokio::test]
async fn invalid_handshake_closes() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.send("4abc").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn no_connect_within_connect_timeout_closes() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    let start = tokio::time::Instant::now();
    c.expect_closed().await;
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(3000),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn disconnect_leaves_namespace_but_keeps_connection() {
    let (addr, io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send("41").await;
    let frames = c.expect_open_for(Duration::from_millis(800)).await;
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(io.sockets().len(), 0);
    // Pings went on (expect_open_for answered them) and the connection can join again.
    c.connect_main().await;
}

#[tokio::test]
async fn custom_namespace_connect_and_disconnect_while_main_connected() {
    let (addr, io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send("40/custom").await;
    assert!(c.recv_text().await.starts_with("40/custom,{\"sid\":"));
    assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
    c.send("41/custom").await;
    c.expect_open_for(Duration::from_millis(400)).await;
    assert_eq!(io.of("/custom").len(), 0);
    assert_eq!(io.sockets().len(), 1);
    c.send(r#"42["message","still here"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","still here"]"#);
}

#[tokio::test]
async fn event_with_ack_is_acknowledged_with_same_arguments() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(c.recv_text().await, r#"43456[1,"2",{"3":[false]}]"#);
}

#[tokio::test]
async fn event_with_several_arguments_is_echoed() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(r#"42["message",1,"2",{"3":[false]}]"#).await;
    assert_eq!(
        c.recv_text().await,
        r#"42["message-back",1,"2",{"3":[false]}]"#
    );
}

#[tokio::test]
async fn binary_event_is_echoed_with_its_attachments() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    c.send_binary(&[1, 2, 3]).await;
    c.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        c.recv_text().await,
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(c.recv().await, Frame::Binary(vec![1, 2, 3]));
    assert_eq!(c.recv().await, Frame::Binary(vec![4, 5, 6]));
}

#[tokio::test]
async fn binary_ack_uses_type_6() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(
        r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .await;
    c.send_binary(&[1, 2, 3]).await;
    c.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        c.recv_text().await,
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(c.recv().await, Frame::Binary(vec![1, 2, 3]));
    assert_eq!(c.recv().await, Frame::Binary(vec![4, 5, 6]));
}

async fn closes_after(frames: &[&str], binaries: &[&[u8]]) {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    for f in frames {
        c.send(f).await;
    }
    for b in binaries {
        c.send_binary(b).await;
    }
    c.expect_closed().await;
}

#[tokio::test]
async fn protocol_violations_close_the_connection() {
    closes_after(&["4abc"], &[]).await; // unknown packet type
    closes_after(&["42{}"], &[]).await; // payload not an array
    closes_after(&[r#"42abc["message"]"#], &[]).await; // invalid ack id
    closes_after(&[r#"42[{}]"#], &[]).await; // event name not a string
    closes_after(&[r#"42["connect"]"#], &[]).await; // reserved name
    closes_after(&[r#"42/custom,["message"]"#], &[]).await; // namespace not joined
    closes_after(&["40"], &[]).await; // second CONNECT
    closes_after(&[r#"4511-["message"]"#], &[]).await; // more than 10 attachments
    closes_after(
        &[r#"451-["message",{"_placeholder":true,"num":1}]"#],
        &[&[1]],
    )
    .await; // num out of range
    closes_after(&[r#"45-["message"]"#], &[]).await; // count missing
    closes_after(&[r#"45abc-["message"]"#], &[]).await;
    closes_after(&[r#"45["message"]"#], &[]).await;
    closes_after(&[r#"42["message",1]"#], &[&[1, 2]]).await; // a binary frame nobody announced
}

#[tokio::test]
async fn more_binary_frames_than_announced_close() {
    let (addr, _io) = conformance_server().await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(r#"451-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    c.send_binary(&[1]).await;
    c.send_binary(&[2]).await;
    // The echo of the complete packet may come first; then the close.
    c.expect_closed().await;
}

#[tokio::test]
async fn other_sessions_survive_a_protocol_violation() {
    let (addr, _io) = conformance_server().await;
    let mut good = RawClient::connect(addr).await;
    good.connect_main().await;
    let mut bad = RawClient::connect(addr).await;
    bad.connect_main().await;
    bad.send("42{}").await;
    bad.expect_closed().await;
    good.send(r#"42["message","ok"]"#).await;
    assert_eq!(good.recv_text().await, r#"42["message-back","ok"]"#);
}
