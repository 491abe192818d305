//! The publisher task and its connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{DriverConfig, Health, MIN_BACKOFF, Publish, timeout_error};

/// The publishing connection: connected on demand, with a backoff between failed attempts.
pub(super) struct PubConn {
    client: redis::Client,
    config: DriverConfig,
    state: tokio::sync::Mutex<PubState>,
}

struct PubState {
    conn: Option<MultiplexedConnection>,
    next_attempt: Instant,
    backoff: Duration,
}

impl PubConn {
    pub(super) fn new(client: redis::Client, config: DriverConfig) -> Self {
        PubConn {
            client,
            config,
            state: tokio::sync::Mutex::new(PubState {
                conn: None,
                next_attempt: Instant::now(),
                backoff: MIN_BACKOFF,
            }),
        }
    }

    /// Runs `f` on the connection. A cached connection that fails may have died while
    /// idle (Redis restarted): the command is tried once more on a fresh one.
    pub(super) async fn run<T, F, Fut>(&self, f: F) -> Result<T, String>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let (conn, fresh) = self.get_with_origin().await?;
        match f(conn).await {
            Ok(v) => Ok(v),
            // Only a connection that was found dead is retried: a timeout may have
            // executed the command already.
            Err(e)
                if fresh || e.is_timeout() || !(e.is_connection_dropped() || e.is_io_error()) =>
            {
                if fresh || e.is_timeout() || e.is_unrecoverable_error() {
                    self.reset().await;
                }
                Err(e.to_string())
            }
            Err(_) => {
                self.reset().await;
                let (conn, _) = self.get_with_origin().await?;
                match f(conn).await {
                    Ok(v) => Ok(v),
                    Err(e) => {
                        self.reset().await;
                        Err(e.to_string())
                    }
                }
            }
        }
    }

    async fn get(&self) -> Result<MultiplexedConnection, String> {
        self.get_with_origin().await.map(|(c, _)| c)
    }

    /// The connection, and whether it was made just now.
    async fn get_with_origin(&self) -> Result<(MultiplexedConnection, bool), String> {
        let mut s = self.state.lock().await;
        if let Some(c) = &s.conn {
            return Ok((c.clone(), false));
        }
        if Instant::now() < s.next_attempt {
            return Err("Redis is unreachable (reconnecting)".into());
        }
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.connect_timeout))
            .set_response_timeout(Some(self.config.command_timeout));
        let res = tokio::time::timeout(
            self.config.connect_timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&cfg),
        )
        .await;
        match res {
            Ok(Ok(c)) => {
                s.conn = Some(c.clone());
                s.backoff = MIN_BACKOFF;
                Ok((c, true))
            }
            Ok(Err(e)) => {
                s.next_attempt = Instant::now() + s.backoff;
                s.backoff = (s.backoff * 2).min(self.config.max_backoff);
                Err(format!("cannot connect to Redis: {e}"))
            }
            Err(_) => {
                s.next_attempt = Instant::now() + s.backoff;
                s.backoff = (s.backoff * 2).min(self.config.max_backoff);
                Err("connecting to Redis timed out".into())
            }
        }
    }

    async fn reset(&self) {
        self.state.lock().await.conn = None;
    }
}

/// Sends queued messages in order, in pipelines of what is waiting. While idle it checks
/// the connection now and then, so that health stays true to the facts.
pub(super) async fn run_publisher(
    mut rx: mpsc::Receiver<Publish>,
    conn: Arc<PubConn>,
    health: Arc<Health>,
    config: DriverConfig,
) {
    const BATCH: usize = 256;
    // Connect early so that health is known before the first message.
    match conn.get().await {
        Ok(_) => health.set_publish(true, None),
        Err(e) => health.set_publish(false, Some(&e)),
    }
    let mut batch: Vec<Publish> = Vec::with_capacity(BATCH);
    loop {
        let check_every = if health.publish_ok.load(Ordering::Acquire) {
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
                let timeout = config.command_timeout;
                let ping = conn
                    .run(|mut c| async move {
                        tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(&mut c))
                            .await
                            .unwrap_or_else(|_| Err(timeout_error("PING")))
                    })
                    .await;
                match ping {
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
        let mut pipe = redis::pipe();
        for m in &batch {
            pipe.cmd("PUBLISH")
                .arg(&m.channel)
                .arg(m.payload.as_ref())
                .ignore();
        }
        let timeout = config.command_timeout;
        let result = conn
            .run(|mut c| {
                let pipe = &pipe;
                async move {
                    tokio::time::timeout(timeout, pipe.query_async::<()>(&mut c))
                        .await
                        .unwrap_or_else(|_| Err(timeout_error("PUBLISH")))
                }
            })
            .await
            .map_err(|e| format!("PUBLISH failed: {e}"));
        match &result {
            Ok(()) => health.set_publish(true, None),
            Err(e) => {
                health
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                health.set_publish(false, Some(e));
            }
        }
        for m in batch.drain(..) {
            if let Some(done) = m.done {
                let _ = done.send(result.clone());
            }
        }
    }
}
