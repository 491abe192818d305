//! The upward contract: `Socket` sending and closing, `EngineIo::close`, handler
//! order, and that dead sessions free everything.

mod engine_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine_support::*;
use http::StatusCode;
use tower_socketio::engine::{
    DisconnectReason, EngineConfig, EngineHandler, EngineIo, EngineService, Message,
    ProtocolVersion, SendError, Socket, Str, TransportType,
};

fn text(s: &str) -> Message {
    Message::Text(Str::from(s.to_owned()))
}

#[tokio::test]
async fn socket_accessors() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    assert_eq!(socket.id(), sid);
    assert_eq!(socket.protocol(), ProtocolVersion::V4);
    assert_eq!(socket.transport(), TransportType::Polling);
    assert_eq!(socket.req_parts().method, http::Method::GET);
    assert!(socket.req_parts().uri.query().unwrap().contains("EIO=4"));
    assert!(socket.req_parts().headers.contains_key("host"));
    assert!(socket.remote_addr().is_some());
    assert!(!socket.is_closed());
    assert_eq!(server.engine.sessions_count(), 1);
}

#[tokio::test]
async fn messages_reach_the_handler_in_order() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    assert_eq!(
        server.push(sid, "4a\x1e4b\x1ebAQ==\x1e4c").await.text(),
        "ok"
    );
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match server
            .wait_event(|e| matches!(e, Event::Message(..) | Event::Binary(..)))
            .await
        {
            Event::Message(_, m) => seen.push(m),
            Event::Binary(_, b) => seen.push(format!("{b:?}")),
            _ => unreachable!(),
        }
    }
    assert_eq!(seen, ["a", "b", "b\"\\x01\"", "c"]);
}

#[tokio::test]
async fn send_batch_is_all_or_nothing_and_send_reports_a_full_queue() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(Duration::from_secs(30))
            .max_buffered_bytes(4 * (1 + 64))
            .build(),
    )
    .await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    assert_eq!(socket.send_batch([text("1"), text("2"), text("3")]), Ok(()));
    assert_eq!(
        socket.send_batch([text("x"), text("y")]),
        Err(SendError::Full)
    );
    assert_eq!(
        socket.send_batch((0..5).map(|i| text(&i.to_string())).collect::<Vec<_>>()),
        Err(SendError::Full)
    );
    assert_eq!(socket.send_batch(Vec::new()), Ok(()));
    assert_eq!(socket.send(text("4")), Ok(()));
    assert_eq!(socket.send(text("5")), Err(SendError::Full));
    assert_eq!(server.poll(sid).await.text(), "41\x1e42\x1e43\x1e44");
    assert_eq!(socket.send(text("6")), Ok(()));

    socket.close(DisconnectReason::ServerClose);
    assert!(socket.is_closed());
    assert_eq!(socket.send(text("7")), Err(SendError::Closed));
    assert_eq!(socket.send_batch([text("8")]), Err(SendError::Closed));
    assert!(!socket.send_volatile([text("9")]));
}

#[tokio::test]
async fn send_volatile_only_queues_when_the_transport_is_writable() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    // No GET waiting: dropped.
    assert!(!socket.send_volatile([text("lost")]));
    // A GET waiting: queued and delivered.
    let pending = server.poll_task(sid);
    wait_until(|| socket.send_volatile([text("kept")])).await;
    assert_eq!(pending.await.unwrap().text(), "4kept");

    let (mut ws, sid) = server.open_ws().await;
    let socket = server.engine.get_socket(sid).unwrap();
    assert!(socket.send_volatile([text("a"), text("b")]));
    assert_eq!(recv_text(&mut ws).await, "4a");
    assert_eq!(recv_text(&mut ws).await, "4b");
}

#[tokio::test]
async fn server_close_over_polling_delivers_queued_messages_then_1() {
    let server = start(quiet_config()).await;
    // With a GET waiting.
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(30)).await;
    socket.send_batch([text("bye"), text("now")]).unwrap();
    socket.close(DisconnectReason::ServerClose);
    let r = pending.await.unwrap();
    assert!(
        r.text() == "4bye\x1e4now\x1e1" || r.text() == "4bye\x1e4now",
        "{}",
        r.text()
    );
    if r.text() != "4bye\x1e4now\x1e1" {
        assert_eq!(server.poll(sid).await.text(), "1");
    }
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::ServerClose
    );
    assert_eq!(server.poll(sid).await.status, StatusCode::BAD_REQUEST);

    // Without a GET waiting: the next one gets them.
    let sid = server.open_polling().await;
    let socket = server.engine.get_socket(sid).unwrap();
    socket.send(text("later")).unwrap();
    socket.close(DisconnectReason::ServerClose);
    assert_eq!(server.poll(sid).await.text(), "4later\x1e1");
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::ServerClose
    );
}

#[tokio::test]
async fn server_close_over_websocket_delivers_queued_messages_then_closes() {
    let server = start(quiet_config()).await;
    let (mut ws, sid) = server.open_ws().await;
    let socket = server.engine.get_socket(sid).unwrap();
    socket.send_batch([text("bye"), text("now")]).unwrap();
    socket.close(DisconnectReason::ServerClose);
    assert_eq!(recv_text(&mut ws).await, "4bye");
    assert_eq!(recv_text(&mut ws).await, "4now");
    expect_closed(&mut ws).await;
    assert_eq!(
        server.wait_disconnect(sid).await,
        DisconnectReason::ServerClose
    );
}

#[tokio::test]
async fn engine_close_ends_every_session_and_waits_for_them() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(Duration::from_secs(30))
            .ping_timeout(Duration::from_millis(300))
            .build(),
    )
    .await;
    let waiting = server.open_polling().await;
    let idle = server.open_polling().await;
    let (mut ws, ws_sid) = server.open_ws().await;
    let pending = server.poll_task(waiting);
    tokio::time::sleep(Duration::from_millis(30)).await;
    tokio::time::timeout(Duration::from_secs(3), server.engine.close())
        .await
        .expect("close() finished");
    assert_eq!(server.engine.sessions_count(), 0);
    assert_eq!(pending.await.unwrap().text(), "1");
    expect_closed(&mut ws).await;
    let mut ended = Vec::new();
    for _ in 0..3 {
        match server
            .wait_event(|e| matches!(e, Event::Disconnect(..)))
            .await
        {
            Event::Disconnect(sid, reason) => {
                assert_eq!(reason, DisconnectReason::ClosingServer);
                ended.push(sid);
            }
            _ => unreachable!(),
        }
    }
    ended.sort();
    let mut expected = vec![waiting, idle, ws_sid];
    expected.sort();
    assert_eq!(ended, expected);
}

#[tokio::test]
async fn dead_sessions_free_their_socket_and_task() {
    let server = start(conformance_config()).await;
    let handle = tokio::runtime::Handle::current();
    let baseline = handle.metrics().num_alive_tasks();

    let polling = server.open_polling().await;
    let (ws, ws_sid) = server.open_ws().await;
    let upgraded = server.open_polling().await;
    let mut up = server
        .ws(&format!("EIO=4&transport=websocket&sid={upgraded}"))
        .await;
    send_text(&mut up, "2probe").await;
    assert_eq!(recv_text(&mut up).await, "3probe");
    send_text(&mut up, "5").await;
    server.wait_event(|e| *e == Event::Upgrade(upgraded)).await;

    let weak: Vec<_> = [polling, ws_sid, upgraded]
        .iter()
        .map(|sid| Arc::downgrade(&server.engine.get_socket(*sid).unwrap()))
        .collect();
    // No pongs: every session dies of its heartbeat.
    drop(ws);
    drop(up);
    server.wait_no_sessions().await;
    wait_until(|| weak.iter().all(|w| w.strong_count() == 0)).await;
    wait_until(|| handle.metrics().num_alive_tasks() <= baseline).await;
}

/// A handler that panics on the message `panic`.
struct Panicky;

impl EngineHandler for Panicky {
    type Data = ();
    fn on_connect(&self, _socket: Arc<Socket<()>>) {}
    fn on_disconnect(&self, _socket: Arc<Socket<()>>, _reason: DisconnectReason) {}
    fn on_message(&self, msg: Str, socket: &Arc<Socket<()>>) {
        assert_ne!(msg.as_str(), "panic", "the handler panics on purpose");
        let _ = socket.send(Message::Text(msg));
    }
    fn on_binary(&self, _data: Bytes, _socket: &Arc<Socket<()>>) {}
}

#[tokio::test]
async fn a_panicking_handler_ends_its_session_not_the_server() {
    let engine = EngineIo::new(Panicky, quiet_config());
    let addr = serve(EngineService::new(engine.clone())).await;
    let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket");
    let mut ws = ws_connect(&url).await;
    let _open = recv_text(&mut ws).await;
    send_text(&mut ws, "4panic").await;
    expect_closed(&mut ws).await;
    wait_until(|| engine.sessions_count() == 0).await;

    let mut ws = ws_connect(&url).await;
    let _open = recv_text(&mut ws).await;
    send_text(&mut ws, "4fine").await;
    assert_eq!(recv_text(&mut ws).await, "4fine");

    // Over polling: the POST is answered, the session is closed, others go on.
    let open = http(
        addr,
        http::Method::GET,
        "/engine.io/?EIO=4&transport=polling",
        &[],
        Bytes::new(),
    )
    .await;
    let sid = open_sid(&open.text());
    let url = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let r = http(addr, http::Method::POST, &url, &[], Bytes::from("4panic")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = http(addr, http::Method::GET, &url, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    wait_until(|| engine.sessions_count() == 1).await;
    send_text(&mut ws, "4still").await;
    assert_eq!(recv_text(&mut ws).await, "4still");
}
