//! Redis faults under a running cluster: `redis-server` killed (SIGKILL) and restarted on the
//! same port mid-test, and a server started while Redis is down. Local delivery never stops,
//! errors show in the health handle, and the cluster resumes by itself.
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

use std::time::{Duration, Instant};

use cluster_support::{Client, RedisServer, RustServer, rust_server, test_config};
use serde_json::json;
use tower_socketio::adapter::redis::RedisAdapterFactory;

const QUIET: Duration = Duration::from_millis(400);

/// Waits until `check` holds, up to `limit`.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn healthy_again(servers: &[&RustServer]) {
    for s in servers {
        until(
            &format!("{} healthy", s.name),
            Duration::from_secs(15),
            || s.redis.is_healthy(),
        )
        .await;
        assert!(
            s.redis.ready(Duration::from_secs(10)).await,
            "{} resubscribed",
            s.name
        );
    }
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_test() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let a = rust_server("A", test_config(&redis.url())).await;
    let b = rust_server("B", test_config(&redis.url())).await;
    let mut ca = Client::connect(a.addr, "a").await;
    let mut ca2 = Client::connect(a.addr, "a2").await;
    let mut cb = Client::connect(b.addr, "b").await;
    ca2.call("join", json!("room")).await;

    // Before: the cluster works.
    ca.op(json!({"kind": "emit", "event": "before", "args": []}))
        .await;
    cb.expect("before").await;
    ca.expect("before").await;
    assert!(a.redis.is_healthy() && b.redis.is_healthy());

    redis.kill().await;

    // Local delivery goes on, at once, for every kind of operation.
    for round in 0..3 {
        let started = Instant::now();
        assert_eq!(
            ca.op(json!({"kind": "emit", "event": "during", "args": [round]}))
                .await,
            "ok"
        );
        assert_eq!(ca.expect("during").await, vec![json!(round)]);
        assert_eq!(ca2.expect("during").await, vec![json!(round)]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        ca.op(json!({"kind": "emit", "to": ["room"], "event": "during-room", "args": []}))
            .await;
        ca2.expect("during-room").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cb.expect_none("during", QUIET).await;
    ca.op(json!({"kind": "join", "rooms": ["later"]})).await;
    let mut want = vec![ca2.sid.clone(), "later".to_owned(), "room".to_owned()];
    want.sort();
    assert_eq!(ca2.call("rooms", json!(null)).await, json!(want));
    // Operations that need the other servers fail with a clear error, quickly.
    let started = Instant::now();
    let res = ca.op(json!({"kind": "fetch"})).await;
    assert!(
        res["error"]
            .as_str()
            .unwrap()
            .starts_with("adapter backend error"),
        "{res}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A broadcast with acks still gathers the local answers, plus one error.
    let (res, _) = tokio::join!(
        ca.op(json!({"kind": "emitWithAck", "timeout": 1000, "event": "ask", "args": []})),
        ca2.expect("ask"),
    );
    ca.expect("ask").await;
    assert_eq!(
        res,
        json!({"ok": [{"client": "a"}, {"client": "a2"}], "errors": 1})
    );
    // Health tells.
    until("A unhealthy", Duration::from_secs(5), || {
        !a.redis.is_healthy()
    })
    .await;
    until("B unhealthy", Duration::from_secs(5), || {
        !b.redis.is_healthy()
    })
    .await;
    assert!(!a.io.is_adapter_healthy());
    assert!(a.redis.last_error().is_some());
    assert!(a.redis.dropped_messages() > 0);

    // Restart on the same port: both servers reconnect and resubscribe by themselves.
    redis.restart().await;
    healthy_again(&[&a, &b]).await;
    ca.op(json!({"kind": "emit", "event": "after", "args": []}))
        .await;
    cb.expect("after").await;
    cb.op(json!({"kind": "emit", "to": ["room"], "event": "after-room", "args": []}))
        .await;
    ca2.expect("after-room").await;
    assert_eq!(
        cb.op(json!({"kind": "fetch"}))
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(cb.op(json!({"kind": "serverCount"})).await, 2);

    // A second outage, to show recovery is not a one-off.
    redis.kill().await;
    ca.op(json!({"kind": "emit", "event": "during2", "args": []}))
        .await;
    ca.expect("during2").await;
    redis.restart().await;
    healthy_again(&[&a, &b]).await;
    cb.op(json!({"kind": "emit", "event": "after2", "args": []}))
        .await;
    ca.expect("after2").await;
    ca2.expect("after2").await;
}

#[tokio::test]
async fn a_server_started_while_redis_is_down_joins_later() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let a = rust_server("A", test_config(&redis.url())).await;
    redis.kill().await;

    // B starts with Redis down: it serves its own clients.
    let factory = RedisAdapterFactory::new(test_config(&redis.url())).unwrap();
    let handle = factory.handle();
    let (svc, io) = tower_socketio::SocketIo::builder()
        .adapter(factory)
        .build_svc();
    cluster_support::cluster_handlers(&io, "B");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    assert!(!handle.ready(Duration::from_millis(300)).await);
    assert!(!handle.is_healthy());
    let mut cb = Client::connect(addr, "b").await;
    cb.op(json!({"kind": "emit", "event": "alone", "args": []}))
        .await;
    cb.expect("alone").await;

    redis.restart().await;
    let b = RustServer {
        name: "B".into(),
        addr,
        io,
        redis: handle,
    };
    healthy_again(&[&a, &b]).await;
    let mut ca = Client::connect(a.addr, "a").await;
    cb.op(json!({"kind": "emit", "event": "together", "args": []}))
        .await;
    ca.expect("together").await;
    assert_eq!(ca.op(json!({"kind": "serverCount"})).await, 2);
}

#[tokio::test]
async fn invalid_settings_are_reported() {
    let err = RedisAdapterFactory::new(tower_socketio::adapter::redis::RedisAdapterConfig::new(
        "not a url",
    ))
    .unwrap_err();
    assert!(err.to_string().contains("adapter backend error"), "{err}");
}

#[test]
fn the_factory_needs_a_tokio_runtime() {
    let err = RedisAdapterFactory::new(tower_socketio::adapter::redis::RedisAdapterConfig::new(
        "redis://127.0.0.1:1/",
    ))
    .unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}
