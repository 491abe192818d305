//! The server side of the connection state recovery tests (tests/socketio_recovery.rs):
//! a server with recovery on, a TCP proxy in front of it that can cut every connection
//! through it (the network drops), and a control namespace the Node drivers use to cut,
//! broadcast while their client is away, and read what the server saw.
//!
//! Namespace `/` (through the proxy):
//! - middleware: records each run (and whether the socket was recovered); refuses a
//!   recovered socket when the control asked it to (`refuse-next-recovered`);
//! - on connection: a new socket joins `room1` and gets data `{"user": 7}`; every socket
//!   (recovered or not) is sent `hello` with `recovered` (a direct emit);
//! - `whoami` (ack): `{id, rooms (sorted), data, recovered, auth}`.
//!
//! Namespace `/ctl` (straight to the server), every command answers with an ack:
//! - `gate` (bool): whether the proxy lets new connections through (held while closed);
//! - `cut` (`{sid, hold}`): closes the gate, cuts every proxied connection, then does `away`;
//! - `away` (`{sid, hold}`): waits for that socket to be gone and its session kept,
//!   broadcasts the "while away" set (below), waits `hold` ms more (0 when absent), opens
//!   the gate; answers the disconnect reason;
//! - `live`: `io.emit("live", 9)`;
//! - `kick` (sid): the server's `socket.disconnect()`;
//! - `runs`: the middleware runs so far (`[recovered, ...]`);
//! - `stats`: the recovery stats of `/`;
//! - `refuse-next-recovered`: the middleware refuses the next recovered socket once;
//! - `cut-only` (sid): closes the gate, cuts every proxied connection, waits for the socket
//!   to be gone, opens the gate (no "while away" set);
//! - `stream-start`: broadcasts `n` (0, 1, 2, ...) to `/` every 2 ms until `stream-stop`,
//!   which answers the last number sent;
//! - `cut-all` (n): cuts every proxied connection and waits until `/` has no socket and `n`
//!   sessions are persisted; answers the stats;
//! - `chunks` (`{sid, count}`): `emit_wait`s `count` events `chunk` (n, 1 KiB of text) to
//!   that socket through its 16 KiB queue; answers whether the socket stayed connected (a
//!   broadcast beside would be right to cut it: a broadcast to a full queue closes a slow
//!   reader);
//! - `flood` (`{count, size}`): broadcasts `count` events of `size` bytes to `/`, reading the
//!   stats after each; answers `{max_bytes, last}` (the most stored bytes seen, and the
//!   stats at the end).
//!
//! [`start_slow`] puts the in-memory adapter behind one whose `missed_packets` answers
//! 50 ms late, as a store across the network would: every live broadcast of those 50 ms
//! reaches the recovering socket twice (held live, and listed as missed), and the core
//! must drop one copy.
//!
//! The "while away" set, in order: `io.to(sid).emit("to-sid", 1)`, the old socket's own
//! `emit("direct-while-away", 2)`, `io.emit("all", 3)`, `io.to("room1").emit("room1", 4)`,
//! `io.to("room2").emit("room2", 5)`, `io.except("room1").emit("except-room1", 6)`,
//! `io.volatile().emit("volatile", 7)`, a broadcast with acks `with-ack` (8), and
//! `io.emit("bin", <01 02 03>)`. The socket (in `room1`) misses `to-sid`,
//! `direct-while-away`, `all`, `room1` and `bin`, in that order.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_socketio::RemoteSocket;
use tower_socketio::ack::RawAckStream;
use tower_socketio::adapter::{
    Adapter, AdapterError, AdapterFactory, AdapterFuture, BroadcastOptions, LocalAdapter,
    NamespaceHandle, PersistedSession, RecoveryStats, Room,
};
use tower_socketio::extract::{AckSender, Data, State};
use tower_socketio::protocol::BroadcastPacket;
use tower_socketio::{
    ConnectError, ConnectionStateRecovery, DisconnectReason, Parser, Sid, SocketIo, SocketRef,
};

/// A TCP proxy whose connections can all be cut at once, and which can hold new ones.
#[derive(Clone)]
pub struct Proxy {
    /// Bumped to cut every connection open now.
    epoch: watch::Sender<u64>,
    /// Whether new connections go through (they wait while false).
    gate: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> (SocketAddr, Proxy) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            epoch: watch::channel(0).0,
            gate: watch::channel(true).0,
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(p.clone().pipe(client, upstream));
            }
        });
        (addr, proxy)
    }

    async fn pipe(self, mut client: TcpStream, upstream: SocketAddr) {
        let mut gate = self.gate.subscribe();
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        let mut epoch = self.epoch.subscribe();
        epoch.mark_unchanged();
        let Ok(mut server) = TcpStream::connect(upstream).await else {
            return;
        };
        tracing::debug!(client = ?client.peer_addr(), server = ?server.local_addr(), "proxy: piping");
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        tokio::select! {
            r = tokio::io::copy_bidirectional(&mut client, &mut server) => {
                tracing::debug!(?r, client = ?client.peer_addr(), "proxy: ended");
            }
            _ = epoch.changed() => {
                tracing::debug!(client = ?client.peer_addr(), "proxy: cut");
            }
        }
        // Dropping both streams closes both TCP connections.
    }

    /// Cuts every connection open now.
    pub fn cut(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Lets new connections through, or holds them.
    pub fn set_gate(&self, open: bool) {
        self.gate.send_replace(open);
    }
}

/// What the server saw, for the drivers.
pub struct Ctl {
    pub proxy: Proxy,
    runs: Mutex<Vec<bool>>,
    sockets: Mutex<HashMap<Sid, SocketRef>>,
    reasons: Mutex<HashMap<Sid, String>>,
    refuse_recovered: Mutex<bool>,
    stream: Mutex<Option<tokio::task::JoinHandle<u64>>>,
    streaming: std::sync::atomic::AtomicBool,
}

/// The in-memory adapter, with `missed_packets` answering 50 ms late.
struct Slow(LocalAdapter);

struct SlowFactory;

impl AdapterFactory for SlowFactory {
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        let config = ns.connection_state_recovery().unwrap().clone();
        Arc::new(Slow(LocalAdapter::with_recovery(ns, config)))
    }
    fn supports_connection_state_recovery(&self) -> bool {
        true
    }
}

impl Adapter for Slow {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.0.add_all(sid, rooms)
    }
    fn del(&self, sid: Sid, rooms: &[Room]) {
        self.0.del(sid, rooms)
    }
    fn del_all(&self, sid: Sid) {
        self.0.del_all(sid)
    }
    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.0.socket_rooms(sid)
    }
    fn rooms(&self) -> Vec<Room> {
        self.0.rooms()
    }
    fn broadcast<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.0.broadcast(packet, opts)
    }
    fn broadcast_with_ack<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        ack_id: u64,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<RawAckStream, AdapterError>> {
        self.0.broadcast_with_ack(packet, ack_id, opts, timeout)
    }
    fn fetch_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<RemoteSocket>, AdapterError>> {
        self.0.fetch_sockets(opts)
    }
    fn add_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.0.add_sockets(opts, rooms)
    }
    fn del_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.0.del_sockets(opts, rooms)
    }
    fn disconnect_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.0.disconnect_sockets(opts, close)
    }
    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        self.0.persist_session(session)
    }
    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        self.0.restore_session(pid, offset)
    }
    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.0.missed_packets(session, offset).await
        })
    }
    fn recovery_stats(&self) -> Option<RecoveryStats> {
        self.0.recovery_stats()
    }
}
/// A server with recovery `config` behind a proxy: (proxy address, direct address, io).
pub async fn start(config: ConnectionStateRecovery) -> (SocketAddr, SocketAddr, SocketIo) {
    start_with(config, false, SHORT_PING, Parser::Json).await
}

/// [`start`] with the MessagePack parser (`socket.io-msgpack-parser` clients): offsets
/// travel as the last argument in MessagePack too.
pub async fn start_msgpack(config: ConnectionStateRecovery) -> (SocketAddr, SocketAddr, SocketIo) {
    start_with(config, false, SHORT_PING, Parser::MsgPack).await
}

/// [`start`] with Node's default pings (for many WebSocket clients, whose cuts are seen at
/// once).
pub async fn start_default_pings(
    config: ConnectionStateRecovery,
) -> (SocketAddr, SocketAddr, SocketIo) {
    start_with(config, false, Duration::from_secs(25), Parser::Json).await
}

/// Short pings: a polling GET sent with `Connection: close` (Node's client) is not seen to
/// drop until the server writes to it, so a cut polling client is noticed at the next ping
/// (a WebSocket one at once).
const SHORT_PING: Duration = Duration::from_millis(400);

/// [`start`] with the in-memory adapter behind a slow `missed_packets` (see the module
/// docs).
pub async fn start_slow(config: ConnectionStateRecovery) -> (SocketAddr, SocketAddr, SocketIo) {
    start_with(config, true, SHORT_PING, Parser::Json).await
}

async fn start_with(
    config: ConnectionStateRecovery,
    slow: bool,
    ping: Duration,
    parser: Parser,
) -> (SocketAddr, SocketAddr, SocketIo) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direct = listener.local_addr().unwrap();
    let (proxied, proxy) = Proxy::start(direct).await;
    let ctl = Arc::new(Ctl {
        proxy,
        runs: Mutex::default(),
        sockets: Mutex::default(),
        reasons: Mutex::default(),
        refuse_recovered: Mutex::new(false),
        stream: Mutex::default(),
        streaming: std::sync::atomic::AtomicBool::new(false),
    });
    let mut builder = SocketIo::builder()
        .parser(parser)
        .allow_eio3(true)
        .max_buffered_bytes(16 * 1024)
        .ping_interval(ping)
        .ping_timeout(ping)
        .connection_state_recovery(config)
        .with_state(ctl);
    if slow {
        builder = builder.adapter(SlowFactory);
    }
    let (svc, io) = builder.build_svc();
    setup(&io);
    tokio::spawn(tower_socketio::serve(listener, svc));
    (proxied, direct, io)
}

fn sorted_rooms(socket: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    rooms
}

fn setup(io: &SocketIo) {
    let root = io.ns("/", on_connection);
    root.use_(
        async |socket: SocketRef, State(ctl): State<Arc<Ctl>>| -> Result<(), ConnectError> {
            ctl.runs.lock().unwrap().push(socket.recovered());
            let mut refuse = ctl.refuse_recovered.lock().unwrap();
            if socket.recovered() && *refuse {
                *refuse = false;
                return Err(ConnectError::new("refused once"));
            }
            Ok(())
        },
    );
    io.ns("/ctl", on_ctl);
}

async fn on_connection(socket: SocketRef, State(ctl): State<Arc<Ctl>>) {
    if !socket.recovered() {
        socket.join("room1");
        socket.set_data(&json!({ "user": 7 })).unwrap();
    }
    ctl.sockets
        .lock()
        .unwrap()
        .insert(socket.id(), socket.clone());
    ctl.reasons.lock().unwrap().remove(&socket.id());
    socket.on_disconnect(
        async |socket: SocketRef, reason: DisconnectReason, State(ctl): State<Arc<Ctl>>| {
            ctl.reasons
                .lock()
                .unwrap()
                .insert(socket.id(), reason.as_str().to_owned());
        },
    );
    socket.on("whoami", async |socket: SocketRef, ack: AckSender| {
        ack.send(&json!({
            "id": socket.id(),
            "rooms": sorted_rooms(&socket),
            "data": socket.data::<Value>(),
            "recovered": socket.recovered(),
            "auth": socket.handshake().auth,
        }))
        .ok();
    });
    socket.emit("hello", &socket.recovered()).unwrap();
}

fn stats_json(stats: RecoveryStats) -> Value {
    json!({
        "sessions": stats.sessions,
        "packets": stats.packets,
        "bytes": stats.stored_bytes,
    })
}

fn sid_of(v: &Value) -> Sid {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("a socket id")
}

fn hold_of(v: &Value) -> Duration {
    Duration::from_millis(v["hold"].as_u64().unwrap_or(0))
}

async fn on_ctl(ctl_socket: SocketRef) {
    ctl_socket.on(
        "gate",
        async |Data(open): Data<bool>, State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            ctl.proxy.set_gate(open);
            ack.send(&true).ok();
        },
    );
    ctl_socket.on(
        "cut",
        async |io: SocketIo,
               Data(req): Data<Value>,
               State(ctl): State<Arc<Ctl>>,
               ack: AckSender| {
            ctl.proxy.set_gate(false);
            ctl.proxy.cut();
            let reason = away(&io, &ctl, sid_of(&req["sid"]), hold_of(&req)).await;
            ack.send(&reason).ok();
        },
    );
    ctl_socket.on(
        "away",
        async |io: SocketIo,
               Data(req): Data<Value>,
               State(ctl): State<Arc<Ctl>>,
               ack: AckSender| {
            let reason = away(&io, &ctl, sid_of(&req["sid"]), hold_of(&req)).await;
            ack.send(&reason).ok();
        },
    );
    ctl_socket.on("live", async |io: SocketIo, ack: AckSender| {
        io.emit("live", &9).await.unwrap();
        ack.send(&true).ok();
    });
    ctl_socket.on(
        "kick",
        async |io: SocketIo, Data(sid): Data<Value>, ack: AckSender| {
            if let Some(s) = io.sockets().get_socket(sid_of(&sid)) {
                s.disconnect();
            }
            ack.send(&true).ok();
        },
    );
    ctl_socket.on(
        "runs",
        async |State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            let runs = ctl.runs.lock().unwrap().clone();
            ack.send(&runs).ok();
        },
    );
    ctl_socket.on(
        "refuse-next-recovered",
        async |State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            *ctl.refuse_recovered.lock().unwrap() = true;
            ack.send(&true).ok();
        },
    );
    ctl_socket.on(
        "cut-only",
        async |io: SocketIo,
               Data(sid): Data<Value>,
               State(ctl): State<Arc<Ctl>>,
               ack: AckSender| {
            ctl.proxy.set_gate(false);
            ctl.proxy.cut();
            let sid = sid_of(&sid);
            let ns = io.sockets();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while ns.get_socket(sid).is_some() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the cut was not noticed"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ctl.proxy.set_gate(true);
            ack.send(&true).ok();
        },
    );
    ctl_socket.on(
        "stream-start",
        async |io: SocketIo, State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            use std::sync::atomic::Ordering;
            ctl.streaming.store(true, Ordering::SeqCst);
            let ctl2 = ctl.clone();
            let task = tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    io.emit("n", &n).await.unwrap();
                    if !ctl2.streaming.load(Ordering::SeqCst) {
                        return n;
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
            *ctl.stream.lock().unwrap() = Some(task);
            ack.send(&true).ok();
        },
    );
    ctl_socket.on(
        "stream-stop",
        async |State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            ctl.streaming
                .store(false, std::sync::atomic::Ordering::SeqCst);
            let task = ctl.stream.lock().unwrap().take();
            let last = match task {
                Some(t) => t.await.unwrap(),
                None => 0,
            };
            ack.send(&last).ok();
        },
    );
    ctl_socket.on(
        "cut-all",
        async |io: SocketIo, Data(n): Data<usize>, State(ctl): State<Arc<Ctl>>, ack: AckSender| {
            ctl.proxy.cut();
            let ns = io.sockets();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while !ns.is_empty() || ns.recovery_stats().unwrap().sessions < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not every cut was noticed: {} sockets left, {:?}",
                    ns.len(),
                    ns.recovery_stats()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ack.send(&stats_json(ns.recovery_stats().unwrap())).ok();
        },
    );
    ctl_socket.on(
        "chunks",
        async |io: SocketIo, Data(req): Data<Value>, ack: AckSender| {
            let socket = io.sockets().get_socket(sid_of(&req["sid"])).unwrap();
            let count = req["count"].as_u64().unwrap();
            let text = "c".repeat(1024);
            for n in 0..count {
                socket.emit_wait("chunk", &(n, &text)).await.unwrap();
            }
            ack.send(&socket.connected()).ok();
        },
    );
    ctl_socket.on(
        "flood",
        async |io: SocketIo, Data(req): Data<Value>, ack: AckSender| {
            let count = req["count"].as_u64().unwrap();
            let payload = "x".repeat(req["size"].as_u64().unwrap() as usize);
            let ns = io.sockets();
            let mut max_bytes = 0;
            for i in 0..count {
                ns.emit("flood", &(i, &payload)).await.unwrap();
                max_bytes = max_bytes.max(ns.recovery_stats().unwrap().stored_bytes);
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            let last = stats_json(ns.recovery_stats().unwrap());
            ack.send(&json!({ "max_bytes": max_bytes, "last": last }))
                .ok();
        },
    );
    ctl_socket.on("stats", async |io: SocketIo, ack: AckSender| {
        ack.send(&stats_json(io.sockets().recovery_stats().unwrap()))
            .ok();
    });
}

/// Waits until the socket `sid` is gone (its session persisted before that) and its
/// `disconnect` listener ran, broadcasts the "while away" set, waits `hold`, opens the
/// gate; the socket's disconnect reason.
async fn away(io: &SocketIo, ctl: &Ctl, sid: Sid, hold: Duration) -> String {
    let ns = io.sockets();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ns.get_socket(sid).is_some() || !ctl.reasons.lock().unwrap().contains_key(&sid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket never noticed its connection was cut"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let old = ctl.sockets.lock().unwrap().get(&sid).cloned();
    io.to(sid).emit("to-sid", &1).await.unwrap();
    if let Some(old) = old {
        old.emit("direct-while-away", &2).unwrap();
    }
    io.emit("all", &3).await.unwrap();
    io.to("room1").emit("room1", &4).await.unwrap();
    io.to("room2").emit("room2", &5).await.unwrap();
    io.except("room1").emit("except-room1", &6).await.unwrap();
    io.volatile().emit("volatile", &7).await.unwrap();
    let acks = io
        .timeout(Duration::from_millis(50))
        .emit_with_ack::<Value>("with-ack", &8)
        .await;
    tokio::spawn(async move { drop(acks.await) });
    io.emit("bin", &Bytes::from_static(&[1, 2, 3]))
        .await
        .unwrap();
    let reason = ctl
        .reasons
        .lock()
        .unwrap()
        .get(&sid)
        .cloned()
        .unwrap_or_default();
    tokio::time::sleep(hold).await;
    ctl.proxy.set_gate(true);
    reason
}
