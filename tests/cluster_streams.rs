//! The Redis Streams adapter (`tower_socketio::adapter::redis::streams`) against a real
//! `redis-server`: a mixed cluster with a Node server running
//! `@socket.io/redis-streams-adapter` 0.3, namespaces spread over several streams (one with
//! Node's negative stream index), and faults while broadcasts go on: the adapter's
//! connections killed (`CLIENT KILL`) and Redis restarted with `appendonly yes`. After each,
//! every broadcast sent meanwhile reaches every client once: none lost, none twice.
#![cfg(feature = "redis-streams")]

mod cluster_support;
mod common;
mod sio_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_support::{
    Client, RedisServer, RustServer, node_server, run_interop, rust_server_built, rust_server_on,
};
use common::{Peer, require_peer};
use serde_json::json;
use tower_socketio::adapter::redis::streams::{StreamsAdapterConfig, StreamsAdapterFactory};
use tower_socketio::{ConnectionStateRecovery, SocketIo};

/// Logs to the test output with `RUST_LOG` set (e.g. `tower_socketio=debug`).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

fn tuned(config: StreamsAdapterConfig) -> StreamsAdapterConfig {
    config
        .requests_timeout(Duration::from_millis(1500))
        .ping_interval(Duration::from_millis(500))
        .max_backoff(Duration::from_millis(200))
        .command_timeout(Duration::from_secs(1))
        .block_time(Duration::from_millis(500))
}

async fn streams_server(name: &str, config: StreamsAdapterConfig) -> RustServer {
    logs();
    let factory = StreamsAdapterFactory::new(tuned(config)).expect("the adapter starts");
    let handle = factory.handle();
    rust_server_on(name, factory, handle).await
}

#[tokio::test]
async fn rust_and_node_servers_share_the_streams() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let r1 = streams_server("R1", StreamsAdapterConfig::new(redis.url())).await;
    let r2 = streams_server("R2", StreamsAdapterConfig::new(redis.url())).await;
    let (_node, n_url) = node_server("N", &redis.url(), &[("ADAPTER", "streams")]).await;
    let servers = json!({"R1": r1.url(), "R2": r2.url(), "N": n_url});
    let out = run_interop("streams_interop", &servers, &[]).await;
    eprintln!("{out}");
    // The entries are where Node writes them.
    assert_ne!(redis.cli(&["XLEN", "socket.io"]).await, "0");
}

#[tokio::test]
async fn hostile_stream_entries_and_messages_are_ignored() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let a = streams_server("A", StreamsAdapterConfig::new(redis.url())).await;
    let b = streams_server("B", StreamsAdapterConfig::new(redis.url())).await;
    let mut ca = Client::connect(a.addr, "ca").await;
    let mut cb = Client::connect(b.addr, "cb").await;
    cb.call("join", json!("r")).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let garbage = cluster_support::hostile_cluster_messages();
    // Over pub/sub: the request channel and every server's own channel.
    let mut channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("socket.io#/#*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(channels.len(), 3, "{channels:?}");
    channels.sort();
    for ch in &channels {
        for g in &garbage {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(ch)
                .arg(g.as_slice())
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
    // In the stream: entries with missing or broken fields, and data that is neither JSON
    // nor base64 MessagePack, or is but says nothing sensible.
    let b64 = |b: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    let mut entries: Vec<Vec<(&str, Vec<u8>)>> = vec![
        vec![("x", b"y".to_vec())],
        vec![("uid", b"u".to_vec()), ("type", b"3".to_vec())],
        vec![("uid", b"u".to_vec()), ("nsp", b"/".to_vec())],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"three".to_vec()),
        ],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"3".to_vec()),
            ("data", b"{".to_vec()),
        ],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"3".to_vec()),
            ("data", b"!!!".to_vec()),
        ],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"3".to_vec()),
            ("data", b64(&[0xc1]).into_bytes()),
        ],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"3".to_vec()),
            ("data", b64(&[0x91; 3000]).into_bytes()),
        ],
        vec![
            ("uid", b"u".to_vec()),
            ("nsp", b"/".to_vec()),
            ("type", b"99".to_vec()),
            ("data", b"{}".to_vec()),
        ],
        vec![
            ("nsp", b"/".to_vec()),
            ("type", b"3".to_vec()),
            (
                "data",
                br#"{"packet":{"type":2,"data":["e"]},"opts":{}}"#.to_vec(),
            ),
        ],
    ];
    for g in &garbage {
        if let Some(data) = g.strip_prefix(b"{").filter(|_| g.len() > 1) {
            let _ = data;
            entries.push(vec![
                ("uid", b"u".to_vec()),
                ("nsp", b"/".to_vec()),
                ("type", b"3".to_vec()),
                ("data", g.clone()),
            ]);
        }
    }
    for e in &entries {
        let mut cmd = redis::cmd("XADD");
        cmd.arg("socket.io").arg("*");
        for (k, v) in e {
            cmd.arg(*k).arg(v.as_slice());
        }
        let _: String = cmd.query_async(&mut conn).await.unwrap();
    }
    // The cluster still works both ways.
    ca.op(json!({"kind": "emit", "to": ["r"], "event": "after", "args": []}))
        .await;
    cb.expect("after").await;
    cb.op(json!({"kind": "emit", "event": "after2", "args": []}))
        .await;
    ca.expect("after2").await;
    assert_eq!(
        ca.op(json!({"kind": "fetch"}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(ca.op(json!({"kind": "serverCount"})).await, json!(2));
    ca.expect_none("e", Duration::from_millis(300)).await;
    cb.expect_none("e", Duration::ZERO).await;
    assert!(a.redis.is_healthy() && b.redis.is_healthy());
}

#[tokio::test]
async fn recovered_sessions_move_between_rust_and_node_servers() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let recovering = |name: &'static str| {
        let factory = StreamsAdapterFactory::new(tuned(StreamsAdapterConfig::new(redis.url())))
            .expect("the adapter starts");
        let handle = factory.handle();
        let builder = SocketIo::builder()
            .adapter(factory)
            .connection_state_recovery(
                ConnectionStateRecovery::new().max_disconnection_duration(Duration::from_secs(10)),
            );
        rust_server_built(name, builder, handle)
    };
    logs();
    let r1 = recovering("R1").await;
    let r2 = recovering("R2").await;
    let (_node, n_url) = node_server(
        "N",
        &redis.url(),
        &[("ADAPTER", "streams"), ("RECOVERY", "10000")],
    )
    .await;
    let servers = json!({"R1": r1.url(), "R2": r2.url(), "N": n_url});
    let mut cmd = tokio::process::Command::new(common::node());
    cmd.arg(common::js_dir().join("cluster/recovery.mjs"))
        .current_dir(common::js_dir())
        .env("TSIO_CLUSTER", servers.to_string())
        // Rust to Node, Node to Rust, Rust to Rust.
        .env("TSIO_ROUTE", "R1,N,R2,R1")
        // While broadcasts go on: between Rust servers (Node's restore, which reads the
        // stream without its reader's position, may lose or double a live broadcast).
        .env("TSIO_STREAM_ROUTE", "R2,R1,R2,R1")
        .env("TSIO_REDIS_URL", redis.url());
    let out = common::expect_success(
        common::run_command(cmd, "node cluster/recovery.mjs", Duration::from_secs(120)).await,
        "the recovery driver",
    );
    assert!(out.contains("cluster_recovery: ok"), "{out}");
    eprintln!("{out}");
    // Sessions live in Redis under Node's key prefix, and expire.
    assert_eq!(redis.cli(&["KEYS", "sio:session:*"]).await, "");
}

/// On a Redis Cluster: namespaces spread over three streams (on different masters), requests
/// over sharded pub/sub, a Node server with the same options.
#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn rust_and_node_servers_share_streams_on_a_redis_cluster() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(cluster) = cluster_support::redis_cluster::RedisCluster::start(3, 0).await else {
        return;
    };
    let nodes = cluster.urls();
    let config = || {
        StreamsAdapterConfig::cluster(&nodes)
            .stream_count(3)
            .use_sharded_pub_sub(true)
    };
    let r1 = streams_server("R1", config()).await;
    let r2 = streams_server("R2", config()).await;
    let joined = nodes.join(",");
    let (_node, n_url) = node_server(
        "N",
        &nodes[0],
        &[
            ("ADAPTER", "streams"),
            ("REDIS_CLUSTER", &joined),
            ("STREAM_COUNT", "3"),
            ("SHARDED_PUBSUB", "1"),
        ],
    )
    .await;
    let servers = json!({"R1": r1.url(), "R2": r2.url(), "N": n_url});
    let out = run_interop("streams_cluster_interop", &servers, &[]).await;
    eprintln!("{out}");
    // `/` is in `socket.io-2`, as Node computes it.
    let slot = cluster.keyslot("socket.io-2").await;
    let owner = cluster.owner(slot).await;
    assert_ne!(cluster.cli(owner.port, &["XLEN", "socket.io-2"]).await, "0");
}

/// Collects the arguments (a number each) of the events `names` at `c` until `n` of each
/// arrived or `limit` passed; other events are left out.
async fn collect_all(
    c: &mut Client,
    names: &[&str],
    n: usize,
    limit: Duration,
) -> Vec<BTreeMap<u64, usize>> {
    let mut got: Vec<BTreeMap<u64, usize>> = vec![BTreeMap::new(); names.len()];
    let deadline = Instant::now() + limit;
    while got.iter().any(|g| g.values().sum::<usize>() < n) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match c.next_event_within(left).await {
            Some((e, args)) => {
                if let Some(i) = names.iter().position(|n| *n == e) {
                    *got[i].entry(args[0].as_u64().unwrap()).or_default() += 1;
                }
            }
            None => break,
        }
    }
    got
}

/// Collects the arguments of `event` at `c` until `n` arrived or `limit` passed.
async fn collect(c: &mut Client, event: &str, n: usize, limit: Duration) -> BTreeMap<u64, usize> {
    collect_all(c, &[event], n, limit).await.remove(0)
}

/// Every number of `0..n` exactly once.
fn assert_once(what: &str, got: &BTreeMap<u64, usize>, n: u64) {
    let missing: Vec<u64> = (0..n).filter(|i| !got.contains_key(i)).collect();
    let twice: Vec<(&u64, &usize)> = got.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        missing.is_empty() && twice.is_empty() && got.len() as u64 == n,
        "{what}: {} missing {missing:?}, twice {twice:?}",
        missing.len()
    );
}

#[tokio::test]
async fn namespaces_spread_over_streams_like_node() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = || StreamsAdapterConfig::new(redis.url()).stream_count(3);
    let a = streams_server("A", config()).await;
    let b = streams_server("B", config()).await;
    // `/notifications` hashes to -1014064871: Node puts it in `socket.io--2`.
    for s in [&a, &b] {
        s.io.ns("/notifications", async |_: tower_socketio::SocketRef| {});
    }
    assert!(b.redis.ready(Duration::from_secs(5)).await);
    let mut cb = Client::connect(b.addr, "cb").await;
    let mut cbn = Client::connect_ns(b.addr, "/notifications", "cbn").await;
    a.io.emit("hello", &1).await.unwrap();
    a.io.of("/notifications").emit("note", &2).await.unwrap();
    assert_eq!(cb.expect("hello").await, vec![json!(1)]);
    assert_eq!(cbn.expect("note").await, vec![json!(2)]);
    assert_eq!(redis.cli(&["XLEN", "socket.io-2"]).await, "1");
    assert_eq!(redis.cli(&["XLEN", "socket.io--2"]).await, "1");
}

#[tokio::test]
async fn killed_connections_lose_nothing_and_double_nothing() {
    killed_connections(false).await;
}

/// The same with connection state recovery on: stored broadcasts reach this server's
/// sockets from the stream (or early, without an offset, while the writer cannot write).
#[tokio::test]
async fn killed_connections_lose_nothing_and_double_nothing_with_recovery() {
    killed_connections(true).await;
}

async fn killed_connections(recovery: bool) {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = |name: &'static str| {
        let factory = StreamsAdapterFactory::new(tuned(StreamsAdapterConfig::new(redis.url())))
            .expect("the adapter starts");
        let handle = factory.handle();
        let mut builder = SocketIo::builder().adapter(factory);
        if recovery {
            builder = builder.connection_state_recovery(ConnectionStateRecovery::new());
        }
        logs();
        rust_server_built(name, builder, handle)
    };
    let a = server("A").await;
    let b = server("B").await;
    let mut ca = Client::connect(a.addr, "ca").await;
    let mut cb = Client::connect(b.addr, "cb").await;
    const N: u64 = 1500;
    let kills = [200, 500, 800, 1100];
    let started = Instant::now();
    let mut killed = 0;
    let mut rounds_hit = 0;
    for i in 0..N {
        // Both ways: A's broadcasts to B's client and B's to A's.
        a.io.emit("from-a", &i).await.unwrap();
        b.io.emit("from-b", &i).await.unwrap();
        if kills.contains(&i) {
            // Every connection of both servers' adapters (commands, stream readers and
            // subscribers), in the middle of the writes.
            let n1 = redis
                .cli(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
                .await;
            let n2 = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
            let hit = n1.parse::<u32>().unwrap_or(0) + n2.parse::<u32>().unwrap_or(0);
            rounds_hit += u32::from(hit > 0);
            killed += hit;
        }
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Each client gets its own server's broadcasts (local delivery went on) and the other
    // server's, every one once.
    let at_b = collect_all(
        &mut cb,
        &["from-a", "from-b"],
        N as usize,
        Duration::from_secs(30),
    )
    .await;
    let at_a = collect_all(
        &mut ca,
        &["from-a", "from-b"],
        N as usize,
        Duration::from_secs(10),
    )
    .await;
    // Nothing more arrives later (no late duplicates).
    let extra_b = collect_all(
        &mut cb,
        &["from-a", "from-b"],
        1,
        Duration::from_millis(500),
    )
    .await;
    let extra_a = collect_all(
        &mut ca,
        &["from-a", "from-b"],
        1,
        Duration::from_millis(100),
    )
    .await;
    eprintln!(
        "streams adapter (recovery {}): {N} broadcasts each way, {} kills ({killed} connections), all delivered once in {:?}",
        if recovery { "on" } else { "off" },
        kills.len(),
        started.elapsed()
    );
    assert_once("A to B", &at_b[0], N);
    assert_once("B to B", &at_b[1], N);
    assert_once("A to A", &at_a[0], N);
    assert_once("B to A", &at_a[1], N);
    assert!(
        extra_a.iter().chain(&extra_b).all(BTreeMap::is_empty),
        "late copies: {extra_a:?} {extra_b:?}"
    );
    // The kills hit live connections: four per round when both servers are connected
    // through, fewer (even none) when they were still reconnecting from the round before.
    assert!(
        rounds_hit >= 2 && killed >= kills.len() as u32 * 2,
        "the kills hit the adapters' connections: {killed} in {rounds_hit} rounds"
    );
    assert_eq!(redis.cli(&["XLEN", "socket.io"]).await, (2 * N).to_string());
    assert!(a.redis.is_healthy() && b.redis.is_healthy());
}

#[tokio::test]
async fn a_restarted_redis_with_an_append_only_file_loses_nothing() {
    let Some(mut redis) = RedisServer::start_persistent().await else {
        return;
    };
    let a = streams_server("A", StreamsAdapterConfig::new(redis.url())).await;
    let b = streams_server("B", StreamsAdapterConfig::new(redis.url())).await;
    let mut ca = Client::connect(a.addr, "ca").await;
    let mut cb = Client::connect(b.addr, "cb").await;
    const N: u64 = 300;
    let down_at = 100;
    let up_at = 200;
    let mut downtime = Duration::ZERO;
    for i in 0..N {
        a.io.emit("from-a", &i).await.unwrap();
        if i == down_at {
            // A's own client has everything so far.
            let local = collect(
                &mut ca,
                "from-a",
                down_at as usize + 1,
                Duration::from_secs(5),
            )
            .await;
            assert_once("A to A before the restart", &local, down_at + 1);
            let t = Instant::now();
            redis.shutdown().await;
            downtime = t.elapsed();
        } else if (down_at..up_at).contains(&i) {
            // Local delivery goes on while Redis is away.
            let local = collect(&mut ca, "from-a", 1, Duration::from_secs(2)).await;
            assert_eq!(
                local.keys().copied().collect::<Vec<_>>(),
                vec![i],
                "local delivery of {i}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if i == up_at {
            let t = Instant::now();
            redis.restart().await;
            downtime += t.elapsed();
        }
    }
    assert!(!a.redis.is_healthy() || a.redis.last_error().is_some());
    let from_a = collect(&mut cb, "from-a", N as usize, Duration::from_secs(30)).await;
    let extra = collect(&mut cb, "from-a", 1, Duration::from_millis(500)).await;
    eprintln!(
        "streams adapter: Redis down for {} broadcasts (restart took {downtime:?}); all {N} delivered once",
        up_at - down_at
    );
    assert_once("A to B across the restart", &from_a, N);
    assert!(extra.is_empty(), "late copies: {extra:?}");
    assert_eq!(redis.cli(&["XLEN", "socket.io"]).await, N.to_string());
}
