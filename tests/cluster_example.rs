//! The `cluster` example's handlers on two servers joined through a real `redis-server`,
//! with each adapter the example offers (`ADAPTER=pubsub|streams|sharded`; the sharded one
//! on a real Redis Cluster).
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/cluster.rs"]
mod example;

use std::net::SocketAddr;
use std::time::Duration;

use cluster_support::{Client, RedisServer};
use serde_json::json;
use tower_socketio::SocketIo;

/// A server as the example builds it, with `adapter` on the Redis at `url`.
async fn example_server(adapter: &str, url: &str) -> SocketAddr {
    let (builder, handle) = example::with_adapter(SocketIo::builder(), adapter, url).unwrap();
    let (svc, io) = builder.build_svc();
    example::setup(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    assert!(
        handle.ready(Duration::from_secs(10)).await,
        "{adapter}: not ready"
    );
    addr
}

/// The example's events across two servers.
async fn spans_servers(adapter: &str, url: &str) {
    let s1 = example_server(adapter, url).await;
    let s2 = example_server(adapter, url).await;
    let mut a = Client::connect(s1, "a").await;
    let mut b = Client::connect(s2, "b").await;

    a.emit("broadcast", &[json!({"x": 1})]).await;
    assert_eq!(a.expect("broadcast").await, vec![json!({"x": 1})]);
    assert_eq!(b.expect("broadcast").await, vec![json!({"x": 1})]);

    assert_eq!(b.call("join", json!("lobby")).await, json!(null));
    a.emit("to-room", &[json!("lobby"), json!("hi")]).await;
    assert_eq!(b.expect("room-msg").await, vec![json!("hi")]);
    a.expect_none("room-msg", Duration::from_millis(300)).await;

    assert_eq!(a.call("count", json!(null)).await, json!(2));
    assert_eq!(b.call("count", json!(null)).await, json!(2));
}

#[tokio::test]
async fn the_cluster_example_spans_servers() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    spans_servers("pubsub", &redis.url()).await;
    assert!(example::with_adapter(SocketIo::builder(), "nope", &redis.url()).is_err());
}

#[cfg(feature = "redis-streams")]
#[tokio::test]
async fn the_cluster_example_spans_servers_with_streams() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    spans_servers("streams", &redis.url()).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn the_cluster_example_spans_servers_with_sharded_pub_sub() {
    let Some(cluster) = cluster_support::redis_cluster::RedisCluster::start(3, 0).await else {
        return;
    };
    // One node's URL, as the example takes it: the others are discovered.
    spans_servers("sharded", &cluster.urls()[1]).await;
}
