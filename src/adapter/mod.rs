//! Adapters: where rooms live and how broadcasts reach sockets, on one server or many.
//!
//! The core talks to an [`Adapter`] through `Arc<dyn Adapter>`, one per namespace, created by
//! an [`AdapterFactory`]. The default, [`LocalAdapter`], keeps rooms in memory. A cluster
//! adapter (Redis) wraps a [`LocalAdapter`] for what is on this server and forwards the rest;
//! every operation that may span servers is async and may gather replies from other servers.
//!
//! An adapter sees the server through a narrow interface defined here and implemented by
//! the core: its namespace as a [`LocalNamespace`] (reached through the
//! [`NamespaceHandle`] its factory gets) and this server's sockets as [`LocalSocket`]s;
//! broadcasts arrive as [`BroadcastPacket`]s that each socket encodes for its connection.
//!
//! # Connection state recovery
//!
//! With [`ConnectionStateRecovery`](crate::ConnectionStateRecovery) on, the adapter is also
//! where sessions and missed packets are kept. [`LocalAdapter`] does it in memory (its
//! factory enables it); a cluster adapter that can keep them for every server (a Redis
//! Streams adapter) implements [`Adapter::persist_session`], [`Adapter::restore_session`]
//! and [`Adapter::missed_packets`], gives stored broadcasts an offset in
//! [`Adapter::broadcast`], and says so with
//! [`AdapterFactory::supports_connection_state_recovery`]. The builder refuses recovery
//! with a factory that does not.

#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
pub(crate) mod cluster;
mod local;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod session;
mod sockets;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use local::LocalAdapter;
pub use session::{PersistedSession, RecoveryStats, is_stored};
pub use sockets::{LocalNamespace, LocalSocket, LocalSocketRef, NamespaceHandle};

use crate::RemoteSocket;
use crate::ack::RawAckStream;
use crate::engine::Sid;

use crate::protocol::BroadcastPacket;

/// A room name. A socket is always in the room named by its own id.
pub type Room = Cow<'static, str>;

/// A boxed future returned by adapter methods.
pub type AdapterFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which sockets an operation targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// The rooms to reach; empty means every socket of the namespace.
    pub rooms: Vec<Room>,
    /// Rooms whose sockets are left out (a socket id counts as a room).
    pub except: Vec<Room>,
    /// Flags of the operation.
    pub flags: BroadcastFlags,
}

/// Flags of a broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// Dropped, not queued, for sockets whose transport is not writable now.
    pub volatile: bool,
    /// Only the sockets of this server (no effect without a cluster adapter).
    pub local: bool,
    /// Whether the message may be compressed.
    pub compress: bool,
}

impl Default for BroadcastFlags {
    fn default() -> Self {
        Self {
            volatile: false,
            local: false,
            compress: true,
        }
    }
}

/// An adapter operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterError {
    /// Other servers did not answer a request within the configured time.
    Timeout,
    /// The adapter's backing service (e.g. Redis) failed.
    Backend(String),
    /// The adapter does not do this (e.g. connection state recovery with an adapter that
    /// cannot keep sessions).
    Unsupported(&'static str),
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterError::Timeout => f.write_str("the other servers did not answer in time"),
            AdapterError::Backend(e) => write!(f, "adapter backend error: {e}"),
            AdapterError::Unsupported(what) => write!(f, "the adapter does not support {what}"),
        }
    }
}

impl std::error::Error for AdapterError {}

/// Rooms and broadcast for one namespace, on one server or across a cluster.
///
/// Room membership of local sockets is synchronous; everything that may involve other
/// servers returns a future.
pub trait Adapter: Send + Sync + 'static {
    /// A local socket joins rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);
    /// A local socket joined the namespace: its own room (named by its id) exists from now
    /// until [`del_all`](Self::del_all). For adapters that subscribe to a channel per room
    /// (the sharded adapter's `dynamic-private` mode); the default does nothing.
    fn socket_connected(&self, sid: Sid) {
        let _ = sid;
    }
    /// A local socket leaves rooms.
    fn del(&self, sid: Sid, rooms: &[Room]);
    /// A local socket leaves every room (it is disconnecting).
    fn del_all(&self, sid: Sid);
    /// The rooms of a local socket, its own id first.
    fn socket_rooms(&self, sid: Sid) -> Vec<Room>;
    /// The rooms of this server that have members (sockets' own-id rooms excluded).
    fn rooms(&self) -> Vec<Room>;

    /// Sends a packet to every targeted socket (each encodes it for its connection, once
    /// per wire format).
    ///
    /// With connection state recovery on (the factory got
    /// [`NamespaceHandle::connection_state_recovery`] `Some`), an adapter that supports it
    /// also stores every packet for which [`is_stored`] holds (no ack, not volatile; rooms,
    /// `except`, `local` and zero receivers do not matter) with an offset: it makes the
    /// stored copy with [`BroadcastPacket::with_offset`] and delivers *that copy* to the
    /// local targets, so each receiver gets the offset as the event's last argument, in one
    /// encoding shared by all. Offsets are opaque to the core, which only compares them for
    /// equality: a short, JSON-safe ASCII string (no `"`, `\` or control characters),
    /// unique in the namespace, never reused (not even by another process: a client may
    /// present one from before a restart). Each socket must receive stored packets in
    /// offset order: the client resumes from the last offset it saw.
    ///
    /// A broadcast takes its place in that order when the returned future is first
    /// polled: the core polls a direct emit's future once, right away, and lets one that is
    /// still pending (a store across the network) finish in the background, so successive
    /// emits keep their order only if the adapter fixes it in that first poll (e.g. by
    /// queueing the write on an ordered connection).
    fn broadcast<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>>;

    /// Sends a packet carrying `ack_id` (its [`ack`](BroadcastPacket::ack)) to every
    /// targeted socket and returns the stream of their replies, which ends after every reply
    /// or at `timeout`.
    fn broadcast_with_ack<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        ack_id: u64,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<RawAckStream, AdapterError>>;

    /// The targeted sockets, with their id, handshake, rooms and data (the core binds them
    /// to the namespace, so that their `emit`, `join`, ... work).
    fn fetch_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<RemoteSocket>, AdapterError>>;

    /// Makes the targeted sockets join rooms.
    fn add_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>>;

    /// Makes the targeted sockets leave rooms.
    fn del_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>>;

    /// Disconnects the targeted sockets; `close` closes their whole connection.
    fn disconnect_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>>;

    /// How many servers share this namespace (1 without a cluster).
    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async { Ok(1) })
    }

    /// Sends a server-side event to the other servers of the cluster (Node's
    /// `serverSideEmit`): `data` is the event name followed by its arguments. They run it
    /// with [`LocalNamespace::dispatch_server_side`].
    /// Without a cluster there is nobody to send to.
    fn server_side_emit<'a>(
        &'a self,
        data: &'a [serde_json::Value],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        let _ = data;
        Box::pin(async { Ok(()) })
    }

    /// Same as [`server_side_emit`](Self::server_side_emit), and gathers one reply per other
    /// server, failing with [`AdapterError::Timeout`] when some did not answer in the
    /// adapter's request timeout. Without a cluster: no reply.
    fn server_side_emit_with_ack<'a>(
        &'a self,
        data: &'a [serde_json::Value],
    ) -> AdapterFuture<'a, Result<Vec<serde_json::Value>, AdapterError>> {
        let _ = data;
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether the adapter's backend is healthy (always true for the in-memory one).
    fn is_healthy(&self) -> bool {
        true
    }

    /// Stops the adapter (the server is closing).
    fn close(&self) -> AdapterFuture<'_, ()> {
        Box::pin(async {})
    }

    // ----- connection state recovery -----

    /// Keeps the session of a socket that left for a recoverable reason (Node's
    /// `persistSession`), until its client restores it or
    /// [`max_disconnection_duration`](crate::ConnectionStateRecovery::max_disconnection_duration)
    /// has passed (it may be dropped earlier to honour the adapter's bounds, oldest first).
    /// A session with the pid of one already kept replaces it.
    ///
    /// The core calls it once per recoverable disconnection, after the socket left its rooms
    /// on this server and before its `disconnect` listeners run, and again with the same
    /// value when a restore it got from [`restore_session`](Self::restore_session) did not
    /// happen (the middleware refused it, or the connection ended first). An error is logged;
    /// the client then cannot recover.
    ///
    /// Default: [`AdapterError::Unsupported`].
    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        let _ = session;
        Box::pin(async { Err(AdapterError::Unsupported("connection state recovery")) })
    }

    /// Takes the session a reconnecting client asks for (Node's `restoreSession`, without
    /// the packets: see [`missed_packets`](Self::missed_packets)).
    ///
    /// `Ok(Some(session))` when a session with that `pid` is kept, has not expired
    /// (disconnected less than `max_disconnection_duration` ago), and `offset` (the last one
    /// the client saw) is still stored, so that what it missed can be listed. The session is
    /// then **removed**: a second restore of the same pid finds nothing (unlike Node's
    /// in-memory adapter, two connections never share one socket id).
    ///
    /// `Ok(None)` otherwise (unknown or forged pid, expired, offset unknown or no longer
    /// stored): the client connects as a new socket. The session may stay in the last case.
    ///
    /// An error is logged, and the client connects as a new socket.
    ///
    /// Default: `Ok(None)` (nothing was ever persisted).
    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        let _ = (pid, offset);
        Box::pin(async { Ok(None) })
    }

    /// The stored packets a restored socket missed: every one stored after `offset`, in
    /// the order they were stored, that targeted the session's rooms
    /// ([`PersistedSession::missed`]), each with its offset (as [`broadcast`](Self::broadcast)
    /// delivered it; the core writes them to the client as they are). `Ok(None)` when
    /// `offset` is no longer stored (the restore then fails and the session is put back).
    ///
    /// The core calls it after [`restore_session`](Self::restore_session) and after the
    /// socket is back in its rooms on this server, with its live packets held: a broadcast
    /// stored meanwhile may be both listed here and delivered live, and the core drops the
    /// second copy by its offset. So the list must reach at least every packet stored
    /// before the call; nothing is lost between the two, and nothing comes twice.
    ///
    /// Default: [`AdapterError::Unsupported`].
    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        let _ = (session, offset);
        Box::pin(async { Err(AdapterError::Unsupported("connection state recovery")) })
    }

    /// What the recovery store holds now (sessions, packets, bytes), when this adapter
    /// keeps one in this process; `None` otherwise (the default).
    fn recovery_stats(&self) -> Option<RecoveryStats> {
        None
    }
}

/// Creates the adapter of each namespace.
pub trait AdapterFactory: Send + Sync + 'static {
    /// The adapter for a new namespace, given the namespace's (weak) handle.
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter>;

    /// Whether its adapters can do connection state recovery: persist and restore
    /// sessions and store broadcasts with offsets (the session methods of [`Adapter`]).
    /// [`SocketIoBuilder`](crate::SocketIoBuilder) refuses to build a server with
    /// recovery on and a factory that says no. Default: no.
    fn supports_connection_state_recovery(&self) -> bool {
        false
    }
}

/// The factory of the in-memory [`LocalAdapter`] (the default). With connection state
/// recovery on, its adapters keep the sessions and the stored packets in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalAdapterFactory;

impl AdapterFactory for LocalAdapterFactory {
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        let adapter = match ns.connection_state_recovery() {
            Some(config) => {
                let config = config.clone();
                LocalAdapter::with_recovery(ns, config)
            }
            None => LocalAdapter::new(ns),
        };
        Arc::new(adapter)
    }

    fn supports_connection_state_recovery(&self) -> bool {
        true
    }
}
