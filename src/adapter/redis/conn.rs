//! Connections of the Streams and sharded adapters: to one Redis server or to a Redis
//! Cluster, behind one type, so that every command path is written once.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, PushInfo, RedisFuture, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The first wait before reconnecting; it doubles up to the configured maximum.
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server (or a proxy in front of several).
    Single(redis::Client),
    /// A Redis Cluster, reached through any of these nodes.
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<redis::ConnectionInfo>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Single(c) => write!(f, "Single({})", c.get_connection_info().addr()),
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => f
                .debug_list()
                .entries(nodes.iter().map(|n| n.addr().to_string()))
                .finish(),
        }
    }
}

/// How to open one connection.
#[derive(Clone, Default)]
pub(crate) struct ConnOptions {
    pub(crate) connect_timeout: Duration,
    /// The longest a command may wait for its answer (`None`: no limit).
    pub(crate) response_timeout: Option<Duration>,
    /// Where RESP3 pushes go (messages of subscriptions, disconnections); implies RESP3.
    pub(crate) push: Option<mpsc::UnboundedSender<PushInfo>>,
}

/// An open connection: multiplexed, cheap to clone.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(MultiplexedConnection),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "redis-cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl Target {
    /// Opens a connection, within the connect timeout.
    pub(crate) async fn connect(&self, opts: &ConnOptions) -> Result<Conn, String> {
        let connecting = async {
            match self {
                Target::Single(client) => {
                    let mut cfg = redis::AsyncConnectionConfig::new()
                        .set_connection_timeout(Some(opts.connect_timeout))
                        .set_response_timeout(opts.response_timeout);
                    let client = match &opts.push {
                        Some(tx) => {
                            cfg = cfg.set_push_sender(tx.clone());
                            resp3(client)?
                        }
                        None => client.clone(),
                    };
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await
                        .map(Conn::Single)
                        .map_err(|e| e.to_string())
                }
                #[cfg(feature = "redis-cluster")]
                Target::Cluster(nodes) => {
                    let mut b = redis::cluster::ClusterClientBuilder::new(nodes.clone())
                        .connection_timeout(opts.connect_timeout)
                        // Failovers take seconds: the commands' own timeouts bound the wait.
                        .retries(32)
                        .max_retry_wait(500);
                    if let Some(t) = opts.response_timeout {
                        b = b.response_timeout(t);
                    }
                    if let Some(tx) = &opts.push {
                        b = b
                            .use_protocol(redis::ProtocolVersion::RESP3)
                            .push_sender(tx.clone());
                    }
                    let client = b.build().map_err(|e| e.to_string())?;
                    client
                        .get_async_connection()
                        .await
                        .map(Conn::Cluster)
                        .map_err(|e| e.to_string())
                }
            }
        };
        match tokio::time::timeout(
            opts.connect_timeout + Duration::from_millis(100),
            connecting,
        )
        .await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("cannot connect to Redis: {e}")),
            Err(_) => Err("connecting to Redis timed out".to_owned()),
        }
    }
}

/// The same client speaking RESP3 (needed for pushes on a multiplexed connection).
fn resp3(client: &redis::Client) -> Result<redis::Client, String> {
    let info = client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings)).map_err(|e| e.to_string())
}

/// A connection opened on demand and kept, with a backoff between failed attempts.
pub(crate) struct Lazy {
    target: Target,
    opts: ConnOptions,
    max_backoff: Duration,
    state: tokio::sync::Mutex<LazyState>,
}

struct LazyState {
    conn: Option<Conn>,
    next_attempt: Instant,
    backoff: Duration,
}

impl Lazy {
    pub(crate) fn new(target: Target, opts: ConnOptions, max_backoff: Duration) -> Self {
        Lazy {
            target,
            opts,
            max_backoff,
            state: tokio::sync::Mutex::new(LazyState {
                conn: None,
                next_attempt: Instant::now(),
                backoff: MIN_BACKOFF,
            }),
        }
    }

    /// The connection, made now if there is none (unless the backoff says wait).
    pub(crate) async fn get(&self) -> Result<Conn, String> {
        let mut s = self.state.lock().await;
        if let Some(c) = &s.conn {
            return Ok(c.clone());
        }
        if Instant::now() < s.next_attempt {
            return Err("Redis is unreachable (reconnecting)".into());
        }
        match self.target.connect(&self.opts).await {
            Ok(c) => {
                s.conn = Some(c.clone());
                s.backoff = MIN_BACKOFF;
                Ok(c)
            }
            Err(e) => {
                s.next_attempt = Instant::now() + s.backoff;
                s.backoff = (s.backoff * 2).min(self.max_backoff);
                Err(e)
            }
        }
    }

    /// Forgets the connection (it failed); the next [`get`](Self::get) opens a new one.
    pub(crate) async fn reset(&self) {
        self.state.lock().await.conn = None;
    }

    /// Runs a command within `timeout`; a broken connection is forgotten.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
    ) -> Result<T, String> {
        let mut c = self.get().await?;
        match tokio::time::timeout(timeout, cmd.query_async::<T>(&mut c)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.reset().await;
                }
                Err(e.to_string())
            }
            Err(_) => {
                self.reset().await;
                Err("the command timed out".to_owned())
            }
        }
    }
}

/// Whether an error means the connection is unusable (rather than a refused command).
pub(crate) fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}
