//! socket.io-adapter's `ClusterAdapter` protocol, written once for every adapter that speaks
//! it (the Redis Streams adapter and the sharded pub/sub adapter).
//!
//! [`ClusterAdapter`] is the namespace's [`Adapter`]: it keeps this server's rooms in a
//! [`LocalAdapter`], runs every operation locally and sends the [`Message`]s of the protocol
//! to the other servers through a [`Transport`] (which decides where each message goes:
//! a stream, a channel, a room's channel), and answers what the transport hands back from
//! other servers ([`incoming`]). The semantics follow Node's `ClusterAdapter` (socket.io-adapter
//! 2.5): requests expect `server_count() - 1` answers and fail after the request timeout;
//! responses go to the requester only; a broadcast with acknowledgements first learns each
//! server's client count, then its clients' acknowledgements.
//!
//! Differences from Node, on purpose: the local part of an operation never waits for the
//! backend (Node awaits the publication first), and one server id is shared by every
//! namespace of a server (Node makes one per namespace; every message names its namespace).

mod incoming;
pub(crate) mod message;
mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

pub(crate) use message::{Message, kind, random_hex_id};
pub(crate) use transport::{Early, Published, RoomEvents, Transport};

use crate::RemoteSocket;
use crate::ack::{AckError, AckWaiter, RawAckStream};
use crate::adapter::redis::wire::WirePacket;
use crate::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastOptions, LocalAdapter, LocalNamespace,
    NamespaceHandle, PersistedSession, Room, is_stored,
};
use crate::engine::Sid;
use crate::protocol::{BroadcastPacket, Value};
use crate::util::lock;

/// Settings of the protocol part.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSettings {
    /// How long requests wait for other servers.
    pub(crate) requests_timeout: Duration,
    /// Which room changes the transport hears about.
    pub(crate) room_events: RoomEvents,
    /// The adapter's name in logs.
    pub(crate) name: &'static str,
    /// Connection state recovery is on: stored broadcasts carry offsets.
    pub(crate) recovery: bool,
}

/// The longest a broadcast with acknowledgements from another server is served here.
const MAX_REMOTE_ACK_TIMEOUT: Duration = Duration::from_secs(600);

/// The adapter of one namespace.
pub(crate) struct ClusterAdapter<T: Transport> {
    /// The adapter itself (for what is delivered later, from a transport's task).
    me: Weak<Self>,
    local: LocalAdapter,
    ns: NamespaceHandle,
    nsp: String,
    uid: String,
    transport: T,
    settings: ClusterSettings,
    /// Requests waiting for responses (fetch, server-side emit with acknowledgements).
    requests: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    /// Broadcasts with acknowledgements waiting for other servers' counts and acks.
    ack_requests: Arc<Mutex<HashMap<String, AckWaiter>>>,
}

impl<T: Transport> std::fmt::Debug for ClusterAdapter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAdapter")
            .field("adapter", &self.settings.name)
            .field("nsp", &self.nsp)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

/// Removes a pending request when the requester stops waiting, whatever the reason.
struct PendingGuard<'a> {
    map: &'a Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(&self.id);
    }
}

fn encode_error(e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Backend(format!("the packet could not be put on the wire: {e}"))
}

impl<T: Transport> ClusterAdapter<T> {
    /// The adapter of the namespace `ns` for the server `uid`, with the transport that
    /// `transport` makes (given the adapter's own weak reference, for its subscriptions).
    pub(crate) fn create(
        ns: NamespaceHandle,
        uid: String,
        settings: ClusterSettings,
        transport: impl FnOnce(&Weak<Self>) -> T,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| ClusterAdapter {
            me: me.clone(),
            local: LocalAdapter::new(ns.clone()),
            nsp: ns.name().to_owned(),
            ns,
            uid,
            transport: transport(me),
            settings,
            requests: Mutex::default(),
            ack_requests: Arc::default(),
        })
    }

    /// The namespace's name.
    pub(crate) fn nsp(&self) -> &str {
        &self.nsp
    }

    /// Whether connection state recovery is on.
    pub(crate) fn recovery(&self) -> bool {
        self.settings.recovery
    }

    /// Delivers a stored broadcast (this server's or another's) to this server's sockets
    /// with its offset (read from the backend's log, in order).
    pub(crate) fn deliver_stored(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        offset: &str,
    ) {
        self.local
            .apply_broadcast(&packet.with_offset(offset.to_owned()), opts);
    }

    /// This server's id.
    pub(crate) fn uid(&self) -> &str {
        &self.uid
    }

    pub(crate) fn transport(&self) -> &T {
        &self.transport
    }

    fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.ns.upgrade()
    }

    /// Rooms whose creation or deletion the transport hears about.
    fn reported(&self, mut rooms: Vec<Room>) -> Vec<Room> {
        if self.settings.room_events == RoomEvents::Public && !rooms.is_empty() {
            let ns = self.namespace();
            rooms.retain(|r| match (r.parse::<Sid>(), &ns) {
                (Ok(sid), Some(ns)) => ns.get_socket(sid).is_none(),
                _ => true,
            });
        }
        rooms
    }

    /// The number of other servers of the namespace.
    async fn others(&self) -> Result<usize, AdapterError> {
        Ok(self.transport.server_count().await?.saturating_sub(1))
    }

    /// Publishes a request and gathers `expected` responses, up to the requests timeout.
    async fn request(
        &self,
        what: &'static str,
        id: String,
        msg: Message,
        expected: usize,
    ) -> Result<Vec<Message>, AdapterError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.requests).insert(id.clone(), tx);
        let _guard = PendingGuard {
            map: &self.requests,
            id,
        };
        let deadline = tokio::time::Instant::now() + self.settings.requests_timeout;
        let published = self.transport.publish(msg);
        match tokio::time::timeout_at(deadline, published).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(AdapterError::Timeout),
        }
        let mut out = Vec::with_capacity(expected);
        while out.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(v)) => out.push(v),
                _ => {
                    tracing::warn!(
                        adapter = self.settings.name,
                        ns = %self.nsp,
                        request = what,
                        received = out.len(),
                        expected,
                        timeout = ?self.settings.requests_timeout,
                        "cluster adapter: servers did not answer in time"
                    );
                    return Err(AdapterError::Timeout);
                }
            }
        }
        Ok(out)
    }

    /// Publishes without waiting; failures are the transport's to log and count.
    fn publish_detached(&self, msg: Message) {
        drop(self.transport.publish(msg));
    }
}

impl<T: Transport> Adapter for ClusterAdapter<T> {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        if self.settings.room_events == RoomEvents::None {
            self.local.add_all(sid, rooms);
            return;
        }
        let created = self.reported(self.local.add_all_reporting(sid, rooms));
        if !created.is_empty() {
            self.transport.rooms_created(&created);
        }
    }

    fn socket_connected(&self, sid: Sid) {
        if self.settings.room_events == RoomEvents::All {
            self.transport
                .rooms_created(&[Room::Owned(sid.to_string())]);
        }
    }

    fn del(&self, sid: Sid, rooms: &[Room]) {
        if self.settings.room_events == RoomEvents::None {
            self.local.del(sid, rooms);
            return;
        }
        let deleted = self.reported(self.local.del_reporting(sid, rooms));
        if !deleted.is_empty() {
            self.transport.rooms_deleted(&deleted);
        }
    }

    fn del_all(&self, sid: Sid) {
        match self.settings.room_events {
            RoomEvents::None => self.local.del_all(sid),
            RoomEvents::Public => {
                let deleted = self.reported(self.local.del_all_reporting(sid));
                if !deleted.is_empty() {
                    self.transport.rooms_deleted(&deleted);
                }
            }
            RoomEvents::All => {
                let mut deleted = self.local.del_all_reporting(sid);
                deleted.push(Room::Owned(sid.to_string()));
                self.transport.rooms_deleted(&deleted);
            }
        }
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.local.socket_rooms(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.local.rooms()
    }

    fn broadcast<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        if self.settings.recovery && !opts.flags.local && is_stored(packet, opts) {
            // Delivered here from the log, with its offset, in log order (or at once
            // without one when the backend cannot take it now).
            let wp = WirePacket::from_broadcast(packet);
            let result = Message::broadcast(&self.uid, &self.nsp, &wp, opts, None)
                .map(|msg| {
                    let (me, packet, opts) = (self.me.clone(), packet.clone(), opts.clone());
                    let early: Early = Box::new(move || {
                        if let Some(me) = me.upgrade() {
                            me.local.apply_broadcast(&packet, &opts);
                        }
                    });
                    drop(self.transport.publish_stored(msg, early));
                })
                .map_err(encode_error);
            return Box::pin(async move { result });
        }
        self.local.apply_broadcast(packet, opts);
        let result = if opts.flags.local {
            Ok(())
        } else {
            Message::broadcast(
                &self.uid,
                &self.nsp,
                &WirePacket::from_broadcast(packet),
                opts,
                None,
            )
            .map(|msg| self.publish_detached(msg))
            .map_err(encode_error)
        };
        Box::pin(async move { result })
    }

    fn broadcast_with_ack<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        ack_id: u64,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<RawAckStream, AdapterError>> {
        Box::pin(async move {
            let (waiter, stream) = RawAckStream::channel(timeout);
            // Local clients first: their delivery never waits for the backend.
            let n = self
                .local
                .apply_broadcast_with_ack(packet, ack_id, opts, &waiter);
            waiter.expect(n);
            if opts.flags.local {
                return Ok(stream);
            }
            let wp = WirePacket::from_broadcast(packet);
            let others = match self.others().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(adapter = self.settings.name, error = %e, "cluster adapter: broadcast with acks stays local");
                    waiter.reply(Err(AckError::Adapter(e)));
                    return Ok(stream);
                }
            };
            if others == 0 {
                return Ok(stream);
            }
            let id = random_hex_id();
            for _ in 0..others {
                waiter.open_source();
            }
            {
                let mut pending = lock(&self.ack_requests);
                pending.retain(|_, w| !w.is_closed());
                pending.insert(id.clone(), waiter.clone());
            }
            let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            let msg = Message::broadcast(&self.uid, &self.nsp, &wp, opts, Some((&id, timeout_ms)))
                .map_err(encode_error)?;
            let published = self.transport.publish(msg);
            let ack_requests = self.ack_requests.clone();
            // The stream is handed out at once; a failed publication closes the sources.
            let failed = async move {
                if let Err(e) = published.await {
                    if let Some(waiter) = lock(&ack_requests).remove(&id) {
                        for _ in 0..others {
                            waiter.close_source();
                        }
                        waiter.reply(Err(AckError::Adapter(e)));
                    }
                }
            };
            tokio::spawn(failed);
            Ok(stream)
        })
    }

    fn fetch_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<RemoteSocket>, AdapterError>> {
        Box::pin(async move {
            let mut sockets = self.local.apply_fetch_sockets(opts);
            if opts.flags.local {
                return Ok(sockets);
            }
            let others = self.others().await?;
            if others == 0 {
                return Ok(sockets);
            }
            let id = random_hex_id();
            let msg = Message::fetch_sockets(&self.uid, &self.nsp, opts, &id);
            for r in self.request("fetchSockets", id, msg, others).await? {
                if let Some(Value::Array(list)) = r.get("sockets") {
                    sockets.extend(list.iter().filter_map(|s| {
                        serde_json::to_value(s)
                            .ok()
                            .and_then(|v| crate::adapter::redis::remote_socket_of(&v))
                    }));
                }
            }
            Ok(sockets)
        })
    }

    fn add_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        for s in self.local.targets(opts) {
            self.add_all(s.id(), rooms);
        }
        if !opts.flags.local {
            self.publish_detached(Message::sockets_rooms(
                &self.uid, &self.nsp, true, opts, rooms,
            ));
        }
        Box::pin(async { Ok(()) })
    }

    fn del_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        for s in self.local.targets(opts) {
            self.del(s.id(), rooms);
        }
        if !opts.flags.local {
            self.publish_detached(Message::sockets_rooms(
                &self.uid, &self.nsp, false, opts, rooms,
            ));
        }
        Box::pin(async { Ok(()) })
    }

    fn disconnect_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_disconnect_sockets(opts, close);
        if !opts.flags.local {
            self.publish_detached(Message::disconnect_sockets(
                &self.uid, &self.nsp, opts, close,
            ));
        }
        Box::pin(async { Ok(()) })
    }

    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            // This server counts even when the backend does not see it yet.
            Ok(self.transport.server_count().await?.max(1))
        })
    }

    fn server_side_emit<'a>(
        &'a self,
        data: &'a [serde_json::Value],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        let result = sse_packet(data).map(|packet| {
            self.publish_detached(Message::server_side_emit(
                &self.uid, &self.nsp, packet, None,
            ))
        });
        Box::pin(async move { result })
    }

    fn server_side_emit_with_ack<'a>(
        &'a self,
        data: &'a [serde_json::Value],
    ) -> AdapterFuture<'a, Result<Vec<serde_json::Value>, AdapterError>> {
        Box::pin(async move {
            let packet = sse_packet(data)?;
            let others = self.others().await?;
            if others == 0 {
                return Ok(Vec::new());
            }
            let id = random_hex_id();
            let msg = Message::server_side_emit(&self.uid, &self.nsp, packet, Some(&id));
            let responses = self.request("serverSideEmit", id, msg, others).await?;
            Ok(responses
                .iter()
                .map(|r| {
                    r.get("packet")
                        .and_then(|d| serde_json::to_value(d).ok())
                        .unwrap_or(serde_json::Value::Null)
                })
                .collect())
        })
    }

    fn is_healthy(&self) -> bool {
        self.transport.is_healthy()
    }

    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        self.transport.persist_session(session)
    }

    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        self.transport.restore_session(pid, offset)
    }

    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        self.transport.missed_packets(session, offset)
    }

    fn close(&self) -> AdapterFuture<'_, ()> {
        let mut rooms = match self.settings.room_events {
            RoomEvents::None => Vec::new(),
            RoomEvents::Public | RoomEvents::All => self.reported(self.local.rooms()),
        };
        if self.settings.room_events == RoomEvents::All {
            if let Some(ns) = self.namespace() {
                rooms.extend(ns.sockets().iter().map(|s| Room::Owned(s.id().to_string())));
            }
        }
        if !rooms.is_empty() {
            self.transport.rooms_deleted(&rooms);
        }
        self.transport.close()
    }
}

/// The `[event, ...args]` of a server-side event as a wire value.
fn sse_packet(data: &[serde_json::Value]) -> Result<Value, AdapterError> {
    Ok(Value::from(serde_json::Value::Array(data.to_vec())))
}
