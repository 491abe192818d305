//! The in-memory adapter: rooms of one server, and (with connection state recovery) the
//! sessions and stored packets of its namespace ([`store`]).

mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::{
    Adapter, AdapterError, AdapterFuture, BroadcastOptions, LocalSocketRef, NamespaceHandle,
    PersistedSession, RecoveryStats, Room,
};
use crate::ack::{AckWaiter, RawAckStream};
use crate::engine::Sid;
use crate::observe::observe;
use crate::protocol::BroadcastPacket;
use crate::util::{read, write};
use crate::{ConnectionStateRecovery, RemoteSocket};

#[derive(Default)]
struct Rooms {
    /// Members of each named room. A socket's own-id room is implicit (never stored), which
    /// keeps an idle socket's cost at zero here.
    rooms: HashMap<Room, HashSet<Sid>>,
    /// Rooms of each socket that joined at least one named room.
    sids: HashMap<Sid, HashSet<Room>>,
}

/// The default adapter: rooms kept in memory, broadcasts delivered to this server's sockets.
///
/// Cluster adapters wrap one for their local part: its `apply_*` methods run an operation on
/// this server only.
///
/// Made [`with_recovery`](Self::with_recovery) (what [`LocalAdapterFactory`](super::LocalAdapterFactory)
/// does when connection state recovery is on), it also keeps the namespace's persisted
/// sessions and its stored broadcasts in memory, within the bounds of the
/// [`ConnectionStateRecovery`] (Node's `SessionAwareAdapter`, plus a byte budget and a
/// session cap).
pub struct LocalAdapter {
    ns: NamespaceHandle,
    rooms: RwLock<Rooms>,
    store: Option<Arc<store::Store>>,
}

impl std::fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAdapter").finish_non_exhaustive()
    }
}

impl LocalAdapter {
    /// An empty adapter for a namespace, without a recovery store (what a cluster adapter
    /// wraps for its local part).
    pub fn new(ns: NamespaceHandle) -> Self {
        Self {
            ns,
            rooms: RwLock::new(Rooms::default()),
            store: None,
        }
    }

    /// An empty adapter that keeps sessions and stored broadcasts for connection state
    /// recovery, within `config`'s duration and bounds. Made inside a Tokio runtime, it
    /// also drops expired entries in the background.
    pub fn with_recovery(ns: NamespaceHandle, config: ConnectionStateRecovery) -> Self {
        Self {
            ns,
            rooms: RwLock::new(Rooms::default()),
            store: Some(store::Store::new(config)),
        }
    }

    /// The local sockets an operation targets, each once.
    pub fn targets(&self, opts: &BroadcastOptions) -> Vec<LocalSocketRef> {
        let Some(ns) = self.ns.upgrade() else {
            return Vec::new();
        };
        let rooms = read(&self.rooms);
        let mut except: HashSet<Sid> = HashSet::new();
        for room in &opts.except {
            match rooms.rooms.get(room) {
                Some(members) => except.extend(members.iter().copied()),
                None => {
                    if let Some(sid) = self.own_room(room) {
                        except.insert(sid);
                    }
                }
            }
        }
        if opts.rooms.is_empty() {
            let mut out = ns.sockets();
            if !except.is_empty() {
                out.retain(|s| !except.contains(&s.id()));
            }
            return out;
        }
        let mut seen: HashSet<Sid> = HashSet::new();
        let single = opts.rooms.len() == 1;
        let mut ids: Vec<Sid> = Vec::new();
        let mut push = |sid: Sid| {
            if !except.contains(&sid) && (single || seen.insert(sid)) {
                ids.push(sid);
            }
        };
        for room in &opts.rooms {
            match rooms.rooms.get(room) {
                Some(members) => {
                    members.iter().copied().for_each(&mut push);
                }
                None => {
                    // A room that is a socket id names that socket.
                    if let Some(sid) = self.own_room(room) {
                        push(sid);
                    }
                }
            }
        }
        drop(rooms);
        ns.get_sockets(&ids)
    }

    /// Whether a room has members on this server (a socket id names the room of that
    /// socket when it is here).
    pub fn has_room(&self, room: &str) -> bool {
        let rooms = read(&self.rooms);
        if rooms.rooms.contains_key(room) {
            return true;
        }
        drop(rooms);
        match (self.own_room(room), self.ns.upgrade()) {
            (Some(sid), Some(ns)) => ns.get_socket(sid).is_some(),
            _ => false,
        }
    }

    /// The socket whose own room `room` would be: a socket id, or `<nsp>#<id>` in this
    /// namespace (a Socket.IO 2 client outside `/` knows its socket by that name).
    fn own_room(&self, room: &str) -> Option<Sid> {
        if let Ok(sid) = room.parse::<Sid>() {
            return Some(sid);
        }
        let ns = self.ns.name();
        room.strip_prefix(ns)?
            .strip_prefix('#')
            .filter(|_| ns != "/")?
            .parse()
            .ok()
    }

    /// Delivers a packet to this server's targeted sockets.
    pub fn apply_broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) {
        for socket in self.targets(opts) {
            socket.send_broadcast(packet, opts.flags.volatile);
        }
    }

    /// Delivers a packet with an ack id to this server's targeted sockets; returns how many
    /// were reached. Their replies go to `waiter`.
    pub fn apply_broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        ack_id: u64,
        opts: &BroadcastOptions,
        waiter: &AckWaiter,
    ) -> usize {
        let mut n = 0;
        for socket in self.targets(opts) {
            socket.register_ack(ack_id, waiter.clone());
            if socket.send_broadcast(packet, opts.flags.volatile) {
                n += 1;
            } else {
                socket.unregister_ack(ack_id);
            }
        }
        n
    }

    /// This server's targeted sockets as [`RemoteSocket`]s.
    pub fn apply_fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<RemoteSocket> {
        self.targets(opts).iter().map(|s| s.remote()).collect()
    }

    /// This server's targeted sockets as a fetch reply to another server describes them
    /// (see [`LocalSocket::remote_for_peer`](super::LocalSocket::remote_for_peer)).
    pub fn apply_fetch_sockets_for_peer(&self, opts: &BroadcastOptions) -> Vec<RemoteSocket> {
        self.targets(opts)
            .iter()
            .map(|s| s.remote_for_peer())
            .collect()
    }

    /// This server's targeted sockets join rooms.
    pub fn apply_add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.targets(opts) {
            self.add_all(s.id(), rooms);
        }
    }

    /// This server's targeted sockets leave rooms.
    pub fn apply_del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for s in self.targets(opts) {
            self.del(s.id(), rooms);
        }
    }

    /// This server's targeted sockets are disconnected.
    pub fn apply_disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        for s in self.targets(opts) {
            s.disconnect(close);
        }
    }

    /// A local socket joins rooms; returns the rooms that had no member here before (for
    /// adapters that subscribe per room).
    #[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
    pub(crate) fn add_all_reporting(&self, sid: Sid, rooms: &[Room]) -> Vec<Room> {
        let mut created = Vec::new();
        self.join(sid, rooms, Some(&mut created));
        created
    }

    /// A local socket leaves rooms; returns the rooms left without members here.
    #[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
    pub(crate) fn del_reporting(&self, sid: Sid, rooms: &[Room]) -> Vec<Room> {
        let mut deleted = Vec::new();
        self.leave(sid, rooms, Some(&mut deleted));
        deleted
    }

    /// A local socket leaves every room; returns the rooms left without members here.
    #[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
    pub(crate) fn del_all_reporting(&self, sid: Sid) -> Vec<Room> {
        let mut deleted = Vec::new();
        self.leave_all(sid, Some(&mut deleted));
        deleted
    }

    fn join(&self, sid: Sid, rooms: &[Room], mut created: Option<&mut Vec<Room>>) {
        let mut r = write(&self.rooms);
        let r = &mut *r;
        for room in rooms {
            if self.own_room(room).is_some_and(|own| own == sid) {
                continue;
            }
            if r.sids.entry(sid).or_default().insert(room.clone()) {
                let members = r.rooms.entry(room.clone()).or_default();
                if members.is_empty() {
                    if let Some(created) = created.as_deref_mut() {
                        created.push(room.clone());
                    }
                }
                members.insert(sid);
                observe!(&self.ns.events => |e| e.room_joined(self.ns.name_str(), room, sid));
            }
        }
    }

    fn leave(&self, sid: Sid, rooms: &[Room], mut deleted: Option<&mut Vec<Room>>) {
        let mut r = write(&self.rooms);
        let r = &mut *r;
        let Some(mine) = r.sids.get_mut(&sid) else {
            return;
        };
        for room in rooms {
            if mine.remove(room) {
                observe!(&self.ns.events => |e| e.room_left(self.ns.name_str(), room, sid));
                if let Some(members) = r.rooms.get_mut(room) {
                    members.remove(&sid);
                    if members.is_empty() {
                        r.rooms.remove(room);
                        if let Some(deleted) = deleted.as_deref_mut() {
                            deleted.push(room.clone());
                        }
                    }
                }
            }
        }
        if mine.is_empty() {
            r.sids.remove(&sid);
        }
    }

    fn leave_all(&self, sid: Sid, mut deleted: Option<&mut Vec<Room>>) {
        let mut r = write(&self.rooms);
        let r = &mut *r;
        if let Some(mine) = r.sids.remove(&sid) {
            for room in mine {
                observe!(&self.ns.events => |e| e.room_left(self.ns.name_str(), &room, sid));
                if let Some(members) = r.rooms.get_mut(&room) {
                    members.remove(&sid);
                    if members.is_empty() {
                        r.rooms.remove(&room);
                        if let Some(deleted) = deleted.as_deref_mut() {
                            deleted.push(room);
                        }
                    }
                }
            }
        }
    }
}

impl Adapter for LocalAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.join(sid, rooms, None);
    }

    fn del(&self, sid: Sid, rooms: &[Room]) {
        self.leave(sid, rooms, None);
    }

    fn del_all(&self, sid: Sid) {
        self.leave_all(sid, None);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        let r = read(&self.rooms);
        let mut out = vec![Room::Owned(sid.to_string())];
        if let Some(mine) = r.sids.get(&sid) {
            out.extend(mine.iter().cloned());
        }
        out
    }

    fn rooms(&self) -> Vec<Room> {
        let r = read(&self.rooms);
        r.rooms.keys().cloned().collect()
    }

    fn broadcast<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        match &self.store {
            Some(store) if super::is_stored(packet, opts) => {
                store.broadcast(packet, opts, |stored| self.apply_broadcast(stored, opts));
            }
            _ => self.apply_broadcast(packet, opts),
        }
        Box::pin(async { Ok(()) })
    }

    fn broadcast_with_ack<'a>(
        &'a self,
        packet: &'a BroadcastPacket,
        ack_id: u64,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<RawAckStream, AdapterError>> {
        let (waiter, stream) = RawAckStream::channel(timeout);
        let n = self.apply_broadcast_with_ack(packet, ack_id, opts, &waiter);
        waiter.expect(n);
        Box::pin(async { Ok(stream) })
    }

    fn fetch_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<RemoteSocket>, AdapterError>> {
        let out = self.apply_fetch_sockets(opts);
        Box::pin(async { Ok(out) })
    }

    fn add_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.apply_add_sockets(opts, rooms);
        Box::pin(async { Ok(()) })
    }

    fn del_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.apply_del_sockets(opts, rooms);
        Box::pin(async { Ok(()) })
    }

    fn disconnect_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.apply_disconnect_sockets(opts, close);
        Box::pin(async { Ok(()) })
    }

    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        let result = match &self.store {
            Some(store) => {
                store.persist(session);
                Ok(())
            }
            None => Err(AdapterError::Unsupported("connection state recovery")),
        };
        Box::pin(async { result })
    }

    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        let session = self.store.as_ref().and_then(|s| s.restore(pid, offset));
        Box::pin(async { Ok(session) })
    }

    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        let result = match &self.store {
            Some(store) => Ok(store.missed(session, offset)),
            None => Err(AdapterError::Unsupported("connection state recovery")),
        };
        Box::pin(async { result })
    }

    fn recovery_stats(&self) -> Option<RecoveryStats> {
        self.store.as_ref().map(|s| s.stats())
    }
}
