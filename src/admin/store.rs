//! Where the Admin UI's login sessions are kept: [`SessionStore`], in memory by default, in
//! Redis with the `redis` feature (shared with Node servers instrumented by
//! `@socket.io/admin-ui`, whose `RedisStore` uses the same keys).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::util::lock;

/// A boxed future returned by [`SessionStore`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An error of a session store's backend (e.g. Redis unreachable).
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// The session store of the basic authentication: after a login with username and password
/// the server issues a session id (sent to the UI as the `session` event), and the UI may
/// later connect with that id alone.
///
/// A store error while checking an id refuses the login (it is logged); one while saving
/// leaves the login in place without a session to come back with.
pub trait SessionStore: Send + Sync + 'static {
    /// Whether the session exists (and has not expired).
    fn exists<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<bool, StoreError>>;
    /// Saves a new session.
    fn save<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<(), StoreError>>;
}

/// Sessions in this server's memory (the default): they expire after
/// [`session_duration`](Self::session_duration) (24 h, as the Redis store of Node's package),
/// and at most [`max_sessions`](Self::max_sessions) (10 000) are kept, the oldest dropped
/// first. A restart forgets them: the UI then asks for the password again.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::admin::InMemoryStore;
///
/// let store = InMemoryStore::new()
///     .session_duration(Duration::from_secs(8 * 3600))
///     .max_sessions(100);
/// # let _ = store;
/// ```
#[derive(Debug)]
pub struct InMemoryStore {
    ttl: Duration,
    max: usize,
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    expires: HashMap<String, Instant>,
    /// Ids in the order saved, for eviction (may hold ids already expired and removed).
    order: VecDeque<String>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStore {
    /// A store with sessions of 24 h, 10 000 at most.
    pub fn new() -> Self {
        Self {
            ttl: Duration::from_secs(86_400),
            max: 10_000,
            sessions: Mutex::default(),
        }
    }

    /// How long a session is valid after the login that made it (default 24 h).
    pub fn session_duration(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many sessions are kept at most (default 10 000; at least 1).
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    fn exists_now(&self, id: &str, now: Instant) -> bool {
        let mut s = lock(&self.sessions);
        match s.expires.get(id) {
            Some(at) if *at > now => true,
            Some(_) => {
                s.expires.remove(id);
                false
            }
            None => false,
        }
    }

    fn save_now(&self, id: &str, now: Instant) {
        let mut s = lock(&self.sessions);
        // Drop expired sessions from the front, then the oldest while over the cap.
        while let Some(first) = s.order.front() {
            let expired = s.expires.get(first).is_none_or(|at| *at <= now);
            if !expired && s.expires.len() < self.max {
                break;
            }
            if let Some(first) = s.order.pop_front() {
                s.expires.remove(&first);
            }
        }
        s.expires.insert(id.to_owned(), now + self.ttl);
        s.order.push_back(id.to_owned());
    }

    /// How many sessions are kept now (expired ones may still count until the next save).
    pub fn len(&self) -> usize {
        lock(&self.sessions).expires.len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for InMemoryStore {
    fn exists<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        let found = self.exists_now(session_id, Instant::now());
        Box::pin(async move { Ok(found) })
    }

    fn save<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
        self.save_now(session_id, Instant::now());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(feature = "redis")]
pub use self::redis_store::RedisStore;

#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use redis::aio::MultiplexedConnection;

    use super::{SessionStore, StoreError, StoreFuture};

    /// Sessions in Redis, under the keys of Node's `RedisStore` (`socket.io-admin#<id>`,
    /// expiring after 24 h by default), so that a UI session is valid on every server of a
    /// cluster, Node's included, that shares the Redis server and prefix.
    ///
    /// ```no_run
    /// # fn f() -> Result<(), redis::RedisError> {
    /// use tower_socketio::admin::RedisStore;
    ///
    /// let store = RedisStore::new(redis::Client::open("redis://127.0.0.1:6379/")?);
    /// # let _ = store; Ok(()) }
    /// ```
    pub struct RedisStore {
        client: redis::Client,
        prefix: String,
        ttl: Duration,
        timeout: Duration,
        conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    }

    impl std::fmt::Debug for RedisStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisStore")
                .field("prefix", &self.prefix)
                .field("session_duration", &self.ttl)
                .finish_non_exhaustive()
        }
    }

    impl RedisStore {
        /// A store on this Redis client, with Node's defaults: prefix `socket.io-admin`,
        /// sessions of 24 h. It connects on first use, and again after an error.
        pub fn new(client: redis::Client) -> Self {
            Self {
                client,
                prefix: "socket.io-admin".to_owned(),
                ttl: Duration::from_secs(86_400),
                timeout: Duration::from_secs(2),
                conn: tokio::sync::Mutex::new(None),
            }
        }

        /// The key prefix (Node's `prefix` option, default `socket.io-admin`).
        pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
            self.prefix = prefix.into();
            self
        }

        /// How long a session is valid (Node's `sessionDuration`, default 24 h; whole
        /// seconds, at least one).
        pub fn session_duration(mut self, ttl: Duration) -> Self {
            self.ttl = ttl;
            self
        }

        /// How long one Redis command may take before it counts as failed (default 2 s).
        pub fn command_timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }

        fn key(&self, id: &str) -> String {
            format!("{}#{id}", self.prefix)
        }

        async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
            let attempt = async {
                let mut slot = self.conn.lock().await;
                let mut conn = match slot.as_ref() {
                    Some(c) => c.clone(),
                    None => {
                        let c = self.client.get_multiplexed_async_connection().await?;
                        *slot = Some(c.clone());
                        c
                    }
                };
                drop(slot);
                let result = cmd.query_async::<T>(&mut conn).await;
                if result.is_err() {
                    *self.conn.lock().await = None;
                }
                result
            };
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => {
                    *self.conn.lock().await = None;
                    Err(format!("Redis did not answer in {:?}", self.timeout).into())
                }
            }
        }
    }

    impl SessionStore for RedisStore {
        fn exists<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
            Box::pin(async move {
                let n: i64 = self
                    .run(redis::cmd("EXISTS").arg(self.key(session_id)).clone())
                    .await?;
                Ok(n == 1)
            })
        }

        fn save<'a>(&'a self, session_id: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
            Box::pin(async move {
                // Node's 0.5.1 stores the string "true"; only the key's existence matters.
                let secs = self.ttl.as_secs().max(1);
                let _: redis::Value = self
                    .run(
                        redis::cmd("SET")
                            .arg(self.key(session_id))
                            .arg("true")
                            .arg("EX")
                            .arg(secs)
                            .clone(),
                    )
                    .await?;
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_are_bounded() {
        let store = InMemoryStore::new()
            .session_duration(Duration::from_secs(10))
            .max_sessions(2);
        let t0 = Instant::now();
        store.save_now("a", t0);
        assert!(store.exists_now("a", t0 + Duration::from_secs(9)));
        assert!(!store.exists_now("a", t0 + Duration::from_secs(10)));
        assert!(!store.exists_now("nope", t0));

        store.save_now("b", t0);
        store.save_now("c", t0);
        store.save_now("d", t0);
        assert_eq!(store.len(), 2);
        assert!(!store.exists_now("b", t0));
        assert!(store.exists_now("c", t0));
        assert!(store.exists_now("d", t0));

        // Expired ones go first, whatever the cap.
        store.save_now("e", t0 + Duration::from_secs(20));
        assert_eq!(store.len(), 1);
        assert!(store.exists_now("e", t0 + Duration::from_secs(21)));
    }
}
