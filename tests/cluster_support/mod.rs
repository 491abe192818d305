//! Support of the cluster tests: a real `redis-server` on a free loopback port, and the
//! cluster test server (`tests/js/cluster/PROTOCOL.md`) written with the crate's API, the
//! same protocol the Node server `tests/js/cluster/node_server.mjs` implements.
#![allow(dead_code, unreachable_pub)]

pub mod redis_cluster;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tower_socketio::adapter::AdapterFactory;
use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisAdapterFactory, RedisAdapterHandle};
use tower_socketio::extract::{AckSender, Data};
use tower_socketio::protocol::{Spread, Value as Any};
use tower_socketio::{BroadcastOperators, SocketIo, SocketIoBuilder, SocketRef};

/// A free loopback port (bound, read, released).
/// A free loopback port for a server the tests start as a child process (Redis), below the
/// kernel's ephemeral range: a port from `free_port` lies inside that range, where an
/// outgoing connection of any test may take it before the child binds it. Each port is
/// handed out once per process.
pub fn server_port() -> u16 {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768);
    let (low, high) = if ephemeral_low > 12_000 {
        (10_000, ephemeral_low - 1)
    } else {
        // An unusual range: stay above it instead (Redis Cluster wants ports <= 55535).
        (50_000, 55_535)
    };
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..10_000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        let p = low + (h.finish() % u64::from(high - low)) as u16;
        if given.contains(&p) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            given.insert(p);
            return p;
        }
    }
    panic!("no free port below the ephemeral range");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` child process on 127.0.0.1, without persistence (or with an
/// append-only file: [`start_persistent`](Self::start_persistent)); killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    binary: std::path::PathBuf,
    /// The data directory of a persistent server (removed when dropped).
    dir: Option<std::path::PathBuf>,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl RedisServer {
    /// Starts one on a free port, or `None` (after the harness's SKIPPED line) when
    /// `redis-server` is missing.
    pub async fn start() -> Option<Self> {
        Self::start_in(None).await
    }

    /// Starts one with `appendonly yes` in a data directory of its own, so that a restart
    /// keeps what was written (streams, sessions).
    pub async fn start_persistent() -> Option<Self> {
        let dir = std::env::temp_dir().join(format!(
            "tsio-redis-aof-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(Some(dir)).await
    }

    async fn start_in(dir: Option<std::path::PathBuf>) -> Option<Self> {
        let binary = super::common::require_peer(super::common::Peer::RedisServer)?;
        let mut server = RedisServer {
            child: None,
            port: server_port(),
            binary,
            dir,
        };
        server.restart().await;
        Some(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli -p <port> <args>`; its output.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(self.binary.with_file_name("redis-cli"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("redis-cli (Debian: redis-tools) runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops the server gracefully (`SHUTDOWN`: a persistent one writes its file first).
    pub async fn shutdown(&mut self) {
        let _ = self.cli(&["SHUTDOWN"]).await;
        if let Some(mut child) = self.child.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            let _ = child.kill().await;
        }
    }

    /// Starts the server (again) on its port and waits until it answers `PING`.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let port = self.port.to_string();
        let mut args: Vec<&str> = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let dir_text;
        match &self.dir {
            Some(dir) => {
                dir_text = dir.to_string_lossy().into_owned();
                args.extend(["--appendonly", "yes", "--dir", &dir_text]);
            }
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new(&self.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server did not start");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if ping(self.port).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} did not answer PING in 10 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

async fn ping(port: u16) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await,
        Ok(Ok(_)) if &buf == b"+PONG\r\n"
    )
}

/// The Node cluster server (`tests/js/cluster/node_server.mjs`) named `name` on the Redis at
/// `redis_url`, with extra environment variables (`ADAPTER`, `REDIS_CLUSTER`, ...), started
/// and waited for; killed when dropped. Returns it and its URL.
pub async fn node_server(name: &str, redis_url: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(super::common::node())
        .arg(super::common::js_dir().join("cluster/node_server.mjs"))
        .current_dir(super::common::js_dir())
        .env("NAME", name)
        .env("REDIS_URL", redis_url)
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node did not start");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the Node cluster server did not start in 20 s")
        .expect("reading the Node server's output")
        .expect("the Node cluster server exited");
    let port = line
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line from the Node server: {line}"));
    // Keep draining its output (nothing more is expected) so it never blocks on a pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://127.0.0.1:{port}"))
}

/// Runs the mixed-cluster driver `tests/js/cluster/interop.mjs` over `servers` (name to
/// URL) with these extra environment variables; its output on success.
pub async fn run_interop(what: &str, servers: &Value, env: &[(&str, String)]) -> String {
    let mut cmd = Command::new(super::common::node());
    cmd.arg(super::common::js_dir().join("cluster/interop.mjs"))
        .current_dir(super::common::js_dir())
        .env("TSIO_CLUSTER", servers.to_string())
        .env("TSIO_NAME", what);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = super::common::expect_success(
        super::common::run_command(cmd, "node cluster/interop.mjs", Duration::from_secs(120)).await,
        "the mixed cluster driver",
    );
    assert!(out.contains(&format!("{what}: ok")), "{out}");
    out
}

/// One Rust server of a test cluster.
pub struct RustServer {
    pub name: String,
    pub addr: SocketAddr,
    pub io: SocketIo,
    pub redis: RedisAdapterHandle,
}

impl RustServer {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The adapter settings of the tests: short timeouts, fast reconnection.
pub fn test_config(url: &str) -> RedisAdapterConfig {
    RedisAdapterConfig::new(url)
        .requests_timeout(Duration::from_millis(1500))
        .ping_interval(Duration::from_millis(500))
        .max_backoff(Duration::from_millis(200))
        .command_timeout(Duration::from_secs(1))
}

/// Starts a cluster test server named `name` on a free port, joined through Redis.
pub async fn rust_server(name: &str, config: RedisAdapterConfig) -> RustServer {
    rust_server_with(name, config, |builder| builder).await
}

/// Same as [`rust_server`], with more settings on the builder.
pub async fn rust_server_with(
    name: &str,
    config: RedisAdapterConfig,
    configure: impl FnOnce(SocketIoBuilder) -> SocketIoBuilder,
) -> RustServer {
    let factory = RedisAdapterFactory::new(config).expect("the adapter starts");
    let redis = factory.handle();
    rust_server_built(name, configure(SocketIo::builder().adapter(factory)), redis).await
}

/// Starts a cluster test server named `name` on a free port with any Redis adapter
/// (`redis` is the factory's handle).
pub async fn rust_server_on(
    name: &str,
    factory: impl AdapterFactory,
    redis: RedisAdapterHandle,
) -> RustServer {
    rust_server_built(name, SocketIo::builder().adapter(factory), redis).await
}

/// Starts a cluster test server named `name` from a builder that has its adapter.
pub async fn rust_server_built(
    name: &str,
    builder: SocketIoBuilder,
    redis: RedisAdapterHandle,
) -> RustServer {
    let (svc, io) = builder
        .allow_eio3(true)
        .ack_timeout(Duration::from_secs(2))
        .build_svc();
    cluster_handlers(&io, name);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    assert!(
        redis.ready(Duration::from_secs(10)).await,
        "server {name} did not subscribe to Redis: {:?}",
        redis.last_error()
    );
    RustServer {
        name: name.to_owned(),
        addr,
        io,
        redis,
    }
}

/// The `op` request of the protocol.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Op {
    pub kind: String,
    pub to: Vec<String>,
    pub except: Vec<String>,
    pub local: bool,
    pub volatile: bool,
    pub compress: Option<bool>,
    pub broadcast: bool,
    pub timeout: Option<u64>,
    pub event: String,
    pub args: Vec<Any>,
    pub rooms: Vec<String>,
    pub close: bool,
    pub id: Option<String>,
}

fn operators(io: &SocketIo, socket: &SocketRef, op: &Op) -> BroadcastOperators {
    let mut ops = if op.broadcast {
        socket.broadcast()
    } else {
        io.sockets().except(Vec::<String>::new())
    };
    if !op.to.is_empty() {
        ops = ops.to(op.to.clone());
    }
    if !op.except.is_empty() {
        ops = ops.except(op.except.clone());
    }
    if op.local {
        ops = ops.local();
    }
    if op.volatile {
        ops = ops.volatile();
    }
    if let Some(c) = op.compress {
        ops = ops.compress(c);
    }
    if let Some(t) = op.timeout {
        ops = ops.timeout(Duration::from_millis(t));
    }
    ops
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn sort_values<T: serde::Serialize>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by_key(|a| serde_json::to_string(a).unwrap_or_default());
    v
}

/// Runs an `op`; the answer may hold binary (acknowledgements of clients).
async fn run_op(io: SocketIo, socket: SocketRef, op: Op) -> Any {
    if op.kind == "emitWithAck" {
        let ops = operators(&io, &socket, &op);
        let replies: Vec<Result<Any, _>> = ops
            .emit_with_ack::<Any>(&op.event, &Spread(op.args))
            .await
            .await;
        let mut ok = Vec::new();
        let mut errors = 0u64;
        for r in replies {
            match r {
                Ok(v) => ok.push(v),
                Err(_) => errors += 1,
            }
        }
        let mut m = std::collections::BTreeMap::new();
        m.insert("ok".to_owned(), Any::Array(sort_values(ok)));
        m.insert("errors".to_owned(), Any::Number(errors.into()));
        return Any::Object(m);
    }
    let v = run_op_json(io, socket, op).await;
    serde_json::from_value(v).unwrap_or_default()
}

async fn run_op_json(io: SocketIo, socket: SocketRef, op: Op) -> Value {
    let ops = operators(&io, &socket, &op);
    match op.kind.as_str() {
        "emit" => match ops.emit(&op.event, &Spread(op.args)).await {
            Ok(()) => json!("ok"),
            Err(e) => json!({ "error": e.to_string() }),
        },
        "fetch" => match ops.fetch_sockets().await {
            Ok(sockets) => {
                let mut out: Vec<Value> = sockets
                    .into_iter()
                    .map(|s| {
                        json!({
                            "id": s.id.to_string(),
                            "rooms": sorted(s.rooms.iter().map(|r| r.to_string()).collect()),
                            "data": s.data,
                            "auth": s.handshake.auth,
                            "eio": s.handshake.query.get("EIO"),
                            "hasHost": s.handshake.headers.contains_key("host"),
                        })
                    })
                    .collect();
                out.sort_by_key(|v| v["id"].to_string());
                json!(out)
            }
            Err(e) => json!({ "error": e.to_string() }),
        },
        "join" => result(ops.join(op.rooms).await),
        "leave" => result(ops.leave(op.rooms).await),
        "disconnect" => result(ops.disconnect(op.close).await),
        "remoteEmit" | "remoteJoin" | "remoteLeave" | "remoteDisconnect" => {
            let id = op.id.clone().unwrap_or_default();
            let sockets = match io.sockets().in_(id).fetch_sockets().await {
                Ok(s) => s,
                Err(e) => return json!({ "error": e.to_string() }),
            };
            let n = sockets.len();
            for s in sockets {
                let r = match op.kind.as_str() {
                    "remoteEmit" => s
                        .emit(&op.event, &Spread(op.args.clone()))
                        .await
                        .map_err(|e| e.to_string()),
                    "remoteJoin" => s.join(op.rooms.clone()).await.map_err(|e| e.to_string()),
                    "remoteLeave" => s.leave(op.rooms.clone()).await.map_err(|e| e.to_string()),
                    _ => s.disconnect(op.close).await.map_err(|e| e.to_string()),
                };
                if let Err(e) = r {
                    return json!({ "error": e });
                }
            }
            json!(n)
        }
        "serverSideEmit" => match io.server_side_emit(&op.event, &Spread(op.args)).await {
            Ok(()) => json!("ok"),
            Err(e) => json!({ "error": e.to_string() }),
        },
        "serverSideEmitWithAck" => {
            match io
                .server_side_emit_with_ack::<Value>(&op.event, &Spread(op.args))
                .await
            {
                Ok(replies) => json!({ "ok": sort_values(replies) }),
                Err(e) => json!({ "error": e.to_string() }),
            }
        }
        "serverCount" => match io.sockets().adapter().server_count().await {
            Ok(n) => json!(n),
            Err(e) => json!({ "error": e.to_string() }),
        },
        other => json!({ "error": format!("unknown op {other}") }),
    }
}

fn result(r: Result<(), tower_socketio::adapter::AdapterError>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// A room name or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rooms {
    One(String),
    Many(Vec<String>),
}

impl Rooms {
    fn list(self) -> Vec<String> {
        match self {
            Rooms::One(r) => vec![r],
            Rooms::Many(v) => v,
        }
    }
}

/// Registers the protocol's handlers on `io` for a server called `name`.
pub fn cluster_handlers(io: &SocketIo, name: &str) {
    let server = name.to_owned();
    io.ns("/", move |socket: SocketRef, Data(auth): Data<Value>| {
        let server = server.clone();
        async move {
            // A recovered socket keeps the data of its first server.
            if !socket.recovered() {
                // A Socket.IO 2 client has no auth in `/`: its nick comes in the query.
                let nick = auth.get("nick").cloned().or_else(|| {
                    socket
                        .handshake()
                        .query
                        .get("nick")
                        .map(|n| Value::String(n.clone()))
                });
                socket
                    .set_data(&json!({ "server": server, "nick": nick }))
                    .ok();
            }
            let me = server.clone();
            socket.on("whoami", move |socket: SocketRef, ack: AckSender| {
                let me = me.clone();
                async move {
                    ack.send(&json!({ "server": me, "id": socket.id().to_string() }))
                        .ok();
                }
            });
            socket.on(
                "join",
                async |socket: SocketRef, Data(rooms): Data<Rooms>, ack: AckSender| {
                    socket.join(rooms.list());
                    ack.send(&sorted(
                        socket.rooms().iter().map(|r| r.to_string()).collect(),
                    ))
                    .ok();
                },
            );
            socket.on(
                "leave",
                async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                    socket.leave(room);
                    ack.send(&sorted(
                        socket.rooms().iter().map(|r| r.to_string()).collect(),
                    ))
                    .ok();
                },
            );
            socket.on("rooms", async |socket: SocketRef, ack: AckSender| {
                ack.send(&sorted(
                    socket.rooms().iter().map(|r| r.to_string()).collect(),
                ))
                .ok();
            });
            socket.on(
                "op",
                async |socket: SocketRef, io: SocketIo, Data(op): Data<Op>, ack: AckSender| {
                    let r = run_op(io, socket, op).await;
                    ack.send(&r).ok();
                },
            );
        }
    });
    // Server-side events are shown to this server's clients as `sse-got`.
    let me = name.to_owned();
    let io2 = io.clone();
    io.on_server_side("sse", move |ev| {
        let me = me.clone();
        let io = io2.clone();
        async move {
            io.local()
                .emit("sse-got", &json!({ "server": me, "args": ev.args() }))
                .await
                .ok();
        }
    });
    let me = name.to_owned();
    io.on_server_side("sse-ack", move |mut ev| {
        let me = me.clone();
        async move {
            let args = ev.args().to_vec();
            ev.ack(&json!({ "server": me, "args": args })).ok();
        }
    });
}

/// A Socket.IO client on `/` over a raw WebSocket: calls with acknowledgements, queued
/// events, and automatic answers to `ask` (with `{"client": name}`).
pub struct Client {
    pub name: String,
    pub sid: String,
    /// `"/x,"` for a namespace other than `/`, else empty (the packets' prefix).
    ns_prefix: String,
    raw: super::sio_support::RawClient,
    next_ack: u64,
    events: std::collections::VecDeque<(String, Vec<Value>)>,
    acks: std::collections::HashMap<u64, Vec<Value>>,
    pub disconnected: bool,
}

/// How long a client waits for one thing.
pub const WAIT: Duration = Duration::from_secs(5);

impl Client {
    /// Connects to `/` of the server at `addr`, with `{"nick": name}` as auth.
    pub async fn connect(addr: SocketAddr, name: &str) -> Client {
        Self::connect_ns(addr, "/", name).await
    }

    /// Connects to the namespace `ns` of the server at `addr`, with `{"nick": name}`.
    pub async fn connect_ns(addr: SocketAddr, ns: &str, name: &str) -> Client {
        let mut raw = super::sio_support::RawClient::connect(addr).await;
        let ns_prefix = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        raw.send(&format!("40{ns_prefix}{}", json!({ "nick": name })))
            .await;
        let t = raw.recv_text().await;
        let body = t
            .strip_prefix("40")
            .and_then(|t| t.strip_prefix(ns_prefix.as_str()))
            .unwrap_or_else(|| panic!("CONNECT answer: {t}"));
        let v: Value = serde_json::from_str(body).unwrap();
        Client {
            name: name.to_owned(),
            sid: v["sid"].as_str().unwrap().to_owned(),
            ns_prefix,
            raw,
            next_ack: 0,
            events: Default::default(),
            acks: Default::default(),
            disconnected: false,
        }
    }

    /// Reads one frame (up to `d`) and files it; `false` when nothing came.
    async fn pump(&mut self, d: Duration) -> bool {
        use super::sio_support::Frame;
        let Some(frame) = self.raw.recv_within(d).await else {
            return false;
        };
        let text = match frame {
            Frame::Text(t) => t,
            Frame::Closed => {
                self.disconnected = true;
                return true;
            }
            Frame::Binary(_) => panic!("{}: unexpected binary frame", self.name),
        };
        if text == format!("41{}", self.ns_prefix.trim_end_matches(',')) {
            self.disconnected = true;
            return true;
        }
        let (kind, rest) = text.split_at(2.min(text.len()));
        let rest = rest.strip_prefix(self.ns_prefix.as_str()).unwrap_or(rest);
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (id, json) = rest.split_at(digits);
        let id: Option<u64> = id.parse().ok();
        let args: Vec<Value> = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{}: bad frame {text}: {e}", self.name));
        match kind {
            "42" => {
                let event = args[0].as_str().unwrap().to_owned();
                if let (Some(id), "ask") = (id, event.as_str()) {
                    let reply = format!(
                        "43{}{id}{}",
                        self.ns_prefix,
                        json!([{ "client": self.name }])
                    );
                    self.raw.send(&reply).await;
                }
                self.events.push_back((event, args[1..].to_vec()));
            }
            "43" => {
                self.acks.insert(id.unwrap(), args);
            }
            _ => panic!("{}: unexpected frame {text}", self.name),
        }
        true
    }

    /// Emits `event` with one argument and returns the acknowledgement's first argument.
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.raw
            .send(&format!("42{}{id}{}", self.ns_prefix, json!([event, data])))
            .await;
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        loop {
            if let Some(mut args) = self.acks.remove(&id) {
                return if args.is_empty() {
                    Value::Null
                } else {
                    args.remove(0)
                };
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero() && self.pump(left).await,
                "{}: no acknowledgement for {event}",
                self.name
            );
        }
    }

    /// Emits `event` with several arguments, without asking for an acknowledgement.
    pub async fn emit(&mut self, event: &str, args: &[Value]) {
        let mut list = vec![json!(event)];
        list.extend(args.iter().cloned());
        self.raw
            .send(&format!("42{}{}", self.ns_prefix, Value::Array(list)))
            .await;
    }

    /// Runs an `op` of the protocol.
    pub async fn op(&mut self, op: Value) -> Value {
        self.call("op", op).await
    }

    /// The arguments of the next `event` (other events stay queued).
    pub async fn expect(&mut self, event: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.events.iter().position(|(e, _)| e == event) {
                return self.events.remove(i).unwrap().1;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero() && self.pump(left).await,
                "{}: no {event} event in time; queued: {:?}",
                self.name,
                self.events
            );
        }
    }

    /// The next event of any kind (name and arguments), waiting up to `d`.
    pub async fn next_event_within(&mut self, d: Duration) -> Option<(String, Vec<Value>)> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pump(left).await {
                return None;
            }
        }
    }

    /// Asserts that no `event` arrives within `d`.
    pub async fn expect_none(&mut self, event: &str, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some((_, args)) = self.events.iter().find(|(e, _)| e == event) {
                panic!("{}: unexpected {event} {args:?}", self.name);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.pump(left).await {
                if let Some((_, args)) = self.events.iter().find(|(e, _)| e == event) {
                    panic!("{}: unexpected {event} {args:?}", self.name);
                }
                return;
            }
        }
    }

    /// Waits for the server to disconnect this client from `/`.
    pub async fn expect_disconnected(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.disconnected {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero() && self.pump(left).await,
                "{}: still connected",
                self.name
            );
        }
    }
}

/// Messages of socket.io-adapter's `ClusterAdapter` protocol that a server must ignore
/// without harm (malformed, of another namespace, of an unknown type), as JSON and as
/// MessagePack; none of them may deliver an event named `e`.
pub fn hostile_cluster_messages() -> Vec<Vec<u8>> {
    let json: &[&str] = &[
        "",
        "{",
        "{}",
        "[1,2,3]",
        r#"{"type":3}"#,
        r#"{"type":"3","uid":"x","nsp":"/"}"#,
        r#"{"type":3,"uid":1,"nsp":"/","data":{}}"#,
        r#"{"type":3,"uid":"x","nsp":"/","data":{"packet":{"type":2,"data":[]},"opts":{}}}"#,
        r#"{"type":3,"uid":"x","nsp":"/","data":{"packet":{"type":1,"data":["e"]},"opts":{}}}"#,
        r#"{"type":3,"uid":"x","nsp":"/","data":{"packet":{"type":2,"data":"e"},"opts":{}}}"#,
        r#"{"type":3,"uid":"x","nsp":"/","data":{"packet":{"type":2,"data":[{"x":1}]}}}"#,
        r#"{"type":3,"uid":"x","nsp":"/x","data":{"packet":{"type":2,"data":["e"]},"opts":{}}}"#,
        r#"{"type":3,"uid":"x","nsp":"/","data":{"requestId":{},"packet":{"type":2,"data":["e"]},"opts":{"rooms":"r","flags":{"timeout":-5}}}}"#,
        r#"{"type":4,"uid":"x","nsp":"/","data":{"opts":{"rooms":{}},"rooms":5}}"#,
        r#"{"type":5,"uid":"x","nsp":"/","data":{"opts":7}}"#,
        r#"{"type":7,"uid":"x","nsp":"/","data":{"requestId":{}}}"#,
        r#"{"type":8,"uid":"x","nsp":"/","data":{"requestId":"nope","sockets":"x"}}"#,
        r#"{"type":9,"uid":"x","nsp":"/","data":{"packet":"not an array"}}"#,
        r#"{"type":9,"uid":"x","nsp":"/","data":{"packet":[]}}"#,
        r#"{"type":10,"uid":"x","nsp":"/","data":{"requestId":5,"packet":[1]}}"#,
        r#"{"type":11,"uid":"x","nsp":"/","data":{"requestId":"r","clientCount":-1}}"#,
        r#"{"type":12,"uid":"x","nsp":"/","data":{"requestId":"r"}}"#,
        r#"{"type":1,"uid":"x","nsp":"/"}"#,
        r#"{"type":13,"uid":"x","nsp":"/"}"#,
        r#"{"type":99,"uid":"x","nsp":"/","data":{}}"#,
        r#"{"type":1e300,"uid":"x","nsp":"/"}"#,
    ];
    let mut out: Vec<Vec<u8>> = json.iter().map(|s| s.as_bytes().to_vec()).collect();
    out.extend([
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0],
        vec![0x91; 5000],
        vec![0xc1],
        // {type: 3, uid: "x", nsp: "/", data: {packet: {type: 2, data: []}}} in MessagePack.
        vec![
            0x84, 0xa4, b't', b'y', b'p', b'e', 0x03, 0xa3, b'u', b'i', b'd', 0xa1, b'x', 0xa3,
            b'n', b's', b'p', 0xa1, b'/', 0xa4, b'd', b'a', b't', b'a', 0x81, 0xa6, b'p', b'a',
            b'c', b'k', b'e', b't', 0x82, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd', b'a',
            b't', b'a', 0x90,
        ],
    ]);
    out
}
