//! The subscription supervisor of the Streams and sharded adapters: one RESP3 connection
//! (to a Redis server or a Redis Cluster) that holds the channels every namespace wants and
//! keeps holding them.
//!
//! The `redis` crate (1.2) loses sharded subscriptions on a Redis Cluster: after a slot
//! moves, Redis sends an unsolicited `sunsubscribe` and the crate does nothing; after a
//! failover it resubscribes every channel in one `SSUBSCRIBE`, which Redis refuses when the
//! channels live in different slots (`CROSSSLOT`). So this module keeps its own set of
//! wanted channels and subscribes **one channel per command**: again on a `Disconnection`
//! push (every channel) and on an `sunsubscribe`/`unsubscribe` push for a channel still
//! wanted (that one), retrying with a short backoff until it holds, and on a Redis Cluster it
//! re-issues every wanted subscription now and then (idempotent) in case a push was lost.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::conn::{Conn, ConnOptions, MIN_BACKOFF, Target, is_connection_error};
use super::driver::Health;
use crate::util::lock;

/// Where messages of a channel go.
pub(crate) trait ChannelSink: Send + Sync + 'static {
    /// A message arrived on `channel`.
    fn on_channel_message(&self, channel: &str, payload: Bytes);
}

/// Which kind of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    /// `SUBSCRIBE` / `PUBLISH`.
    Plain,
    /// `SSUBSCRIBE` / `SPUBLISH` (Redis 7).
    Sharded,
}

impl ChannelKind {
    fn subscribe(self) -> &'static str {
        match self {
            ChannelKind::Plain => "SUBSCRIBE",
            ChannelKind::Sharded => "SSUBSCRIBE",
        }
    }

    fn unsubscribe(self) -> &'static str {
        match self {
            ChannelKind::Plain => "UNSUBSCRIBE",
            ChannelKind::Sharded => "SUNSUBSCRIBE",
        }
    }
}

/// Settings of the supervisor.
#[derive(Debug, Clone)]
pub(crate) struct SubscriberConfig {
    pub(crate) kind: ChannelKind,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_backoff: Duration,
    /// How often every wanted subscription is issued again on a Redis Cluster.
    pub(crate) sweep_interval: Duration,
}

#[derive(Default)]
struct Shared {
    /// Wanted channels and who gets their messages.
    routes: RwLock<HashMap<String, Weak<dyn ChannelSink>>>,
    /// Wanted channels known to be subscribed on the current connection.
    confirmed: Mutex<HashSet<String>>,
    connected: AtomicBool,
    changed: Notify,
}

impl Shared {
    /// Whether every wanted channel holds on a live connection.
    fn complete(&self) -> bool {
        if !self.connected.load(Ordering::Acquire) {
            return false;
        }
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        let confirmed = lock(&self.confirmed);
        routes.keys().all(|c| confirmed.contains(c))
    }
}

enum Cmd {
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
}

/// The supervisor's handle; the task ends when it is dropped.
pub(crate) struct Subscriber {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Starts the supervisor on the current Tokio runtime.
    pub(crate) fn start(target: Target, config: SubscriberConfig, health: Arc<Health>) -> Self {
        let shared: Arc<Shared> = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(target, config, health, shared.clone(), rx));
        Subscriber { shared, tx }
    }

    /// Routes `channels` to `sink` and subscribes to them.
    pub(crate) fn subscribe(&self, sink: Weak<dyn ChannelSink>, channels: Vec<String>) {
        {
            let mut routes = self
                .shared
                .routes
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for c in &channels {
                routes.insert(c.clone(), sink.clone());
            }
        }
        let _ = self.tx.send(Cmd::Subscribe(channels));
    }

    /// Forgets and unsubscribes `channels`.
    pub(crate) fn unsubscribe(&self, channels: Vec<String>) {
        {
            let mut routes = self
                .shared
                .routes
                .write()
                .unwrap_or_else(|e| e.into_inner());
            let mut confirmed = lock(&self.shared.confirmed);
            for c in &channels {
                routes.remove(c);
                confirmed.remove(c);
            }
        }
        let _ = self.tx.send(Cmd::Unsubscribe(channels));
    }

    /// Waits until every channel wanted so far is subscribed; `false` after `timeout`.
    pub(crate) async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            if self.shared.complete() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.shared.complete();
            }
        }
    }
}

/// Text of a push's bulk string.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Why a subscription command failed.
struct Failure {
    why: String,
    /// The command timed out or the connection failed (rather than Redis refusing it): on
    /// a Redis Cluster, the client's slot map may name a node that is gone.
    broken: bool,
}

/// One subscription command's outcome, reported to the task.
type Outcome = (String, Result<(), Failure>);

async fn run(
    target: Target,
    config: SubscriberConfig,
    health: Arc<Health>,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let opts = ConnOptions {
            connect_timeout: config.connect_timeout,
            response_timeout: Some(config.command_timeout),
            push: Some(push_tx),
        };
        let conn = match target.connect(&opts).await {
            Ok(c) => c,
            Err(e) => {
                health.set_subscribed(false, Some(&e));
                if !back_off(&mut backoff, config.max_backoff, &mut rx).await {
                    return;
                }
                continue;
            }
        };
        let began = Instant::now();
        lock(&shared.confirmed).clear();
        shared.connected.store(true, Ordering::Release);
        let mut session = Session {
            conn,
            config: &config,
            shared: &shared,
            health: &health,
            retry: HashSet::new(),
            in_flight: HashSet::new(),
            outcomes: mpsc::unbounded_channel(),
            retry_backoff: MIN_BACKOFF,
        };
        let wanted: Vec<String> = session.wanted();
        session.issue(wanted);
        let lost = session.serve(&mut rx, &mut push_rx).await;
        shared.connected.store(false, Ordering::Release);
        lock(&shared.confirmed).clear();
        shared.changed.notify_waiters();
        match lost {
            None => return,
            Some(why) => health.set_subscribed(false, Some(&why)),
        }
        // A connection that failed soon after it was made (a cluster still failing over)
        // is made again after the backoff, which grows; one that served a while, at once.
        if began.elapsed() < Duration::from_secs(5) {
            if !back_off(&mut backoff, config.max_backoff, &mut rx).await {
                return;
            }
        } else {
            backoff = MIN_BACKOFF;
        }
    }
}

/// Waits out `backoff` and doubles it (up to `max`); `false` when the handle is gone.
/// Commands only change the routes meanwhile (already done by the handle), so they are
/// read and dropped.
async fn back_off(
    backoff: &mut Duration,
    max: Duration,
    rx: &mut mpsc::UnboundedReceiver<Cmd>,
) -> bool {
    let until = Instant::now() + *backoff;
    *backoff = (*backoff * 2).min(max);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            cmd = rx.recv() => if cmd.is_none() { return false },
        }
    }
}

/// One live connection.
struct Session<'a> {
    conn: Conn,
    config: &'a SubscriberConfig,
    shared: &'a Shared,
    health: &'a Health,
    /// Channels whose subscription failed or was dropped, to be issued again.
    retry: HashSet<String>,
    /// Channels with a command on its way.
    in_flight: HashSet<String>,
    outcomes: (
        mpsc::UnboundedSender<Outcome>,
        mpsc::UnboundedReceiver<Outcome>,
    ),
    retry_backoff: Duration,
}

impl Session<'_> {
    fn wanted(&self) -> Vec<String> {
        self.shared
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn is_wanted(&self, channel: &str) -> bool {
        self.shared
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(channel)
    }

    /// Sends one subscription command per channel (concurrently; each reports back).
    fn issue(&mut self, channels: Vec<String>) {
        for c in channels {
            if !self.in_flight.insert(c.clone()) {
                continue;
            }
            let mut conn = self.conn.clone();
            let tx = self.outcomes.0.clone();
            let cmd_name = self.config.kind.subscribe();
            let timeout = self.config.command_timeout;
            tokio::spawn(async move {
                let cmd = redis::cmd(cmd_name).arg(&c).to_owned();
                let r = match tokio::time::timeout(timeout, cmd.exec_async(&mut conn)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Failure {
                        broken: is_connection_error(&e),
                        why: e.to_string(),
                    }),
                    Err(_) => Err(Failure {
                        why: format!("{cmd_name} timed out"),
                        broken: true,
                    }),
                };
                let _ = tx.send((c, r));
            });
        }
        self.update_health();
    }

    fn update_health(&self) {
        if self.shared.complete() {
            self.health.set_subscribed(true, None);
        }
        self.shared.changed.notify_waiters();
    }

    fn dispatch(&self, push: &PushInfo) {
        let (Some(channel), Some(payload)) = (push.data.first().and_then(text), push.data.get(1))
        else {
            return;
        };
        let payload = match payload {
            Value::BulkString(b) => Bytes::copy_from_slice(b),
            Value::SimpleString(s) => Bytes::copy_from_slice(s.as_bytes()),
            _ => return,
        };
        let sink = self
            .shared
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&channel)
            .cloned();
        match sink.and_then(|s| s.upgrade()) {
            Some(sink) => sink.on_channel_message(&channel, payload),
            None => tracing::trace!(
                channel,
                "redis adapter: message on a channel nobody listens to"
            ),
        }
    }

    /// Serves the connection; `None` when the adapter is gone, else why it was lost.
    async fn serve(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Cmd>,
        pushes: &mut mpsc::UnboundedReceiver<PushInfo>,
    ) -> Option<String> {
        let cluster = !matches!(self.conn, Conn::Single(_));
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut sweep = tokio::time::interval(self.config.sweep_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await;
        let mut retry_at: Option<Instant> = None;
        loop {
            let retry_sleep = async {
                match retry_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                push = pushes.recv() => {
                    let Some(push) = push else {
                        return Some("the connection closed".to_owned());
                    };
                    match push.kind {
                        PushKind::Message | PushKind::SMessage => self.dispatch(&push),
                        PushKind::Disconnection => {
                            if !cluster {
                                return Some("the connection closed".to_owned());
                            }
                            // A node of the cluster went away: every channel again, one
                            // command each (the library's own resubscription sends them all
                            // in one command, which fails across slots).
                            tracing::debug!("redis adapter: a cluster node connection dropped; resubscribing");
                            lock(&self.shared.confirmed).clear();
                            self.health.set_subscribed(false, Some("a Redis Cluster node connection dropped"));
                            self.shared.changed.notify_waiters();
                            let all = self.wanted();
                            self.retry.extend(all);
                            retry_at.get_or_insert(Instant::now() + MIN_BACKOFF);
                        }
                        PushKind::SUnsubscribe | PushKind::Unsubscribe => {
                            if let Some(channel) = push.data.first().and_then(text) {
                                if self.is_wanted(&channel) && !self.in_flight.contains(&channel) {
                                    // Redis dropped it (its slot moved): subscribe again.
                                    tracing::debug!(channel, "redis adapter: subscription dropped by Redis; resubscribing");
                                    lock(&self.shared.confirmed).remove(&channel);
                                    self.shared.changed.notify_waiters();
                                    self.issue(vec![channel]);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some((channel, result)) = self.outcomes.1.recv() => {
                    self.in_flight.remove(&channel);
                    match result {
                        Ok(()) if self.is_wanted(&channel) => {
                            lock(&self.shared.confirmed).insert(channel);
                            self.update_health();
                        }
                        Ok(()) => {
                            // Unwanted meanwhile: undo.
                            self.unsubscribe(vec![channel]);
                        }
                        Err(Failure { why, broken: true }) => {
                            // The connection (or, on a Redis Cluster, the client's idea of
                            // which node owns the channel's slot, e.g. a master that died
                            // before its replica took over) is stale: a new connection
                            // learns the slots afresh and subscribes everything again.
                            tracing::debug!(channel, error = %why, "redis adapter: subscription command failed; reconnecting");
                            return Some(format!("{} {channel}: {why}", self.config.kind.subscribe()));
                        }
                        Err(Failure { why, broken: false }) => {
                            tracing::debug!(channel, error = %why, "redis adapter: subscription failed; retrying");
                            self.health.set_subscribed(false, Some(&format!("{} {channel}: {why}", self.config.kind.subscribe())));
                            if self.is_wanted(&channel) {
                                self.retry.insert(channel);
                                retry_at.get_or_insert(Instant::now() + self.retry_backoff);
                            }
                        }
                    }
                }
                cmd = rx.recv() => match cmd {
                    None => return None,
                    Some(Cmd::Subscribe(channels)) => self.issue(channels),
                    Some(Cmd::Unsubscribe(channels)) => self.unsubscribe(channels),
                },
                _ = retry_sleep => {
                    let pending: Vec<String> = self.retry.drain().collect();
                    let channels: Vec<String> = pending.into_iter().filter(|c| self.is_wanted(c)).collect();
                    retry_at = None;
                    if channels.is_empty() {
                        self.retry_backoff = MIN_BACKOFF;
                    } else {
                        self.retry_backoff = (self.retry_backoff * 2).min(Duration::from_millis(500));
                        self.issue(channels);
                    }
                }
                _ = sweep.tick(), if cluster => {
                    let all = self.wanted();
                    self.issue(all);
                }
                _ = ping.tick(), if !cluster => {
                    let mut c = self.conn.clone();
                    let alive = tokio::time::timeout(
                        self.config.command_timeout,
                        redis::cmd("PING").query_async::<Value>(&mut c),
                    ).await;
                    match alive {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Some(format!("ping failed: {e}")),
                        Err(_) => return Some("ping timed out".to_owned()),
                    }
                }
            }
        }
    }

    fn unsubscribe(&mut self, channels: Vec<String>) {
        let channels: Vec<String> = channels
            .into_iter()
            .filter(|c| !self.is_wanted(c))
            .collect();
        if channels.is_empty() {
            return;
        }
        let conn = self.conn.clone();
        let cmd_name = self.config.kind.unsubscribe();
        let timeout = self.config.command_timeout;
        tokio::spawn(async move {
            // One per command too (shard channels of different slots).
            futures_util::stream::iter(channels)
                .for_each_concurrent(16, |c| {
                    let mut conn = conn.clone();
                    async move {
                        let cmd = redis::cmd(cmd_name).arg(&c).to_owned();
                        if let Ok(Err(e)) =
                            tokio::time::timeout(timeout, cmd.exec_async(&mut conn)).await
                        {
                            tracing::debug!(channel = c, error = %e, "redis adapter: unsubscribe failed");
                        }
                    }
                })
                .await;
        });
    }
}
