//! The two Redis connections of a server and the tasks that keep them alive.
//!
//! - The **subscriber** task owns a pub/sub connection. It (re)connects with a backoff,
//!   subscribes to every channel of every namespace registered so far, and hands each
//!   message to its namespace's adapter. A lost connection (Redis killed, restarted, a
//!   failed liveness ping) is noticed, logged, and repaired: reconnect and resubscribe.
//! - The **publisher** task owns the order of outgoing messages: one queue, sent in
//!   pipelines on a multiplexed connection, reconnected on failure. While Redis is away,
//!   messages are dropped (pub/sub keeps nothing for later either) and counted as errors;
//!   the queue is bounded, so an outage never grows memory.
//!
//! Neither task holds the driver alive: they end when the factory and every adapter are gone.
//!
//! The publisher is in [`publish`], the subscriber in [`subscribe`].

mod publish;
mod subscribe;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use publish::{PubConn, run_publisher};
use subscribe::run_subscriber;

use crate::adapter::AdapterError;
use crate::util::write;

/// Where the subscriber delivers the messages of a channel.
pub(crate) trait MessageSink: Send + Sync + 'static {
    /// A message arrived on `channel`.
    fn on_message(&self, channel: &str, payload: Bytes);
}

/// Connection settings shared by both tasks.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) publish_queue: usize,
}

/// Health of the connections, readable from anywhere.
#[derive(Debug, Default)]
pub(crate) struct Health {
    subscribed: AtomicBool,
    publish_ok: AtomicBool,
    /// A stream reader of the Streams adapter is disconnected.
    reading_lost: AtomicBool,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Health {
    pub(crate) fn is_healthy(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
            && self.publish_ok.load(Ordering::Acquire)
            && !self.reading_lost.load(Ordering::Acquire)
    }

    /// Counts `n` messages to the cluster that were dropped.
    pub(crate) fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Whether the publishing side works.
    pub(crate) fn publish_ok(&self) -> bool {
        self.publish_ok.load(Ordering::Acquire)
    }

    /// A stream reader connected (`ok`) or failed (`why`).
    pub(crate) fn set_reading(&self, ok: bool, why: Option<&str>) {
        let was_lost = self.reading_lost.swap(!ok, Ordering::AcqRel);
        match (was_lost, ok, why) {
            (true, true, _) => tracing::info!("redis adapter: stream reader connected"),
            (false, false, Some(why)) => {
                tracing::error!(error = %why, "redis adapter: stream reader lost its connection; local delivery goes on, reconnecting");
            }
            (true, false, Some(why)) => {
                tracing::debug!(error = %why, "redis adapter: stream reader still disconnected");
            }
            _ => {}
        }
        if let Some(why) = why {
            self.record_error(format!("stream reader: {why}"));
        }
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn record_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }

    pub(crate) fn set_subscribed(&self, ok: bool, why: Option<&str>) {
        let was = self.subscribed.swap(ok, Ordering::AcqRel);
        match (was, ok, why) {
            (false, true, _) => tracing::info!("redis adapter: subscriber connected"),
            (true, false, Some(why)) => {
                tracing::error!(error = %why, "redis adapter: subscriber connection lost; local delivery goes on, reconnecting");
            }
            (false, false, Some(why)) => {
                tracing::debug!(error = %why, "redis adapter: subscriber still disconnected");
            }
            _ => {}
        }
        if let Some(why) = why {
            self.record_error(format!("subscriber: {why}"));
        }
    }

    pub(crate) fn set_publish(&self, ok: bool, why: Option<&str>) {
        let was = self.publish_ok.swap(ok, Ordering::AcqRel);
        match (was, ok, why) {
            (false, true, _) => tracing::info!("redis adapter: publisher connected"),
            (true, false, Some(why)) => {
                tracing::error!(error = %why, "redis adapter: publishing failed; local delivery goes on, reconnecting");
            }
            (false, false, Some(why)) => {
                tracing::debug!(error = %why, "redis adapter: publisher still disconnected");
            }
            _ => {}
        }
        if let Some(why) = why {
            self.record_error(format!("publisher: {why}"));
        }
    }
}

/// Commands to the subscriber task.
pub(crate) enum SubCmd {
    Subscribe {
        patterns: Vec<String>,
        channels: Vec<String>,
    },
    Unsubscribe {
        patterns: Vec<String>,
        channels: Vec<String>,
    },
    /// Answered once every earlier command is in effect on a live connection.
    Barrier(oneshot::Sender<()>),
}

/// Which adapter receives the messages of each channel and pattern.
#[derive(Default)]
struct Routes {
    patterns: HashMap<String, Weak<dyn MessageSink>>,
    channels: HashMap<String, Weak<dyn MessageSink>>,
}

/// A message to publish; `done` learns whether it was sent.
struct Publish {
    channel: String,
    payload: Bytes,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The connections of one server (one factory).
pub(crate) struct Driver {
    routes: Arc<RwLock<Routes>>,
    sub_tx: mpsc::UnboundedSender<SubCmd>,
    pub_tx: mpsc::Sender<Publish>,
    conn: Arc<PubConn>,
    health: Arc<Health>,
    config: DriverConfig,
    /// Set for a driver without connections ([`Driver::detached`]): what `PUBSUB NUMSUB`
    /// answers.
    detached_servers: Option<usize>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

/// Something that can tell when an adapter listens to the cluster.
pub(crate) trait Ready: Send + Sync + 'static {
    /// Waits until every subscription (and stream reader) asked for so far is active;
    /// `false` after `timeout`.
    fn ready(&self, timeout: Duration) -> futures_util::future::BoxFuture<'_, bool>;
}

/// A weak way to wait for the subscriptions, for the public handle.
#[derive(Clone)]
pub(crate) enum Waiter {
    /// The pub/sub adapter's subscriber task.
    PubSub(mpsc::WeakUnboundedSender<SubCmd>),
    /// The Streams or sharded adapter.
    Other(Weak<dyn Ready>),
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiter")
    }
}

impl Waiter {
    /// Waits until every subscription asked for so far is active; `false` after `timeout`
    /// or when the server is gone.
    pub(crate) async fn ready(&self, timeout: Duration) -> bool {
        let tx = match self {
            Waiter::PubSub(tx) => tx,
            Waiter::Other(r) => {
                return match r.upgrade() {
                    Some(r) => r.ready(timeout).await,
                    None => false,
                };
            }
        };
        let Some(tx) = tx.upgrade() else {
            return false;
        };
        let (done, rx) = oneshot::channel();
        if tx.send(SubCmd::Barrier(done)).is_err() {
            return false;
        }
        drop(tx);
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }
}

impl std::fmt::Debug for SubCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubCmd")
    }
}

impl Driver {
    /// Starts both tasks on the current Tokio runtime.
    pub(crate) fn start(client: redis::Client, config: DriverConfig) -> Arc<Self> {
        let routes: Arc<RwLock<Routes>> = Arc::default();
        let health: Arc<Health> = Arc::default();
        let (sub_tx, sub_rx) = mpsc::unbounded_channel();
        let (pub_tx, pub_rx) = mpsc::channel(config.publish_queue.max(1));
        let conn = Arc::new(PubConn::new(client.clone(), config.clone()));
        tokio::spawn(run_subscriber(
            client,
            config.clone(),
            routes.clone(),
            health.clone(),
            sub_rx,
        ));
        tokio::spawn(run_publisher(
            pub_rx,
            conn.clone(),
            health.clone(),
            config.clone(),
        ));
        Arc::new(Driver {
            routes,
            sub_tx,
            pub_tx,
            conn,
            health,
            config,
            detached_servers: None,
        })
    }

    /// A driver with no connection and no task, for the fuzz harness (`crate::fuzz`):
    /// published messages wait in the returned outbox, incoming ones are handed over with
    /// [`deliver`](Self::deliver), and `PUBSUB NUMSUB` answers `servers`.
    pub(crate) fn detached(publish_queue: usize, servers: usize) -> (Arc<Self>, DetachedOutbox) {
        let config = DriverConfig {
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(1),
            publish_queue,
        };
        let (sub_tx, _) = mpsc::unbounded_channel();
        let (pub_tx, pub_rx) = mpsc::channel(publish_queue.max(1));
        // Never connected: numsub answers from `detached_servers` and nothing publishes.
        let client = redis::Client::open("redis://127.0.0.1:1/").expect("a valid URL");
        let driver = Arc::new(Driver {
            routes: Arc::default(),
            sub_tx,
            pub_tx,
            conn: Arc::new(PubConn::new(client, config.clone())),
            health: Arc::default(),
            config,
            detached_servers: Some(servers),
        });
        (driver, DetachedOutbox(pub_rx))
    }

    /// Hands `payload` to the sink of `channel`, or of the pattern whose prefix it starts
    /// with, as the subscriber does with a message from Redis; `false` when none listens.
    pub(crate) fn deliver(&self, channel: &str, payload: Bytes) -> bool {
        let sink = {
            let r = self.routes.read().unwrap_or_else(|e| e.into_inner());
            r.channels.get(channel).cloned().or_else(|| {
                r.patterns
                    .iter()
                    .find(|(p, _)| channel.starts_with(&unescape_prefix(p)))
                    .map(|(_, s)| s.clone())
            })
        };
        match sink.and_then(|s| s.upgrade()) {
            Some(sink) => {
                sink.on_message(channel, payload);
                true
            }
            None => false,
        }
    }

    /// Every channel routed, and the literal prefix of every pattern.
    pub(crate) fn route_names(&self) -> Vec<String> {
        let r = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = r.channels.keys().cloned().collect();
        names.extend(r.patterns.keys().map(|p| unescape_prefix(p)));
        names.sort();
        names
    }

    pub(crate) fn health(&self) -> &Arc<Health> {
        &self.health
    }

    pub(crate) fn waiter(&self) -> Waiter {
        Waiter::PubSub(self.sub_tx.downgrade())
    }

    /// Routes a pattern and channels to `sink` and subscribes to them.
    pub(crate) fn register(
        &self,
        sink: Weak<dyn MessageSink>,
        pattern: String,
        channels: Vec<String>,
    ) {
        {
            let mut r = write(&self.routes);
            r.patterns.insert(pattern.clone(), sink.clone());
            for c in &channels {
                r.channels.insert(c.clone(), sink.clone());
            }
        }
        let _ = self.sub_tx.send(SubCmd::Subscribe {
            patterns: vec![pattern],
            channels,
        });
    }

    /// Forgets and unsubscribes what [`register`](Self::register) added.
    pub(crate) fn unregister(&self, pattern: String, channels: Vec<String>) {
        {
            let mut r = write(&self.routes);
            r.patterns.remove(&pattern);
            for c in &channels {
                r.channels.remove(c);
            }
        }
        let _ = self.sub_tx.send(SubCmd::Unsubscribe {
            patterns: vec![pattern],
            channels,
        });
    }

    /// Queues a message without waiting; dropped (and logged) when the queue is full.
    pub(crate) fn publish(&self, channel: String, payload: Bytes) {
        let msg = Publish {
            channel,
            payload,
            done: None,
        };
        if let Err(e) = self.pub_tx.try_send(msg) {
            self.health.dropped.fetch_add(1, Ordering::Relaxed);
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "the publish queue is full",
                mpsc::error::TrySendError::Closed(_) => "the publisher stopped",
            };
            tracing::warn!(reason, "redis adapter: message to the cluster dropped");
        }
    }

    /// Queues a message (after every earlier one) and waits until it is sent.
    pub(crate) async fn publish_wait(
        &self,
        channel: String,
        payload: Bytes,
    ) -> Result<(), AdapterError> {
        let (done, rx) = oneshot::channel();
        let msg = Publish {
            channel,
            payload,
            done: Some(done),
        };
        self.pub_tx.try_send(msg).map_err(|_| {
            AdapterError::Backend(
                "the Redis publish queue is full (Redis is slow or unreachable)".into(),
            )
        })?;
        match tokio::time::timeout(self.config.command_timeout * 2, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(AdapterError::Backend(e)),
            Ok(Err(_)) => Err(AdapterError::Backend("the publisher stopped".into())),
            Err(_) => Err(AdapterError::Backend(
                "publishing to Redis timed out".into(),
            )),
        }
    }

    /// `PUBSUB NUMSUB channel`: how many connections (servers) listen on it.
    pub(crate) async fn numsub(&self, channel: &str) -> Result<usize, AdapterError> {
        if let Some(n) = self.detached_servers {
            return Ok(n);
        }
        let cmd = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).to_owned();
        let timeout = self.config.command_timeout;
        let (_, n) = self
            .conn
            .run(|mut c| {
                let cmd = cmd.clone();
                async move {
                    tokio::time::timeout(timeout, cmd.query_async::<(String, usize)>(&mut c))
                        .await
                        .unwrap_or_else(|_| Err(timeout_error("PUBSUB NUMSUB")))
                }
            })
            .await
            .map_err(|e| AdapterError::Backend(format!("PUBSUB NUMSUB failed: {e}")))?;
        Ok(n)
    }
}

/// What a [detached](Driver::detached) driver's adapters published.
pub(crate) struct DetachedOutbox(mpsc::Receiver<Publish>);

impl DetachedOutbox {
    /// The messages published since the last call; each counts as sent.
    pub(crate) fn drain(&mut self) -> Vec<(String, Bytes)> {
        let mut out = Vec::new();
        while let Ok(m) = self.0.try_recv() {
            if let Some(done) = m.done {
                let _ = done.send(Ok(()));
            }
            out.push((m.channel, m.payload));
        }
        out
    }
}

/// The literal text before the `*` of a broadcast pattern, its escapes removed.
fn unescape_prefix(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '*' => break,
            c => out.push(c),
        }
    }
    out
}

/// The first wait before reconnecting; it doubles up to the configured maximum.
const MIN_BACKOFF: Duration = Duration::from_millis(50);

fn timeout_error(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} timed out"),
    ))
}
