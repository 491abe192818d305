//! The server handle, [`SocketIo`]: namespaces, broadcasts on `/`, shutdown. Its builder
//! is in [`builder`], dynamic namespaces in [`dynamic`].

mod builder;
mod dynamic;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use serde::Serialize;

pub(crate) use builder::SocketIoConfig;
pub use builder::{BuildError, SocketIoBuilder};
use dynamic::DynNs;
pub use dynamic::{DynNamespace, NsPattern};

use crate::ack::AckStream;
use crate::adapter::{AdapterError, AdapterFactory};
use crate::client::Client;
use crate::engine::{EngineConfig, EngineIo, Sid, Str};
use crate::handler::{ConnectParts, Handler};
use crate::layer::{SocketIoLayer, SocketIoService};
use crate::ns::{Namespace, NsHandlers};
use crate::operators::BroadcastOperators;
use crate::rooms::IntoRooms;
use crate::socket::{EmitError, RemoteSocket, SocketRef};
use crate::util::{read, write};

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
    /// What the server reports its work to (the Admin UI's instrumentation), if any.
    #[cfg(feature = "admin-ui")]
    pub(crate) observe: Option<Arc<crate::observe::Observe>>,
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
            self.config.recovery.clone(),
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
                    self.config.recovery.clone(),
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

    /// Adds connect middleware to the main namespace `/` (Node's `io.use`): the same as
    /// `io.of("/").use_(middleware)`, before or after `io.ns("/", ..)`. Returns the server,
    /// so that calls chain.
    ///
    /// ```
    /// use serde_json::Value;
    /// use tower_socketio::{SocketIo, SocketRef, extract::Data};
    ///
    /// let (_layer, io) = SocketIo::new_layer();
    /// io.use_(async |Data(auth): Data<Value>| {
    ///     if auth["token"] == "secret" { Ok(()) } else { Err("unauthorized") }
    /// })
    /// .ns("/", async |_socket: SocketRef| {});
    /// ```
    pub fn use_<H, T, E>(&self, middleware: H) -> &Self
    where
        H: Handler<ConnectParts, T, Result<(), E>>,
        T: Send + 'static,
        E: crate::handler::IntoConnectError + Send + 'static,
    {
        self.sockets().use_(middleware);
        self
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

    /// Where the Admin UI's page is served, if it is (see
    /// [`SocketIoBuilder::serve_admin_ui`]), without its trailing slash.
    #[cfg(feature = "admin-ui")]
    #[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
    pub fn admin_ui_path(&self) -> Option<&str> {
        self.0.config.admin_ui.as_deref()
    }

    /// The engine's settings.
    pub fn engine_config(&self) -> &EngineConfig {
        &self.0.engine_config
    }

    /// The packet format the server speaks (Node's `parser` option).
    pub fn parser(&self) -> crate::protocol::Parser {
        self.0.config.parser
    }

    /// How long `emit_with_ack` waits by default.
    pub fn ack_timeout(&self) -> Duration {
        self.0.config.ack_timeout
    }

    /// How long a client may stay without joining a namespace.
    pub fn connect_timeout(&self) -> Duration {
        self.0.config.connect_timeout
    }

    /// The connection state recovery settings, when it is on.
    pub fn connection_state_recovery(&self) -> Option<&crate::ConnectionStateRecovery> {
        self.0.config.recovery.as_ref()
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

    /// Every namespace of this server (dynamic namespaces' children included, not their
    /// patterns), in no particular order.
    pub fn namespaces(&self) -> Vec<Namespace> {
        read(&self.0.nsps).values().cloned().collect()
    }

    /// Whether [`close`](Self::close) was called.
    #[cfg(feature = "admin-ui")]
    pub(crate) fn is_closed(&self) -> bool {
        self.0.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A weak handle, for tasks that must not keep the server alive.
    #[cfg(feature = "admin-ui")]
    pub(crate) fn downgrade_inner(&self) -> Weak<IoInner> {
        Arc::downgrade(&self.0)
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
        if self.0.config.recovery.is_some() {
            // The sockets' disconnect sequences persist their sessions (reason `server
            // shutting down`, recoverable): let them reach the adapters before they close.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while nsps.iter().any(|ns| !ns.is_empty()) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
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
    pub async fn emit_with_ack<R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
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
    pub async fn server_side_emit_with_ack<R>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> Result<Vec<R>, crate::AckError>
    where
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
