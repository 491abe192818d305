//! A mixed cluster: three Rust servers (`tower_socketio::adapter::redis`) and one Node
//! `socket.io` 4.8 server with `@socket.io/redis-adapter` 8.x, one real `redis-server`,
//! `socket.io-client` clients on every server, and `@socket.io/redis-emitter`. Every cluster
//! operation crosses from each kind of server to the other (tests/js/cluster/interop.mjs).
//! Then the same with the MessagePack parser on every server and client.
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

use std::process::Stdio;
use std::time::Duration;

use cluster_support::{RedisServer, rust_server, rust_server_with, test_config};
use common::{Peer, require_peer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The Node cluster server, started and waited for; killed when dropped.
async fn node_server(name: &str, redis_url: &str) -> (Child, String) {
    node_server_with(name, redis_url, "json").await
}

/// Like [`node_server`], with `PARSER` set (`msgpack` for socket.io-msgpack-parser).
async fn node_server_with(name: &str, redis_url: &str, parser: &str) -> (Child, String) {
    let mut child = Command::new(common::node())
        .arg(common::js_dir().join("cluster/node_server.mjs"))
        .current_dir(common::js_dir())
        .env("PARSER", parser)
        .env("NAME", name)
        .env("REDIS_URL", redis_url)
        .env("PORT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node did not start");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the Node cluster server did not start in 20 s")
        .expect("reading the Node server's output")
        .expect("the Node cluster server exited");
    let port = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line from the Node server: {line}"));
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn rust_and_node_servers_and_the_emitter_form_one_cluster() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let r1 = rust_server("R1", test_config(&url)).await;
    let r2 = rust_server("R2", test_config(&url)).await;
    let r3 = rust_server("R3", test_config(&url)).await;
    let (_node, n_url) = node_server("N", &url).await;
    let cluster = serde_json::json!({
        "R1": r1.url(),
        "R2": r2.url(),
        "R3": r3.url(),
        "N": n_url,
    });
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("cluster/interop.mjs"))
        .current_dir(common::js_dir())
        .env("TSIO_CLUSTER", cluster.to_string())
        .env("TSIO_REDIS_URL", &url);
    let out = common::expect_success(
        common::run_command(cmd, "node cluster/interop.mjs", Duration::from_secs(120)).await,
        "the mixed cluster driver",
    );
    assert!(out.contains("cluster_interop: ok"), "{out}");
    eprintln!("{out}");
}

#[tokio::test]
async fn the_same_cluster_with_the_msgpack_parser_on_every_server() {
    use tower_socketio::Parser;
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let url = redis.url();
    let r1 = rust_server_with("R1", test_config(&url), Parser::MsgPack).await;
    let r2 = rust_server_with("R2", test_config(&url), Parser::MsgPack).await;
    let r3 = rust_server_with("R3", test_config(&url), Parser::MsgPack).await;
    let (_node, n_url) = node_server_with("N", &url, "msgpack").await;
    let cluster = serde_json::json!({
        "R1": r1.url(),
        "R2": r2.url(),
        "R3": r3.url(),
        "N": n_url,
    });
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("cluster/interop.mjs"))
        .current_dir(common::js_dir())
        .env("TSIO_CLUSTER", cluster.to_string())
        .env("TSIO_REDIS_URL", &url)
        .env("TSIO_PARSER", "msgpack");
    let out = common::expect_success(
        common::run_command(cmd, "node cluster/interop.mjs (msgpack)", Duration::from_secs(120))
            .await,
        "the mixed cluster driver with the msgpack parser",
    );
    assert!(out.contains("cluster_interop: ok"), "{out}");
}
