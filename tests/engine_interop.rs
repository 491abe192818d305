//! The official `engine.io-client` (Node) against our Engine.IO echo server: polling only,
//! WebSocket only, and polling upgraded to WebSocket, text and binary both ways, with
//! heartbeats on the way (pingInterval 300 ms); the same with engine.io-client 3 (Engine.IO 3).

mod common;
mod engine_support;

use common::{Peer, require_peer};

#[tokio::test]
async fn official_engine_io_client_on_every_transport() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let server = engine_support::start(engine_support::conformance_config()).await;
    let url = format!("http://{}", server.addr);
    for mode in ["polling", "websocket", "upgrade"] {
        common::node_driver_ok(
            "engineio_client.mjs",
            &[&url, mode, "--path", &server.path, "--heartbeats", "2"],
        )
        .await;
    }
    server.wait_no_sessions().await;
}

#[tokio::test]
async fn engine_io_client_3_on_every_transport() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let config = tower_socketio::engine::EngineConfig::builder()
        .path("/engine.io")
        .ping_interval(std::time::Duration::from_millis(300))
        // Slack for a busy machine: the client pings every 300 ms.
        .ping_timeout(std::time::Duration::from_millis(1000))
        .allow_eio3(true)
        .build();
    let server = engine_support::start(config).await;
    let url = format!("http://{}", server.addr);
    for mode in ["polling", "websocket", "upgrade"] {
        common::node_driver_ok(
            "engineio_client.mjs",
            &[
                &url,
                mode,
                "--path",
                &server.path,
                "--heartbeats",
                "3",
                "--eio",
                "3",
            ],
        )
        .await;
    }
    server.wait_no_sessions().await;
}
