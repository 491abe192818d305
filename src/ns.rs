//! Namespaces: `/`, `/chat`, … multiplexed over one connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use serde::Serialize;

use crate::ack::AckStream;
use crate::adapter::{
    Adapter, AdapterError, AdapterFactory, LocalNamespace, LocalSocketRef, NamespaceHandle,
    RecoveryStats, Room,
};
use crate::client::ConnState;
use crate::engine::{self, Sid, Str};
use crate::handler::{BoxFuture, BoxedHandler, ConnectParts, Handler, IntoConnectError, erase};
use crate::io::IoInner;
use crate::operators::BroadcastOperators;
use crate::protocol::Args;
use crate::recovery::{ConnectionStateRecovery, Recovery, SocketRecovery, recovery_request};
use crate::rooms::IntoRooms;
use crate::server_side::{ServerSideAck, ServerSideEvent, ServerSideListener};
use crate::socket::{EmitError, RemoteSocket, Socket, SocketRef};
use crate::util::{read, write};
use crate::{ConnectError, SocketIo};

pub(crate) type Middleware =
    Arc<dyn Fn(ConnectParts) -> Option<BoxFuture<Result<(), ConnectError>>> + Send + Sync>;

/// Connect middleware and handler, shared by a dynamic namespace's children.
#[derive(Default)]
pub(crate) struct NsHandlers {
    pub(crate) handler: RwLock<Option<BoxedHandler<ConnectParts, ()>>>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
}

pub(crate) struct NsInner {
    name: Str,
    io: Weak<IoInner>,
    handlers: Arc<NsHandlers>,
    sockets: RwLock<HashMap<Sid, SocketRef>>,
    adapter: OnceLock<Arc<dyn Adapter>>,
    ack_ids: AtomicU64,
    server_listeners: RwLock<HashMap<String, Vec<ServerSideListener>>>,
    /// The server's connection state recovery settings, when it is on.
    recovery: Option<ConnectionStateRecovery>,
}

pub(crate) fn push_middleware<H, T, E>(handlers: &NsHandlers, middleware: H)
where
    H: Handler<ConnectParts, T, Result<(), E>>,
    T: Send + 'static,
    E: IntoConnectError + Send + 'static,
{
    let h = erase::<ConnectParts, Result<(), E>, H, T>(middleware);
    let m: Middleware = Arc::new(move |parts| {
        h.call(parts)
            .map(|f| -> BoxFuture<Result<(), ConnectError>> {
                Box::pin(async move { f.await.map_err(IntoConnectError::into_connect_error) })
            })
    });
    write(&handlers.middlewares).push(m);
}

/// A namespace (Node's `io.of(name)`): its sockets, middleware, rooms and broadcasts.
/// Cheap to clone.
#[derive(Clone)]
pub struct Namespace(Arc<NsInner>);

/// A weak handle to a namespace: it does not keep the namespace alive.
#[derive(Clone)]
pub struct WeakNamespace(Weak<NsInner>);

impl WeakNamespace {
    /// The namespace, if it still exists.
    pub fn upgrade(&self) -> Option<Namespace> {
        self.0.upgrade().map(Namespace)
    }
}

impl std::fmt::Debug for WeakNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakNamespace")
    }
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: Str,
        io: Weak<IoInner>,
        handlers: Arc<NsHandlers>,
        factory: &dyn AdapterFactory,
        recovery: Option<ConnectionStateRecovery>,
    ) -> Self {
        let ns = Namespace(Arc::new(NsInner {
            name,
            io,
            handlers,
            sockets: RwLock::default(),
            adapter: OnceLock::new(),
            ack_ids: AtomicU64::new(0),
            server_listeners: RwLock::default(),
            recovery,
        }));
        let weak: Weak<NsInner> = Arc::downgrade(&ns.0);
        let mut handle = NamespaceHandle::new(ns.0.name.clone(), weak);
        if let Some(config) = &ns.0.recovery {
            handle = handle.with_connection_state_recovery(config.clone());
        }
        #[cfg(feature = "admin-ui")]
        if let Some(io) = ns.0.io.upgrade() {
            handle.events = io.observe.as_ref().and_then(|o| o.events.clone());
        }
        let adapter = factory.create(handle);
        let _ = ns.0.adapter.set(adapter);
        ns
    }

    /// The namespace's name, e.g. `/chat`.
    pub fn name(&self) -> &str {
        self.0.name.as_str()
    }

    /// The name as shared text (cloning it copies nothing).
    pub(crate) fn name_str(&self) -> &Str {
        &self.0.name
    }

    /// A weak handle.
    pub fn downgrade(&self) -> WeakNamespace {
        WeakNamespace(Arc::downgrade(&self.0))
    }

    /// The server.
    pub fn io(&self) -> SocketIo {
        SocketIo::from_inner(
            self.0
                .io
                .upgrade()
                .expect("the server outlives its namespaces"),
        )
    }

    /// The namespace's adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        self.0
            .adapter
            .get()
            .expect("the adapter is set when the namespace is created")
    }

    /// This server's sockets in the namespace (Node's `namespace.sockets`).
    pub fn sockets(&self) -> Vec<SocketRef> {
        read(&self.0.sockets).values().cloned().collect()
    }

    /// One of this server's sockets by id.
    pub fn get_socket(&self, sid: Sid) -> Option<SocketRef> {
        read(&self.0.sockets).get(&sid).cloned()
    }

    /// How many sockets of this server are in the namespace.
    pub fn len(&self) -> usize {
        read(&self.0.sockets).len()
    }

    /// Whether no socket of this server is in the namespace.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds connect middleware (Node's `namespace.use`). Middleware run in the order added,
    /// before the socket connects; an `Err` refuses the connection and reaches the client's
    /// `connect_error` with its message (and `data`, with a [`ConnectError`]). Returns the
    /// namespace, so that calls chain (as [`DynNamespace::use_`](crate::DynNamespace::use_)).
    pub fn use_<H, T, E>(&self, middleware: H) -> &Self
    where
        H: Handler<ConnectParts, T, Result<(), E>>,
        T: Send + 'static,
        E: IntoConnectError + Send + 'static,
    {
        push_middleware(&self.0.handlers, middleware);
        self
    }

    /// Sets the connection handler (Node's `connection` event).
    pub fn on_connection<H, T>(&self, handler: H)
    where
        H: Handler<ConnectParts, T, ()>,
        T: Send + 'static,
    {
        *write(&self.0.handlers.handler) = Some(erase(handler));
    }

    // ----- operators -----

    fn ops(&self) -> BroadcastOperators {
        BroadcastOperators::from_ns(self.clone())
    }

    /// Targets a room (or several).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.ops().to(rooms)
    }
    /// Same as [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.ops().to(rooms)
    }
    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.ops().to(rooms)
    }
    /// Leaves the members of rooms out.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.ops().except(rooms)
    }
    /// Only this server's sockets.
    pub fn local(&self) -> BroadcastOperators {
        self.ops().local()
    }
    /// Dropped, not queued, for sockets whose transport is not writable now.
    pub fn volatile(&self) -> BroadcastOperators {
        self.ops().volatile()
    }
    /// Whether the packet may be compressed.
    pub fn compress(&self, compress: bool) -> BroadcastOperators {
        self.ops().compress(compress)
    }
    /// How long to wait for acknowledgements.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperators {
        self.ops().timeout(timeout)
    }

    /// Emits to every socket of the namespace.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.ops().emit(event, data).await
    }
    /// Emits a `message` event to every socket of the namespace.
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.ops().send(data).await
    }
    /// Emits to every socket and gathers their acknowledgements.
    pub async fn emit_with_ack<R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> AckStream<R> {
        self.ops().emit_with_ack(event, data).await
    }
    /// Every socket of the namespace, on every server.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        self.ops().fetch_sockets().await
    }
    /// The ids of every socket of the namespace, on every server (Node's `clients`).
    pub async fn clients(&self) -> Result<Vec<Sid>, AdapterError> {
        self.ops().clients().await
    }
    /// Makes every socket join rooms (Node's `socketsJoin`).
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ops().join(rooms).await
    }
    /// Makes every socket leave rooms (Node's `socketsLeave`).
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ops().leave(rooms).await
    }
    /// Disconnects every socket (Node's `disconnectSockets`).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.ops().disconnect(close).await
    }
    /// The rooms with members on this server.
    pub fn rooms(&self) -> Vec<Room> {
        self.adapter().rooms()
    }

    /// What the adapter's connection state recovery store holds now (persisted sessions,
    /// stored packets and their bytes), when recovery is on and the adapter keeps it in this
    /// process (the in-memory adapter does); for metrics.
    pub fn recovery_stats(&self) -> Option<RecoveryStats> {
        self.adapter().recovery_stats()
    }

    // ----- between servers -----

    /// Sends an event to the *other* servers of the cluster (Node's `serverSideEmit`); their
    /// listeners added with [`on_server_side`](Self::on_server_side) run. `data` is spread
    /// like an emit's (a tuple is several arguments) and travels as JSON. Without a cluster
    /// adapter nobody receives it.
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        if crate::protocol::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let data = crate::server_side::json_args(event, data).map_err(EmitError::Encode)?;
        self.adapter()
            .server_side_emit(&data)
            .await
            .map_err(EmitError::Adapter)
    }

    /// Sends an event to the other servers and gathers one acknowledgement per server (Node's
    /// `serverSideEmitWithAck`). Fails with [`AdapterError::Timeout`] (inside
    /// [`AckError::Adapter`](crate::AckError::Adapter)) when some server did not answer in
    /// the adapter's request timeout; an answer that does not fit `R` is
    /// [`AckError::Decode`](crate::AckError::Decode).
    pub async fn server_side_emit_with_ack<R>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<Vec<R>, crate::AckError>
    where
        R: serde::de::DeserializeOwned,
    {
        use crate::AckError;
        if crate::protocol::is_reserved_event(event) {
            return Err(AckError::Encode(crate::protocol::EncodeError::custom(
                format!("\"{event}\" is a reserved event name"),
            )));
        }
        let data = crate::server_side::json_args(event, data).map_err(AckError::Encode)?;
        let replies = self
            .adapter()
            .server_side_emit_with_ack(&data)
            .await
            .map_err(AckError::Adapter)?;
        replies
            .into_iter()
            .map(|v| R::deserialize(v).map_err(|e| AckError::Decode(e.into())))
            .collect()
    }

    /// Adds a listener for events other servers send with
    /// [`server_side_emit`](Self::server_side_emit) (Node's `namespace.on(event)` for
    /// server-side events). Several listeners of one event all run; only the first may
    /// answer an acknowledgement.
    ///
    /// ```no_run
    /// # use tower_socketio::SocketIo;
    /// # fn f(io: SocketIo) {
    /// io.sockets().on_server_side("ping", async |mut ev| {
    ///     let n: u32 = ev.data().unwrap_or_default();
    ///     ev.ack(&(n + 1)).ok();
    /// });
    /// # }
    /// ```
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, listener: F)
    where
        F: Fn(ServerSideEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let l: ServerSideListener = Arc::new(move |ev| Box::pin(listener(ev)));
        write(&self.0.server_listeners)
            .entry(event.into())
            .or_default()
            .push(l);
    }

    /// Runs the server-side listeners of an event received from another server: `data` is
    /// the event name followed by its arguments. For cluster adapters; needs a Tokio
    /// runtime. Without a listener the event (and its acknowledgement) is dropped, as in
    /// Node.
    pub fn dispatch_server_side(&self, data: Vec<serde_json::Value>, ack: Option<ServerSideAck>) {
        self.0.dispatch_server_side(data, ack);
    }

    // ----- internals -----

    pub(crate) fn ack_timeout(&self) -> Duration {
        self.0
            .io
            .upgrade()
            .map(|io| io.config.ack_timeout)
            .unwrap_or(Duration::from_secs(5))
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.0.next_ack_id()
    }

    /// The server's parser (the wire form broadcasts are built in).
    pub(crate) fn parser(&self) -> crate::protocol::Parser {
        self.0
            .io
            .upgrade()
            .map(|io| io.config.parser)
            .unwrap_or_default()
    }

    /// Takes `socket` out of the namespace, unless another socket with its id (a
    /// recovered one) took its place.
    pub(crate) fn remove_socket(&self, socket: &SocketRef) {
        let mut sockets = write(&self.0.sockets);
        if sockets
            .get(&socket.id())
            .is_some_and(|s| Arc::ptr_eq(s, socket))
        {
            sockets.remove(&socket.id());
        }
    }

    /// Registers a socket whose middleware passed: broadcasts reach it from now on.
    pub(crate) fn register(&self, socket: &SocketRef) {
        write(&self.0.sockets).insert(socket.id(), socket.clone());
        self.adapter().socket_connected(socket.id());
        socket.set_connected();
        crate::observe::observe!(socket.events() => |e| e.socket_connected(socket));
    }

    /// The server's connection state recovery settings, when it is on.
    pub(crate) fn recovery_config(&self) -> Option<&ConnectionStateRecovery> {
        self.0.recovery.as_ref()
    }

    pub(crate) fn connect_handler(&self) -> Option<BoxedHandler<ConnectParts, ()>> {
        read(&self.0.handlers.handler).clone()
    }

    /// Runs the connect middleware in order; the first refusal ends it.
    pub(crate) async fn run_middlewares(
        &self,
        socket: &SocketRef,
        auth: &Option<Args>,
    ) -> Result<(), ConnectError> {
        let middlewares = read(&self.0.handlers.middlewares).clone();
        for m in middlewares {
            let parts = ConnectParts {
                socket: socket.clone(),
                auth: auth.clone(),
            };
            match m(parts) {
                Some(f) => f.await?,
                None => return Err(ConnectError::new("connection refused by the server")),
            }
        }
        Ok(())
    }

    /// Runs the connect middleware, then registers the socket, answers CONNECT and runs the
    /// connection handler. All of it in one ordered task of the connection, so that the
    /// handler's listeners are in place before any event of the client is looked up.
    ///
    /// With connection state recovery on, a client that presents a session (`pid` and
    /// `offset` in its CONNECT payload) is first tried for a recovery (see
    /// [`recover`](Self::recover)); a new socket gets a fresh private session id.
    pub(crate) async fn connect(
        self,
        conn: Arc<engine::Socket<ConnState>>,
        auth: Option<Args>,
    ) -> Result<SocketRef, ConnectError> {
        // Clients of a protocol without offsets (Socket.IO 2) never recover.
        let recovery = self
            .0
            .recovery
            .as_ref()
            .filter(|_| crate::client::codec(&conn).carries_offsets());
        if let Some(config) = recovery {
            if let Some((pid, offset)) = recovery_request(auth.as_ref()) {
                // Boxed: the recovery path's state stays out of every connect's future.
                match Box::pin(self.recover(&conn, &auth, pid, &offset, config)).await {
                    Recovery::Done(socket) => return Ok(socket),
                    Recovery::Refused(e) => return Err(e),
                    Recovery::Failed => {}
                }
            }
        }
        let pid = recovery.map(|_| SocketRecovery::new(Sid::new()));
        let socket: SocketRef =
            Arc::new(Socket::new(self.clone(), conn.clone(), auth.clone(), pid));
        self.run_middlewares(&socket, &auth).await?;
        if conn.is_closed() {
            return Err(ConnectError::closed());
        }
        self.register(&socket);
        let handler = self.connect_handler();
        Ok(crate::client::finish_connect(socket, handler, auth, Vec::new()).await)
    }
}

/// What the namespace's adapter sees of it.
impl LocalNamespace for NsInner {
    fn name(&self) -> &str {
        self.name.as_str()
    }

    fn sockets(&self) -> Vec<LocalSocketRef> {
        read(&self.sockets)
            .values()
            .map(|s| s.clone() as LocalSocketRef)
            .collect()
    }

    fn get_socket(&self, sid: Sid) -> Option<LocalSocketRef> {
        read(&self.sockets)
            .get(&sid)
            .map(|s| s.clone() as LocalSocketRef)
    }

    fn get_sockets(&self, ids: &[Sid]) -> Vec<LocalSocketRef> {
        let sockets = read(&self.sockets);
        let mut out = Vec::with_capacity(ids.len());
        for sid in ids {
            if let Some(s) = sockets.get(sid) {
                out.push(s.clone() as LocalSocketRef);
            }
        }
        out
    }

    fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    fn dispatch_server_side(&self, data: Vec<serde_json::Value>, ack: Option<ServerSideAck>) {
        let mut it = data.into_iter();
        let event = match it.next() {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => return,
        };
        let listeners = read(&self.server_listeners)
            .get(&event)
            .cloned()
            .unwrap_or_default();
        let Some((first, rest)) = listeners.split_first() else {
            tracing::debug!(ns = %self.name, %event, "no listener for server-side event");
            return;
        };
        let ev = ServerSideEvent::new(event, it.collect(), ack);
        for l in rest {
            tokio::spawn(l(ev.clone_without_ack()));
        }
        tokio::spawn(first(ev));
    }
}
