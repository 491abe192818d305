//! A mixed cluster: three Rust servers (`tower_socketio::adapter::redis`) and one Node
//! `socket.io` 4.8 server with `@socket.io/redis-adapter` 8.x, one real `redis-server`,
//! `socket.io-client` clients on every server, and `@socket.io/redis-emitter`. Every cluster
//! operation crosses from each kind of server to the other (tests/js/cluster/interop.mjs).
//! Then the same with the MessagePack parser on every server and client.
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

use cluster_support::{
    RedisServer, node_server, run_interop, rust_server, rust_server_with, test_config,
};
use common::{Peer, require_peer};

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
    let (_node, n_url) = node_server("N", &url, &[]).await;
    let cluster = serde_json::json!({
        "R1": r1.url(),
        "R2": r2.url(),
        "R3": r3.url(),
        "N": n_url,
    });
    let out = run_interop("cluster_interop", &cluster, &[("TSIO_REDIS_URL", url)]).await;
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
    let msgpack = |b: tower_socketio::SocketIoBuilder| b.parser(Parser::MsgPack);
    let r1 = rust_server_with("R1", test_config(&url), msgpack).await;
    let r2 = rust_server_with("R2", test_config(&url), msgpack).await;
    let r3 = rust_server_with("R3", test_config(&url), msgpack).await;
    let (_node, n_url) = node_server("N", &url, &[("PARSER", "msgpack")]).await;
    let cluster = serde_json::json!({
        "R1": r1.url(),
        "R2": r2.url(),
        "R3": r3.url(),
        "N": n_url,
    });
    let env = [
        ("TSIO_REDIS_URL", url),
        ("TSIO_PARSER", "msgpack".to_owned()),
    ];
    let out = run_interop("cluster_interop", &cluster, &env).await;
    eprintln!("{out}");
}
