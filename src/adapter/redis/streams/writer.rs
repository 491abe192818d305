//! The stream writer: every `XADD` of a server goes through one ordered queue, bounded in
//! bytes, written in pipelines of what is waiting.
//!
//! - **None lost.** While Redis is unreachable, entries wait in the queue (up to
//!   `max_buffered_bytes`; past that they are dropped, counted and logged) and are written
//!   when it is back, in order.
//! - **None twice.** When a connection dies after sending an `XADD`, Redis may or may not
//!   have executed it. Each entry carries a message id of ours
//!   ([`MESSAGE_ID_FIELD`](super::entries::MESSAGE_ID_FIELD)); before sending such entries
//!   again, the writer reads the stream after the last id it knows to precede them and keeps
//!   every entry it finds there as written.
//! - **Local delivery never stops.** With recovery on, a stored broadcast reaches this
//!   server's sockets from the stream (in stream order, with its offset); when the writer
//!   cannot write, it delivers the waiting ones at once without an offset (the "early"
//!   callback). Each such broadcast is delivered by whichever comes first, the reader or the
//!   writer's early delivery, never both: they claim it in [`Writer::claim`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::entries::{EntryId, MESSAGE_ID_FIELD, range_entries};
use crate::adapter::redis::conn::{Conn, Lazy, MIN_BACKOFF, is_connection_error};
use crate::adapter::redis::driver::Health;
use crate::util::lock;

pub(crate) use crate::adapter::cluster::Early;

/// What an append resolves to: the entry id, or why the entry was dropped.
pub(crate) type Appended = oneshot::Receiver<Result<EntryId, String>>;

/// Settings of the writer.
#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    pub(crate) uid: String,
    pub(crate) max_len: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_backoff: Duration,
}

struct Pending {
    stream: Arc<str>,
    fields: Vec<(&'static str, Bytes)>,
    mid: String,
    seq: u64,
    size: usize,
    done: Option<oneshot::Sender<Result<EntryId, String>>>,
}

/// Who delivers a stored broadcast of ours to this server's sockets.
enum Claim {
    /// Nobody yet: the reader will (with the offset), or the writer (without it, early).
    Open(Early),
    /// Delivered early, without its offset: the reader leaves it.
    Early,
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Pending>,
    bytes: usize,
    /// Redis is unreachable: stored broadcasts are delivered locally at once.
    degraded: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    notify: Arc<Notify>,
    /// Our stored broadcasts not delivered here yet (or delivered early), by sequence.
    claims: Mutex<BTreeMap<u64, Claim>>,
    /// Held while delivering early (outside the other locks), so that early deliveries
    /// keep their order.
    delivering: Mutex<()>,
    seq: AtomicU64,
    config: WriterConfig,
    health: Arc<Health>,
    dropped_warned: Mutex<Option<Instant>>,
}

/// The writer's handle; the task ends when it is dropped.
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.notify.notify_one();
    }
}

impl Writer {
    /// Starts the writer on the current Tokio runtime.
    pub(crate) fn start(conn: Arc<Lazy>, config: WriterConfig, health: Arc<Health>) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            notify: Arc::new(Notify::new()),
            claims: Mutex::default(),
            delivering: Mutex::new(()),
            seq: AtomicU64::new(0),
            config,
            health,
            dropped_warned: Mutex::new(None),
        });
        tokio::spawn(run(Arc::downgrade(&shared), conn));
        Writer { shared }
    }

    /// Queues an entry for `stream` (after every earlier one). With `early`, the entry is
    /// a stored broadcast: the reader delivers it here when it reads it back, unless the
    /// writer cannot write it soon, which then calls `early`. Returns the entry's id when
    /// written.
    pub(crate) fn append(
        &self,
        stream: Arc<str>,
        mut fields: Vec<(&'static str, Bytes)>,
        early: Option<Early>,
    ) -> Appended {
        let (done, rx) = oneshot::channel();
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let mid = format!("{}:{seq}", self.shared.config.uid);
        fields.push((MESSAGE_ID_FIELD, Bytes::from(mid.clone())));
        let size = stream.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        let mut q = lock(&self.shared.queue);
        if q.bytes + size > self.shared.config.max_buffered_bytes {
            drop(q);
            self.shared.health.count_dropped(1);
            self.warn_dropped();
            if let Some(early) = early {
                let _order = lock(&self.shared.delivering);
                early();
            }
            let _ = done.send(Err("the stream write buffer is full".to_owned()));
            return rx;
        }
        let mut deliver_now = None;
        if let Some(early) = early {
            let mut claims = lock(&self.shared.claims);
            if q.degraded {
                claims.insert(seq, Claim::Early);
                deliver_now = Some(early);
            } else {
                claims.insert(seq, Claim::Open(early));
            }
            if claims.len() > MAX_CLAIMS {
                // Entries the reader never saw (trimmed before it read them): forget the
                // oldest.
                claims.pop_first();
            }
        }
        q.bytes += size;
        q.entries.push_back(Pending {
            stream,
            fields,
            mid,
            seq,
            size,
            done: Some(done),
        });
        drop(q);
        if let Some(early) = deliver_now {
            let _order = lock(&self.shared.delivering);
            early();
        }
        self.shared.notify.notify_one();
        rx
    }

    /// The reader read back our entry `mid`: whether it should deliver it here now (with
    /// its offset), i.e. it was not delivered early.
    pub(crate) fn claim(&self, mid: &str) -> bool {
        let Some(seq) = mid
            .strip_prefix(self.shared.config.uid.as_str())
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return false;
        };
        match lock(&self.shared.claims).remove(&seq) {
            Some(Claim::Open(early)) => {
                drop(early);
                true
            }
            Some(Claim::Early) | None => false,
        }
    }

    fn warn_dropped(&self) {
        let mut last = lock(&self.shared.dropped_warned);
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            *last = Some(Instant::now());
            tracing::warn!(
                max_buffered_bytes = self.shared.config.max_buffered_bytes,
                dropped_total = self.shared.health.dropped(),
                "redis streams adapter: the write buffer is full (Redis unreachable or slow); stream entries dropped"
            );
        }
    }
}

impl Shared {
    /// Redis cannot be written to: deliver locally what waits (in order), and what comes
    /// next at once, until a write succeeds.
    fn degrade(&self) {
        let _order = lock(&self.delivering);
        let waiting: Vec<Early> = {
            let mut q = lock(&self.queue);
            q.degraded = true;
            let mut claims = lock(&self.claims);
            claims
                .values_mut()
                .filter_map(|claim| match std::mem::replace(claim, Claim::Early) {
                    Claim::Open(f) => Some(f),
                    Claim::Early => None,
                })
                .collect()
        };
        for f in waiting {
            f();
        }
    }

    fn recovered(&self) {
        lock(&self.queue).degraded = false;
    }

    fn release(&self, p: &mut Pending, result: Result<EntryId, String>) {
        lock(&self.queue).bytes -= p.size;
        if result.is_err() {
            // Never in the stream: delivered here now if it was not yet.
            let open = lock(&self.claims).remove(&p.seq);
            if let Some(Claim::Open(f)) = open {
                let _order = lock(&self.delivering);
                f();
            }
        }
        if let Some(done) = p.done.take() {
            let _ = done.send(result);
        }
    }
}

/// How many entries go in one pipeline.
const BATCH: usize = 256;

/// The most stored broadcasts of ours waiting to be read back.
const MAX_CLAIMS: usize = 1 << 20;

async fn run(shared: std::sync::Weak<Shared>, conn: Arc<Lazy>) {
    // The last id known to precede every entry of ours not yet confirmed, per stream.
    let mut floors: HashMap<Arc<str>, EntryId> = HashMap::new();
    let mut batch: Vec<Pending> = Vec::new();
    // The batch may have been executed, in part, by Redis.
    let mut ambiguous = false;
    let mut refused_rounds = 0u32;
    let mut backoff = MIN_BACKOFF;
    loop {
        let Some(s) = shared.upgrade() else { return };
        // Entries wait for Redis: retry soon, at most every half second.
        let s_max_backoff = s.config.max_backoff.min(MAX_WRITE_BACKOFF);
        if batch.is_empty() {
            let notify = s.notify.clone();
            let notified = notify.notified();
            {
                let mut q = lock(&s.queue);
                while batch.len() < BATCH {
                    match q.entries.pop_front() {
                        Some(p) => batch.push(p),
                        None => break,
                    }
                }
            }
            if batch.is_empty() {
                let ping_every = s.config.ping_interval;
                let timeout = s.config.command_timeout;
                let health = s.health.clone();
                drop(s);
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(ping_every) => {
                        match conn.query::<Value>(&redis::cmd("PING"), timeout).await {
                            Ok(_) => health.set_publish(true, None),
                            Err(e) => health.set_publish(false, Some(&e)),
                        }
                    }
                }
                continue;
            }
        }
        let c = match conn.get().await {
            Ok(c) => c,
            Err(e) => {
                fail(&s, &e);
                drop(s);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(s_max_backoff);
                continue;
            }
        };
        let attempt = async {
            if ambiguous {
                settle(&s, &c, &mut batch, &mut floors).await?;
                ambiguous = false;
            }
            learn_floors(&s, &c, &batch, &mut floors).await?;
            Ok::<(), String>(())
        };
        if let Err(e) = attempt.await {
            conn.reset().await;
            fail(&s, &e);
            drop(s);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(s_max_backoff);
            continue;
        }
        if batch.is_empty() {
            continue;
        }
        let results = send(&s, &c, &batch).await;
        let mut first_error: Option<String> = None;
        let mut connection_lost = false;
        let mut kept = Vec::new();
        for (mut p, r) in batch.drain(..).zip(results) {
            match r {
                Sent::Ok(id) => {
                    floors.insert(p.stream.clone(), id);
                    s.release(&mut p, Ok(id));
                }
                Sent::Refused(e) => {
                    // Redis answered with an error: this entry was not written.
                    first_error.get_or_insert(e.clone());
                    if refused_rounds >= 2 {
                        s.health.count_dropped(1);
                        tracing::warn!(error = %e, "redis streams adapter: Redis refused a stream entry; dropped");
                        s.release(&mut p, Err(e));
                    } else {
                        kept.push(p);
                    }
                }
                Sent::Unknown(e) => {
                    first_error.get_or_insert(e);
                    connection_lost = true;
                    kept.push(p);
                }
            }
        }
        batch = kept;
        match first_error {
            None => {
                refused_rounds = 0;
                backoff = MIN_BACKOFF;
                s.recovered();
                s.health.set_publish(true, None);
            }
            Some(e) => {
                if connection_lost {
                    ambiguous = true;
                    conn.reset().await;
                } else {
                    refused_rounds += 1;
                }
                fail(&s, &format!("XADD failed: {e}"));
                drop(s);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(s_max_backoff);
            }
        }
    }
}

/// The longest wait between two write attempts (or `max_backoff`, when shorter).
const MAX_WRITE_BACKOFF: Duration = Duration::from_millis(500);

fn fail(s: &Shared, why: &str) {
    s.health.set_publish(false, Some(why));
    s.degrade();
}

/// One `XADD`'s outcome.
enum Sent {
    Ok(EntryId),
    /// Redis refused it: not written.
    Refused(String),
    /// The connection failed: written or not, nobody knows.
    Unknown(String),
}

fn xadd(p: &Pending, max_len: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(p.stream.as_ref())
        .arg("MAXLEN")
        .arg("~")
        .arg(max_len)
        .arg("*");
    for (k, v) in &p.fields {
        cmd.arg(*k).arg(v.as_ref());
    }
    cmd
}

fn entry_id(v: &Value) -> Option<EntryId> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(EntryId::parse),
        Value::SimpleString(s) => EntryId::parse(s),
        _ => None,
    }
}

/// Writes a batch: one pipeline to a single server, one command per entry (all issued at
/// once, in order) on a Redis Cluster, where a pipeline must stay within one slot.
async fn send(s: &Shared, c: &Conn, batch: &[Pending]) -> Vec<Sent> {
    let limit = s.config.command_timeout;
    let max_len = s.config.max_len;
    if matches!(c, Conn::Single(_)) {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for p in batch {
            pipe.add_command(xadd(p, max_len));
        }
        let mut c = c.clone();
        return match tokio::time::timeout(limit, pipe.query_async::<Vec<Value>>(&mut c)).await {
            Ok(Ok(values)) if values.len() == batch.len() => values.iter().map(outcome).collect(),
            Ok(Ok(_)) => batch
                .iter()
                .map(|_| Sent::Unknown("a pipeline answer was missing".into()))
                .collect(),
            Ok(Err(e)) if !is_connection_error(&e) => {
                batch.iter().map(|_| Sent::Refused(e.to_string())).collect()
            }
            Ok(Err(e)) => batch.iter().map(|_| Sent::Unknown(e.to_string())).collect(),
            Err(_) => batch
                .iter()
                .map(|_| Sent::Unknown("XADD timed out".into()))
                .collect(),
        };
    }
    let sends = batch.iter().map(|p| {
        let mut c = c.clone();
        let cmd = xadd(p, max_len);
        async move {
            match tokio::time::timeout(limit, cmd.query_async::<Value>(&mut c)).await {
                Ok(Ok(v)) => outcome(&v),
                Ok(Err(e)) if !is_connection_error(&e) => Sent::Refused(e.to_string()),
                Ok(Err(e)) => Sent::Unknown(e.to_string()),
                Err(_) => Sent::Unknown("XADD timed out".into()),
            }
        }
    });
    futures_util::future::join_all(sends).await
}

fn outcome(v: &Value) -> Sent {
    match v {
        Value::ServerError(e) => Sent::Refused(format!("{e:?}")),
        v => match entry_id(v) {
            Some(id) => Sent::Ok(id),
            None => Sent::Refused(format!("unexpected XADD answer {v:?}")),
        },
    }
}

/// Before writing to a stream the first time: the id its entries follow.
async fn learn_floors(
    s: &Shared,
    c: &Conn,
    batch: &[Pending],
    floors: &mut HashMap<Arc<str>, EntryId>,
) -> Result<(), String> {
    for p in batch {
        if floors.contains_key(&p.stream) {
            continue;
        }
        let cmd = redis::cmd("XREVRANGE")
            .arg(p.stream.as_ref())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .to_owned();
        let mut c = c.clone();
        let v = tokio::time::timeout(s.config.command_timeout, cmd.query_async::<Value>(&mut c))
            .await
            .map_err(|_| "XREVRANGE timed out".to_owned())?
            .map_err(|e| format!("XREVRANGE failed: {e}"))?;
        let last = range_entries(v).first().map_or(EntryId::ZERO, |e| e.id);
        floors.insert(p.stream.clone(), last);
    }
    Ok(())
}

/// After a connection died mid-write: finds which entries of the batch Redis wrote (by our
/// message id, after the stream's floor), resolves them, keeps the others for a new write.
async fn settle(
    s: &Shared,
    c: &Conn,
    batch: &mut Vec<Pending>,
    floors: &mut HashMap<Arc<str>, EntryId>,
) -> Result<(), String> {
    const PAGE: usize = 500;
    let mut found: HashMap<String, EntryId> = HashMap::new();
    let streams: Vec<Arc<str>> = {
        let mut v: Vec<Arc<str>> = batch.iter().map(|p| p.stream.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    for stream in streams {
        let wanted: HashSet<&str> = batch
            .iter()
            .filter(|p| p.stream == stream)
            .map(|p| p.mid.as_str())
            .collect();
        let Some(mut from) = floors.get(&stream).copied() else {
            // Never written to before: nothing of ours can be there.
            continue;
        };
        loop {
            let cmd = redis::cmd("XRANGE")
                .arg(stream.as_ref())
                .arg(from.next().to_string())
                .arg("+")
                .arg("COUNT")
                .arg(PAGE)
                .to_owned();
            let mut c = c.clone();
            let v =
                tokio::time::timeout(s.config.command_timeout, cmd.query_async::<Value>(&mut c))
                    .await
                    .map_err(|_| "XRANGE timed out".to_owned())?
                    .map_err(|e| format!("XRANGE failed: {e}"))?;
            let entries = range_entries(v);
            let n = entries.len();
            for e in entries {
                from = from.max(e.id);
                if let Some(mid) = e.text(MESSAGE_ID_FIELD) {
                    if wanted.contains(mid) {
                        found.insert(mid.to_owned(), e.id);
                    }
                }
            }
            if n < PAGE || found.len() == batch.len() {
                break;
            }
        }
        floors.insert(stream, from);
    }
    tracing::debug!(
        written = found.len(),
        unwritten = batch.len() - found.len(),
        "redis streams adapter: checked the stream after a lost connection; written entries kept, the others sent again"
    );
    let mut kept = Vec::with_capacity(batch.len());
    for mut p in batch.drain(..) {
        match found.get(&p.mid) {
            Some(id) => s.release(&mut p, Ok(*id)),
            None => kept.push(p),
        }
    }
    *batch = kept;
    Ok(())
}
