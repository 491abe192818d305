//! The `cluster` example's handlers on two servers joined through a real `redis-server`.
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/cluster.rs"]
mod example;

use std::net::SocketAddr;
use std::time::Duration;

use cluster_support::{Client, RedisServer, test_config};
use serde_json::json;
use tower_socketio::SocketIo;
use tower_socketio::adapter::redis::RedisAdapterFactory;

async fn example_server(redis_url: &str) -> SocketAddr {
    let factory = RedisAdapterFactory::new(test_config(redis_url)).unwrap();
    let handle = factory.handle();
    let (svc, io) = SocketIo::builder().adapter(factory).build_svc();
    example::setup(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    assert!(handle.ready(Duration::from_secs(10)).await);
    addr
}

#[tokio::test]
async fn the_cluster_example_spans_servers() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let s1 = example_server(&redis.url()).await;
    let s2 = example_server(&redis.url()).await;
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
