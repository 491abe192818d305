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

/// The `tick`s and `rtick`s a client received.
#[derive(Default)]
struct Received {
    ticks: BTreeSet<u64>,
    rticks: BTreeSet<u64>,
}

impl Received {
    /// Whether tick `n` arrived through both channels.
    fn both(&self, n: u64) -> bool {
        self.ticks.contains(&n) && self.rticks.contains(&n)
    }

    fn add(&mut self, (e, args): (String, Vec<serde_json::Value>)) {
        let set = match e.as_str() {
            "tick" => &mut self.ticks,
            "rtick" => &mut self.rticks,
            _ => return,
        };
        set.insert(args[0].as_u64().unwrap());
    }
}

/// Reads every queued `tick`/`rtick` of `c` for `d` into `into`.
async fn drain(c: &mut Client, d: Duration, into: &mut Received) {
    let deadline = Instant::now() + d;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match c.next_event_within(left).await {
            Some(e) => into.add(e),
            None => break,
        }
    }
}

/// Reads until ticks `want` have all arrived through both channels, or `limit` passes.
async fn collect(c: &mut Client, want: &BTreeSet<u64>, limit: Duration) -> Received {
    let mut got = Received::default();
    let deadline = Instant::now() + limit;
    while !want.iter().all(|n| got.both(*n)) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match c.next_event_within(left).await {
            Some(e) => got.add(e),
            None => break,
        }
    }
    got
}

/// Reads and forgets what arrives until nothing has for `quiet` (late deliveries of an
/// earlier phase), at most `limit`.
async fn settle(c: &mut Client, quiet: Duration, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && c.next_event_within(quiet).await.is_some() {}
}

/// Emits a tick every 20 ms until one emitted from now on has arrived through both
/// channels (or `limit` passes); everything received meanwhile goes into `into`. When it
/// came through and when it had been emitted, both counted from `since`.
async fn emit_until_delivered(
    t: &mut Ticker,
    from: &RustServer,
    c: &mut Client,
    since: Instant,
    limit: Duration,
    into: &mut Received,
) -> Option<(Duration, Duration)> {
    let first = t.sent.len() as u64;
    while since.elapsed() < limit {
        // A publisher may block while the cluster fails over; do not stall the loop on it.
        tokio::time::timeout(Duration::from_secs(5), t.tick(from))
            .await
            .ok();
        drain(c, Duration::from_millis(20), into).await;
        if let Some(n) = (first..t.sent.len() as u64).find(|n| into.both(*n)) {
            let emitted = t.sent[n as usize].saturating_duration_since(since);
            return Some((since.elapsed(), emitted));
        }
    }
    None
}

/// Delivery is steady again: once both servers' subscriptions hold and late deliveries
/// are read, ten more ticks all arrive through both channels.
async fn assert_steady(
    what: &str,
    t: &mut Ticker,
    from: &RustServer,
    to: &RustServer,
    c: &mut Client,
) {
    for server in [from, to] {
        assert!(
            server.redis.ready(Duration::from_secs(15)).await,
            "{what}: the subscriptions did not all hold again: {:?}",
            server.redis.last_error()
        );
    }
    settle(c, Duration::from_millis(300), Duration::from_secs(10)).await;
    let start = t.sent.len() as u64;
    for _ in 0..10 {
        t.tick(from).await;
    }
    let want: BTreeSet<u64> = (start..start + 10).collect();
    let mut got = collect(c, &want, Duration::from_secs(10)).await;
    // Late deliveries of earlier ticks (a publisher that retried) may still come in.
    got.ticks.retain(|n| *n >= start);
    got.rticks.retain(|n| *n >= start);
    assert_eq!(
        got.ticks, want,
        "{what}: ticks through the namespace's channel"
    );
    assert_eq!(got.rticks, want, "{what}: ticks through the room's channel");
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
        // Before the move, nothing is lost.
        let start = t.sent.len() as u64;
        for _ in 0..5 {
            t.tick(&r1).await;
        }
        let want: BTreeSet<u64> = (start..start + 5).collect();
        let before = collect(&mut c2, &want, Duration::from_secs(10)).await;
        assert!(
            want.iter().all(|n| before.both(*n)),
            "{step}: ticks before the move lost: {:?} {:?}",
            before.ticks,
            before.rticks
        );
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
        // Keep emitting until delivery comes back through both channels.
        let mut got = Received::default();
        let resumed = emit_until_delivered(
            &mut t,
            &r1,
            &mut c2,
            moved_at,
            Duration::from_secs(20),
            &mut got,
        )
        .await;
        let (resumed, emitted) =
            resumed.unwrap_or_else(|| panic!("{step}: delivery did not resume within 20 s"));
        drain(&mut c2, Duration::from_millis(200), &mut got).await;
        let last = t.sent.len() as u64;
        let lost = (first_after..last).filter(|n| !got.both(*n)).count();
        report.push(format!(
            "{step}: {lost} of {} emitted after the move lost, delivery back {resumed:?} after it (the first tick through was emitted {emitted:?} after it)",
            last - first_after
        ));
        assert_steady(step, &mut t, &r1, &r2, &mut c2).await;
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
    let want: BTreeSet<u64> = (0..5).collect();
    let before = collect(&mut c2, &want, Duration::from_secs(10)).await;
    assert_eq!(before.ticks, want);
    assert_eq!(before.rticks, want);

    let master = cluster.owner(cluster.keyslot("socket.io#/#").await).await;
    let replica = cluster.replica_of(master.port).await;
    let killed_at = Instant::now();
    cluster.kill(master.port).await;
    // Emit every 20 ms until a tick emitted after the kill comes through both channels
    // (publishers block and retry while the replica takes over).
    let promoting = cluster.wait_master(replica, Duration::from_secs(30));
    let mut got = Received::default();
    let (promoted, resumed) = tokio::join!(
        promoting,
        emit_until_delivered(
            &mut t,
            &r1,
            &mut c2,
            killed_at,
            Duration::from_secs(30),
            &mut got,
        )
    );
    let (resumed, emitted) =
        resumed.expect("delivery did not resume within 30 s of the master's death");
    eprintln!(
        "sharded adapter: master {} killed; replica {replica} promoted after {promoted:?}; delivery back after {resumed:?} (the first tick through was emitted {emitted:?} after the kill)",
        master.port
    );
    // Steady again: both channels, and requests.
    assert_steady("after the failover", &mut t, &r1, &r2, &mut c2).await;
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
