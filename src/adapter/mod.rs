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

#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
mod cluster;
mod local;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod sockets;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use local::LocalAdapter;
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
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterError::Timeout => f.write_str("the other servers did not answer in time"),
            AdapterError::Backend(e) => write!(f, "adapter backend error: {e}"),
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
}

/// Creates the adapter of each namespace.
pub trait AdapterFactory: Send + Sync + 'static {
    /// The adapter for a new namespace, given the namespace's (weak) handle.
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter>;
}

/// The factory of the in-memory [`LocalAdapter`] (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalAdapterFactory;

impl AdapterFactory for LocalAdapterFactory {
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        Arc::new(LocalAdapter::new(ns))
    }
}
