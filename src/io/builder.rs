//! [`SocketIoBuilder`]: Node's options with Node's defaults.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use super::{IoInner, SocketIo};
use crate::ConnectionStateRecovery;
use crate::adapter::{AdapterFactory, LocalAdapterFactory};
use crate::client::Client;
use crate::engine::{
    AllowOrigin, CookieConfig, EngineConfig, EngineConfigBuilder, EngineIo, RequestRefusal,
    TransportType,
};
use crate::layer::{SocketIoLayer, SocketIoService};
use crate::protocol::{DecoderConfig, Parser};

/// Settings of the Socket.IO layer (the engine's are in [`EngineConfig`]).
pub(crate) struct SocketIoConfig {
    pub(crate) ack_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// The packet format of every connection (with its protocol revision, the codec).
    pub(crate) parser: Parser,
    /// Limits of every connection's packet reader.
    pub(crate) limits: DecoderConfig,
    pub(crate) serve_client: bool,
    /// Connection state recovery, when on.
    pub(crate) recovery: Option<ConnectionStateRecovery>,
    /// Where the Admin UI's page is served (normalized: no trailing slash), if it is.
    #[cfg(feature = "admin-ui")]
    pub(crate) admin_ui: Option<String>,
}

/// Why [`SocketIoBuilder`] could not build a server (see its `try_build_*` methods).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// Connection state recovery is on, and the adapter factory cannot persist and restore
    /// sessions ([`AdapterFactory::supports_connection_state_recovery`] is false), as
    /// the Redis pub/sub adapter.
    RecoveryUnsupported {
        /// The factory's type name.
        adapter: &'static str,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::RecoveryUnsupported { adapter } => write!(
                f,
                "connection state recovery is on, but the adapter `{adapter}` cannot persist and \
                 restore sessions: use the in-memory adapter (the default) or one that supports \
                 recovery, or turn recovery off"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Builds a [`SocketIo`] server: Node's options, with Node's defaults.
pub struct SocketIoBuilder {
    engine: EngineConfigBuilder,
    ack_timeout: Duration,
    connect_timeout: Duration,
    max_attachments: usize,
    parser: Parser,
    serve_client: bool,
    factory: Arc<dyn AdapterFactory>,
    factory_name: &'static str,
    recovery: Option<ConnectionStateRecovery>,
    state: http::Extensions,
    #[cfg(feature = "admin-ui")]
    admin: Option<crate::admin::AdminUi>,
    #[cfg(feature = "admin-ui")]
    admin_ui: Option<String>,
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
            parser: Parser::Json,
            serve_client: true,
            factory: Arc::new(LocalAdapterFactory),
            factory_name: std::any::type_name::<LocalAdapterFactory>(),
            recovery: None,
            state: http::Extensions::new(),
            #[cfg(feature = "admin-ui")]
            admin: None,
            #[cfg(feature = "admin-ui")]
            admin_ui: None,
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
    /// The largest request head (request line and headers) the server takes, in bytes
    /// (16 KiB by default, Node's `maxHttpHeaderSize`); larger ones get `431` before
    /// anything is kept of them, under any server (`axum::serve` included). See
    /// [`EngineConfig::max_http_header_size`](crate::engine::EngineConfig::max_http_header_size).
    ///
    /// # Panics
    /// When `bytes` is zero.
    pub fn max_http_header_size(mut self, bytes: usize) -> Self {
        self.engine = self.engine.max_http_header_size(bytes);
        self
    }
    /// How many bytes may wait for one client (8 MiB by default) before it counts as
    /// stalled: then `emit` fails with `Full` (`emit_wait` waits) and a broadcast closes
    /// the connection. See the guide's "Slow readers".
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.engine = self.engine.max_buffered_bytes(bytes);
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
    /// Serves Socket.IO 2 clients (Engine.IO 3, Socket.IO protocol 4) beside Socket.IO 3
    /// and 4 clients, each connection in its own protocol (Node's `allowEIO3`, off by
    /// default). When off, their handshake is refused with HTTP 400, code 5, and the
    /// server logs one warning naming this option.
    ///
    /// ```
    /// let (_layer, io) = tower_socketio::SocketIo::builder().allow_eio3(true).build_layer();
    /// assert!(io.engine_config().allow_eio3());
    /// ```
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.engine = self.engine.allow_eio3(allow);
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
    /// The packet format (Node's `parser` option): [`Parser::Json`] by default, or
    /// [`Parser::MsgPack`] for clients that use `socket.io-msgpack-parser` (the
    /// `socket.io.msgpack.min.js` bundle, python-socketio's `serializer='msgpack'`). One
    /// server speaks one parser, as in Node: a client with the other one cannot connect.
    ///
    /// ```
    /// use tower_socketio::{Parser, SocketIo};
    ///
    /// let (_layer, io) = SocketIo::builder().parser(Parser::MsgPack).build_layer();
    /// assert_eq!(io.parser(), Parser::MsgPack);
    /// ```
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }
    /// Whether to serve the browser client under the path (default true).
    pub fn serve_client(mut self, on: bool) -> Self {
        self.serve_client = on;
        self
    }
    /// The adapter of every namespace (default in-memory).
    pub fn adapter<F: AdapterFactory>(mut self, factory: F) -> Self {
        self.factory = Arc::new(factory);
        self.factory_name = std::any::type_name::<F>();
        self
    }
    /// Turns on connection state recovery (Node's `connectionStateRecovery`; off by
    /// default): a client that drops for a moment gets its socket back, with its id, rooms
    /// and data, and every broadcast it missed. See [`ConnectionStateRecovery`] for the
    /// settings, and `docs/guide.md` for what is and is not replayed.
    ///
    /// The adapter must support it (the default in-memory one does); building with one that
    /// does not fails (see [`try_build_layer`](Self::try_build_layer)).
    pub fn connection_state_recovery(mut self, config: ConnectionStateRecovery) -> Self {
        self.recovery = Some(config);
        self
    }
    /// Typed state for the [`State`](crate::extract::State) extractor; call once per type.
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    fn check(&self) -> Result<(), BuildError> {
        if self.recovery.is_some() && !self.factory.supports_connection_state_recovery() {
            return Err(BuildError::RecoveryUnsupported {
                adapter: self.factory_name,
            });
        }
        Ok(())
    }

    /// Instruments the server for the Socket.IO Admin UI (Node's `instrument(io, options)`
    /// of `@socket.io/admin-ui`): opens the admin namespace with these options, and reports
    /// this server's sockets, rooms and traffic to it. See [`crate::admin`].
    ///
    /// Its tasks (`server_stats` every 2 s, the development-mode events) start when the
    /// server is built inside a Tokio runtime, as under `#[tokio::main]`; a server built
    /// outside one starts them at its first admin connection.
    ///
    /// ```
    /// use tower_socketio::SocketIo;
    /// use tower_socketio::admin::{AdminUi, Auth, Mode};
    ///
    /// # fn f(hash: String) -> Result<(), tower_socketio::admin::InvalidHash> {
    /// let (layer, io) = SocketIo::builder()
    ///     .instrument(AdminUi::new(Auth::basic("admin", hash)?).mode(Mode::Production))
    ///     .build_layer();
    /// # let _ = (layer, io); Ok(()) }
    /// ```
    #[cfg(feature = "admin-ui")]
    #[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
    pub fn instrument(mut self, admin: crate::admin::AdminUi) -> Self {
        self.admin = Some(admin);
        self
    }
    /// Serves the Admin UI's page under `path` (e.g. `/admin`: the UI is then at
    /// `/admin/`, and `/admin` redirects there). The page's files are embedded in this
    /// build (see [`crate::admin::ui`]); give the UI this server's URL to connect to it.
    /// Independent of [`instrument`](Self::instrument): a page served here can manage
    /// other servers too.
    #[cfg(feature = "admin-ui")]
    #[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
    pub fn serve_admin_ui(mut self, path: impl AsRef<str>) -> Self {
        self.admin_ui = Some(crate::admin::ui::normalize_base(path.as_ref()));
        self
    }

    fn build_io(self) -> SocketIo {
        let engine_config = self.engine.build();
        #[cfg(feature = "admin-ui")]
        let instrumentation = self.admin.map(crate::admin::Instrumentation::new);
        let inner = Arc::new_cyclic(|me| IoInner {
            config: SocketIoConfig {
                ack_timeout: self.ack_timeout,
                connect_timeout: self.connect_timeout,
                parser: self.parser,
                limits: DecoderConfig::default().with_max_attachments(self.max_attachments),
                serve_client: self.serve_client,
                recovery: self.recovery,
                #[cfg(feature = "admin-ui")]
                admin_ui: self.admin_ui,
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
            #[cfg(feature = "admin-ui")]
            observe: instrumentation.as_ref().map(|i| i.observe()),
        });
        let io = SocketIo(inner);
        #[cfg(feature = "admin-ui")]
        if let Some(i) = instrumentation {
            i.install(&io);
        }
        io
    }

    fn build_engine(self) -> (Arc<EngineIo<Client>>, SocketIo) {
        let io = self.build_io();
        let engine = EngineIo::new(Client { io: io.0.clone() }, io.0.engine_config.clone());
        io.set_engine(&engine);
        (engine, io)
    }

    /// A layer to put on an axum `Router` (or any tower service), and the server handle.
    ///
    /// # Panics
    /// When the settings cannot work together (see [`BuildError`]: connection state
    /// recovery with an adapter that cannot do it). [`try_build_layer`](Self::try_build_layer)
    /// returns the error instead.
    pub fn build_layer(self) -> (SocketIoLayer, SocketIo) {
        self.try_build_layer().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build_layer`](Self::build_layer), with an error instead of a panic when the
    /// settings cannot work together.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_socketio::adapter::{Adapter, AdapterFactory, LocalAdapter, NamespaceHandle};
    /// use tower_socketio::{BuildError, ConnectionStateRecovery, SocketIo};
    ///
    /// // The in-memory adapter (the default) keeps sessions: recovery is fine.
    /// let built = SocketIo::builder()
    ///     .connection_state_recovery(ConnectionStateRecovery::new())
    ///     .try_build_layer();
    /// assert!(built.is_ok());
    ///
    /// // A factory that cannot (as the Redis pub/sub adapter's) is refused.
    /// struct RoomsOnly;
    /// impl AdapterFactory for RoomsOnly {
    ///     fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
    ///         Arc::new(LocalAdapter::new(ns))
    ///     }
    /// }
    /// let refused = SocketIo::builder()
    ///     .adapter(RoomsOnly)
    ///     .connection_state_recovery(ConnectionStateRecovery::new())
    ///     .try_build_layer();
    /// assert!(matches!(refused, Err(BuildError::RecoveryUnsupported { .. })));
    /// ```
    pub fn try_build_layer(self) -> Result<(SocketIoLayer, SocketIo), BuildError> {
        self.check()?;
        let (engine, io) = self.build_engine();
        Ok((SocketIoLayer::new(engine, io.clone()), io))
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
    ///
    /// Settings that cannot work together (see [`BuildError`]) fail with an error of kind
    /// `InvalidInput`, before anything is bound.
    pub async fn listen(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<SocketIo> {
        self.check()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
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
    ///
    /// # Panics
    /// As [`build_layer`](Self::build_layer); [`try_build_svc`](Self::try_build_svc)
    /// returns the error instead.
    pub fn build_svc(self) -> (SocketIoService, SocketIo) {
        self.try_build_svc().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build_svc`](Self::build_svc), with an error instead of a panic when the settings
    /// cannot work together.
    pub fn try_build_svc(self) -> Result<(SocketIoService, SocketIo), BuildError> {
        self.check()?;
        let (engine, io) = self.build_engine();
        Ok((SocketIoService::new(engine, io.clone()), io))
    }
}
