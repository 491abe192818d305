//! The Admin UI over a mixed cluster: a Rust server instrumented by tower-socketio and a Node
//! `socket.io` 4.8 server instrumented by `@socket.io/admin-ui` 0.5.1 itself, joined through
//! one real `redis-server` (Node's `@socket.io/redis-adapter`). Stats, sockets, events and
//! actions cross both ways, and the UI served by the Rust server shows both servers
//! (tests/js/cluster/admin.mjs).
#![cfg(all(feature = "redis", feature = "admin-ui"))]

mod cluster_support;
mod common;
mod sio_support;

use std::time::Duration;

use cluster_support::{RedisServer, node_server, rust_server_with, test_config};
use common::{Peer, require_peer};
use tokio::process::Command;
use tower_socketio::admin::{AdminUi, Auth};

/// bcrypt("changeit"), cost 4 (Node's bcryptjs checks it too).
const HASH: &str = "$2a$04$G3CT0fliMOqpRi.7vw7WF./AyHV25K9ppGSxEkSIpcjDW43HFOMBq";

#[tokio::test]
async fn a_rust_and_a_node_server_in_one_admin_ui() {
    let Some(chromium) = require_peer(Peer::Chromium) else {
        return;
    };
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let r = rust_server_with("R", test_config(&url), |builder| {
        builder
            .instrument(AdminUi::new(Auth::basic("admin", HASH).unwrap()).server_id("R"))
            .serve_admin_ui("/admin")
    })
    .await;
    let (_node, n_url) = node_server("N", &url, &[("ADMIN_HASH", HASH)]).await;
    let cluster = serde_json::json!({ "R": r.url(), "N": n_url });
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("cluster/admin.mjs"))
        .arg("--chromium")
        .arg(&chromium)
        .current_dir(common::js_dir())
        .env("TSIO_CLUSTER", cluster.to_string());
    let out = common::expect_success(
        common::run_command(cmd, "node cluster/admin.mjs", Duration::from_secs(120)).await,
        "the mixed cluster's Admin UI",
    );
    assert!(out.contains("cluster-admin: ok"), "{out}");
    r.io.close().await;
}
