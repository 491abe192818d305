//! Many servers as one, through Redis: an adapter wire-compatible with Node's
//! `@socket.io/redis-adapter` 8.x (cargo feature `redis`).
//!
//! Every server of the cluster connects to the same Redis and uses the same key prefix.
//! Rust servers with this adapter and Node servers with `@socket.io/redis-adapter` mix
//! freely, and `@socket.io/redis-emitter` can emit into the cluster from any process.
//!
//! ```no_run
//! use tower_socketio::SocketIo;
//! use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let factory = RedisAdapterFactory::new(RedisAdapterConfig::new("redis://127.0.0.1:6379/"))?;
//! let redis = factory.handle();
//! let (layer, io) = SocketIo::builder().adapter(factory).build_layer();
//! io.ns("/", async |socket: tower_socketio::SocketRef| {
//!     // Reaches the clients of every server.
//!     socket.broadcast().emit("hello", "world").await.ok();
//! });
//! // Optional: wait until this server listens to the cluster.
//! redis.ready(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! # What crosses servers
//! Broadcasts (rooms, `except`, `volatile`, `compress`; `local` keeps one on this server),
//! broadcasts with acknowledgements (every server's clients answer, up to the timeout),
//! `fetch_sockets`/`clients` (id, handshake, rooms, data), `join`/`leave`/`disconnect` of any
//! socket (also through a fetched [`RemoteSocket`](crate::RemoteSocket)),
//! `server_side_emit` with or without acknowledgements, and `server_count`.
//!
//! Requests that wait for other servers (`fetch_sockets`, `server_side_emit_with_ack`) fail
//! with [`AdapterError::Timeout`] after
//! [`requests_timeout`](RedisAdapterConfig::requests_timeout) (5 s by default).
//!
//! # Faults
//! The local part of every operation runs first and never waits for Redis. When Redis is
//! unreachable or restarts, cluster messages of that time are dropped (Redis pub/sub keeps
//! nothing either), errors go to `tracing` and to [`RedisAdapterHandle::is_healthy`] /
//! [`last_error`](RedisAdapterHandle::last_error), and the adapter reconnects and
//! resubscribes by itself, with a backoff up to [`max_backoff`](RedisAdapterConfig::max_backoff).
//! Operations that need answers fail with
//! [`AdapterError::Backend`] meanwhile; a broadcast
//! with acknowledgements still gathers the local ones and adds one such error to its stream.
//!
//! # Wire format
//! The channels `<key>#<nsp>#` (and `<key>#<nsp>#<room>#`), `<key>-request#<nsp>#`,
//! `<key>-response#<nsp>#`, with MessagePack broadcasts `[uid, packet, opts]` and JSON
//! requests, as Node's adapter 8.x uses them. MessagePack goes through the crate's one
//! codec (the MessagePack parser's): what `notepack.io` 2 and 3 write (`undefined`, dates,
//! `ArrayBuffer`s) decodes, and a broadcast's arguments stay a slice of the message, sent
//! as they are to this server's MessagePack clients. An acknowledgement crossing servers carries its
//! first argument only, as with Node. Server-side events travel as JSON.

mod adapter;
pub(crate) mod driver;
pub(crate) mod wire;

#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
mod conn;
#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
mod publisher;
#[cfg(feature = "redis-cluster")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
pub mod sharded;
#[cfg(feature = "redis-streams")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-streams")))]
pub mod streams;
#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
mod subscriber;

#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
pub(crate) use adapter::remote::remote_socket_of;

use std::sync::Arc;
use std::time::Duration;

use crate::adapter::{Adapter, AdapterError, AdapterFactory, NamespaceHandle};

/// Settings of the Redis adapter, with the defaults of Node's adapter.
#[derive(Clone)]
pub struct RedisAdapterConfig {
    client: Result<redis::Client, String>,
    key: String,
    requests_timeout: Duration,
    publish_on_specific_response_channel: bool,
    connect_timeout: Duration,
    command_timeout: Duration,
    ping_interval: Duration,
    max_backoff: Duration,
    publish_queue: usize,
}

impl std::fmt::Debug for RedisAdapterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapterConfig")
            .field("key", &self.key)
            .field("requests_timeout", &self.requests_timeout)
            .field(
                "publish_on_specific_response_channel",
                &self.publish_on_specific_response_channel,
            )
            .finish_non_exhaustive()
    }
}

impl RedisAdapterConfig {
    /// Settings for the Redis at `url` (`redis://[user:password@]host[:port][/db]`; an
    /// invalid URL is reported by [`RedisAdapterFactory::new`]).
    pub fn new(url: impl AsRef<str>) -> Self {
        let client = redis::Client::open(url.as_ref()).map_err(|e| e.to_string());
        Self::with_client(client)
    }

    /// Settings for an existing `redis` crate client (for TLS, Unix sockets, …).
    pub fn from_client(client: redis::Client) -> Self {
        Self::with_client(Ok(client))
    }

    fn with_client(client: Result<redis::Client, String>) -> Self {
        RedisAdapterConfig {
            client,
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            publish_queue: 16_384,
        }
    }

    /// The prefix of every channel (Node's `key`, default `socket.io`); every server of the
    /// cluster must use the same.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long requests wait for other servers (Node's `requestsTimeout`, default 5 s).
    pub fn requests_timeout(mut self, d: Duration) -> Self {
        self.requests_timeout = d;
        self
    }

    /// Answer requests on the requester's own response channel rather than the shared one
    /// (Node's `publishOnSpecificResponseChannel`, default false). Every server listens to
    /// both, so servers with either setting mix.
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// How long one connection attempt to Redis may take (default 2 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How long one Redis command may take before the connection counts as broken
    /// (default 2 s).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }

    /// How often the subscriber connection is checked with a `PING` (default 5 s): a
    /// silently dead connection is noticed within this plus the command timeout.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d.max(Duration::from_millis(10));
        self
    }

    /// The longest wait between two reconnection attempts (default 2 s; attempts start
    /// at 50 ms and double).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d.max(Duration::from_millis(50));
        self
    }

    /// How many outgoing messages may wait for Redis (default 16384); past that, messages
    /// to the cluster are dropped and logged rather than buffered without bound.
    pub fn publish_queue(mut self, n: usize) -> Self {
        self.publish_queue = n.max(1);
        self
    }
}

/// The factory of Redis adapters: give it to
/// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). One per server: it owns
/// the server's two Redis connections (publish and subscribe), shared by its namespaces.
pub struct RedisAdapterFactory {
    driver: Arc<driver::Driver>,
    config: Arc<RedisAdapterConfig>,
}

impl std::fmt::Debug for RedisAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapterFactory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisAdapterFactory {
    /// Starts the connection tasks (on the current Tokio runtime) and returns the factory.
    /// Redis need not be up yet: the adapter connects when it can. Fails on an invalid URL
    /// or outside a Tokio runtime.
    pub fn new(config: RedisAdapterConfig) -> Result<Self, AdapterError> {
        let client = config.client.clone().map_err(AdapterError::Backend)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AdapterError::Backend(
                "the Redis adapter must be created inside a Tokio runtime".into(),
            ));
        }
        let driver = driver::Driver::start(
            client,
            driver::DriverConfig {
                connect_timeout: config.connect_timeout,
                command_timeout: config.command_timeout,
                ping_interval: config.ping_interval,
                max_backoff: config.max_backoff,
                publish_queue: config.publish_queue,
            },
        );
        Ok(RedisAdapterFactory {
            driver,
            config: Arc::new(config),
        })
    }

    /// A factory whose driver has no connection (the fuzz harness, `crate::fuzz`): see
    /// [`driver::Driver::detached`].
    pub(crate) fn detached(
        config: RedisAdapterConfig,
        servers: usize,
    ) -> (Self, Arc<driver::Driver>, driver::DetachedOutbox) {
        let (driver, outbox) = driver::Driver::detached(config.publish_queue, servers);
        let factory = RedisAdapterFactory {
            driver: driver.clone(),
            config: Arc::new(config),
        };
        (factory, driver, outbox)
    }

    /// A handle to watch the adapter's health and wait for its subscriptions.
    pub fn handle(&self) -> RedisAdapterHandle {
        RedisAdapterHandle {
            health: self.driver.health().clone(),
            waiter: self.driver.waiter(),
        }
    }
}

impl AdapterFactory for RedisAdapterFactory {
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        adapter::RedisAdapter::create(ns, self.driver.clone(), self.config.clone())
    }
}

/// Watches a server's Redis connections; cheap to clone, keeps nothing alive.
#[derive(Debug, Clone)]
pub struct RedisAdapterHandle {
    health: Arc<driver::Health>,
    waiter: driver::Waiter,
}

impl RedisAdapterHandle {
    #[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
    pub(crate) fn new(health: Arc<driver::Health>, waiter: driver::Waiter) -> Self {
        RedisAdapterHandle { health, waiter }
    }

    /// Whether both connections to Redis work (subscribed, and the last publish went out).
    pub fn is_healthy(&self) -> bool {
        self.health.is_healthy()
    }

    /// The last Redis error, if any (kept after recovery, for diagnosis).
    pub fn last_error(&self) -> Option<String> {
        self.health.last_error()
    }

    /// How many messages to the cluster were dropped because Redis was unreachable or slow.
    pub fn dropped_messages(&self) -> u64 {
        self.health.dropped()
    }

    /// Waits until every namespace created so far is subscribed on a live connection;
    /// `false` when that did not happen within `timeout`.
    pub async fn ready(&self, timeout: Duration) -> bool {
        self.waiter.ready(timeout).await
    }
}

/// The count of `channel` in a `PUBSUB NUMSUB`/`SHARDNUMSUB` answer: `[channel, n, ...]` from
/// one server, a map from a Redis Cluster (summed over its nodes by the `redis` crate).
#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
pub(crate) fn numsub_count(v: &redis::Value, channel: &str) -> usize {
    use redis::Value;
    let is = |k: &Value| match k {
        Value::BulkString(b) => b.as_slice() == channel.as_bytes(),
        Value::SimpleString(s) => s == channel,
        _ => false,
    };
    let n = |v: &Value| match v {
        Value::Int(n) => usize::try_from(*n).unwrap_or(0),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter(|p| p.len() == 2 && is(&p[0]))
            .map(|p| n(&p[1]))
            .sum(),
        Value::Map(pairs) => pairs.iter().filter(|(k, _)| is(k)).map(|(_, v)| n(v)).sum(),
        _ => 0,
    }
}
