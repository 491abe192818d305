//! The sharded pub/sub adapter (`tower_socketio::adapter::redis::sharded`) against real
//! Redis: a mixed cluster of Rust servers and a Node server with `createShardedAdapter` of
//! `@socket.io/redis-adapter` 8.3 on a three-master Redis Cluster and on one Redis 7 in every
//! subscription mode, delivery while slots move (`CLUSTER SETSLOT`, `redis-cli --cluster
//! reshard`), and delivery after a master is killed and its replica promoted (the time it
//! took is printed).
#![cfg(feature = "redis-cluster")]

mod cluster_support;
mod common;
mod sio_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster_support::redis_cluster::RedisCluster;
use cluster_support::{Client, RedisServer, RustServer, node_server, run_interop, rust_server_on};
use common::{Peer, require_peer};
use serde_json::json;
use tower_socketio::adapter::redis::sharded::{
    ShardedAdapterConfig, ShardedAdapterFactory, SubscriptionMode,
};

fn tuned(config: ShardedAdapterConfig) -> ShardedAdapterConfig {
    config
        .requests_timeout(Duration::from_millis(1500))
        .ping_interval(Duration::from_millis(500))
        .max_backoff(Duration::from_millis(200))
        .command_timeout(Duration::from_secs(1))
}

/// Logs to the test output with `RUST_LOG` set (e.g. `tower_socketio=debug`).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

async fn sharded_server(name: &str, config: ShardedAdapterConfig) -> RustServer {
    logs();
    let factory = ShardedAdapterFactory::new(tuned(config)).expect("the adapter starts");
    let handle = factory.handle();
    rust_server_on(name, factory, handle).await
}

#[tokio::test]
async fn rust_and_node_servers_share_a_redis_cluster() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(cluster) = RedisCluster::start(3, 0).await else {
        return;
    };
    let nodes = cluster.urls();
    let r1 = sharded_server("R1", ShardedAdapterConfig::cluster(&nodes)).await;
    let r2 = sharded_server("R2", ShardedAdapterConfig::cluster(&nodes)).await;
    let joined = nodes.join(",");
    let (_node, n_url) = node_server(
        "N",
        &nodes[0],
        &[("ADAPTER", "sharded"), ("REDIS_CLUSTER", &joined)],
    )
    .await;
    let servers = json!({"R1": r1.url(), "R2": r2.url(), "N": n_url});
    let out = run_interop("sharded_cluster_interop", &servers, &[]).await;
    eprintln!("{out}");
}

#[tokio::test]
async fn every_subscription_mode_mixes_with_node_on_one_redis() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    for (mode, node_mode) in [
        (SubscriptionMode::DynamicPrivate, "dynamic-private"),
        (SubscriptionMode::Static, "static"),
    ] {
        let config = || {
            ShardedAdapterConfig::new(redis.url())
                .subscription_mode(mode)
                .channel_prefix(format!("m-{node_mode}"))
        };
        let r1 = sharded_server("R1", config()).await;
        let r2 = sharded_server("R2", config()).await;
        let prefix = format!("m-{node_mode}");
        let (_node, n_url) = node_server(
            "N",
            &redis.url(),
            &[
                ("ADAPTER", "sharded"),
                ("SUBSCRIPTION_MODE", node_mode),
                ("CHANNEL_PREFIX", &prefix),
            ],
        )
        .await;
        let servers = json!({"R1": r1.url(), "R2": r2.url(), "N": n_url});
        let out = run_interop(&format!("sharded_{node_mode}"), &servers, &[]).await;
        eprintln!("{out}");
    }
}

#[tokio::test]
async fn hostile_messages_on_the_shard_channels_are_ignored() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let a = sharded_server("A", ShardedAdapterConfig::new(redis.url())).await;
    let b = sharded_server("B", ShardedAdapterConfig::new(redis.url())).await;
    let mut ca = Client::connect(a.addr, "ca").await;
    let mut cb = Client::connect(b.addr, "cb").await;
    cb.call("join", json!("r")).await;
    assert!(b.redis.ready(Duration::from_secs(5)).await);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // The namespace's channel, both response channels, the room's channel.
    let channels: Vec<String> = shard_channels(redis.port).await.into_iter().collect();
    assert_eq!(channels.len(), 4, "{channels:?}");
    for ch in &channels {
        for g in cluster_support::hostile_cluster_messages() {
            let _: i64 = redis::cmd("SPUBLISH")
                .arg(ch)
                .arg(g.as_slice())
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
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
}

/// The shard channels subscribed on one Redis server.
async fn shard_channels(port: u16) -> BTreeSet<String> {
    let out = tokio::process::Command::new(common::redis_server().with_file_name("redis-cli"))
        .args(["-p", &port.to_string(), "PUBSUB", "SHARDCHANNELS"])
        .output()
        .await
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn channels_follow_the_subscription_mode() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    for mode in [
        SubscriptionMode::Static,
        SubscriptionMode::Dynamic,
        SubscriptionMode::DynamicPrivate,
    ] {
        let prefix = format!("{mode:?}");
        let s = sharded_server(
            "S",
            ShardedAdapterConfig::new(redis.url())
                .subscription_mode(mode)
                .channel_prefix(&prefix),
        )
        .await;
        let mut c = Client::connect(s.addr, "c").await;
        c.call("join", json!(["lobby", "other"])).await;
        c.call("leave", json!("other")).await;
        assert!(s.redis.ready(Duration::from_secs(5)).await);
        let deadline = Instant::now() + Duration::from_secs(5);
        let want_rooms: Vec<String> = match mode {
            SubscriptionMode::Static => vec![],
            SubscriptionMode::Dynamic => vec!["lobby".into()],
            _ => vec!["lobby".into(), c.sid.clone()],
        };
        loop {
            let got: Vec<String> = shard_channels(redis.port)
                .await
                .into_iter()
                .filter(|ch| ch.starts_with(&format!("{prefix}#/#")))
                .collect();
            // The namespace channel, this server's response channel, the rooms.
            let rooms: BTreeSet<&str> = got
                .iter()
                .filter_map(|ch| ch.strip_prefix(&format!("{prefix}#/#")))
                .filter_map(|r| r.strip_suffix('#'))
                .filter(|r| !r.is_empty() && r.len() != 16)
                .collect();
            let want: BTreeSet<&str> = want_rooms.iter().map(String::as_str).collect();
            if rooms == want && got.len() == 2 + want.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: channels {got:?}, expected rooms {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Gone when the socket leaves.
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(5);
        while shard_channels(redis.port)
            .await
            .iter()
            .filter(|ch| ch.starts_with(&format!("{prefix}#/#")))
            .count()
            != 2
        {
            assert!(
                Instant::now() < deadline,
                "{mode:?}: room channels left behind"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Emits numbered events from `from` until `until` says stop, and collects what a client of
/// another server receives; returns the numbers received and the time of each emission.
struct Ticker {
    sent: Vec<Instant>,
}

impl Ticker {
    /// Emits tick `n` to everyone and to the room `r`.
    async fn tick(&mut self, from: &RustServer) {
        let n = self.sent.len();
        from.io.emit("tick", &n).await.unwrap();
        from.io.to("r").emit("rtick", &n).await.unwrap();
        self.sent.push(Instant::now());
    }
}

/// Reads every queued `tick`/`rtick` of `c` for `d`; the numbers received.
async fn drain(c: &mut Client, d: Duration) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let mut ticks = BTreeSet::new();
    let mut rticks = BTreeSet::new();
    let deadline = Instant::now() + d;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match c.next_event_within(left).await {
            Some((e, args)) if e == "tick" => {
                ticks.insert(args[0].as_u64().unwrap());
            }
            Some((e, args)) if e == "rtick" => {
                rticks.insert(args[0].as_u64().unwrap());
            }
            Some(_) => {}
            None => break,
        }
    }
    (ticks, rticks)
}

#[tokio::test]
async fn delivery_goes_on_while_slots_move() {
    let Some(cluster) = RedisCluster::start(3, 0).await else {
        return;
    };
    let nodes = cluster.urls();
    let r1 = sharded_server("R1", ShardedAdapterConfig::cluster(&nodes)).await;
    let r2 = sharded_server("R2", ShardedAdapterConfig::cluster(&nodes)).await;
    let mut c2 = Client::connect(r2.addr, "c2").await;
    c2.call("join", json!("r")).await;
    assert!(r2.redis.ready(Duration::from_secs(5)).await);
    let mut t = Ticker { sent: Vec::new() };
    let main_slot = cluster.keyslot("socket.io#/#").await;
    let room_slot = cluster.keyslot("socket.io#/#r#").await;
    let mut report = Vec::new();
    for step in ["main channel", "room channel", "reshard"] {
        for _ in 0..5 {
            t.tick(&r1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let first_after = t.sent.len() as u64;
        let moved_at = Instant::now();
        match step {
            "main channel" => {
                cluster.move_slot(main_slot).await;
            }
            "room channel" => {
                cluster.move_slot(room_slot).await;
            }
            _ => {
                let topo = cluster.topology().await;
                let masters: Vec<u16> = topo.iter().filter(|n| n.master).map(|n| n.port).collect();
                let out = cluster.reshard(masters[0], masters[1], 500).await;
                assert!(!out.contains("ERR"), "reshard: {out}");
            }
        }
        // Keep emitting for a while after the move.
        for _ in 0..30 {
            t.tick(&r1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (ticks, rticks) = drain(&mut c2, Duration::from_millis(500)).await;
        let last = t.sent.len() as u64;
        // Delivery resumed: the last emissions all arrived, through both channels.
        for n in last - 10..last {
            assert!(ticks.contains(&n), "{step}: tick {n} lost; got {ticks:?}");
            assert!(
                rticks.contains(&n),
                "{step}: room tick {n} lost; got {rticks:?}"
            );
        }
        let lost: Vec<u64> = (first_after..last)
            .filter(|n| !ticks.contains(n) || !rticks.contains(n))
            .collect();
        let resumed = (first_after..last)
            .find(|n| ticks.contains(n) && rticks.contains(n) && !lost.iter().any(|l| l > n))
            .map(|n| t.sent[n as usize].saturating_duration_since(moved_at));
        report.push(format!(
            "{step}: {} of {} emitted after the move lost, delivery steady {resumed:?} after it",
            lost.len(),
            last - first_after
        ));
        // Before the move, nothing was lost.
        for n in first_after - 5..first_after {
            assert!(
                ticks.contains(&n) && rticks.contains(&n),
                "{step}: tick {n} (before the move) lost"
            );
        }
    }
    eprintln!("sharded adapter, slots moving: {}", report.join("; "));
    // Requests cross servers after the moves.
    let count = r1.io.sockets().adapter().server_count().await.unwrap();
    assert_eq!(count, 2);
    let sockets = r1.io.fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 1);
}

#[tokio::test]
async fn delivery_resumes_after_a_master_fails_over() {
    let Some(mut cluster) = RedisCluster::start(3, 1).await else {
        return;
    };
    let nodes = cluster.urls();
    let r1 = sharded_server("R1", ShardedAdapterConfig::cluster(&nodes)).await;
    let r2 = sharded_server("R2", ShardedAdapterConfig::cluster(&nodes)).await;
    let mut c2 = Client::connect(r2.addr, "c2").await;
    c2.call("join", json!("r")).await;
    assert!(r2.redis.ready(Duration::from_secs(5)).await);
    let mut t = Ticker { sent: Vec::new() };
    for _ in 0..5 {
        t.tick(&r1).await;
    }
    let (ticks, rticks) = drain(&mut c2, Duration::from_millis(300)).await;
    assert_eq!(ticks.len(), 5, "{ticks:?}");
    assert_eq!(rticks.len(), 5, "{rticks:?}");

    let master = cluster.owner(cluster.keyslot("socket.io#/#").await).await;
    let replica = cluster.replica_of(master.port).await;
    let killed_at = Instant::now();
    cluster.kill(master.port).await;
    // Emit every 50 ms; the first tick that arrives after the kill says when delivery came
    // back (publishers block and retry while the replica takes over).
    let first_after = t.sent.len() as u64;
    let mut resumed: Option<Duration> = None;
    let mut promoted: Option<Duration> = None;
    while killed_at.elapsed() < Duration::from_secs(30) {
        let emitter = async {
            t.tick(&r1).await;
        };
        tokio::time::timeout(Duration::from_secs(5), emitter)
            .await
            .ok();
        if promoted.is_none() && cluster.cli(replica, &["ROLE"]).await.starts_with("master") {
            promoted = Some(killed_at.elapsed());
        }
        let (ticks, rticks) = drain(&mut c2, Duration::from_millis(50)).await;
        // The namespace channel is the one whose master died (the room's may live
        // elsewhere and never stop).
        let _ = rticks;
        if ticks.iter().any(|n| *n >= first_after) {
            resumed = Some(killed_at.elapsed());
            break;
        }
    }
    let resumed = resumed.expect("delivery did not resume within 30 s of the master's death");
    eprintln!(
        "sharded adapter: master {} killed; replica {replica} promoted after {promoted:?}; delivery resumed after {resumed:?}",
        master.port
    );
    assert!(resumed < Duration::from_secs(15), "{resumed:?}");
    // Steady again: both channels, and requests.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain(&mut c2, Duration::from_millis(200)).await;
    let from = t.sent.len() as u64;
    for _ in 0..10 {
        t.tick(&r1).await;
    }
    let (ticks, rticks) = drain(&mut c2, Duration::from_millis(500)).await;
    let want: BTreeSet<u64> = (from..from + 10).collect();
    assert_eq!(ticks, want);
    assert_eq!(rticks, want);
    assert_eq!(r1.io.sockets().adapter().server_count().await.unwrap(), 2);
    assert_eq!(r1.io.fetch_sockets().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_builder_refuses_recovery_with_sharded_pub_sub() {
    // Pub/sub keeps nothing: no recovery, said at build time (Redis need not be up).
    let factory = ShardedAdapterFactory::new(ShardedAdapterConfig::new("redis://127.0.0.1:1/"))
        .expect("the adapter starts");
    let refused = tower_socketio::SocketIo::builder()
        .adapter(factory)
        .connection_state_recovery(tower_socketio::ConnectionStateRecovery::new())
        .try_build_svc();
    assert!(
        matches!(
            refused,
            Err(tower_socketio::BuildError::RecoveryUnsupported { .. })
        ),
        "{:?}",
        refused.err()
    );
}
