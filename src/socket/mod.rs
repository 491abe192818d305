//! Sockets: one client's presence in one namespace.
//!
//! The [`Socket`] type and its listeners, operators, rooms, data and disconnect sequence
//! live here; [`emit`] (emitting and sending), [`incoming`] (events and acknowledgements
//! from the client), [`handshake`], [`reason`] and [`remote`] hold the rest.

mod emit;
mod handshake;
mod incoming;
mod reason;
mod remote;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Serialize, de::DeserializeOwned};

pub use emit::EmitError;
pub use handshake::Handshake;
pub use incoming::IncomingEvent;
use incoming::{AckMap, PacketMiddleware};
pub use reason::DisconnectReason;
pub use remote::RemoteSocket;

use crate::SocketIo;
use crate::ack::{AckError, AckSlot};
use crate::adapter::Room;
use crate::client::{Conn, ConnState};
use crate::engine::{self, Sid, TransportType};
use crate::handler::{BoxedHandler, DisconnectParts, Handler, MessageParts, erase};
use crate::ns::Namespace;
use crate::observe::observe;
use crate::operators::BroadcastOperators;
use crate::protocol::{Args, Codec, Revision};
use crate::recovery::SocketRecovery;
use crate::rooms::IntoRooms;
use crate::util::{lock, read, write};

/// A handle to a connected socket; cheap to clone.
pub type SocketRef = Arc<Socket>;

struct Listener {
    event: Box<str>,
    handler: BoxedHandler<MessageParts, ()>,
    once: bool,
}

/// An outgoing catch-all listener: called with the event name and its arguments.
pub(crate) type OutgoingListener = Arc<dyn Fn(&str, &Args) + Send + Sync + 'static>;

/// A client connected to a namespace.
///
/// Handlers receive it as [`SocketRef`]. Names follow Node's: [`emit`](Socket::emit),
/// [`join`](Socket::join), [`to`](Socket::to), [`broadcast`](Socket::broadcast), …
pub struct Socket {
    id: Sid,
    ns: Namespace,
    conn: Arc<engine::Socket<ConnState>>,
    /// How this socket's packets are written (the connection's codec).
    codec: Codec,
    auth: Option<Args>,
    /// When the socket was made, in milliseconds since the Unix epoch (8 bytes where a
    /// `SystemTime` takes 16: this is kept by every socket).
    issued: u64,
    connected: AtomicBool,
    /// Every listener in the order added. A list, not a map: a socket has a few events,
    /// and a map of lists cost 1 KiB per connection where this costs 160 bytes.
    listeners: RwLock<Vec<Listener>>,
    any_incoming: RwLock<Vec<BoxedHandler<MessageParts, ()>>>,
    any_outgoing: RwLock<Vec<OutgoingListener>>,
    packet_middlewares: RwLock<Vec<PacketMiddleware>>,
    on_disconnect: Mutex<Vec<BoxedHandler<DisconnectParts, ()>>>,
    on_disconnecting: Mutex<Vec<BoxedHandler<DisconnectParts, ()>>>,
    acks: Mutex<AckMap>,
    data: Mutex<Option<serde_json::Value>>,
    extensions: Mutex<http::Extensions>,
    /// Connection state recovery: the private session id and the hold of a recovered
    /// socket. `None` (one word) when recovery is off.
    recovery: Option<Box<SocketRecovery>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name())
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        ns: Namespace,
        conn: Arc<engine::Socket<ConnState>>,
        auth: Option<Args>,
        recovery: Option<Box<SocketRecovery>>,
    ) -> Self {
        let codec = crate::client::codec(&conn);
        // A Socket.IO 2 client computes its socket's id from the Engine.IO id (and its
        // namespace, see `client_id`); later clients get a fresh one.
        let id = match codec.revision() {
            Revision::V4 => conn.id(),
            _ => Sid::new(),
        };
        Self::with_id(id, codec, ns, conn, auth, recovery)
    }

    /// A socket brought back by connection state recovery: the session's id and data (the
    /// caller joins its rooms).
    pub(crate) fn restored(
        ns: Namespace,
        conn: Arc<engine::Socket<ConnState>>,
        auth: Option<Args>,
        session: &crate::adapter::PersistedSession,
        recovery: Box<SocketRecovery>,
    ) -> Self {
        let codec = crate::client::codec(&conn);
        let socket = Self::with_id(session.sid, codec, ns, conn, auth, Some(recovery));
        if !session.data.is_null() {
            *lock(&socket.data) = Some(session.data.clone());
        }
        socket
    }

    fn with_id(
        id: Sid,
        codec: Codec,
        ns: Namespace,
        conn: Arc<engine::Socket<ConnState>>,
        auth: Option<Args>,
        recovery: Option<Box<SocketRecovery>>,
    ) -> Self {
        Self {
            id,
            ns,
            codec,
            conn,
            auth,
            issued: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            connected: AtomicBool::new(false),
            listeners: RwLock::default(),
            any_incoming: RwLock::default(),
            any_outgoing: RwLock::default(),
            packet_middlewares: RwLock::default(),
            on_disconnect: Mutex::default(),
            on_disconnecting: Mutex::default(),
            acks: Mutex::default(),
            data: Mutex::default(),
            extensions: Mutex::default(),
            recovery,
        }
    }

    /// The socket's id: unique and unguessable; also the name of a room it is always in.
    ///
    /// For a Socket.IO 2 client it is the Engine.IO id of its connection (as Node's), and
    /// in a namespace other than `/` the client knows its socket as `<nsp>#<id>`: see
    /// [`client_id`](Socket::client_id). Both name its room.
    pub fn id(&self) -> Sid {
        self.id
    }

    /// The id as the client knows it (Node's `socket.id`): [`id`](Socket::id), except for
    /// a Socket.IO 2 client in a namespace other than `/`, which computes `<nsp>#<id>`
    /// itself. Send this one to clients that compare it with their own `socket.id`; as a
    /// room it reaches this socket, as `id` does.
    ///
    /// ```no_run
    /// # use tower_socketio::{SocketIo, SocketRef, extract::AckSender};
    /// # fn f(io: SocketIo) {
    /// io.ns("/chat", async |socket: SocketRef| {
    ///     // A 2.x client reads "/chat#<engine id>", later clients the plain id.
    ///     socket.emit("you-are", &socket.client_id()).ok();
    /// });
    /// # }
    /// ```
    pub fn client_id(&self) -> String {
        match self.prefixed_id() {
            true => format!("{}#{}", self.ns.name(), self.id),
            false => self.id.to_string(),
        }
    }

    /// Whether the client knows this socket by `<nsp>#<id>` (Socket.IO 2, not in `/`).
    pub(crate) fn prefixed_id(&self) -> bool {
        self.codec.revision() == Revision::V4 && self.ns.name() != "/"
    }

    /// The namespace's name, e.g. `/` or `/chat`.
    pub fn ns(&self) -> &str {
        self.ns.name()
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The server.
    pub fn io(&self) -> SocketIo {
        self.ns.io()
    }

    /// Whether the socket is still connected to its namespace.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether this socket was brought back by connection state recovery (Node's
    /// `socket.recovered`): its client reconnected in time after a drop, and the socket has
    /// its former id, rooms and data, and got the broadcasts it missed. Always false when
    /// [`connection_state_recovery`](crate::SocketIoBuilder::connection_state_recovery) is off.
    ///
    /// The connection handler runs for a recovered socket too: check it before setting the
    /// socket up again.
    ///
    /// ```no_run
    /// # use tower_socketio::{SocketIo, SocketRef};
    /// # fn f(io: SocketIo) {
    /// io.ns("/", async |socket: SocketRef| {
    ///     if !socket.recovered() {
    ///         socket.join("lobby");
    ///         socket.set_data(&serde_json::json!({ "joined": true })).ok();
    ///     }
    /// });
    /// # }
    /// ```
    pub fn recovered(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.recovered)
    }

    /// The underlying Engine.IO connection (Node's `socket.conn` / `socket.client`).
    pub fn conn(&self) -> Conn<'_> {
        Conn::new(&self.conn)
    }

    /// The transport the connection uses now.
    pub fn transport(&self) -> TransportType {
        self.conn.transport()
    }

    /// The handshake request's parts: method, URI, headers, and the extensions that tower
    /// layers in front of the server put there.
    pub fn req_parts(&self) -> &http::request::Parts {
        self.conn.req_parts()
    }

    // ----- listeners -----

    /// Adds a listener for an event. Several listeners of one event run in the order added.
    pub fn on<H, T>(&self, event: impl Into<String>, handler: H)
    where
        H: Handler<MessageParts, T, ()>,
        T: Send + 'static,
    {
        self.add_listener(event.into(), erase(handler), false);
    }

    /// Adds a listener that runs for the next occurrence of the event only.
    pub fn once<H, T>(&self, event: impl Into<String>, handler: H)
    where
        H: Handler<MessageParts, T, ()>,
        T: Send + 'static,
    {
        self.add_listener(event.into(), erase(handler), true);
    }

    fn add_listener(&self, event: String, handler: BoxedHandler<MessageParts, ()>, once: bool) {
        write(&self.listeners).push(Listener {
            event: event.into_boxed_str(),
            handler,
            once,
        });
    }

    /// Removes every listener of an event (Node's `removeAllListeners(event)`).
    pub fn off(&self, event: &str) {
        write(&self.listeners).retain(|l| &*l.event != event);
    }

    /// Removes every listener of every event, and the catch-all listeners.
    pub fn off_all(&self) {
        write(&self.listeners).clear();
        write(&self.any_incoming).clear();
        write(&self.any_outgoing).clear();
    }

    /// The events that have listeners.
    pub fn event_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for l in read(&self.listeners).iter() {
            if !names.iter().any(|n| **n == *l.event) {
                names.push(l.event.to_string());
            }
        }
        names
    }

    /// Adds a catch-all listener for incoming events (Node's `onAny`). Take the event name
    /// with the [`Event`](crate::extract::Event) extractor.
    pub fn on_any<H, T>(&self, handler: H)
    where
        H: Handler<MessageParts, T, ()>,
        T: Send + 'static,
    {
        write(&self.any_incoming).push(erase(handler));
    }

    /// Adds a catch-all listener for outgoing events (Node's `onAnyOutgoing`).
    pub fn on_any_outgoing(&self, listener: impl Fn(&str, &Args) + Send + Sync + 'static) {
        write(&self.any_outgoing).push(Arc::new(listener));
    }

    /// Removes the catch-all listeners (incoming and outgoing).
    pub fn off_any(&self) {
        write(&self.any_incoming).clear();
        write(&self.any_outgoing).clear();
    }

    /// Adds a packet middleware (Node's `socket.use`): it runs for every incoming event before
    /// the listeners, may change the event, or refuse it with an error message, which the
    /// client receives as an `error` event with `{"message": ...}`.
    pub fn use_(
        &self,
        middleware: impl Fn(&SocketRef, &mut IncomingEvent) -> Result<(), String>
        + Send
        + Sync
        + 'static,
    ) {
        write(&self.packet_middlewares).push(Arc::new(middleware));
    }

    /// Adds a listener that runs when the socket has left (Node's `disconnect` event).
    pub fn on_disconnect<H, T>(&self, handler: H)
    where
        H: Handler<DisconnectParts, T, ()>,
        T: Send + 'static,
    {
        lock(&self.on_disconnect).push(erase(handler));
    }

    /// Adds a listener that runs when the socket is about to leave, rooms still readable
    /// (Node's `disconnecting` event).
    pub fn on_disconnecting<H, T>(&self, handler: H)
    where
        H: Handler<DisconnectParts, T, ()>,
        T: Send + 'static,
    {
        lock(&self.on_disconnecting).push(erase(handler));
    }

    // ----- operators -----

    fn operators(self: &Arc<Self>) -> BroadcastOperators {
        BroadcastOperators::from_socket(self.clone())
    }

    /// Targets a room (or several): the event reaches its members except this socket.
    pub fn to(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.operators().to(rooms)
    }

    /// Same as [`to`](Socket::to) (Node's `in`).
    pub fn within(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.operators().to(rooms)
    }

    /// Same as [`to`](Socket::to) (Node's `in`).
    pub fn in_(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.operators().to(rooms)
    }

    /// Leaves the members of rooms out of the broadcast.
    pub fn except(self: &Arc<Self>, rooms: impl IntoRooms) -> BroadcastOperators {
        self.operators().except(rooms)
    }

    /// Targets every socket of the namespace but this one.
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperators {
        self.operators().broadcast()
    }

    /// Only this server's sockets (with a cluster adapter).
    pub fn local(self: &Arc<Self>) -> BroadcastOperators {
        self.operators().local()
    }

    /// The event is dropped, not queued, when the transport is not writable now.
    pub fn volatile(self: &Arc<Self>) -> BroadcastOperators {
        self.operators().volatile()
    }

    /// Whether the event may be compressed.
    pub fn compress(self: &Arc<Self>, compress: bool) -> BroadcastOperators {
        self.operators().compress(compress)
    }

    /// The time to wait for acknowledgements.
    pub fn timeout(self: &Arc<Self>, timeout: Duration) -> BroadcastOperators {
        self.operators().timeout(timeout)
    }

    // ----- rooms -----

    /// Joins one or many rooms.
    pub fn join(&self, rooms: impl IntoRooms) {
        self.ns.adapter().add_all(self.id, &rooms.into_rooms());
    }

    /// Leaves one or many rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        self.ns.adapter().del(self.id, &rooms.into_rooms());
    }

    /// Leaves every room but its own.
    pub fn leave_all(&self) {
        self.ns.adapter().del_all(self.id);
    }

    /// The rooms the socket is in, its own id first.
    pub fn rooms(&self) -> Vec<Room> {
        let mut rooms = self.ns.adapter().socket_rooms(self.id);
        if self.prefixed_id() {
            // The own room under the name the client knows.
            let own = self.id.to_string();
            match rooms.iter_mut().find(|r| r.as_ref() == own) {
                Some(r) => *r = Room::Owned(self.client_id()),
                None => rooms.insert(0, Room::Owned(self.client_id())),
            }
        }
        rooms
    }

    // ----- data -----

    /// Stores serializable data with the socket (Node's `socket.data`); other servers of a
    /// cluster see it through `fetch_sockets`.
    pub fn set_data<T: Serialize>(&self, data: &T) -> Result<(), serde_json::Error> {
        *lock(&self.data) = Some(serde_json::to_value(data)?);
        observe!(self.events() => |e| e.data_updated(self));
        Ok(())
    }

    /// The data stored with [`set_data`](Socket::set_data), if any and if it fits `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Option<T> {
        lock(&self.data)
            .as_ref()
            .and_then(|v| T::deserialize(v).ok())
    }

    /// Typed values kept with the socket on this server (not shared with a cluster; see
    /// [`set_data`](Socket::set_data) for that). Returns the previous value of the type.
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        lock(&self.extensions).insert(value)
    }

    /// A clone of the typed value of that type kept with the socket.
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        lock(&self.extensions).get::<T>().cloned()
    }

    /// Removes the typed value of that type kept with the socket.
    pub fn remove_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        lock(&self.extensions).remove::<T>()
    }

    // ----- disconnecting -----

    /// Leaves the namespace (Node's `socket.disconnect()`): the client gets a DISCONNECT
    /// packet and the reason is `server namespace disconnect`.
    pub fn disconnect(self: &Arc<Self>) {
        self.disconnect_with(false);
    }

    /// Node's `socket.disconnect(close)`: with `close`, the whole connection closes (every
    /// namespace on it).
    pub fn disconnect_with(self: &Arc<Self>, close: bool) {
        if close {
            crate::client::disconnect_all(&self.conn);
        } else if self.connected() {
            let _ =
                crate::client::send_packet(&self.conn, &self.codec.encode_disconnect(self.ns()));
            crate::client::remove_socket(&self.conn, self.ns());
            self.close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    // ----- internals -----

    pub(crate) fn conn_arc(&self) -> &Arc<engine::Socket<ConnState>> {
        &self.conn
    }

    /// The codec of the socket's connection.
    pub(crate) fn codec(&self) -> Codec {
        self.codec
    }

    /// The development-mode observer of the server, if it is instrumented so.
    #[cfg(feature = "admin-ui")]
    #[inline]
    pub(crate) fn events(&self) -> Option<&dyn crate::observe::SocketEvents> {
        crate::client::observer(&self.conn).and_then(|o| o.events.as_deref())
    }

    pub(crate) fn set_connected(&self) {
        if let Some(r) = &self.recovery {
            r.registered.store(true, Ordering::Release);
        }
        self.connected.store(true, Ordering::Release);
    }

    /// What the socket keeps for connection state recovery, when it is on.
    pub(crate) fn recovery(&self) -> Option<&SocketRecovery> {
        self.recovery.as_deref()
    }

    /// The private session id (connection state recovery), when the socket has one.
    pub(crate) fn pid(&self) -> Option<Sid> {
        self.recovery.as_ref().map(|r| r.pid)
    }

    /// The session to persist when the socket leaves for `reason`: with recovery on and a
    /// recoverable reason (Node's list), its id, pid, rooms (own id first) and data.
    fn session_to_persist(
        &self,
        reason: DisconnectReason,
    ) -> Option<crate::adapter::PersistedSession> {
        let pid = self.pid()?;
        if !reason.is_recoverable() {
            return None;
        }
        let data = lock(&self.data).clone().unwrap_or(serde_json::Value::Null);
        Some(crate::adapter::PersistedSession::new(
            self.id,
            pid,
            self.rooms(),
            data,
        ))
    }

    /// Runs the disconnect sequence once: `disconnecting` listeners (rooms still readable),
    /// rooms left, the session persisted (connection state recovery, recoverable reasons),
    /// removed from the namespace, pending acks failed, `disconnect` listeners.
    pub(crate) fn close(self: &Arc<Self>, reason: DisconnectReason) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        tracing::debug!(sid = %self.id, ns = %self.ns(), %reason, "socket disconnected");
        let disconnecting: Vec<_> = std::mem::take(&mut *lock(&self.on_disconnecting));
        let disconnect: Vec<_> = std::mem::take(&mut *lock(&self.on_disconnect));
        let me = self.clone();
        let run = async move {
            for h in disconnecting {
                if let Some(f) = h.call(DisconnectParts {
                    socket: me.clone(),
                    reason,
                }) {
                    f.await;
                }
            }
            let session = me.session_to_persist(reason);
            observe!(me.events() => |e| e.socket_disconnected(&me, reason));
            me.ns.adapter().del_all(me.id);
            if let Some(session) = session {
                // Persisted after the rooms are left, so that a restore (which rejoins them)
                // cannot race with this socket leaving them.
                tracing::debug!(sid = %me.id, ns = %me.ns(), "session persisted");
                if let Err(e) = me.ns.adapter().persist_session(session).await {
                    tracing::warn!(sid = %me.id, ns = %me.ns(), error = %e, "could not persist the session");
                }
            }
            me.ns.remove_socket(&me);
            let pending: Vec<AckSlot> = lock(&me.acks).map.drain().map(|(_, s)| s).collect();
            for slot in pending {
                slot.resolve(Err(AckError::Disconnected));
            }
            for h in disconnect {
                if let Some(f) = h.call(DisconnectParts {
                    socket: me.clone(),
                    reason,
                }) {
                    f.await;
                }
            }
            me.off_all();
            write(&me.packet_middlewares).clear();
        };
        let span = tracing::debug_span!("disconnect", sid = %self.id, ns = %self.ns(), %reason);
        crate::client::spawn_ordered_later(
            &self.conn,
            Box::pin(tracing::Instrument::instrument(run, span)),
        );
    }
}
