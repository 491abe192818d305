//! The Streams adapter's settings, with the names and defaults of Node's
//! `@socket.io/redis-streams-adapter`.

use super::super::conn::Target;
use std::time::Duration;

/// Settings of the Streams adapter, with the names and defaults of Node's.
#[derive(Clone)]
pub struct StreamsAdapterConfig {
    pub(super) target: Result<Target, String>,
    pub(super) stream_name: String,
    pub(super) stream_count: usize,
    pub(super) channel_prefix: String,
    pub(super) use_sharded_pub_sub: bool,
    pub(super) max_len: usize,
    pub(super) read_count: usize,
    pub(super) block_time: Duration,
    pub(super) session_key_prefix: String,
    pub(super) only_plaintext: bool,
    pub(super) requests_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) command_timeout: Duration,
    pub(super) ping_interval: Duration,
    pub(super) max_backoff: Duration,
    pub(super) publish_queue: usize,
    pub(super) max_buffered_bytes: usize,
}

impl std::fmt::Debug for StreamsAdapterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapterConfig")
            .field("target", &self.target)
            .field("stream_name", &self.stream_name)
            .field("stream_count", &self.stream_count)
            .field("channel_prefix", &self.channel_prefix)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl StreamsAdapterConfig {
    /// Settings for the Redis (5.0 or newer) at `url`
    /// (`redis://[user:password@]host[:port][/db]`; an invalid URL is reported by
    /// [`StreamsAdapterFactory::new`](super::StreamsAdapterFactory::new)).
    pub fn new(url: impl AsRef<str>) -> Self {
        let target = redis::Client::open(url.as_ref())
            .map(Target::Single)
            .map_err(|e| e.to_string());
        Self::with_target(target)
    }

    /// Settings for an existing `redis` crate client (for TLS, Unix sockets, …).
    pub fn from_client(client: redis::Client) -> Self {
        Self::with_target(Ok(Target::Single(client)))
    }

    /// Settings for a Redis Cluster reached through any of `nodes` (cargo feature
    /// `redis-cluster`). Each stream is one key, so it lives on one master: use
    /// [`stream_count`](Self::stream_count) to spread namespaces over several.
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub fn cluster<I, S>(nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_target(super::super::sharded::cluster_target(nodes))
    }

    fn with_target(target: Result<Target, String>) -> Self {
        StreamsAdapterConfig {
            target,
            stream_name: "socket.io".to_owned(),
            stream_count: 1,
            channel_prefix: "socket.io".to_owned(),
            use_sharded_pub_sub: false,
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            session_key_prefix: "sio:session:".to_owned(),
            only_plaintext: false,
            requests_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            publish_queue: 16_384,
            max_buffered_bytes: 32 << 20,
        }
    }

    /// The stream, or the prefix of the streams with a `stream_count` above one (Node's
    /// `streamName`, default `socket.io`).
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// How many streams the namespaces are spread over (Node's `streamCount`, default 1);
    /// each namespace always goes to the same one, which keeps its order.
    pub fn stream_count(mut self, n: usize) -> Self {
        self.stream_count = n.max(1);
        self
    }

    /// The prefix of the pub/sub channels (Node's `channelPrefix`, default `socket.io`).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7) for the requests (Node's
    /// `useShardedPubSub`, default off).
    pub fn use_sharded_pub_sub(mut self, on: bool) -> Self {
        self.use_sharded_pub_sub = on;
        self
    }

    /// About how many entries a stream keeps (`XADD ... MAXLEN ~`; Node's `maxLen`, default
    /// 10000). A server or a client that comes back after more entries than that were
    /// written misses the oldest.
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n.max(1);
        self
    }

    /// How many entries one `XREAD` fetches (Node's `readCount`, default 100).
    pub fn read_count(mut self, n: usize) -> Self {
        self.read_count = n.max(1);
        self
    }

    /// How long one `XREAD` blocks (Node's `blockTimeInMs`, default 5 s).
    pub fn block_time(mut self, d: Duration) -> Self {
        self.block_time = d.max(Duration::from_millis(1));
        self
    }

    /// The prefix of the session keys (Node's `sessionKeyPrefix`, default `sio:session:`).
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_key_prefix = prefix.into();
        self
    }

    /// Write stream data as JSON without looking for binary (Node's `onlyPlaintext`, default
    /// off): faster when no message ever holds binary.
    pub fn only_plaintext(mut self, on: bool) -> Self {
        self.only_plaintext = on;
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
    /// (default 2 s). With recovery on, also the longest a stored broadcast waits for Redis
    /// before it is delivered locally without its offset.
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }

    /// How often idle connections are checked with a `PING` (default 5 s).
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d.max(Duration::from_millis(10));
        self
    }

    /// The longest wait between two reconnection attempts (default 2 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d.max(Duration::from_millis(50));
        self
    }

    /// How many pub/sub messages (requests, responses) may wait for Redis (default 16384);
    /// past that they are dropped and counted.
    pub fn publish_queue(mut self, n: usize) -> Self {
        self.publish_queue = n.max(1);
        self
    }

    /// How many bytes of stream entries may wait for Redis while it is unreachable (default
    /// 32 MiB); they are written when it is back. Past that, entries are dropped, counted in
    /// [`dropped_messages`](super::super::RedisAdapterHandle::dropped_messages) and logged.
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }
}
