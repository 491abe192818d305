//! The server handle, [`SocketIo`], and its builder.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use serde::Serialize;

use crate::ack::AckStream;
use crate::adapter::{AdapterError, AdapterFactory, LocalAdapterFactory};
use crate::client::Client;
use crate::engine::{
    AllowOrigin, CookieConfig, EngineConfig, EngineConfigBuilder, EngineIo, RequestRefusal, Sid,
    Str, TransportType,
};
use crate::handler::{ConnectParts, Handler, IntoConnectError};
use crate::layer::{SocketIoLayer, SocketIoService};
use crate::ns::{Namespace, NsHandlers};
use crate::operators::BroadcastOperators;
use crate::protocol::{Decoder, DecoderConfig};
use crate::rooms::IntoRooms;
use crate::socket::{EmitError, RemoteSocket, SocketRef};
use crate::util::{read, write};

/// Settings of the Socket.IO layer (the engine's are in [`EngineConfig`]).
pub(crate) struct SocketIoConfig {
    pub(crate) ack_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) decoder: Decoder,
    pub(crate) serve_client: bool,
}

type NsMatcher = Box<dyn Fn(&str) -> bool + Send + Sync>;

struct DynNs {
    matcher: NsMatcher,
    parent: DynNamespace,
}

pub(crate) struct IoInner {
    pub(crate) config: SocketIoConfig,
    pub(crate) engine_config: EngineConfig,
    nsps: RwLock<HashMap<String, Namespace>>,
    dyn_nsps: RwLock<Vec<DynNs>>,
    factory: Arc<dyn AdapterFactory>,
    state: http::Extensions,
    engine: OnceLock<Weak<EngineIo<Client>>>,
    me: Weak<IoInner>,
    closed: std::sync::atomic::AtomicBool,
    shutdown: tokio::sync::Notify,
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

impl IoInner {
    /// The namespace a CONNECT names: a static one, or a new child of a matching dynamic one.
    pub(crate) fn get_or_create_ns(&self, name: &str) -> Option<Namespace> {
        if let Some(ns) = read(&self.nsps).get(name) {
            return Some(ns.clone());
        }
        let dyns = read(&self.dyn_nsps);
        let d = dyns.iter().find(|d| (d.matcher)(name))?;
        let mut nsps = write(&self.nsps);
        if let Some(ns) = nsps.get(name) {
            return Some(ns.clone());
        }
        let ns = Namespace::new(
            Str::from(name.to_owned()),
            self.me.clone(),
            d.parent.handlers.clone(),
            self.factory.as_ref(),
        );
        nsps.insert(name.to_owned(), ns.clone());
        write(&d.parent.children).push(ns.clone());
        Some(ns)
    }

    fn of(&self, name: &str) -> Namespace {
        let name = normalize(name);
        if let Some(ns) = read(&self.nsps).get(name.as_str()) {
            return ns.clone();
        }
        let mut nsps = write(&self.nsps);
        nsps.entry(name.clone())
            .or_insert_with(|| {
                Namespace::new(
                    Str::from(name),
                    self.me.clone(),
                    Arc::new(NsHandlers::default()),
                    self.factory.as_ref(),
                )
            })
            .clone()
    }
}

/// The Socket.IO server: namespaces, broadcasts to them, and shutdown. Cheap to clone.
///
/// ```no_run
/// use axum::Router;
/// use tower_socketio::{SocketIo, SocketRef, extract::Data};
///
/// # async fn run() {
/// let (layer, io) = SocketIo::new_layer();
/// io.ns("/", async |socket: SocketRef| {
///     socket.on("ping", async |socket: SocketRef, Data(n): Data<u32>| {
///         socket.emit("pong", &n).ok();
///     });
/// });
/// let app: Router = Router::new().layer(layer);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIo(Arc<IoInner>);

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    pub(crate) fn from_inner(inner: Arc<IoInner>) -> Self {
        SocketIo(inner)
    }

    /// A builder with Node's defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::new()
    }

    /// A layer with the default settings, and the server handle.
    pub fn new_layer() -> (SocketIoLayer, SocketIo) {
        SocketIoBuilder::new().build_layer()
    }

    /// A standalone service with the default settings, and the server handle.
    pub fn new_svc() -> (SocketIoService, SocketIo) {
        SocketIoBuilder::new().build_svc()
    }

    /// Defines a namespace with its connection handler (Node's
    /// `io.of(name).on("connection", handler)`), and returns it.
    pub fn ns<H, T>(&self, name: impl AsRef<str>, handler: H) -> Namespace
    where
        H: Handler<ConnectParts, T, ()>,
        T: Send + 'static,
    {
        let ns = self.0.of(name.as_ref());
        ns.on_connection(handler);
        ns
    }

    /// Defines dynamic namespaces: every name the pattern accepts becomes a namespace on its
    /// first connection, sharing this handler and middleware. A pattern is either a path
    /// with `{param}` segments (`"/room/{id}"`) or a predicate over the name.
    pub fn dyn_ns<H, T>(&self, pattern: impl Into<NsPattern>, handler: H) -> DynNamespace
    where
        H: Handler<ConnectParts, T, ()>,
        T: Send + 'static,
    {
        let parent = DynNamespace {
            handlers: Arc::new(NsHandlers::default()),
            children: Arc::default(),
        };
        *write(&parent.handlers.handler) = Some(crate::handler::erase(handler));
        write(&self.0.dyn_nsps).push(DynNs {
            matcher: pattern.into().0,
            parent: parent.clone(),
        });
        parent
    }

    /// The namespace of that name, created (without a handler) if needed (Node's `io.of`).
    pub fn of(&self, name: impl AsRef<str>) -> Namespace {
        self.0.of(name.as_ref())
    }

    /// The namespace of that name, if it exists.
    pub fn get_ns(&self, name: impl AsRef<str>) -> Option<Namespace> {
        read(&self.0.nsps)
            .get(normalize(name.as_ref()).as_str())
            .cloned()
    }

    /// The default namespace `/` (Node's `io.sockets`).
    pub fn sockets(&self) -> Namespace {
        self.0.of("/")
    }

    /// A socket of this server by namespace and id.
    pub fn get_socket(&self, ns: impl AsRef<str>, sid: Sid) -> Option<SocketRef> {
        self.get_ns(ns).and_then(|ns| ns.get_socket(sid))
    }

    /// Typed state given to [`SocketIoBuilder::with_state`].
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.state.get::<T>().cloned()
    }

    /// The path the server answers under.
    pub fn path(&self) -> &str {
        self.0.engine_config.path()
    }

    /// Whether the browser client files are served.
    pub fn serve_client(&self) -> bool {
        self.0.config.serve_client
    }

    /// The engine's settings.
    pub fn engine_config(&self) -> &EngineConfig {
        &self.0.engine_config
    }

    /// How long `emit_with_ack` waits by default.
    pub fn ack_timeout(&self) -> Duration {
        self.0.config.ack_timeout
    }

    /// How long a client may stay without joining a namespace.
    pub fn connect_timeout(&self) -> Duration {
        self.0.config.connect_timeout
    }

    /// How many Engine.IO connections are open.
    pub fn connections(&self) -> usize {
        self.engine().map(|e| e.sessions_count()).unwrap_or(0)
    }

    fn engine(&self) -> Option<Arc<EngineIo<Client>>> {
        self.0.engine.get().and_then(Weak::upgrade)
    }

    /// Resolves once [`close`](Self::close) was called.
    pub async fn closed(&self) {
        loop {
            let notified = self.0.shutdown.notified();
            if self.0.closed.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn set_engine(&self, engine: &Arc<EngineIo<Client>>) {
        let _ = self.0.engine.set(Arc::downgrade(engine));
    }

    /// Closes every connection with reason `server shutting down`, and waits for them to
    /// end. Compose it with axum's graceful shutdown to also free the port.
    pub async fn close(&self) {
        self.0
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.0.shutdown.notify_waiters();
        if let Some(engine) = self.engine() {
            engine.close().await;
        }
        let nsps: Vec<Namespace> = read(&self.0.nsps).values().cloned().collect();
        for ns in nsps {
            ns.adapter().close().await;
        }
    }

    // ----- operators on `/` -----

    /// Targets a room of `/` (or several).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.sockets().to(rooms)
    }
    /// Same as [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.sockets().to(rooms)
    }
    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.sockets().to(rooms)
    }
    /// Leaves the members of rooms of `/` out.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperators {
        self.sockets().except(rooms)
    }
    /// Only this server's sockets.
    pub fn local(&self) -> BroadcastOperators {
        self.sockets().local()
    }
    /// Dropped, not queued, for sockets whose transport is not writable now.
    pub fn volatile(&self) -> BroadcastOperators {
        self.sockets().volatile()
    }
    /// Whether the packet may be compressed.
    pub fn compress(&self, compress: bool) -> BroadcastOperators {
        self.sockets().compress(compress)
    }
    /// How long to wait for acknowledgements.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperators {
        self.sockets().timeout(timeout)
    }
    /// Emits to every socket of `/`.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.sockets().emit(event, data).await
    }
    /// Emits a `message` event to every socket of `/`.
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.sockets().send(data).await
    }
    /// Emits to every socket of `/` and gathers their acknowledgements.
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
    ) -> AckStream<R> {
        self.sockets().emit_with_ack(event, data).await
    }
    /// Every socket of `/`, on every server.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        self.sockets().fetch_sockets().await
    }
    /// Makes every socket of `/` join rooms.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.sockets().sockets_join(rooms).await
    }
    /// Makes every socket of `/` leave rooms.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.sockets().sockets_leave(rooms).await
    }
    /// Disconnects every socket of `/`.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.sockets().disconnect_sockets(close).await
    }
    /// Sends a server-side event of `/` to the other servers of the cluster (see
    /// [`Namespace::server_side_emit`]).
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.sockets().server_side_emit(event, data).await
    }
    /// Sends a server-side event of `/` and gathers one acknowledgement per other server
    /// (see [`Namespace::server_side_emit_with_ack`]).
    pub async fn server_side_emit_with_ack<T, R>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<R>, crate::AckError>
    where
        T: Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        self.sockets().server_side_emit_with_ack(event, data).await
    }
    /// Adds a listener for server-side events of `/` (see [`Namespace::on_server_side`]).
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, listener: F)
    where
        F: Fn(crate::ServerSideEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.sockets().on_server_side(event, listener)
    }
    /// Whether the adapters of every namespace are healthy (with the Redis adapter: whether
    /// Redis is reachable; always true in memory).
    pub fn is_adapter_healthy(&self) -> bool {
        read(&self.0.nsps)
            .values()
            .all(|ns| ns.adapter().is_healthy())
    }
}

/// Which names a dynamic namespace accepts.
pub struct NsPattern(NsMatcher);

impl std::fmt::Debug for NsPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NsPattern")
    }
}

impl NsPattern {
    /// A predicate over the namespace name.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        NsPattern(Box::new(f))
    }

    /// Whether a namespace name matches.
    pub fn matches(&self, name: &str) -> bool {
        (self.0)(name)
    }

    /// A path whose `{param}` segments match any non-empty segment: `/room/{id}`.
    pub fn path(pattern: &str) -> Self {
        let segments: Vec<Option<String>> = normalize(pattern)
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') && s.len() > 2 {
                    None
                } else {
                    Some(s.to_owned())
                }
            })
            .collect();
        NsPattern(Box::new(move |name: &str| {
            let parts: Vec<&str> = name.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(p, s)| match s {
                    Some(lit) => lit == p,
                    None => !p.is_empty(),
                })
        }))
    }
}

impl From<&str> for NsPattern {
    fn from(p: &str) -> Self {
        NsPattern::path(p)
    }
}

impl From<String> for NsPattern {
    fn from(p: String) -> Self {
        NsPattern::path(&p)
    }
}

/// A dynamic namespace (Node's parent namespace): its middleware and handler apply to
/// every child namespace it creates; broadcasts reach all of them.
#[derive(Clone)]
pub struct DynNamespace {
    handlers: Arc<NsHandlers>,
    children: Arc<RwLock<Vec<Namespace>>>,
}

impl std::fmt::Debug for DynNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynNamespace").finish_non_exhaustive()
    }
}

impl DynNamespace {
    /// Adds connect middleware for every child namespace (see [`Namespace::use_`]).
    pub fn use_<H, T, E>(&self, middleware: H) -> &Self
    where
        H: Handler<ConnectParts, T, Result<(), E>>,
        T: Send + 'static,
        E: IntoConnectError + Send + 'static,
    {
        crate::ns::push_middleware(&self.handlers, middleware);
        self
    }

    /// The namespaces created so far.
    pub fn namespaces(&self) -> Vec<Namespace> {
        read(&self.children).clone()
    }

    /// Emits to every socket of every child namespace.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        for ns in self.namespaces() {
            ns.emit(event, data).await?;
        }
        Ok(())
    }
}

/// Builds a [`SocketIo`] server: Node's options, with Node's defaults.
pub struct SocketIoBuilder {
    engine: EngineConfigBuilder,
    ack_timeout: Duration,
    connect_timeout: Duration,
    max_attachments: usize,
    serve_client: bool,
    factory: Arc<dyn AdapterFactory>,
    state: http::Extensions,
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder").finish_non_exhaustive()
    }
}

impl Default for SocketIoBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketIoBuilder {
    /// Node's defaults: path `/socket.io`, ping every 25 s, 20 s to answer, 1 MB payloads,
    /// both transports, any origin, 45 s to join a namespace, 5 s for acknowledgements.
    pub fn new() -> Self {
        Self {
            engine: EngineConfig::builder().path("/socket.io"),
            ack_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(45),
            max_attachments: 10,
            serve_client: true,
            factory: Arc::new(LocalAdapterFactory),
            state: http::Extensions::new(),
        }
    }

    /// The path to answer under (default `/socket.io`). Other requests pass through.
    pub fn path(mut self, path: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.engine = self.engine.path(path);
        self
    }
    /// How often the server pings (default 25 s).
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.engine = self.engine.ping_interval(d);
        self
    }
    /// How long a client has to answer a ping (default 20 s).
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.engine = self.engine.ping_timeout(d);
        self
    }
    /// How long an upgrade to WebSocket may take (default 10 s).
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.engine = self.engine.upgrade_timeout(d);
        self
    }
    /// The largest message or polling body, in bytes (Node's `maxHttpBufferSize`, 1 MB).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.engine = self.engine.max_payload(bytes);
        self
    }
    /// Same as [`max_payload`](Self::max_payload), under Node's name.
    pub fn max_http_buffer_size(self, bytes: usize) -> Self {
        self.max_payload(bytes)
    }
    /// How many messages may wait for one client before it counts as too slow.
    pub fn max_buffer_size(mut self, messages: usize) -> Self {
        self.engine = self.engine.max_buffer_size(messages);
        self
    }
    /// The transports to accept (default both).
    pub fn transports(mut self, t: impl IntoIterator<Item = TransportType>) -> Self {
        self.engine = self.engine.transports(t);
        self
    }
    /// The session cookie (off by default).
    pub fn cookie(mut self, cookie: Option<CookieConfig>) -> Self {
        self.engine = self.engine.cookie(cookie);
        self
    }
    /// Compress polling responses over 1 KB when the client accepts it (default on).
    pub fn http_compression(mut self, on: bool) -> Self {
        self.engine = self.engine.http_compression(on);
        self
    }
    /// Which origins may connect and read the answers (Node's `cors.origin`). By default none
    /// is granted cross-origin access: nothing is refused and no CORS header is sent, so
    /// only pages of the server's own origin can use long-polling (see [`AllowOrigin`]).
    pub fn allow_origin(mut self, origins: AllowOrigin) -> Self {
        self.engine = self.engine.allow_origin(origins);
        self
    }
    /// Only these origins may connect (Node's `origins([...])`).
    pub fn origins<I>(self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let list: Vec<http::HeaderValue> = origins
            .into_iter()
            .filter_map(|o| http::HeaderValue::from_str(o.as_ref()).ok())
            .collect();
        self.allow_origin(AllowOrigin::list(list))
    }
    /// Origins accepted by a predicate (Node's `origins(fn)`).
    pub fn origins_fn(self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.allow_origin(AllowOrigin::predicate(move |origin, _parts| {
            origin.to_str().map(&f).unwrap_or(false)
        }))
    }
    /// An async check of every handshake request (Node's `allowRequest`).
    pub fn allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), RequestRefusal>> + Send + 'static,
    {
        self.engine = self.engine.allow_request(f);
        self
    }
    /// How long `emit_with_ack` waits by default (5 s).
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.ack_timeout = d;
        self
    }
    /// How long a client may stay connected without joining a namespace (45 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// The most binary attachments one packet may carry (10).
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.max_attachments = n;
        self
    }
    /// Whether to serve the browser client under the path (default true).
    pub fn serve_client(mut self, on: bool) -> Self {
        self.serve_client = on;
        self
    }
    /// The adapter of every namespace (default in-memory).
    pub fn adapter(mut self, factory: impl AdapterFactory) -> Self {
        self.factory = Arc::new(factory);
        self
    }
    /// Typed state for the [`State`](crate::extract::State) extractor; call once per type.
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    fn build_io(self) -> SocketIo {
        let engine_config = self.engine.build();
        let inner = Arc::new_cyclic(|me| IoInner {
            config: SocketIoConfig {
                ack_timeout: self.ack_timeout,
                connect_timeout: self.connect_timeout,
                decoder: Decoder::new(
                    DecoderConfig::default().with_max_attachments(self.max_attachments),
                ),
                serve_client: self.serve_client,
            },
            engine_config,
            nsps: RwLock::default(),
            dyn_nsps: RwLock::default(),
            factory: self.factory,
            state: self.state,
            engine: OnceLock::new(),
            me: me.clone(),
            closed: std::sync::atomic::AtomicBool::new(false),
            shutdown: tokio::sync::Notify::new(),
        });
        SocketIo(inner)
    }

    fn build_engine(self) -> (Arc<EngineIo<Client>>, SocketIo) {
        let io = self.build_io();
        let engine = EngineIo::new(Client { io: io.0.clone() }, io.0.engine_config.clone());
        io.set_engine(&engine);
        (engine, io)
    }

    /// A layer to put on an axum `Router` (or any tower service), and the server handle.
    pub fn build_layer(self) -> (SocketIoLayer, SocketIo) {
        let (engine, io) = self.build_engine();
        (SocketIoLayer::new(engine, io.clone()), io)
    }

    /// Node's `io(port)`: binds `addr`, serves the Socket.IO service alone on it in a
    /// background task, and returns the server handle. [`SocketIo::close`] ends every
    /// connection and frees the port.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// let io = tower_socketio::SocketIo::builder().listen("127.0.0.1:3000").await?;
    /// io.ns("/", async |socket: tower_socketio::SocketRef| {
    ///     socket.emit("hello", &"world").ok();
    /// });
    /// # Ok(()) }
    /// ```
    pub async fn listen(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<SocketIo> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let (svc, io) = self.build_svc();
        let handle = io.clone();
        tokio::spawn(async move {
            let stop = handle.clone();
            if let Err(e) =
                crate::serve_with_shutdown(listener, svc, async move { stop.closed().await }).await
            {
                tracing::error!(error = %e, "the listener failed");
            }
        });
        Ok(io)
    }

    /// A standalone service (404 outside the path), and the server handle.
    pub fn build_svc(self) -> (SocketIoService, SocketIo) {
        let (engine, io) = self.build_engine();
        (SocketIoService::new(engine, io.clone()), io)
    }
}
