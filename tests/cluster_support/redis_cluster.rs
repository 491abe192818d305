//! A real Redis Cluster for the tests: `redis-server --cluster-enabled yes` nodes on free
//! loopback ports (each with an explicit free bus port: Redis refuses a port above 55535
//! when it derives the bus port), joined with `redis-cli --cluster create`. Slots are moved
//! with `CLUSTER SETSLOT` or `redis-cli --cluster reshard`, masters killed to promote their
//! replicas. Every node dies with the value.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// One node.
pub struct Node {
    pub port: u16,
    bus: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub port: u16,
    pub master: bool,
    pub failed: bool,
    /// The master's id, for a replica.
    pub master_id: Option<String>,
    /// Slot ranges, for a master.
    pub slots: Vec<(u16, u16)>,
}

/// A running cluster.
pub struct RedisCluster {
    pub nodes: Vec<Node>,
    server: PathBuf,
    cli: PathBuf,
    root: PathBuf,
}

/// A free loopback port for a node (below the ephemeral range, so at most 55535: Redis's
/// limit for a node with a derived bus port, kept although the bus port is explicit).
fn low_free_port() -> u16 {
    loop {
        let p = super::server_port();
        if p <= 55_535 {
            return p;
        }
    }
}

/// `redis-cli` beside `redis-server`, or on the `PATH`.
fn redis_cli(server: &std::path::Path) -> PathBuf {
    let beside = server.with_file_name("redis-cli");
    if beside.exists() {
        return beside;
    }
    super::super::common::which("redis-cli").unwrap_or_else(|| {
        panic!(
            "redis-cli not found (Debian: apt-get install -y redis-tools); the Redis Cluster tests need it"
        )
    })
}

impl RedisCluster {
    /// Starts `masters` masters with `replicas` replicas each, or `None` (after the
    /// harness's SKIPPED line) when `redis-server` is missing.
    pub async fn start(masters: usize, replicas: usize) -> Option<Self> {
        let server = super::super::common::require_peer(super::super::common::Peer::RedisServer)?;
        let cli = redis_cli(&server);
        let root = std::env::temp_dir().join(format!(
            "tsio-redis-cluster-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&root).unwrap();
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let port = low_free_port();
            let bus = low_free_port();
            let dir = root.join(format!("node-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            nodes.push(Node {
                port,
                bus,
                dir,
                child: None,
            });
        }
        let mut cluster = RedisCluster {
            nodes,
            server,
            cli,
            root,
        };
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i);
        }
        for n in &cluster.nodes {
            wait_ping(n.port).await;
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(
            cluster
                .nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port)),
        );
        if replicas > 0 {
            args.extend(["--cluster-replicas".into(), replicas.to_string()]);
        }
        args.push("--cluster-yes".into());
        let out = cluster.cli_raw(&args).await;
        assert!(
            out.contains("[OK] All 16384 slots covered"),
            "cluster create: {out}"
        );
        cluster.wait_ok(Duration::from_secs(20)).await;
        if replicas > 0 {
            cluster.wait_replicas_linked(Duration::from_secs(20)).await;
        }
        Some(cluster)
    }

    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let child = Command::new(&self.server)
            .args([
                "--port",
                &n.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &n.bus.to_string(),
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--cluster-replica-validity-factor",
                "0",
                "--dir",
                n.dir.to_str().unwrap(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server did not start");
        n.child = Some(child);
    }

    /// `redis://127.0.0.1:<port>/` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// Runs `redis-cli` with these arguments; its standard output (and error).
    pub async fn cli_raw(&self, args: &[String]) -> String {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            Command::new(&self.cli)
                .args(args)
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("redis-cli took over 60 s")
        .expect("redis-cli did not run");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Runs one command on the node at `port`.
    pub async fn cli(&self, port: u16, args: &[&str]) -> String {
        let mut all = vec!["-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        self.cli_raw(&all).await.trim().to_owned()
    }

    /// A live node's port (to ask the cluster things).
    pub fn any_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("no node is running")
            .port
    }

    /// The cluster as one live node sees it.
    pub async fn topology(&self) -> Vec<NodeInfo> {
        let text = self.cli(self.any_port(), &["CLUSTER", "NODES"]).await;
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.len() < 8 {
                    return None;
                }
                let port = f[1].split(':').nth(1)?.split('@').next()?.parse().ok()?;
                let flags = f[2];
                let slots = f[8..]
                    .iter()
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|a| (a, a)),
                    })
                    .collect();
                Some(NodeInfo {
                    id: f[0].to_owned(),
                    port,
                    master: flags.contains("master"),
                    failed: flags.contains("fail"),
                    master_id: (f[3] != "-").then(|| f[3].to_owned()),
                    slots,
                })
            })
            .collect()
    }

    /// The slot of a key or channel.
    pub async fn keyslot(&self, name: &str) -> u16 {
        self.cli(self.any_port(), &["CLUSTER", "KEYSLOT", name])
            .await
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    /// The master that owns `slot`.
    pub async fn owner(&self, slot: u16) -> NodeInfo {
        self.topology()
            .await
            .into_iter()
            .find(|n| {
                n.master && !n.failed && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
            })
            .unwrap_or_else(|| panic!("no master owns slot {slot}"))
    }

    /// Moves one slot (without keys) to another master, as an in-place migration does.
    pub async fn move_slot(&self, slot: u16) -> (u16, u16) {
        let src = self.owner(slot).await;
        let dst = self
            .topology()
            .await
            .into_iter()
            .find(|n| n.master && !n.failed && n.id != src.id)
            .expect("another master");
        let slot_text = slot.to_string();
        let slot_s = slot_text.as_str();
        let steps = [
            (
                dst.port,
                vec!["CLUSTER", "SETSLOT", slot_s, "IMPORTING", &src.id],
            ),
            (
                src.port,
                vec!["CLUSTER", "SETSLOT", slot_s, "MIGRATING", &dst.id],
            ),
            (
                dst.port,
                vec!["CLUSTER", "SETSLOT", slot_s, "NODE", &dst.id],
            ),
            (
                src.port,
                vec!["CLUSTER", "SETSLOT", slot_s, "NODE", &dst.id],
            ),
        ];
        for (port, args) in steps {
            let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            let out = self.cli(port, &refs).await;
            assert_eq!(out, "OK", "{refs:?} on {port}");
        }
        (src.port, dst.port)
    }

    /// `redis-cli --cluster reshard`: moves `count` slots from the master at `from` to the
    /// one at `to`.
    pub async fn reshard(&self, from: u16, to: u16, count: usize) -> String {
        let topo = self.topology().await;
        let id = |p: u16| topo.iter().find(|n| n.port == p).unwrap().id.clone();
        let args: Vec<String> = [
            "--cluster",
            "reshard",
            &format!("127.0.0.1:{to}"),
            "--cluster-from",
            &id(from),
            "--cluster-to",
            &id(to),
            "--cluster-slots",
            &count.to_string(),
            "--cluster-yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.cli_raw(&args).await
    }

    /// Kills the node at `port` (SIGKILL).
    pub async fn kill(&mut self, port: u16) {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("no such node");
        if let Some(mut c) = n.child.take() {
            let _ = c.kill().await;
        }
    }

    /// The replica of the master at `port`.
    pub async fn replica_of(&self, port: u16) -> u16 {
        let topo = self.topology().await;
        let id = topo.iter().find(|n| n.port == port).unwrap().id.clone();
        topo.iter()
            .find(|n| n.master_id.as_deref() == Some(id.as_str()))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("the master on {port} has no replica"))
    }

    /// Waits until the node at `port` says it is a master.
    pub async fn wait_master(&self, port: u16, limit: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let role = self.cli(port, &["ROLE"]).await;
            if role.lines().next() == Some("master") {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "node {port} not promoted within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every live node says `cluster_state:ok`.
    pub async fn wait_ok(&self, limit: Duration) {
        let started = Instant::now();
        'outer: loop {
            for n in self.nodes.iter().filter(|n| n.child.is_some()) {
                let info = self.cli(n.port, &["CLUSTER", "INFO"]).await;
                if !info.contains("cluster_state:ok") {
                    assert!(
                        started.elapsed() < limit,
                        "cluster not ok within {limit:?}: {info}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
            }
            return;
        }
    }

    async fn wait_replicas_linked(&self, limit: Duration) {
        let started = Instant::now();
        'outer: loop {
            for n in &self.nodes {
                let info = self.cli(n.port, &["INFO", "replication"]).await;
                if info.contains("role:slave") && !info.contains("master_link_status:up") {
                    assert!(
                        started.elapsed() < limit,
                        "replica {} not linked: {info}",
                        n.port
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'outer;
                }
            }
            return;
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                let _ = c.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn wait_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !super::ping(port).await {
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} did not answer PING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
