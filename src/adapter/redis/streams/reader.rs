//! The stream readers: one task and one connection per stream (a blocking `XREAD` holds its
//! connection), reading from the last id seen, so a reader whose connection dropped reads
//! what it missed when it is back.
//!
//! A reader starts at the stream's last entry (read once, so that nothing written after
//! the server said it is ready is missed; Node starts at `$` on its first `XREAD`), keeps
//! its position across reconnections, backs off on errors (Node retries at once), and on a
//! reconnection asks Redis (7+) whether entries after its position were trimmed
//! meanwhile: such a gap is logged and counted in the dropped messages.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use redis::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::entries::{Entry, EntryId, range_entries, read_entries};
use crate::adapter::redis::conn::{ConnOptions, MIN_BACKOFF, Target};
use crate::adapter::redis::driver::Health;
use crate::util::lock;

/// Where the entries of a namespace go.
pub(crate) trait EntrySink: Send + Sync + 'static {
    /// An entry of the namespace's stream.
    fn on_entry(&self, entry: &Entry);
}

/// Settings of the readers.
#[derive(Debug, Clone)]
pub(crate) struct ReaderConfig {
    pub(crate) read_count: usize,
    pub(crate) block_time: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) max_backoff: Duration,
}

#[derive(Default)]
struct Shared {
    /// The adapters, by namespace.
    sinks: RwLock<HashMap<String, Weak<dyn EntrySink>>>,
    /// Streams read, and whether each knows its starting position.
    started: Mutex<HashMap<String, bool>>,
    /// Where each reader is.
    positions: Mutex<HashMap<String, Arc<Position>>>,
    changed: Notify,
}

/// How far a reader has delivered its stream: every entry up to `at` went to the
/// namespaces of this server. Held while a batch is delivered, so that whoever reads it
/// knows that every entry after it reaches the sockets live.
#[derive(Default)]
pub(crate) struct Position {
    at: Mutex<Option<EntryId>>,
    moved: Notify,
}

/// The readers of one server; their tasks end when it is dropped.
pub(crate) struct Readers {
    shared: Arc<Shared>,
    target: Target,
    config: ReaderConfig,
    health: Arc<Health>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").finish_non_exhaustive()
    }
}

impl Readers {
    pub(crate) fn new(target: Target, config: ReaderConfig, health: Arc<Health>) -> Self {
        Readers {
            shared: Arc::default(),
            target,
            config,
            health,
        }
    }

    /// Routes the entries of namespace `nsp` to `sink` and makes sure `stream` is read.
    pub(crate) fn register(&self, nsp: &str, stream: &str, sink: Weak<dyn EntrySink>) {
        self.shared
            .sinks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(nsp.to_owned(), sink);
        let mut started = lock(&self.shared.started);
        if started.contains_key(stream) {
            return;
        }
        started.insert(stream.to_owned(), false);
        drop(started);
        let position: Arc<Position> = Arc::default();
        lock(&self.shared.positions).insert(stream.to_owned(), position.clone());
        tokio::spawn(read(
            Arc::downgrade(&self.shared),
            position,
            stream.to_owned(),
            self.target.clone(),
            self.config.clone(),
            self.health.clone(),
        ));
    }

    /// Forgets the namespace `nsp` (its stream is still read for the others).
    pub(crate) fn unregister(&self, nsp: &str) {
        self.shared
            .sinks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(nsp);
    }

    /// Where the reader of `stream` has delivered up to, once it is at `at` or further;
    /// `None` when it did not get there within `timeout` (it is disconnected, or the
    /// stream is not read here).
    pub(crate) async fn delivered_up_to(
        &self,
        stream: &str,
        at: EntryId,
        timeout: Duration,
    ) -> Option<EntryId> {
        let position = lock(&self.shared.positions).get(stream).cloned()?;
        let deadline = Instant::now() + timeout;
        loop {
            let moved = position.moved.notified();
            if let Some(p) = *lock(&position.at) {
                if p >= at {
                    return Some(p);
                }
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                return None;
            }
        }
    }

    /// Waits until every reader knows where it starts; `false` after `timeout`.
    pub(crate) async fn ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            if lock(&self.shared.started).values().all(|s| *s) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }
}

impl Shared {
    fn dispatch(&self, entry: &Entry) {
        let Some(nsp) = entry.text("nsp") else {
            // Node skips entries without a namespace too.
            return;
        };
        let sink = self
            .sinks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(nsp)
            .cloned();
        if let Some(sink) = sink.and_then(|s| s.upgrade()) {
            sink.on_entry(entry);
        }
    }
}

async fn read(
    shared: Weak<Shared>,
    progress: Arc<Position>,
    stream: String,
    target: Target,
    config: ReaderConfig,
    health: Arc<Health>,
) {
    let opts = ConnOptions {
        connect_timeout: config.connect_timeout,
        response_timeout: Some(config.block_time + config.command_timeout),
        push: None,
    };
    let block_ms = u64::try_from(config.block_time.as_millis()).unwrap_or(u64::MAX);
    let mut last: Option<EntryId> = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        if shared.strong_count() == 0 {
            return;
        }
        let mut conn = match target.connect(&opts).await {
            Ok(c) => c,
            Err(e) => {
                health.set_reading(false, Some(&e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
                continue;
            }
        };
        let position = match last {
            None => start_position(&mut conn, &stream, config.command_timeout).await,
            Some(at) => {
                check_gap(&mut conn, &stream, at, config.command_timeout, &health).await;
                Ok(at)
            }
        };
        let mut at = match position {
            Ok(at) => at,
            Err(e) => {
                health.set_reading(false, Some(&e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
                continue;
            }
        };
        if last.is_none() {
            let Some(s) = shared.upgrade() else { return };
            *lock(&progress.at) = Some(at);
            progress.moved.notify_waiters();
            lock(&s.started).insert(stream.clone(), true);
            s.changed.notify_waiters();
        }
        last = Some(at);
        health.set_reading(true, None);
        backoff = MIN_BACKOFF;
        loop {
            let cmd = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(config.read_count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&stream)
                .arg(at.to_string())
                .to_owned();
            let limit = config.block_time + config.command_timeout * 2;
            let reply = match tokio::time::timeout(limit, cmd.query_async::<Value>(&mut conn)).await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    health.set_reading(false, Some(&format!("XREAD failed: {e}")));
                    break;
                }
                Err(_) => {
                    health.set_reading(false, Some("XREAD timed out"));
                    break;
                }
            };
            let Some(s) = shared.upgrade() else { return };
            let entries = read_entries(reply);
            if entries.is_empty() {
                continue;
            }
            {
                // Delivered and recorded together (see `Position`).
                let mut delivered = lock(&progress.at);
                for entry in entries {
                    if entry.id > at {
                        at = entry.id;
                    }
                    s.dispatch(&entry);
                }
                *delivered = Some(at);
            }
            progress.moved.notify_waiters();
            last = Some(at);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.max_backoff);
    }
}

/// The id of the stream's last entry (`0-0` for an empty or missing stream).
async fn start_position(
    conn: &mut crate::adapter::redis::conn::Conn,
    stream: &str,
    timeout: Duration,
) -> Result<EntryId, String> {
    let cmd = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .to_owned();
    let v = tokio::time::timeout(timeout, cmd.query_async::<Value>(conn))
        .await
        .map_err(|_| "XREVRANGE timed out".to_owned())?
        .map_err(|e| format!("XREVRANGE failed: {e}"))?;
    Ok(range_entries(v).first().map_or(EntryId::ZERO, |e| e.id))
}

/// Whether entries after `at` were trimmed while this reader was away (Redis 7 tells the
/// largest id it deleted); such a gap is logged and counted.
async fn check_gap(
    conn: &mut crate::adapter::redis::conn::Conn,
    stream: &str,
    at: EntryId,
    timeout: Duration,
    health: &Health,
) {
    let cmd = redis::cmd("XINFO").arg("STREAM").arg(stream).to_owned();
    let Ok(Ok(v)) = tokio::time::timeout(timeout, cmd.query_async::<Value>(conn)).await else {
        return;
    };
    let pairs: Vec<(Value, Value)> = match v {
        Value::Array(items) => {
            let mut it = items.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        }
        Value::Map(m) => m,
        _ => return,
    };
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        _ => String::new(),
    };
    let deleted = pairs
        .iter()
        .find(|(k, _)| text(k) == "max-deleted-entry-id")
        .and_then(|(_, v)| EntryId::parse(&text(v)));
    if let Some(deleted) = deleted {
        if deleted > at {
            health.count_dropped(1);
            tracing::warn!(
                stream,
                position = %at,
                trimmed_up_to = %deleted,
                "redis streams adapter: entries were trimmed from the stream while this server was not reading it; some messages were missed (raise max_len)"
            );
        }
    }
}

/// The streams read by a server, for tests and diagnosis.
#[allow(dead_code)]
pub(crate) fn streams(readers: &Readers) -> HashSet<String> {
    lock(&readers.shared.started).keys().cloned().collect()
}
