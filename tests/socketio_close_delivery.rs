//! When the server closes a polling connection (a Socket.IO parse error, `disconnect(true)`,
//! shutdown), what was queued before still reaches the client, then the close packet:
//! the client learns why, as with Node.

mod engine_support;
mod sio_support;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, StatusCode};
use sio_support::serve;
use tower_socketio::{SocketIo, SocketRef};

const RECORD: char = '\u{1e}';

async fn get(addr: SocketAddr, query: &str) -> engine_support::Reply {
    engine_support::http(
        addr,
        Method::GET,
        &format!("/socket.io/?EIO=4&transport=polling{query}"),
        &[],
        Bytes::new(),
    )
    .await
}

async fn post(addr: SocketAddr, sid: &str, body: &str) -> engine_support::Reply {
    engine_support::http(
        addr,
        Method::POST,
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        &[],
        Bytes::from(body.to_owned()),
    )
    .await
}

/// Opens a polling connection and joins `/`; returns the sid.
async fn connect(addr: SocketAddr) -> String {
    let open = get(addr, "").await;
    let sid = engine_support::open_json(&open.text())["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post(addr, &sid, "40").await.text(), "ok");
    let reply = get(addr, &format!("&sid={sid}")).await;
    assert!(reply.text().starts_with("40{"), "{}", reply.text());
    sid
}

fn server(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |socket: SocketRef| {
            socket.emit("echoed", &1).ok();
        });
        socket.on("bye", async |socket: SocketRef| {
            socket.emit("last", &"words").ok();
            socket.disconnect_with(true);
        });
        socket.on("later", async |socket: SocketRef| {
            socket.emit("queued", &()).ok();
        });
    });
}

/// The packets of a polling answer.
fn packets(reply: &engine_support::Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.text().split(RECORD).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_parse_error_still_delivers_what_was_queued() {
    let (addr, _io) = serve(SocketIo::builder(), server).await;
    let sid = connect(addr).await;
    // An event whose answer is queued, then a packet that does not parse.
    let body = format!("42[\"echo\"]{RECORD}4{{not a packet");
    let _ = post(addr, &sid, &body).await;
    let reply = get(addr, &format!("&sid={sid}")).await;
    assert_eq!(packets(&reply), ["42[\"echoed\",1]", "1"]);
}

#[tokio::test]
async fn disconnect_true_delivers_the_last_emit_and_the_disconnect() {
    let (addr, _io) = serve(SocketIo::builder(), server).await;
    let sid = connect(addr).await;
    assert_eq!(post(addr, &sid, "42[\"bye\"]").await.text(), "ok");
    let reply = get(addr, &format!("&sid={sid}")).await;
    assert_eq!(packets(&reply), ["42[\"last\",\"words\"]", "41", "1"]);
}

#[tokio::test]
async fn shutdown_delivers_what_was_queued() {
    let (addr, io) = serve(SocketIo::builder(), server).await;
    let sid = connect(addr).await;
    assert_eq!(post(addr, &sid, "42[\"later\"]").await.text(), "ok");
    let closing = tokio::spawn(async move { io.close().await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let reply = get(addr, &format!("&sid={sid}")).await;
    assert_eq!(packets(&reply), ["42[\"queued\"]", "1"]);
    tokio::time::timeout(std::time::Duration::from_secs(5), closing)
        .await
        .expect("close() did not finish")
        .unwrap();
}
