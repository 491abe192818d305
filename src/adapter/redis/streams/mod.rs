//! The Redis Streams adapter, wire-compatible with Node's `@socket.io/redis-streams-adapter`
//! 0.3 (cargo feature `redis-streams`).
//!
//! Broadcasts and room operations are entries of a Redis stream (`XADD` with
//! `MAXLEN ~ max_len`), read by every server with `XREAD BLOCK` from the last entry it saw:
//! a server whose connection dropped reads what it missed when it is back, and with
//! [connection state recovery](crate::ConnectionStateRecovery) a client that drops from one
//! server and reconnects to another within the window gets its id, rooms, data and every
//! broadcast it missed (sessions are kept in Redis, the missed packets come from the stream).
//! Requests (`fetch_sockets`, `server_side_emit`, broadcasts with acknowledgements) and
//! their responses travel over pub/sub.
//!
//! ```no_run
//! use tower_socketio::SocketIo;
//! use tower_socketio::adapter::redis::streams::{StreamsAdapterConfig, StreamsAdapterFactory};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let factory = StreamsAdapterFactory::new(StreamsAdapterConfig::new("redis://127.0.0.1:6379/"))?;
//! let redis = factory.handle();
//! let (layer, io) = SocketIo::builder().adapter(factory).build_layer();
//! redis.ready(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! # Wire format (Node's 0.3.1)
//! - Stream `stream_name` (default `socket.io`), or with `stream_count > 1` the stream
//!   `stream_name-<i>` of the namespace, `i = hashCode(nsp) % stream_count` as JavaScript
//!   computes it: a namespace whose hash is negative gets a negative index (`socket.io--2`),
//!   which Node's servers never read (a Node bug: such a namespace does not cross Node
//!   servers). This adapter writes to the same stream, so mixed clusters meet, and reads the
//!   stream of every namespace it hosts, so Rust servers do reach each other there.
//! - Entries `uid <server id> nsp <namespace> type <n> data <JSON, or base64 MessagePack
//!   when it holds binary>` (plus a field of ours, `tsio-mid`, which Node ignores) for
//!   broadcasts without acknowledgements, `socketsJoin`, `socketsLeave` and
//!   `disconnectSockets`.
//! - Pub/sub (or sharded pub/sub with [`use_sharded_pub_sub`](StreamsAdapterConfig::use_sharded_pub_sub))
//!   on `channel_prefix#nsp#` for requests and `channel_prefix#nsp#<server id>#` for the
//!   responses to a server, MessagePack; the server count is `PUBSUB NUMSUB` of the first.
//! - Sessions under `session_key_prefix<pid>` (`sio:session:<pid>`), base64 MessagePack,
//!   expiring after `max_disconnection_duration`.
//!
//! # Delivery
//! Stream entries reach every server once, in order, even across a server's reconnection,
//! as long as they are not trimmed first (`max_len` entries are kept). While Redis is
//! unreachable, entries wait in a bounded buffer and are written when it is back (past the
//! bound they are dropped and counted in
//! [`dropped_messages`](super::RedisAdapterHandle::dropped_messages)); a write whose
//! connection died is checked against the stream before it is sent again, so none is
//! written twice. Requests and responses are at most once (pub/sub).
//!
//! Differences from Node: the local part of an operation does not wait for Redis (Node
//! awaits the `XADD`), except that with recovery on a stored broadcast reaches this
//! server's sockets from the stream, in stream order, so that every client sees offsets in
//! order (when Redis is unreachable it is delivered at once, without an offset); a
//! broadcast flagged `local` is not stored (it has no place in the stream, as in Node); one
//! server id is shared by the namespaces of a server; the `heartbeatInterval` and
//! `heartbeatTimeout` options of Node (unused by 0.3) do not exist here.

mod config;
mod entries;
mod reader;
mod session;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::RedisAdapterHandle;
use super::conn::{ConnOptions, Lazy};
use super::driver::{Health, Ready, Waiter};
use super::publisher::{Publisher, PublisherConfig};
use super::subscriber::{ChannelKind, ChannelSink, Subscriber, SubscriberConfig};
use crate::adapter::cluster::{
    ClusterAdapter, ClusterSettings, Early, Message, Published, RoomEvents, Transport, kind,
    random_hex_id,
};
use crate::adapter::{
    Adapter, AdapterError, AdapterFactory, AdapterFuture, NamespaceHandle, PersistedSession,
};
use crate::engine::Sid;
use crate::protocol::BroadcastPacket;
use crate::util::lock;
use entries::{Entry, MESSAGE_ID_FIELD, stream_of};
use reader::{EntrySink, ReaderConfig, Readers};
use session::StoredSession;
use writer::{Writer, WriterConfig};

pub use config::StreamsAdapterConfig;

/// What the namespaces of one server share.
struct Shared {
    uid: String,
    config: StreamsAdapterConfig,
    conn: Arc<Lazy>,
    subscriber: Subscriber,
    publisher: Publisher,
    writer: Writer,
    readers: Readers,
    health: Arc<Health>,
    /// The stream of each namespace.
    streams: Mutex<HashMap<String, Arc<str>>>,
}

impl Ready for Shared {
    fn ready(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            self.subscriber.ready(timeout).await
                && self
                    .readers
                    .ready(deadline.saturating_duration_since(tokio::time::Instant::now()))
                    .await
        })
    }
}

/// The factory of Streams adapters: give it to
/// [`SocketIoBuilder::adapter`](crate::SocketIoBuilder::adapter). One per server: it owns
/// the server's Redis connections (commands, one per stream read, subscriptions), shared by
/// its namespaces.
pub struct StreamsAdapterFactory {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamsAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapterFactory")
            .field("uid", &self.shared.uid)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl StreamsAdapterFactory {
    /// Starts the connection tasks (on the current Tokio runtime) and returns the factory.
    /// Redis need not be up yet. Fails on an invalid URL or outside a Tokio runtime.
    pub fn new(config: StreamsAdapterConfig) -> Result<Self, AdapterError> {
        let target = config.target.clone().map_err(AdapterError::Backend)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AdapterError::Backend(
                "the Redis Streams adapter must be created inside a Tokio runtime".into(),
            ));
        }
        let uid = random_hex_id();
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
        let kind = if config.use_sharded_pub_sub {
            ChannelKind::Sharded
        } else {
            ChannelKind::Plain
        };
        let subscriber = Subscriber::start(
            target.clone(),
            SubscriberConfig {
                kind,
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
                kind,
                queue: config.publish_queue,
                command_timeout: config.command_timeout,
                ping_interval: config.ping_interval,
                max_backoff: config.max_backoff,
            },
            health.clone(),
        );
        let writer = Writer::start(
            conn.clone(),
            WriterConfig {
                uid: uid.clone(),
                max_len: config.max_len,
                max_buffered_bytes: config.max_buffered_bytes,
                command_timeout: config.command_timeout,
                ping_interval: config.ping_interval,
                max_backoff: config.max_backoff,
            },
            health.clone(),
        );
        let readers = Readers::new(
            target,
            ReaderConfig {
                read_count: config.read_count,
                block_time: config.block_time,
                connect_timeout: config.connect_timeout,
                command_timeout: config.command_timeout,
                max_backoff: config.max_backoff,
            },
            health.clone(),
        );
        Ok(StreamsAdapterFactory {
            shared: Arc::new(Shared {
                uid,
                config,
                conn,
                subscriber,
                publisher,
                writer,
                readers,
                health,
                streams: Mutex::default(),
            }),
        })
    }

    /// A handle to watch the adapter's health and wait until it listens to the cluster.
    pub fn handle(&self) -> RedisAdapterHandle {
        let ready: Arc<dyn Ready> = self.shared.clone();
        RedisAdapterHandle::new(
            self.shared.health.clone(),
            Waiter::Other(Arc::downgrade(&ready)),
        )
    }
}

impl AdapterFactory for StreamsAdapterFactory {
    fn supports_connection_state_recovery(&self) -> bool {
        true
    }

    fn create(&self, ns: NamespaceHandle) -> Arc<dyn Adapter> {
        let shared = self.shared.clone();
        let c = &shared.config;
        let nsp = ns.name().to_owned();
        let stream: Arc<str> = stream_of(&c.stream_name, c.stream_count, &nsp).into();
        lock(&shared.streams).insert(nsp.clone(), stream.clone());
        let public = format!("{}#{nsp}#", c.channel_prefix);
        let private = format!("{public}{}#", shared.uid);
        let recovery = ns
            .connection_state_recovery()
            .map(|r| r.get_max_disconnection_duration());
        let settings = ClusterSettings {
            requests_timeout: c.requests_timeout,
            room_events: RoomEvents::None,
            name: "streams",
            recovery: recovery.is_some(),
        };
        let uid = shared.uid.clone();
        let adapter = ClusterAdapter::create(ns, uid, settings, |weak| {
            let sink: Weak<dyn ChannelSink> = weak.clone();
            let entries: Weak<dyn EntrySink> = weak.clone();
            StreamsTransport {
                shared: shared.clone(),
                nsp: nsp.clone(),
                stream,
                public,
                private,
                sink,
                entries,
                session_ttl: recovery.unwrap_or_default(),
            }
        });
        let t = adapter.transport();
        t.shared
            .subscriber
            .subscribe(t.sink.clone(), vec![t.public.clone(), t.private.clone()]);
        t.shared
            .readers
            .register(&nsp, &t.stream, t.entries.clone());
        adapter
    }
}

/// The stream and channels of one namespace.
#[derive(Clone)]
pub(crate) struct StreamsTransport {
    shared: Arc<Shared>,
    nsp: String,
    stream: Arc<str>,
    /// `P#N#`.
    public: String,
    /// `P#N#<uid>#`.
    private: String,
    sink: Weak<dyn ChannelSink>,
    entries: Weak<dyn EntrySink>,
    /// How long a session is kept (`max_disconnection_duration`).
    session_ttl: Duration,
}

/// Whether a message travels over pub/sub rather than the stream (Node's `isEphemeral`).
fn is_ephemeral(msg: &Message) -> bool {
    match msg.kind {
        kind::BROADCAST => msg.request_id().is_some(),
        kind::SERVER_SIDE_EMIT | kind::FETCH_SOCKETS => true,
        _ => false,
    }
}

impl StreamsTransport {
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

    fn append(&self, msg: &Message, early: Option<Early>) -> Published {
        let fields = msg.stream_fields(self.shared.config.only_plaintext);
        let rx = self
            .shared
            .writer
            .append(self.stream.clone(), fields, early);
        Box::pin(async move {
            match rx.await {
                Ok(Ok(id)) => Ok(Some(id.to_string())),
                Ok(Err(e)) => Err(AdapterError::Backend(e)),
                Err(_) => Err(AdapterError::Backend("the stream writer stopped".into())),
            }
        })
    }
}

impl Transport for StreamsTransport {
    fn publish(&self, msg: Message) -> Published {
        if is_ephemeral(&msg) {
            self.send(self.public.clone(), msg.encode_msgpack())
        } else {
            self.append(&msg, None)
        }
    }

    fn publish_stored(&self, msg: Message, early: Early) -> Published {
        self.append(&msg, Some(early))
    }

    fn publish_response(&self, requester: &str, msg: Message) {
        let channel = format!(
            "{}#{}#{requester}#",
            self.shared.config.channel_prefix, msg.nsp
        );
        drop(self.send(channel, msg.encode_msgpack()));
    }

    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            let sub = if self.shared.config.use_sharded_pub_sub {
                "SHARDNUMSUB"
            } else {
                "NUMSUB"
            };
            let cmd = redis::cmd("PUBSUB").arg(sub).arg(&self.public).to_owned();
            let v: redis::Value = self
                .shared
                .conn
                .query(&cmd, self.shared.config.command_timeout)
                .await
                .map_err(|e| AdapterError::Backend(format!("PUBSUB {sub} failed: {e}")))?;
            Ok(super::numsub_count(&v, &self.public))
        })
    }

    fn is_healthy(&self) -> bool {
        self.shared.health.is_healthy()
    }

    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let stored = StoredSession {
                sid: session.sid,
                pid: session.pid,
                rooms: session.rooms,
                data: session.data,
            };
            self.shared.persist(&stored, self.session_ttl).await
        })
    }

    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        Box::pin(async move {
            let pid = pid.to_string();
            let session = self.shared.take_session(&self.stream, &pid, offset).await?;
            Ok(session.map(|s| PersistedSession::new(s.sid, s.pid, s.rooms, s.data)))
        })
    }

    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        Box::pin(async move {
            let Some(entries) = self.shared.entries_after(&self.stream, offset).await? else {
                return Ok(None);
            };
            Ok(Some(
                entries
                    .iter()
                    .filter_map(|e| self.missed(e, session))
                    .collect(),
            ))
        })
    }

    fn close(&self) -> AdapterFuture<'_, ()> {
        self.shared
            .subscriber
            .unsubscribe(vec![self.public.clone(), self.private.clone()]);
        self.shared.readers.unregister(&self.nsp);
        lock(&self.shared.streams).remove(&self.nsp);
        Box::pin(async {})
    }
}

impl StreamsTransport {
    /// A stored broadcast of this namespace that a socket in the session's rooms missed,
    /// with its offset (volatile broadcasts are not replayed).
    fn missed(&self, entry: &Entry, session: &PersistedSession) -> Option<BroadcastPacket> {
        if entry.text("nsp") != Some(self.nsp.as_str()) || entry.text("type") != Some("3") {
            return None;
        }
        let msg = Message::from_stream_fields(
            entry.text("uid").unwrap_or_default(),
            &self.nsp,
            "3",
            entry.get("data"),
        )
        .ok()?;
        if msg.request_id().is_some() {
            return None;
        }
        let opts = msg.opts();
        if opts.flags.volatile || !session.missed(&opts) {
            return None;
        }
        let packet = msg.packet().ok()?.to_broadcast(None);
        Some(packet.with_offset(entry.id.to_string()))
    }
}

impl ChannelSink for ClusterAdapter<StreamsTransport> {
    fn on_channel_message(&self, channel: &str, payload: Bytes) {
        match Message::decode_msgpack(&payload) {
            Ok(msg) => self.on_message(msg, None),
            Err(e) => {
                tracing::debug!(channel, error = %e, "redis streams adapter: ignoring a malformed message");
            }
        }
    }
}

impl EntrySink for ClusterAdapter<StreamsTransport> {
    fn on_entry(&self, entry: &Entry) {
        let (Some(uid), Some(nsp), Some(ty)) =
            (entry.text("uid"), entry.text("nsp"), entry.text("type"))
        else {
            return;
        };
        if uid == self.uid() {
            // Ours: delivered here already, unless it is a stored broadcast (recovery on),
            // which reaches this server's sockets now, in stream order, with its offset
            // (unless it had to go without one while Redis was away).
            if !self.recovery() || ty != "3" {
                return;
            }
            let mine = entry
                .text(MESSAGE_ID_FIELD)
                .is_some_and(|mid| self.transport().shared.writer.claim(mid));
            if !mine {
                return;
            }
            match Message::from_stream_fields(uid, nsp, ty, entry.get("data")) {
                Ok(msg) if msg.nsp == self.nsp() && !msg.opts().flags.volatile => {
                    self.deliver(&msg, Some(&entry.id.to_string()));
                }
                _ => {}
            }
            return;
        }
        match Message::from_stream_fields(uid, nsp, ty, entry.get("data")) {
            Ok(msg) => self.on_message(msg, Some(&entry.id.to_string())),
            Err(e) => {
                tracing::debug!(id = %entry.id, error = %e, "redis streams adapter: ignoring a malformed stream entry");
            }
        }
    }
}
