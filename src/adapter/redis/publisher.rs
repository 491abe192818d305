//! The pub/sub publisher of the Streams and sharded adapters: one ordered, bounded queue of
//! `PUBLISH` or `SPUBLISH` commands, sent in pipelines of what is waiting. While Redis is
//! unreachable, messages are dropped (pub/sub keeps nothing for later either) and counted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::conn::{Conn, Lazy, is_connection_error};
use super::driver::Health;
use super::subscriber::ChannelKind;

/// One message; `done` learns whether it was sent.
struct Out {
    channel: String,
    payload: Bytes,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Settings of the publisher.
#[derive(Debug, Clone)]
pub(crate) struct PublisherConfig {
    pub(crate) kind: ChannelKind,
    pub(crate) queue: usize,
    pub(crate) command_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) max_backoff: Duration,
}

/// The queue's handle; the task ends when it is dropped.
pub(crate) struct Publisher {
    tx: mpsc::Sender<Out>,
    health: Arc<Health>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Starts the publisher on the current Tokio runtime.
    pub(crate) fn start(conn: Arc<Lazy>, config: PublisherConfig, health: Arc<Health>) -> Self {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        tokio::spawn(run(rx, conn, config, health.clone()));
        Publisher { tx, health }
    }

    /// Queues a message (after every earlier one); the receiver learns whether it went out.
    /// A full queue drops it (counted and logged).
    pub(crate) fn publish(
        &self,
        channel: String,
        payload: Bytes,
    ) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        let msg = Out {
            channel,
            payload,
            done: Some(done),
        };
        if let Err(e) = self.tx.try_send(msg) {
            self.health.count_dropped(1);
            let reason = match &e {
                mpsc::error::TrySendError::Full(_) => "the publish queue is full",
                mpsc::error::TrySendError::Closed(_) => "the publisher stopped",
            };
            tracing::warn!(reason, "redis adapter: message to the cluster dropped");
            if let Some(done) = e.into_inner().done {
                let _ = done.send(Err(reason.to_owned()));
            }
        }
        rx
    }
}

async fn run(
    mut rx: mpsc::Receiver<Out>,
    conn: Arc<Lazy>,
    config: PublisherConfig,
    health: Arc<Health>,
) {
    const BATCH: usize = 256;
    let command = match config.kind {
        ChannelKind::Plain => "PUBLISH",
        ChannelKind::Sharded => "SPUBLISH",
    };
    match conn.get().await {
        Ok(_) => health.set_publish(true, None),
        Err(e) => health.set_publish(false, Some(&e)),
    }
    let mut batch: Vec<Out> = Vec::with_capacity(BATCH);
    loop {
        let check_every = if health.publish_ok() {
            config.ping_interval
        } else {
            config.max_backoff.min(Duration::from_millis(500))
        };
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = tokio::time::sleep(check_every) => {
                let ping = redis::cmd("PING");
                match conn.query::<redis::Value>(&ping, config.command_timeout).await {
                    Ok(_) => health.set_publish(true, None),
                    Err(e) => health.set_publish(false, Some(&e)),
                }
                continue;
            }
        };
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let results = send_batch(&conn, &config, command, &batch).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        match results.iter().find_map(|r| r.as_ref().err()) {
            None => health.set_publish(true, None),
            Some(e) => {
                health.count_dropped(failed as u64);
                health.set_publish(false, Some(e));
            }
        }
        for (m, r) in batch.drain(..).zip(results) {
            if let Some(done) = m.done {
                let _ = done.send(r);
            }
        }
    }
}

/// Sends a batch: one pipeline to a single server; on a Redis Cluster one command per
/// message, all issued at once in order (a cluster pipeline must stay within one slot).
async fn send_batch(
    conn: &Lazy,
    config: &PublisherConfig,
    command: &str,
    batch: &[Out],
) -> Vec<Result<(), String>> {
    let c = match conn.get().await {
        Ok(c) => c,
        Err(e) => return vec![Err(e); batch.len()],
    };
    // A cluster connection may wait out a failover here (its own retries).
    let limit = config.command_timeout * 4;
    let failed = |e: String| -> String { format!("{command} failed: {e}") };
    if matches!(c, Conn::Single(_)) {
        let mut pipe = redis::pipe();
        for m in batch {
            pipe.cmd(command)
                .arg(&m.channel)
                .arg(m.payload.as_ref())
                .ignore();
        }
        let mut c = c;
        let r = match tokio::time::timeout(limit, pipe.query_async::<()>(&mut c)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    conn.reset().await;
                }
                Err(failed(e.to_string()))
            }
            Err(_) => {
                conn.reset().await;
                Err(format!("{command} timed out"))
            }
        };
        return vec![r; batch.len()];
    }
    let sends = batch.iter().map(|m| {
        let mut c = c.clone();
        let cmd = redis::cmd(command)
            .arg(&m.channel)
            .arg(m.payload.as_ref())
            .to_owned();
        async move {
            match tokio::time::timeout(limit, cmd.query_async::<redis::Value>(&mut c)).await {
                Ok(Ok(_)) => (Ok(()), false),
                Ok(Err(e)) => (Err(failed(e.to_string())), is_connection_error(&e)),
                Err(_) => (Err(format!("{command} timed out")), true),
            }
        }
    });
    let results = futures_util::future::join_all(sends).await;
    // A command that timed out or lost its connection may be stuck on a node that is gone
    // (the cluster client keeps a master that died in its slot map until told otherwise):
    // the next batch goes out on a new connection, which learns the slots afresh.
    if results.iter().any(|(_, broken)| *broken) {
        conn.reset().await;
    }
    results.into_iter().map(|(r, _)| r).collect()
}
