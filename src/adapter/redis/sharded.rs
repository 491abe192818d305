//! The sharded pub/sub adapter: Redis 7 `SSUBSCRIBE`/`SPUBLISH`, on a Redis Cluster or one
//! Redis server, wire-compatible with `createShardedAdapter` of Node's
//! `@socket.io/redis-adapter` 8.3 (cargo feature `redis-cluster`).
//!
//! Sharded channels live on the cluster node that owns their slot, so each message crosses
//! only the node of its channel, and the traffic of many namespaces and rooms spreads over
//! the masters instead of reaching every node (as classic pub/sub does on a Redis Cluster).
//!
//! ```no_run
//! use tower_socketio::SocketIo;
//! use tower_socketio::adapter::redis::sharded::{ShardedAdapterConfig, ShardedAdapterFactory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Any node of the cluster; the others are discovered.
//! let config = ShardedAdapterConfig::cluster(["redis://10.0.0.1:7000/"]);
//! let factory = ShardedAdapterFactory::new(config)?;
//! let redis = factory.handle();
//! let (layer, io) = SocketIo::builder().adapter(factory).build_layer();
//! redis.ready(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! # Channels
//! For the prefix `P` (default `socket.io`) and the namespace `N`: every server subscribes to
//! `P#N#` and to its own response channel `P#N#<server id>#`; in the
//! [`Dynamic`](SubscriptionMode::Dynamic) mode (the default) also to `P#N#<room>#` for every
//! room that has members on it (not sockets' own rooms), and in
//! [`DynamicPrivate`](SubscriptionMode::DynamicPrivate) for sockets' own rooms too. A
//! broadcast to exactly one such room, without acknowledgements, goes to the room's channel;
//! everything else to `P#N#`, and responses to the requester's channel. Messages are JSON,
//! or MessagePack when they hold binary. Every server of a cluster must use the same prefix
//! and mode.
//!
//! # Delivery
//! At most once, as with any pub/sub: a server whose subscription is down misses what is
//! published meanwhile, so connection state recovery cannot be built on this adapter.
//! Subscriptions are kept by this adapter itself (one channel per command, again after a
//! slot moves or a node fails over): delivery resumes by itself after a reshard or a
//! failover.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::RedisAdapterHandle;
use super::conn::{ConnOptions, Lazy, Target};
use super::driver::{Health, Ready, Waiter};
use super::publisher::{Publisher, PublisherConfig};
use super::subscriber::{ChannelKind, ChannelSink, Subscriber, SubscriberConfig};
use crate::adapter::cluster::{
    ClusterAdapter, ClusterSettings, Message, Published, RoomEvents, Transport, kind, random_hex_id,
};
use crate::adapter::{Adapter, AdapterError, AdapterFactory, AdapterFuture, NamespaceHandle, Room};

/// Which rooms get a channel of their own (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// Two channels per namespace (Node's `"static"`): fits many dynamic namespaces.
    Static,
    /// Plus one per room that has members on a server (Node's `"dynamic"`, the default):
    /// a broadcast to one room reaches only the servers where the room has members.
    #[default]
    Dynamic,
    /// Plus one per connected socket (Node's `"dynamic-private"`): fits much one-to-one
    /// messaging with `to(socket_id)`.
    DynamicPrivate,
}

/// Settings of the sharded adapter, with the defaults of Node's.
#[derive(Clone)]
pub struct ShardedAdapterConfig {
    target: Result<Target, String>,
    channel_prefix: String,
    subscription_mode: SubscriptionMode,
    requests_timeout: Duration,
    connect_timeout: Duration,
    command_timeout: Duration,
    ping_interval: Duration,
    max_backoff: Duration,
    publish_queue: usize,
}

impl std::fmt::Debug for ShardedAdapterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapterConfig")
            .field("target", &self.target)
            .field("channel_prefix", &self.channel_prefix)
            .field("subscription_mode", &self.subscription_mode)
            .finish_non_exhaustive()
    }
}

impl ShardedAdapterConfig {
    /// Settings for one Redis 7 server at `url` (`redis://[user:password@]host[:port][/db]`;
    /// an invalid URL is reported by [`ShardedAdapterFactory::new`]).
    pub fn new(url: impl AsRef<str>) -> Self {
        let target = redis::Client::open(url.as_ref())
            .map(Target::Single)
            .map_err(|e| e.to_string());
        Self::with_target(target)
    }

    /// Settings for an existing `redis` crate client of one server (TLS, Unix sockets, …).
    pub fn from_client(client: redis::Client) -> Self {
        Self::with_target(Ok(Target::Single(client)))
    }

    /// Settings for a Redis Cluster reached through any of `nodes` (URLs of cluster nodes;
    /// the others are discovered).
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_target(cluster_target(nodes))
    }

    fn with_target(target: Result<Target, String>) -> Self {
        ShardedAdapterConfig {
            target,
            channel_prefix: "socket.io".to_owned(),
            subscription_mode: SubscriptionMode::default(),
            requests_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            publish_queue: 16_384,
        }
    }

    /// The prefix of every channel (Node's `channelPrefix`, default `socket.io`).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Which rooms get a channel of their own (Node's `subscriptionMode`, default
    /// [`Dynamic`](SubscriptionMode::Dynamic)).
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.subscription_mode = mode;
        self
    }

    /// How long requests (`fetch_sockets`, `server_side_emit_with_ack`) wait for other
    /// servers (default 5 s, Node's fixed value).
    pub fn requests_timeout(mut self, d: Duration) -> Self {
        self.requests_timeout = d;
        self
    }

    /// How long one connection attempt may take (default 2 s).
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

    /// How often idle connections are checked (default 5 s); on a Redis Cluster, also how
    /// often every subscription is issued again.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d.max(Duration::from_millis(10));
        self
    }

    /// The longest wait between two reconnection attempts (default 2 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d.max(Duration::from_millis(50));
        self
    }

    /// How many outgoing messages may wait for Redis (default 16384); past that they are
    /// dropped and counted.
    pub fn publish_queue(mut self, n: usize) -> Self {
        self.publish_queue = n.max(1);
        self
    }
}

/// The Redis Cluster at these nodes.
pub(crate) fn cluster_target<I, S>(nodes: I) -> Result<Target, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    use redis::IntoConnectionInfo;
    let nodes: Vec<redis::ConnectionInfo> = nodes
        .into_iter()
        .map(|n| n.as_ref().into_connection_info().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if nodes.is_empty() {
        return Err("no Redis Cluster node given".to_owned());
    }
    Ok(Target::Cluster(nodes))
}

/// What the namespaces of one server share.
struct Shared {
    uid: String,
    config: ShardedAdapterConfig,
    conn: Arc<Lazy>,
    subscriber: Subscriber,
    publisher: Publisher,
    health: Arc<Health>,
}

impl Ready for Shared {
    fn ready(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(self.subscriber.ready(timeout))
    }
}

/// The factory of sharded adapters: give it to
/// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). One per server: it owns
/// the server's Redis connections (commands and subscriptions), shared by its namespaces.
pub struct ShardedAdapterFactory {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShardedAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapterFactory")
            .field("uid", &self.shared.uid)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl ShardedAdapterFactory {
    /// Starts the connection tasks (on the current Tokio runtime) and returns the factory.
    /// Redis need not be up yet. Fails on an invalid URL or outside a Tokio runtime.
    pub fn new(config: ShardedAdapterConfig) -> Result<Self, AdapterError> {
        let target = config.target.clone().map_err(AdapterError::Backend)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AdapterError::Backend(
                "the sharded adapter must be created inside a Tokio runtime".into(),
            ));
        }
        let health: Arc<Health> = Arc::default();
        let conn = Arc::new(Lazy::new(
            target.clone(),
            ConnOptions {
                connect_timeout: config.connect_timeout,
                response_timeout: None,
                push: None,
            },
            config.max_backoff,
        ));
        let subscriber = Subscriber::start(
            target,
            SubscriberConfig {
                kind: ChannelKind::Sharded,
                connect_timeout: config.connect_timeout,
                command_timeout: config.command_timeout,
                ping_interval: config.ping_interval,
                max_backoff: config.max_backoff,
                sweep_interval: config.ping_interval,
            },
            health.clone(),
        );
        let publisher = Publisher::start(
            conn.clone(),
            PublisherConfig {
                kind: ChannelKind::Sharded,
                queue: config.publish_queue,
                command_timeout: config.command_timeout,
                ping_interval: config.ping_interval,
                max_backoff: config.max_backoff,
            },
            health.clone(),
        );
        Ok(ShardedAdapterFactory {
            shared: Arc::new(Shared {
                uid: random_hex_id(),
                config,
                conn,
                subscriber,
                publisher,
                health,
            }),
        })
    }

    /// A handle to watch the adapter's health and wait for its subscriptions.
    pub fn handle(&self) -> RedisAdapterHandle {
        let ready: Arc<dyn Ready> = self.shared.clone();
        RedisAdapterHandle::new(
            self.shared.health.clone(),
            Waiter::Other(Arc::downgrade(&ready)),
        )
    }
}

impl AdapterFactory for ShardedAdapterFactory {
    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        let shared = self.shared.clone();
        let prefix = &shared.config.channel_prefix;
        let main = format!("{prefix}#{}#", ns.name());
        let response = format!("{main}{}#", shared.uid);
        let room_events = match shared.config.subscription_mode {
            SubscriptionMode::Static => RoomEvents::None,
            SubscriptionMode::Dynamic => RoomEvents::Public,
            SubscriptionMode::DynamicPrivate => RoomEvents::All,
        };
        let settings = ClusterSettings {
            requests_timeout: shared.config.requests_timeout,
            room_events,
            name: "sharded",
            // Pub/sub keeps nothing: the factory refuses recovery (the builder checks).
            recovery: false,
        };
        let uid = shared.uid.clone();
        let adapter = ClusterAdapter::create(ns, uid, settings, |weak| {
            let sink: Weak<dyn ChannelSink> = weak.clone();
            ShardedTransport {
                shared: shared.clone(),
                main,
                response,
                sink,
            }
        });
        let t = adapter.transport();
        t.shared
            .subscriber
            .subscribe(t.sink.clone(), vec![t.main.clone(), t.response.clone()]);
        adapter
    }
}

/// The sharded channels of one namespace.
#[derive(Clone)]
pub(crate) struct ShardedTransport {
    shared: Arc<Shared>,
    /// `P#N#`.
    main: String,
    /// `P#N#<uid>#`.
    response: String,
    sink: Weak<dyn ChannelSink>,
}

/// Whether a room name looks like a socket id (20 UTF-16 units, as Node checks it).
fn looks_like_a_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

impl ShardedTransport {
    fn room_channel(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// Where a message goes: a room's channel for a broadcast to one room without
    /// acknowledgements (dynamic modes), the namespace's channel for anything else.
    fn channel_of(&self, msg: &Message) -> String {
        let mode = self.shared.config.subscription_mode;
        if msg.kind == kind::BROADCAST && msg.request_id().is_none() {
            if let [room] = msg.opts().rooms.as_slice() {
                let dynamic = match mode {
                    SubscriptionMode::Static => false,
                    SubscriptionMode::Dynamic => !looks_like_a_socket_id(room),
                    SubscriptionMode::DynamicPrivate => true,
                };
                if dynamic {
                    return self.room_channel(room);
                }
            }
        }
        self.main.clone()
    }

    fn send(&self, channel: String, payload: Bytes) -> Published {
        let rx = self.shared.publisher.publish(channel, payload);
        Box::pin(async move {
            match rx.await {
                Ok(Ok(())) => Ok(None),
                Ok(Err(e)) => Err(AdapterError::Backend(e)),
                Err(_) => Err(AdapterError::Backend("the publisher stopped".into())),
            }
        })
    }
}

impl Transport for ShardedTransport {
    fn publish(&self, msg: Message) -> Published {
        self.send(self.channel_of(&msg), msg.encode_json_or_msgpack())
    }

    fn publish_response(&self, requester: &str, msg: Message) {
        let channel = format!("{}{requester}#", self.main);
        drop(self.send(channel, msg.encode_json_or_msgpack()));
    }

    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            let cmd = redis::cmd("PUBSUB")
                .arg("SHARDNUMSUB")
                .arg(&self.main)
                .to_owned();
            let v: redis::Value = self
                .shared
                .conn
                .query(&cmd, self.shared.config.command_timeout)
                .await
                .map_err(|e| AdapterError::Backend(format!("PUBSUB SHARDNUMSUB failed: {e}")))?;
            Ok(super::numsub_count(&v, &self.main))
        })
    }

    fn rooms_created(&self, rooms: &[Room]) {
        let channels = rooms.iter().map(|r| self.room_channel(r)).collect();
        self.shared
            .subscriber
            .subscribe(self.sink.clone(), channels);
    }

    fn rooms_deleted(&self, rooms: &[Room]) {
        let channels = rooms.iter().map(|r| self.room_channel(r)).collect();
        self.shared.subscriber.unsubscribe(channels);
    }

    fn is_healthy(&self) -> bool {
        self.shared.health.is_healthy()
    }

    fn close(&self) -> AdapterFuture<'_, ()> {
        self.shared
            .subscriber
            .unsubscribe(vec![self.main.clone(), self.response.clone()]);
        Box::pin(async {})
    }
}

impl ChannelSink for ClusterAdapter<ShardedTransport> {
    fn on_channel_message(&self, channel: &str, payload: Bytes) {
        let msg = match Message::decode(&payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(channel, error = %e, "sharded adapter: ignoring a malformed message");
                return;
            }
        };
        if channel == self.transport().response {
            self.on_response(msg);
        } else {
            self.on_message(msg, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_ids_are_twenty_utf16_units() {
        assert!(looks_like_a_socket_id("YUbrTQgKaDkEpe6VAAAA"));
        assert!(!looks_like_a_socket_id("room1"));
        assert!(looks_like_a_socket_id("😀😀😀😀😀😀😀😀😀😀"));
    }

    #[test]
    fn cluster_targets_need_nodes() {
        assert!(cluster_target(Vec::<String>::new()).is_err());
        assert!(cluster_target(["not a url"]).is_err());
        assert!(matches!(
            cluster_target(["redis://127.0.0.1:7000/"]),
            Ok(Target::Cluster(nodes)) if nodes.len() == 1
        ));
    }
}
