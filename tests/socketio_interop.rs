//! The official clients against our conformance handlers: `socket.io-client` (Node) and
//! `python-socketio`, over polling, WebSocket, and polling upgraded to WebSocket.

mod common;
mod sio_support;

use common::{Peer, require_peer};

#[tokio::test]
async fn official_js_client_connects_on_every_transport() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let (addr, _io) = sio_support::conformance_server().await;
    for transports in ["polling", "websocket", "polling,websocket"] {
        let main = format!("http://{addr}/");
        common::node_driver_ok("socketio_connect.mjs", &[&main, "--transports", transports]).await;
        let custom = format!("http://{addr}/custom");
        common::node_driver_ok(
            "socketio_connect.mjs",
            &[
                &custom,
                "--transports",
                transports,
                "--auth",
                r#"{"token":"123","n":[1,2]}"#,
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn python_socketio_client_echoes_and_acks_with_binary() {
    if require_peer(Peer::Python).is_none() {
        return;
    }
    let (addr, _io) = sio_support::conformance_server().await;
    for transports in ["polling", "websocket", "polling,websocket"] {
        let url = format!("http://{addr}");
        common::python_driver_ok("sio_client.py", &[&url, "--transports", transports]).await;
        common::python_driver_ok(
            "sio_client.py",
            &[
                &url,
                "--transports",
                transports,
                "--auth",
                r#"{"token":"abc"}"#,
            ],
        )
        .await;
    }
}
