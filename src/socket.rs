//! Sockets: one client's presence in one namespace.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::oneshot;

use crate::SocketIo;
use crate::ack::{AckError, AckFuture, AckSlot, AckWaiter};
use crate::adapter::Room;
use crate::client::{Conn, ConnState};
use crate::engine::{self, Message, SendError, Sid, Str, TransportType};
use crate::handler::{BoxedHandler, DisconnectParts, Handler, MessageParts, erase};
use crate::ns::Namespace;
use crate::operators::BroadcastOperators;
use crate::protocol::{self, Args, Encoded};
use crate::rooms::IntoRooms;
use crate::util::{lock, read, write};

/// A handle to a connected socket; cheap to clone.
pub type SocketRef = Arc<Socket>;

/// Why a socket left its namespace. The strings are Node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection.
    TransportClose,
    /// The connection failed.
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent a packet that could not be decoded or broke the protocol.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server made the socket leave (`socket.disconnect()` on the server).
    ServerNamespaceDisconnect,
    /// The server closed the connection.
    ForcedClose,
}

impl DisconnectReason {
    /// The reason as Node's server names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ForcedClose => "forced close",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<engine::DisconnectReason> for DisconnectReason {
    fn from(r: engine::DisconnectReason) -> Self {
        use engine::DisconnectReason as E;
        match r {
            E::TransportClose => DisconnectReason::TransportClose,
            E::TransportError => DisconnectReason::TransportError,
            E::HeartbeatTimeout => DisconnectReason::PingTimeout,
            E::PacketParsingError => DisconnectReason::ParseError,
            E::ClosingServer => DisconnectReason::ServerShuttingDown,
            _ => DisconnectReason::ForcedClose,
        }
    }
}

/// The handshake of a socket, with the fields of Node's `socket.handshake`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The request headers (names in lower case; repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// When the handshake happened, as text.
    pub time: String,
    /// The client's address (empty when unknown).
    pub address: String,
    /// Whether the request was cross-domain (it carried an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection was secure (TLS, as seen through `x-forwarded-proto` too).
    pub secure: bool,
    /// When the handshake happened, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// The request URL (path and query).
    pub url: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The CONNECT payload (`{}` when none).
    pub auth: serde_json::Value,
}

/// An error from emitting an event.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmitError {
    /// Reserved event names (`connect`, `disconnect`, …) cannot be emitted.
    ReservedEvent(String),
    /// The value could not be encoded.
    Encode(protocol::EncodeError),
    /// The packet could not be queued (the socket is gone or its queue is full).
    Send(SendError),
    /// The adapter failed (cluster).
    Adapter(crate::adapter::AdapterError),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::ReservedEvent(e) => write!(f, "\"{e}\" is a reserved event name"),
            EmitError::Encode(e) => write!(f, "the event could not be encoded: {e}"),
            EmitError::Send(e) => write!(f, "the event could not be sent: {e}"),
            EmitError::Adapter(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EmitError {}

struct Listener {
    handler: BoxedHandler<MessageParts, ()>,
    once: bool,
}

/// A packet middleware (`socket.use`): sees every incoming event first, may change it or
/// refuse it.
pub(crate) type PacketMiddleware =
    Arc<dyn Fn(&SocketRef, &mut IncomingEvent) -> Result<(), String> + Send + Sync + 'static>;

/// An outgoing catch-all listener: called with the event name and its arguments.
pub(crate) type OutgoingListener = Arc<dyn Fn(&str, &Args) + Send + Sync + 'static>;

/// An incoming event as packet middleware sees it.
#[derive(Debug)]
pub struct IncomingEvent {
    /// The event name.
    pub event: String,
    /// The arguments.
    pub args: Args,
}

impl IncomingEvent {
    /// Replaces the arguments with a new value (spread like an emit's data).
    pub fn set_args<T: Serialize + ?Sized>(
        &mut self,
        data: &T,
    ) -> Result<(), protocol::EncodeError> {
        self.args = Args::from_serialize(data)?;
        Ok(())
    }
}

#[derive(Default)]
struct AckMap {
    map: HashMap<u64, AckSlot>,
    purge_at: usize,
}

/// A client connected to a namespace.
///
/// Handlers receive it as [`SocketRef`]. Names follow Node's: [`emit`](Socket::emit),
/// [`join`](Socket::join), [`to`](Socket::to), [`broadcast`](Socket::broadcast), …
pub struct Socket {
    id: Sid,
    ns: Namespace,
    conn: Arc<engine::Socket<ConnState>>,
    auth: Option<Str>,
    issued: SystemTime,
    connected: AtomicBool,
    listeners: RwLock<HashMap<String, Vec<Listener>>>,
    any_incoming: RwLock<Vec<BoxedHandler<MessageParts, ()>>>,
    any_outgoing: RwLock<Vec<OutgoingListener>>,
    packet_middlewares: RwLock<Vec<PacketMiddleware>>,
    on_disconnect: Mutex<Vec<BoxedHandler<DisconnectParts, ()>>>,
    on_disconnecting: Mutex<Vec<BoxedHandler<DisconnectParts, ()>>>,
    acks: Mutex<AckMap>,
    data: Mutex<Option<serde_json::Value>>,
    extensions: Mutex<http::Extensions>,
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
        auth: Option<Str>,
    ) -> Self {
        Self {
            id: Sid::new(),
            ns,
            conn,
            auth,
            issued: SystemTime::now(),
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
        }
    }

    /// The socket's id: unique and unguessable; also the name of a room it is always in.
    pub fn id(&self) -> Sid {
        self.id
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

    /// The handshake, with Node's fields.
    pub fn handshake(&self) -> Handshake {
        let parts = self.conn.req_parts();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let v = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|e| {
                    e.push_str(", ");
                    e.push_str(&v);
                })
                .or_insert_with(|| v.into_owned());
        }
        let query = parts
            .uri
            .query()
            .map(crate::util::parse_query)
            .unwrap_or_default();
        let issued = self
            .issued
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secure = parts.uri.scheme_str() == Some("https")
            || parts
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        Handshake {
            xdomain: parts.headers.contains_key(http::header::ORIGIN),
            headers,
            time: crate::util::http_date(issued.as_secs()),
            address: self
                .conn
                .remote_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            secure,
            issued: issued.as_millis() as u64,
            url: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            query,
            auth: self
                .auth
                .as_ref()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        }
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
        write(&self.listeners)
            .entry(event)
            .or_default()
            .push(Listener { handler, once });
    }

    /// Removes every listener of an event (Node's `removeAllListeners(event)`).
    pub fn off(&self, event: &str) {
        write(&self.listeners).remove(event);
    }

    /// Removes every listener of every event, and the catch-all listeners.
    pub fn off_all(&self) {
        write(&self.listeners).clear();
        write(&self.any_incoming).clear();
        write(&self.any_outgoing).clear();
    }

    /// The events that have listeners.
    pub fn event_names(&self) -> Vec<String> {
        read(&self.listeners).keys().cloned().collect()
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

    // ----- emitting -----

    /// Emits an event to this client. A tuple is sent as several arguments, `()` as none,
    /// anything else as one argument; `Bytes` anywhere in `data` go as binary attachments.
    ///
    /// Returns `SendError::Full` in [`EmitError::Send`] when the client reads too slowly
    /// and its queue is full (`max_buffered_bytes`); [`emit_wait`](Socket::emit_wait)
    /// waits for room instead.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let packet = self.encode_event(event, data, None)?;
        self.send_encoded(&packet).map_err(EmitError::Send)
    }

    /// Like [`emit`](Socket::emit), but waits for room when the client's queue is full
    /// instead of failing: backpressure, as awaiting a Node stream's `drain`. (Node's
    /// `emit` buffers without bound; ours buffers up to `max_buffered_bytes`, then this
    /// waits while the client catches up.) Fails only when `data` cannot be encoded or
    /// the connection closes.
    ///
    /// ```no_run
    /// # async fn f(socket: tower_socketio::SocketRef) {
    /// for chunk in 0..10_000u32 {
    ///     if socket.emit_wait("chunk", &chunk).await.is_err() {
    ///         break; // disconnected
    ///     }
    /// }
    /// # }
    /// ```
    pub fn emit_wait<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> impl std::future::Future<Output = Result<(), EmitError>> + Send + '_ {
        let packet = self.encode_event(event, data, None);
        async move {
            let packet = packet?;
            self.conn
                .send_batch_wait(EncodedMessages::new(&packet))
                .await
                .map_err(EmitError::Send)
        }
    }

    /// Emits a `message` event (Node's `socket.send`).
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data)
    }

    /// Emits an event and waits for the client's acknowledgement, up to the server's
    /// `ack_timeout` (see [`timeout`](Socket::timeout) for another).
    pub fn emit_with_ack<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
    ) -> AckFuture<R> {
        self.emit_with_ack_inner(event, data, self.ns.ack_timeout(), false)
    }

    /// Like [`emit_with_ack`](Socket::emit_with_ack), waiting up to `timeout` (Node's
    /// `socket.timeout(ms).emit(event, data, callback)` for one socket).
    pub fn emit_with_ack_timeout<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> AckFuture<R> {
        self.emit_with_ack_inner(event, data, timeout, false)
    }

    pub(crate) fn emit_with_ack_inner<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
        volatile: bool,
    ) -> AckFuture<R> {
        let id = self.ns.next_ack_id();
        let packet = match self.encode_event(event, data, Some(id)) {
            Ok(p) => p,
            Err(EmitError::Encode(e)) => return AckFuture::failed(AckError::Encode(e)),
            Err(EmitError::Send(e)) => return AckFuture::failed(AckError::Send(e)),
            Err(EmitError::ReservedEvent(e)) => {
                return AckFuture::failed(AckError::ReservedEvent(e));
            }
            Err(EmitError::Adapter(e)) => return AckFuture::failed(AckError::Adapter(e)),
        };
        let (tx, rx) = oneshot::channel();
        self.register_ack(id, AckSlot::Single(tx));
        let sent = if volatile {
            if self.conn.send_volatile(EncodedMessages::new(&packet)) {
                Ok(())
            } else {
                Err(SendError::Full)
            }
        } else {
            self.send_encoded(&packet)
        };
        if let Err(e) = sent {
            self.unregister_ack(id);
            return AckFuture::failed(AckError::Send(e));
        }
        AckFuture::new(rx, timeout)
    }

    pub(crate) fn encode_event<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        ack: Option<u64>,
    ) -> Result<Encoded, EmitError> {
        if protocol::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let packet =
            protocol::encode_event(self.ns(), event, data, ack).map_err(EmitError::Encode)?;
        self.notify_outgoing(event, data);
        Ok(packet)
    }

    fn notify_outgoing<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        let listeners = read(&self.any_outgoing);
        if listeners.is_empty() {
            return;
        }
        if let Ok(args) = Args::from_serialize(data) {
            for l in listeners.iter() {
                l(event, &args);
            }
        }
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
        self.ns.adapter().socket_rooms(self.id)
    }

    // ----- data -----

    /// Stores serializable data with the socket (Node's `socket.data`); other servers of a
    /// cluster see it through `fetch_sockets`.
    pub fn set_data<T: Serialize>(&self, data: &T) -> Result<(), serde_json::Error> {
        *lock(&self.data) = Some(serde_json::to_value(data)?);
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
            let _ = self
                .conn
                .send(Message::Text(protocol::encode_disconnect(self.ns())));
            crate::client::remove_socket(&self.conn, self.ns());
            self.close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    // ----- internals -----

    pub(crate) fn conn_arc(&self) -> &Arc<engine::Socket<ConnState>> {
        &self.conn
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn send_encoded(&self, packet: &Encoded) -> Result<(), SendError> {
        if !self.connected() && self.ns.get_socket(self.id).is_none() && self.conn.is_closed() {
            return Err(SendError::Closed);
        }
        self.conn.send_batch(EncodedMessages::new(packet))
    }

    /// Sends a broadcast packet; `false` when it was not delivered. A socket whose queue is
    /// full for a non-volatile broadcast is disconnected: a slow reader must not make the
    /// server buffer without bound nor slow the others.
    pub(crate) fn send_broadcast(&self, packet: &Encoded, volatile: bool) -> bool {
        if volatile {
            return self.conn.send_volatile(EncodedMessages::new(packet));
        }
        match self.conn.send_batch(EncodedMessages::new(packet)) {
            Ok(()) => true,
            Err(SendError::Full) => {
                tracing::warn!(sid = %self.id, ns = %self.ns(), "outgoing queue full: closing the slow connection");
                crate::client::close_connection(
                    &self.conn,
                    engine::DisconnectReason::TransportError,
                );
                false
            }
            Err(_) => false,
        }
    }

    pub(crate) fn register_ack(&self, id: u64, slot: impl Into<AckSlotArg>) {
        let slot = match slot.into() {
            AckSlotArg::Slot(s) => s,
            AckSlotArg::Waiter(w) => AckSlot::Multi(w),
        };
        let mut acks = lock(&self.acks);
        if acks.map.len() >= acks.purge_at.max(16) {
            acks.map.retain(|_, s| !s.is_closed());
            acks.purge_at = acks.map.len() * 2;
        }
        acks.map.insert(id, slot);
    }

    pub(crate) fn unregister_ack(&self, id: u64) {
        lock(&self.acks).map.remove(&id);
    }

    pub(crate) fn recv_ack(&self, id: u64, args: Args) {
        let slot = lock(&self.acks).map.remove(&id);
        match slot {
            Some(slot) => slot.resolve(Ok(args)),
            None => {
                tracing::debug!(sid = %self.id, ack = id, "acknowledgement for no pending emit")
            }
        }
    }

    /// Queues an incoming event in the connection's ordered task. The listeners are looked
    /// up there too, so an event that arrives right after CONNECT finds the listeners the
    /// connection handler registers before its first `.await`.
    pub(crate) fn recv_event(self: &Arc<Self>, event: Str, args: Args, ack: Option<u64>) {
        use tracing::Instrument as _;
        let span = tracing::debug_span!("event", sid = %self.id, ns = %self.ns(), event = %event);
        let me = self.clone();
        let run = async move {
            let mut running = me.start_event(event, args, ack);
            match running.len() {
                0 => {}
                1 => {
                    if let Some(f) = running.pop() {
                        f.await;
                    }
                }
                _ => {
                    futures_util::future::join_all(running).await;
                }
            }
        };
        crate::client::spawn_ordered(&self.conn, Box::pin(run.instrument(span)));
    }

    /// Runs the packet middleware and starts the listeners of an event.
    fn start_event(
        self: &Arc<Self>,
        event: Str,
        args: Args,
        ack: Option<u64>,
    ) -> Vec<crate::handler::BoxFuture<()>> {
        let mut running = Vec::new();
        let middlewares = read(&self.packet_middlewares).clone();
        let (event, args) = if middlewares.is_empty() {
            (event, args)
        } else {
            let mut incoming = IncomingEvent {
                event: event.to_string(),
                args,
            };
            for m in middlewares.iter() {
                if let Err(message) = m(self, &mut incoming) {
                    tracing::debug!(sid = %self.id, event = %incoming.event, %message, "event refused by middleware");
                    if let Ok(p) = protocol::encode_event(
                        self.ns(),
                        "error",
                        &serde_json::json!({ "message": message }),
                        None,
                    ) {
                        let _ = self.send_encoded(&p);
                    }
                    return running;
                }
            }
            (Str::from(incoming.event), incoming.args)
        };

        let mut dispatch =
            |handler: &BoxedHandler<MessageParts, ()>, args: Args, ack: Option<u64>| {
                let parts = MessageParts {
                    socket: self.clone(),
                    event: event.clone(),
                    args: Some(args),
                    ack,
                };
                if let Some(fut) = handler.call(parts) {
                    running.push(fut);
                }
            };

        let any: Vec<BoxedHandler<MessageParts, ()>> = {
            let any = read(&self.any_incoming);
            if any.is_empty() {
                Vec::new()
            } else {
                any.clone()
            }
        };
        for h in &any {
            dispatch(h, args.clone(), None);
        }

        let handlers: Vec<BoxedHandler<MessageParts, ()>> = {
            let mut listeners = write(&self.listeners);
            match listeners.get_mut(event.as_str()) {
                Some(list) => {
                    let hs = list.iter().map(|l| l.handler.clone()).collect();
                    list.retain(|l| !l.once);
                    if list.is_empty() {
                        listeners.remove(event.as_str());
                    }
                    hs
                }
                None => Vec::new(),
            }
        };
        if handlers.is_empty() {
            tracing::debug!(sid = %self.id, ns = %self.ns(), event = %event, "no listener for event");
            return running;
        }
        let last = handlers.len() - 1;
        let mut args = Some(args);
        for (i, h) in handlers.iter().enumerate() {
            // Only the first listener may answer the acknowledgement, as in Node.
            let a = if i == last { args.take() } else { args.clone() };
            dispatch(h, a.unwrap_or_default(), if i == 0 { ack } else { None });
        }
        running
    }

    /// Runs the disconnect sequence once: `disconnecting` listeners (rooms still readable),
    /// rooms left, removed from the namespace, pending acks failed, `disconnect` listeners.
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
            me.ns.adapter().del_all(me.id);
            me.ns.remove_socket(me.id);
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

    pub(crate) fn to_remote(self: &Arc<Self>) -> RemoteSocket {
        RemoteSocket {
            id: self.id,
            handshake: self.handshake(),
            rooms: self.rooms(),
            data: lock(&self.data).clone().unwrap_or(serde_json::Value::Null),
            ns: Some(self.ns.clone()),
        }
    }
}

pub(crate) enum AckSlotArg {
    Slot(AckSlot),
    Waiter(AckWaiter),
}

impl From<AckSlot> for AckSlotArg {
    fn from(s: AckSlot) -> Self {
        AckSlotArg::Slot(s)
    }
}

impl From<AckWaiter> for AckSlotArg {
    fn from(w: AckWaiter) -> Self {
        AckSlotArg::Waiter(w)
    }
}

/// The Engine.IO messages of one encoded packet: its text, then its attachments.
pub(crate) struct EncodedMessages<'a> {
    packet: &'a Encoded,
    next: usize,
}

impl<'a> EncodedMessages<'a> {
    pub(crate) fn new(packet: &'a Encoded) -> Self {
        Self { packet, next: 0 }
    }
}

impl Iterator for EncodedMessages<'_> {
    type Item = Message;
    fn next(&mut self) -> Option<Message> {
        let i = self.next;
        self.next += 1;
        if i == 0 {
            Some(Message::Text(self.packet.text.clone()))
        } else {
            self.packet
                .attachments
                .get(i - 1)
                .map(|b: &Bytes| Message::Binary(b.clone()))
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (1 + self.packet.attachments.len()).saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for EncodedMessages<'_> {}

/// A socket as `fetch_sockets` returns it: on this server or another one of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: Sid,
    /// Its handshake.
    pub handshake: Handshake,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its data (see [`Socket::set_data`]).
    pub data: serde_json::Value,
    #[serde(skip)]
    pub(crate) ns: Option<Namespace>,
}

impl RemoteSocket {
    fn target(&self) -> Option<BroadcastOperators> {
        self.ns.as_ref().map(|ns| ns.to(self.id))
    }

    /// Emits an event to this socket, wherever it is.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        match self.target() {
            Some(op) => op.emit(event, data).await,
            None => Err(EmitError::Send(SendError::Closed)),
        }
    }

    /// Makes this socket join rooms, wherever it is.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.join(rooms).await,
            None => Ok(()),
        }
    }

    /// Makes this socket leave rooms, wherever it is.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.leave(rooms).await,
            None => Ok(()),
        }
    }

    /// Disconnects this socket, wherever it is; `close` closes its whole connection.
    pub async fn disconnect(&self, close: bool) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.disconnect(close).await,
            None => Ok(()),
        }
    }
}
