//! Connection state recovery (Node's `connectionStateRecovery`): the option, and how the
//! core brings back a socket whose client reconnects after a short drop.
//!
//! The parts live where their layer is: the option here; what an adapter stores and the
//! contract it follows in [`adapter`](crate::adapter) ([`PersistedSession`], the session
//! methods of [`Adapter`](crate::adapter::Adapter)); the in-memory store in the
//! [`LocalAdapter`](crate::adapter::LocalAdapter); the offset a stored broadcast carries on
//! the [`BroadcastPacket`](crate::protocol::BroadcastPacket). This module also holds the
//! core's side: persisting a socket that left for a recoverable reason, and the recovered
//! connection (session taken, socket back in its rooms and held, missed packets, CONNECT
//! reply, held live packets, handler).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::ConnectError;
use crate::adapter::PersistedSession;
use crate::client::ConnState;
use crate::engine::{self, Sid};
use crate::ns::Namespace;
use crate::protocol::{Args, BroadcastPacket, Encoded};
use crate::socket::{Socket, SocketRef};

/// Connection state recovery (Node's `connectionStateRecovery` option): a client that
/// loses its connection for a moment gets its socket back, with the same id, its rooms and
/// its data, and receives every broadcast it missed meanwhile. Off unless given to
/// [`SocketIoBuilder::connection_state_recovery`](crate::SocketIoBuilder::connection_state_recovery).
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::{ConnectionStateRecovery, SocketIo};
///
/// let (layer, io) = SocketIo::builder()
///     .connection_state_recovery(
///         ConnectionStateRecovery::new()
///             .max_disconnection_duration(Duration::from_secs(60))
///             .max_stored_bytes(8 << 20),
///     )
///     .build_layer();
/// ```
///
/// Node's two options keep Node's defaults; the two bounds are ours (Node keeps every
/// stored packet and session for the whole duration, without a limit):
///
/// | setting | default | what |
/// | --- | --- | --- |
/// | `max_disconnection_duration` | 2 min | how long a session and the stored packets are kept |
/// | `skip_middlewares` | `true` | a recovered socket skips the connect middleware |
/// | `max_stored_bytes` | 32 MiB | the stored packets of a namespace, in bytes; the oldest go first |
/// | `max_sessions` | 100 000 | the persisted sessions of a namespace; the oldest go first |
///
/// A client whose missed packets or session were dropped (too late, or past a bound) simply
/// connects as a new socket, with `recovered` false on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStateRecovery {
    max_disconnection_duration: Duration,
    skip_middlewares: bool,
    max_stored_bytes: usize,
    max_sessions: usize,
}

impl Default for ConnectionStateRecovery {
    fn default() -> Self {
        ConnectionStateRecovery {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_stored_bytes: 32 << 20,
            max_sessions: 100_000,
        }
    }
}

impl ConnectionStateRecovery {
    /// Node's defaults (2 minutes, middleware skipped) and ours for the bounds (32 MiB of
    /// stored packets and 100 000 sessions per namespace).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long after a disconnection the client may come back and recover (default
    /// 2 minutes). Stored packets older than that are dropped too.
    pub fn max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }

    /// Whether a recovered socket skips the namespace's connect middleware (default
    /// `true`). With `false` they run again, and see
    /// [`Socket::recovered`](crate::Socket::recovered) true.
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }

    /// The byte budget of a namespace's stored packets (default 32 MiB): past it the
    /// oldest are dropped first, and a client whose position was dropped connects as a new
    /// socket. A packet counts its arguments, its encodings, and its entry (about half a
    /// KiB: the packet model, its options, the allocations' overhead).
    pub fn max_stored_bytes(mut self, bytes: usize) -> Self {
        self.max_stored_bytes = bytes;
        self
    }

    /// How many persisted sessions a namespace keeps (default 100 000): past it the oldest
    /// are dropped first.
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// How long a client may stay away and still recover.
    pub fn get_max_disconnection_duration(&self) -> Duration {
        self.max_disconnection_duration
    }

    /// Whether a recovered socket skips the connect middleware.
    pub fn get_skip_middlewares(&self) -> bool {
        self.skip_middlewares
    }

    /// The byte budget of a namespace's stored packets.
    pub fn get_max_stored_bytes(&self) -> usize {
        self.max_stored_bytes
    }

    /// How many persisted sessions a namespace keeps.
    pub fn get_max_sessions(&self) -> usize {
        self.max_sessions
    }
}

/// The `pid` and `offset` a reconnecting client puts in its CONNECT payload, when both are
/// strings (Node makes no attempt otherwise) and the pid has the shape of ours.
pub(crate) fn recovery_request(auth: Option<&Args>) -> Option<(Sid, String)> {
    #[derive(serde::Deserialize)]
    struct Request {
        pid: Option<String>,
        offset: Option<String>,
    }
    let req: Request = auth?.deserialize().ok()?;
    let pid = req.pid?.parse::<Sid>().ok()?;
    Some((pid, req.offset?))
}

/// What a socket keeps for recovery: its private session id, whether it was recovered,
/// and, while a recovered socket is being connected, the live packets held for it.
/// Boxed in the socket, and only when recovery is on.
pub(crate) struct SocketRecovery {
    pub(crate) pid: Sid,
    pub(crate) recovered: bool,
    /// Set once the socket is in its namespace: from then on its direct emits are stored
    /// (before, from a connect middleware, they go straight out, as without recovery).
    pub(crate) registered: std::sync::atomic::AtomicBool,
    /// `Some` while the socket is back in its rooms but its missed packets, its CONNECT
    /// reply and the live packets before are not all written yet: live broadcasts wait
    /// here, in order.
    pub(crate) held: std::sync::Mutex<Option<Held>>,
}

/// Live packets waiting for a recovered socket, and their weight.
#[derive(Default)]
pub(crate) struct Held {
    packets: Vec<BroadcastPacket>,
    bytes: usize,
    /// Past this many bytes the client reads too slowly to catch up: its connection is
    /// closed (it recovers again from where it got to).
    max_bytes: usize,
    overflow: bool,
}

impl Held {
    /// An empty hold that gives up past `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Held {
            max_bytes,
            ..Held::default()
        }
    }

    /// Holds a live packet; false once past the bound (the packet is not kept).
    pub(crate) fn push(&mut self, packet: &BroadcastPacket) -> bool {
        if self.overflow {
            return false;
        }
        self.bytes += packet.held_bytes();
        if self.bytes > self.max_bytes {
            self.overflow = true;
            self.packets = Vec::new();
            return false;
        }
        self.packets.push(packet.clone());
        true
    }
}

impl SocketRecovery {
    pub(crate) fn new(pid: Sid) -> Box<Self> {
        Box::new(SocketRecovery {
            pid,
            recovered: false,
            registered: std::sync::atomic::AtomicBool::new(false),
            held: std::sync::Mutex::new(None),
        })
    }

    fn recovered(pid: Sid, max_held_bytes: usize) -> Box<Self> {
        Box::new(SocketRecovery {
            pid,
            recovered: true,
            registered: std::sync::atomic::AtomicBool::new(false),
            held: std::sync::Mutex::new(Some(Held::new(max_held_bytes))),
        })
    }
}

/// How a recovery attempt ended.
pub(crate) enum Recovery {
    /// The socket is back and connected.
    Done(SocketRef),
    /// The middleware refused it (its session was put back).
    Refused(ConnectError),
    /// Not recovered: connect as a new socket.
    Failed,
}

/// Writes what a connecting socket gets before its handler runs: for a recovered one, the
/// packets it missed, then `connect` (the CONNECT reply), then the live packets held for it
/// meanwhile, less those that were among the missed (same offset); then it goes live.
///
/// The writes wait for room in the connection's queue (a client catching up reads at its
/// own speed), and live broadcasts keep going to the hold until it is empty: it is switched
/// off under its lock, so no live packet overtakes a held one. A client too slow to catch up
/// (the hold past its bound) or gone has its connection closed: it recovers again from where
/// it got to.
pub(crate) async fn release(socket: &Socket, missed: &[BroadcastPacket], connect: &Encoded) {
    let Some(rec) = socket.recovery() else {
        let _ = crate::client::send_packet(socket.conn_arc(), connect);
        return;
    };
    if crate::util::lock(&rec.held).is_none() {
        let _ = crate::client::send_packet(socket.conn_arc(), connect);
        return;
    }
    let mut sent = true;
    for packet in missed {
        sent = socket.send_stored_wait(packet).await;
        if !sent {
            break;
        }
    }
    if !sent || !socket.send_encoded_wait(connect).await {
        // The connection is gone: nothing more to hold.
        *crate::util::lock(&rec.held) = None;
        return;
    }
    let replayed: HashSet<&str> = missed.iter().filter_map(BroadcastPacket::offset).collect();
    drain_hold(socket, &replayed).await;
}

/// Writes out what a socket's hold collected, in order and waiting for room, skipping
/// the packets whose offset is in `skip` (already replayed), until the hold is empty; then
/// switches it off under its lock (later broadcasts go straight to the connection).
/// `false` when the connection is gone, or was closed because the hold overflowed (a
/// client too slow to catch up; it recovers again from where it got).
pub(crate) async fn drain_hold(socket: &Socket, skip: &HashSet<&str>) -> bool {
    let Some(rec) = socket.recovery() else {
        return true;
    };
    loop {
        let batch = {
            let mut held = crate::util::lock(&rec.held);
            let Some(h) = held.as_mut() else {
                return true;
            };
            if h.overflow {
                *held = None;
                drop(held);
                tracing::warn!(sid = %socket.id(), ns = %socket.ns(), "too slow to catch up: closing the connection");
                crate::client::close_connection(
                    socket.conn_arc(),
                    engine::DisconnectReason::TransportError,
                );
                return false;
            }
            if h.packets.is_empty() {
                // Live from here: later broadcasts go straight to the connection.
                *held = None;
                return true;
            }
            h.bytes = 0;
            std::mem::take(&mut h.packets)
        };
        for packet in &batch {
            if packet.offset().is_some_and(|o| skip.contains(o)) {
                continue;
            }
            if !socket.send_stored_wait(packet).await {
                *crate::util::lock(&rec.held) = None;
                return false;
            }
        }
    }
}

impl Namespace {
    /// Tries to bring back the socket of session `pid`: the adapter gives the session up
    /// (once: a second attempt with the same pid fails), the middleware run unless skipped,
    /// the socket rejoins its rooms held (live broadcasts wait for it), the adapter lists
    /// what it missed after `offset`, and the connection answers: missed packets, CONNECT,
    /// held packets, handler.
    pub(crate) async fn recover(
        &self,
        conn: &Arc<engine::Socket<ConnState>>,
        auth: &Option<Args>,
        pid: Sid,
        offset: &str,
        config: &ConnectionStateRecovery,
    ) -> Recovery {
        let adapter = self.adapter().clone();
        let session = match adapter.restore_session(pid, offset).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                tracing::debug!(ns = %self.name(), "no session to recover: a new socket");
                return Recovery::Failed;
            }
            Err(e) => {
                tracing::warn!(ns = %self.name(), error = %e, "restoring a session failed: a new socket");
                return Recovery::Failed;
            }
        };
        let socket: SocketRef = Arc::new(Socket::restored(
            self.clone(),
            conn.clone(),
            auth.clone(),
            &session,
            SocketRecovery::recovered(session.pid, config.get_max_stored_bytes()),
        ));
        if !config.get_skip_middlewares() {
            if let Err(e) = self.run_middlewares(&socket, auth).await {
                self.give_back(session).await;
                return Recovery::Refused(e);
            }
        }
        if conn.is_closed() {
            self.give_back(session).await;
            return Recovery::Refused(ConnectError::closed());
        }
        // Back in its rooms, held: from here every live broadcast for it waits in the hold.
        self.register(&socket);
        socket.join(session.rooms.clone());
        let missed = match adapter.missed_packets(&session, offset).await {
            Ok(Some(missed)) => missed,
            outcome => {
                if let Err(e) = outcome {
                    tracing::warn!(ns = %self.name(), error = %e, "listing missed packets failed: a new socket");
                }
                socket.leave_all();
                self.remove_socket(&socket);
                self.give_back(session).await;
                return Recovery::Failed;
            }
        };
        tracing::debug!(sid = %socket.id(), ns = %self.name(), missed = missed.len(), "socket recovered");
        let handler = self.connect_handler();
        Recovery::Done(crate::client::finish_connect(socket, handler, auth.clone(), missed).await)
    }

    /// Puts a session taken for a recovery that did not happen back into the store.
    async fn give_back(&self, session: PersistedSession) {
        if let Err(e) = self.adapter().persist_session(session).await {
            tracing::warn!(ns = %self.name(), error = %e, "could not put a session back");
        }
    }
}
