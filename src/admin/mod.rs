//! The Socket.IO Admin UI (feature `admin-ui`): the server side of `@socket.io/admin-ui`
//! 0.5 (Node's `instrument(io, options)`), and the UI itself, served by this server.
//!
//! The dashboard lists the sockets, rooms, clients and namespaces of every server of a
//! cluster, charts connections and bytes, and disconnects sockets or makes them join and
//! leave rooms. A server built with [`SocketIoBuilder::instrument`](crate::SocketIoBuilder::instrument) opens the admin
//! namespace (`/admin`) for it; one built with
//! [`SocketIoBuilder::serve_admin_ui`](crate::SocketIoBuilder::serve_admin_ui) also
//! serves the UI's page (see [`ui`]):
//!
//! ```no_run
//! use axum::Router;
//! use tower_socketio::SocketIo;
//! use tower_socketio::admin::{AdminUi, Auth};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // A bcrypt hash of the password, made once (`bcrypt::hash("changeit", 12)`,
//! // `htpasswd -nbBC 12 "" changeit`, ...).
//! let hash = std::env::var("ADMIN_PASSWORD_HASH")?;
//! let (layer, io) = SocketIo::builder()
//!     .instrument(AdminUi::new(Auth::basic("admin", hash)?))
//!     .serve_admin_ui("/admin")
//!     .build_layer();
//! io.ns("/", async |_: tower_socketio::SocketRef| {});
//! let app: Router = Router::new().layer(layer);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Open `http://127.0.0.1:3000/admin/`, give `http://127.0.0.1:3000` as the server URL, and
//! log in as `admin`.
//!
//! # What the admin namespace does
//!
//! As `@socket.io/admin-ui` 0.5.1 does, with the differences listed in `docs/from-node.md`:
//! - the connection is refused with `invalid credentials` unless [`Auth`] lets it in;
//!   after a login with the password the UI receives a `session` id ([`SessionStore`]),
//!   right after the CONNECT reply (Node sends it before, where the UI does not see it), so
//!   a reload of the page stays logged in;
//! - `config` lists the features (the actions unless [read-only](AdminUi::read_only));
//! - `server_stats` every 2 s, from every server of the cluster (a broadcast in the admin
//!   namespace, through its adapter): server id, host name, pid, uptime, Engine.IO
//!   clients (and how many on long-polling), sockets per namespace, and per-second counts
//!   of connections, disconnections, packets and bytes;
//! - in [development mode](Mode::Development), `all_sockets` at login and then every
//!   socket's connection, update, disconnection, room changes and events, as they happen;
//! - the actions `emit`, `join`, `leave` and `_disconnect` on any sockets of the cluster.
//!
//! In [production mode](Mode::Production) the only work per packet is two relaxed atomic
//! additions; without the feature, none at all.

mod actions;
mod auth;
mod events;
mod serialize;
mod stats;
mod store;
pub mod ui;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub use auth::{Auth, InvalidHash};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{InMemoryStore, SessionStore, StoreError, StoreFuture};

use crate::extract::TryData;
use crate::io::IoInner;
use crate::observe::{Counters, Observe, SocketEvents};
use crate::protocol::Args;
use crate::util::lock;
use crate::{Namespace, SocketIo, SocketRef};
use auth::{AuthKind, BasicAuth, IssuedSession};
use events::{AdminEvent, AdminEvents};
use stats::{NamespaceStats, Sampler, ServerStats};

/// How much the admin namespace reports (Node's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything: the sockets at login, then each connection, disconnection, room change,
    /// data change and event of every socket, as it happens (the default, as Node's
    /// without `NODE_ENV`). Each of those is one message to every admin socket of the
    /// cluster: for small servers and for debugging.
    #[default]
    Development,
    /// Only `server_stats` (counts, every 2 s): for busy servers. The UI then shows the
    /// dashboard and the servers, not the sockets.
    Production,
}

/// The options of the Admin UI's server side (those of Node's `instrument`), given to
/// [`SocketIoBuilder::instrument`](crate::SocketIoBuilder::instrument).
///
/// ```
/// use tower_socketio::admin::{AdminUi, Auth, Mode};
///
/// let admin = AdminUi::new(Auth::none())
///     .namespace_name("/admin")
///     .read_only(true)
///     .server_id("eu-1")
///     .mode(Mode::Production);
/// # let _ = admin;
/// ```
#[derive(Clone)]
pub struct AdminUi {
    auth: Auth,
    namespace: String,
    read_only: bool,
    server_id: Option<String>,
    mode: Mode,
    store: Arc<dyn SessionStore>,
}

impl std::fmt::Debug for AdminUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminUi")
            .field("auth", &self.auth)
            .field("namespace", &self.namespace)
            .field("read_only", &self.read_only)
            .field("server_id", &self.server_id)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl AdminUi {
    /// The admin namespace with this authentication (which Node also requires: say
    /// [`Auth::none`] to have none) and Node's defaults: namespace `/admin`, actions
    /// allowed, server id `<hostname>#<pid>`, development mode, sessions in memory.
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            namespace: "/admin".to_owned(),
            read_only: false,
            server_id: None,
            mode: Mode::Development,
            store: Arc::new(InMemoryStore::new()),
        }
    }

    /// The admin namespace (default `/admin`; the UI's "Admin namespace" option). Every
    /// server of a cluster must use the same one.
    pub fn namespace_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.namespace = if name.starts_with('/') {
            name
        } else {
            format!("/{name}")
        };
        self
    }

    /// Whether the UI may only look (default false): no `emit`, `join`, `leave` or
    /// `_disconnect` is carried out, and the UI shows no buttons for them.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// How this server is named in the UI's server list (default `<hostname>#<pid>`,
    /// unique per process). Servers with the same id show as one.
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// Development (the default) or production mode; see [`Mode`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Where the login sessions are kept (default [`InMemoryStore`]; share a
    /// `RedisStore` (features `admin-ui` and `redis`) across a cluster so that a session is valid on
    /// every server).
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Arc::new(store);
        self
    }
}

/// The features `config` announces (Node's order).
fn supported_features(read_only: bool, mode: Mode) -> Vec<&'static str> {
    let mut f = Vec::new();
    if !read_only {
        f.extend([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]);
    }
    f.push("AGGREGATED_EVENTS");
    if mode == Mode::Development {
        f.push("ALL_EVENTS");
    }
    f
}

/// The instrumentation of one server: its options, its counters, and the tasks that
/// report to the admin namespace.
pub(crate) struct Instrumentation {
    observe: Arc<Observe>,
    /// The development-mode events waiting for their sending task.
    events: Mutex<Option<tokio::sync::mpsc::Receiver<AdminEvent>>>,
    namespace: String,
    mode: Mode,
    read_only: bool,
    server_id: String,
    hostname: String,
    since: Instant,
    auth: Option<Arc<BasicAuth>>,
    io: OnceLock<Weak<IoInner>>,
    stats_started: AtomicBool,
}

impl std::fmt::Debug for Instrumentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumentation")
            .field("namespace", &self.namespace)
            .field("server_id", &self.server_id)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the epoch now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A timestamp argument as Node's `new Date()` reaches the UI (ISO text).
pub(crate) fn timestamp() -> String {
    crate::util::iso_date(now_ms() as f64).unwrap_or_default()
}

impl Instrumentation {
    pub(crate) fn new(options: AdminUi) -> Arc<Self> {
        let hostname = gethostname::gethostname().to_string_lossy().into_owned();
        let server_id = options
            .server_id
            .unwrap_or_else(|| format!("{hostname}#{}", std::process::id()));
        let auth = match options.auth.0 {
            AuthKind::None => None,
            AuthKind::Basic { username, hash } => {
                Some(Arc::new(BasicAuth::new(username, hash, options.store)))
            }
        };
        let (events, rx) = match options.mode {
            Mode::Development => {
                let (events, rx) = AdminEvents::new(options.namespace.clone());
                (Some(Arc::new(events) as Arc<dyn SocketEvents>), Some(rx))
            }
            Mode::Production => (None, None),
        };
        Arc::new(Self {
            observe: Arc::new(Observe {
                counters: Counters::default(),
                events,
            }),
            events: Mutex::new(rx),
            namespace: options.namespace,
            mode: options.mode,
            read_only: options.read_only,
            server_id,
            hostname,
            since: Instant::now(),
            auth,
            io: OnceLock::new(),
            stats_started: AtomicBool::new(false),
        })
    }

    /// Whether the per-socket events are reported.
    pub(crate) fn development(&self) -> bool {
        self.mode == Mode::Development
    }

    /// What the core reports to.
    pub(crate) fn observe(&self) -> Arc<Observe> {
        self.observe.clone()
    }

    fn io(&self) -> Option<SocketIo> {
        self.io
            .get()
            .and_then(Weak::upgrade)
            .map(SocketIo::from_inner)
    }

    /// Opens the admin namespace on the server (once, when the server is built) and starts
    /// reporting when a Tokio runtime is there (else at the first connection).
    pub(crate) fn install(self: &Arc<Self>, io: &SocketIo) {
        let _ = self.io.set(io.downgrade_inner());
        let ns = io.of(&self.namespace);
        if let Some(auth) = &self.auth {
            let auth = auth.clone();
            ns.use_(move |socket: SocketRef, TryData(payload): TryData<Value>| {
                let auth = auth.clone();
                async move {
                    let payload = payload.unwrap_or(Value::Null);
                    let session = auth.check(&payload).await?;
                    if let Some(id) = session {
                        socket.insert_extension(IssuedSession(id));
                    }
                    Ok::<(), crate::ConnectError>(())
                }
            });
        } else {
            tracing::warn!(
                namespace = %self.namespace,
                "admin: the admin namespace has no authentication (Auth::none)"
            );
        }
        let me = self.clone();
        ns.on_connection(move |socket: SocketRef| {
            let me = me.clone();
            async move { me.on_admin_connect(socket).await }
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            self.start();
        }
    }

    /// Starts the `server_stats` task and the development-mode events' task, once.
    pub(crate) fn start(self: &Arc<Self>) {
        if self.stats_started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let (Some(rx), Some(io)) = (lock(&self.events).take(), self.io.get()) {
            tokio::spawn(events::run(io.clone(), self.namespace.clone(), rx));
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut sampler = Sampler::default();
            let mut previous_second = now_ms() / 1000 * 1000;
            for n in 0u64.. {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                let Some(io) = me.io() else { return };
                if io.is_closed() {
                    return;
                }
                // What changed since the previous sample happened in the second it started.
                sampler.sample(&me.observe.counters, previous_second);
                previous_second = now_ms() / 1000 * 1000;
                if n % 2 == 0 {
                    me.emit_stats(&io, sampler.drain()).await;
                }
            }
        });
    }

    async fn emit_stats(&self, io: &SocketIo, aggregated_events: Vec<stats::Bucket>) {
        let Some(admin) = io.get_ns(&self.namespace) else {
            return;
        };
        let mut namespaces: Vec<NamespaceStats> = io
            .namespaces()
            .iter()
            .map(|ns| NamespaceStats {
                name: ns.name().to_owned(),
                sockets_count: ns.len(),
            })
            .collect();
        namespaces.sort_by(|a, b| a.name.cmp(&b.name));
        let stats = ServerStats {
            server_id: &self.server_id,
            hostname: &self.hostname,
            pid: std::process::id(),
            uptime: self.since.elapsed().as_secs_f64(),
            clients_count: io.connections(),
            polling_clients_count: self.observe.counters.polling_clients(),
            aggregated_events,
            namespaces,
        };
        if let Err(e) = admin.emit("server_stats", &stats).await {
            tracing::debug!(error = %e, "admin: server_stats not sent");
        }
    }

    /// An admin socket connected (its login passed): its session, `config`, the action
    /// listeners, and in development mode every socket of the cluster.
    async fn on_admin_connect(self: Arc<Self>, socket: SocketRef) {
        self.start();
        if let Some(IssuedSession(id)) = socket.remove_extension::<IssuedSession>() {
            socket.emit("session", &id).ok();
        }
        let features = supported_features(self.read_only, self.mode);
        socket
            .emit("config", &json!({ "supportedFeatures": features }))
            .ok();
        if !self.read_only {
            for action in [
                actions::EMIT,
                actions::JOIN,
                actions::LEAVE,
                actions::DISCONNECT,
            ] {
                socket.on(action, move |io: SocketIo, args: Args| async move {
                    match actions::parse(action, &args) {
                        Ok(a) => a.run(&io).await,
                        Err(why) => tracing::debug!(%why, action, "admin: action ignored"),
                    }
                });
            }
        }
        if self.development() {
            let Some(io) = self.io() else { return };
            let all = all_sockets(&io).await;
            socket.emit("all_sockets", &all).ok();
        }
    }
}

/// Every socket of every namespace, on every server: this server's as it knows them, the
/// others' from `fetch_sockets` (best effort: a namespace whose fetch fails shows this
/// server's sockets only).
async fn all_sockets(io: &SocketIo) -> Vec<Value> {
    let mut namespaces: Vec<Namespace> = io.namespaces();
    namespaces.sort_by(|a, b| a.name().cmp(b.name()));
    let mut all = Vec::new();
    for ns in namespaces {
        let local = ns.sockets();
        let ids: std::collections::HashSet<_> = local.iter().map(|s| s.id()).collect();
        all.extend(local.iter().map(|s| serialize::local(s)));
        match ns.fetch_sockets().await {
            Ok(sockets) => all.extend(
                sockets
                    .iter()
                    .filter(|s| !ids.contains(&s.id))
                    .map(|s| serialize::remote(s, ns.name())),
            ),
            Err(e) => tracing::debug!(
                error = %e, ns = ns.name(),
                "admin: fetch_sockets failed; all_sockets has this server's sockets only"
            ),
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_as_node() {
        assert_eq!(
            supported_features(false, Mode::Development),
            [
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
                "AGGREGATED_EVENTS",
                "ALL_EVENTS"
            ]
        );
        assert_eq!(
            supported_features(true, Mode::Development),
            ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        );
        assert_eq!(
            supported_features(true, Mode::Production),
            ["AGGREGATED_EVENTS"]
        );
        assert_eq!(supported_features(false, Mode::Production).len(), 8);
    }
}
