//! Engine.IO server options and their builder.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use http::request::Parts;

use super::TransportType;
use super::cors::AllowOrigin;

mod allow_request;
mod cookie;
mod transports;

pub use allow_request::{AllowRequest, AllowRequestFuture, RequestRefusal};
pub use cookie::{CookieConfig, SameSite};
pub use transports::Transports;

/// Options of an Engine.IO server. The defaults are those of the Node server.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::engine::EngineConfig;
///
/// let config = EngineConfig::builder()
///     .path("/engine.io")
///     .ping_interval(Duration::from_secs(10))
///     .build();
/// assert_eq!(config.ping_timeout(), Duration::from_secs(20));
/// ```
#[derive(Debug, Clone)]
pub struct EngineConfig {
    path: Cow<'static, str>,
    ping_interval: Duration,
    ping_timeout: Duration,
    upgrade_timeout: Duration,
    max_payload: usize,
    max_buffered_bytes: usize,
    transports: Transports,
    cookie: Option<CookieConfig>,
    http_compression: bool,
    allow_origin: AllowOrigin,
    allow_request: Option<AllowRequest>,
    ws_read_buffer_size: usize,
    allow_eio3: bool,
    max_http_header_size: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: Cow::Borrowed("/engine.io"),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            max_buffered_bytes: 8 * 1024 * 1024,
            transports: Transports::all(),
            cookie: None,
            http_compression: true,
            allow_origin: AllowOrigin::default(),
            allow_request: None,
            ws_read_buffer_size: 1024,
            allow_eio3: false,
            max_http_header_size: 16 * 1024,
        }
    }
}

impl EngineConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> EngineConfigBuilder {
        EngineConfigBuilder {
            config: EngineConfig::default(),
        }
    }

    /// The path the server answers under (`/engine.io` by default). Requests to the
    /// path itself or the path with a trailing slash are handled; the query string
    /// plays no part in matching.
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// How often the server sends a ping (25 s by default).
    pub fn ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// How long the server waits for the pong before closing the session (20 s by default).
    pub fn ping_timeout(&self) -> Duration {
        self.ping_timeout
    }

    /// How long an upgrade to WebSocket may take, from the WebSocket handshake to the
    /// client's upgrade packet (10 s by default).
    pub fn upgrade_timeout(&self) -> Duration {
        self.upgrade_timeout
    }

    /// The largest payload accepted from a client, in bytes: a polling POST body or a
    /// WebSocket message (1 000 000 by default, Node's `maxHttpBufferSize`).
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The largest request head (request line and headers) the engine takes, in bytes
    /// (16 KiB by default, the default of Node's `maxHttpHeaderSize`); a larger one gets
    /// `431` before anything else is read from it or kept of it. This holds under any
    /// server (`axum::serve`, your own hyper loop); with [`serve_with`](crate::serve_with),
    /// `ServeOptions::max_http_header_size` refuses such heads earlier, in hyper's parser.
    pub fn max_http_header_size(&self) -> usize {
        self.max_http_header_size
    }

    /// The budget of a session's outgoing queue, in bytes (8 MiB by default): each
    /// queued message counts its payload plus 64 bytes. A client that reads at its link's
    /// speed never reaches it, even through bursts of a few megabytes; a client that
    /// stopped reading does, and then a direct send fails with
    /// [`SendError::Full`](super::SendError::Full) (or, with
    /// [`Socket::send_wait`](super::Socket::send_wait), waits for room). An empty queue
    /// takes any one message or batch, however large.
    pub fn max_buffered_bytes(&self) -> usize {
        self.max_buffered_bytes
    }

    /// The accepted transports (both by default).
    pub fn transports(&self) -> Transports {
        self.transports
    }

    /// The session cookie, if enabled (off by default).
    pub fn cookie(&self) -> Option<&CookieConfig> {
        self.cookie.as_ref()
    }

    /// Whether polling responses over 1024 bytes are compressed with gzip or deflate
    /// when the client accepts it (on by default).
    pub fn http_compression(&self) -> bool {
        self.http_compression
    }

    /// Which origins may use the server (any by default).
    pub fn allow_origin(&self) -> &AllowOrigin {
        &self.allow_origin
    }

    /// The hook that may refuse a handshake, if any.
    pub fn allow_request(&self) -> Option<&AllowRequest> {
        self.allow_request.as_ref()
    }

    /// Read buffer size of each WebSocket connection, in bytes (1 KiB by default; a larger
    /// frame grows it as needed).
    pub fn ws_read_buffer_size(&self) -> usize {
        self.ws_read_buffer_size
    }

    /// Whether Engine.IO 3 clients (Socket.IO 2) are served beside Engine.IO 4 ones (off
    /// by default, Node's `allowEIO3`).
    pub fn allow_eio3(&self) -> bool {
        self.allow_eio3
    }

    /// The path without its trailing slash (empty for the root).
    pub(crate) fn base_path(&self) -> &str {
        &self.path
    }

    /// Whether a request path is the engine's path.
    pub(crate) fn matches_path(&self, path: &str) -> bool {
        let base = self.base_path();
        match path.strip_prefix(base) {
            Some("") => !base.is_empty(),
            Some("/") => true,
            _ => false,
        }
    }
}

/// Builds an [`EngineConfig`]; see [`EngineConfig::builder`].
#[derive(Debug, Clone)]
pub struct EngineConfigBuilder {
    config: EngineConfig,
}

impl EngineConfigBuilder {
    /// Sets the path (`/engine.io` by default). A trailing slash is ignored.
    ///
    /// # Panics
    /// If the path does not start with `/`.
    pub fn path(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        let path = path.into();
        assert!(path.starts_with('/'), "the engine path must start with '/'");
        let trimmed = path.trim_end_matches('/');
        self.config.path = if trimmed.len() == path.len() {
            path
        } else {
            Cow::Owned(trimmed.to_owned())
        };
        self
    }

    /// Sets the ping interval.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// Sets the ping timeout.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.config.ping_timeout = timeout;
        self
    }

    /// Sets the upgrade timeout.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.config.upgrade_timeout = timeout;
        self
    }

    /// Sets the largest payload accepted from a client, in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.config.max_payload = bytes;
        self
    }

    /// Sets the largest request head the engine takes, in bytes (see
    /// [`EngineConfig::max_http_header_size`]).
    ///
    /// # Panics
    /// When `bytes` is zero.
    pub fn max_http_header_size(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "max_http_header_size must not be zero");
        self.config.max_http_header_size = bytes;
        self
    }

    /// Sets the budget of each session's outgoing queue, in bytes (see
    /// [`EngineConfig::max_buffered_bytes`]).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffered_bytes = bytes;
        self
    }

    /// Sets the accepted transports, e.g. `[TransportType::Websocket]`.
    pub fn transports(mut self, transports: impl IntoIterator<Item = TransportType>) -> Self {
        self.config.transports = transports.into_iter().collect();
        self
    }

    /// Enables (or, with `None`, disables) the session cookie.
    pub fn cookie(mut self, cookie: Option<CookieConfig>) -> Self {
        self.config.cookie = cookie;
        self
    }

    /// Turns compression of polling responses on or off.
    pub fn http_compression(mut self, enabled: bool) -> Self {
        self.config.http_compression = enabled;
        self
    }

    /// Sets which origins may use the server and read its answers (CORS). By default none
    /// is granted cross-origin access: no request is refused, no CORS header is written
    /// (see [`AllowOrigin`]).
    pub fn allow_origin(mut self, allow_origin: AllowOrigin) -> Self {
        self.config.allow_origin = allow_origin;
        self
    }

    /// Sets a hook run on every handshake (both transports). It returns `Err` to
    /// refuse the client, which then gets the refusal's status with
    /// `{"code":4,"message":...}`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_socketio::engine::{EngineConfig, RequestRefusal};
    ///
    /// let config = EngineConfig::builder()
    ///     .allow_request(|parts: &http::request::Parts| {
    ///         let has_token = parts.headers.contains_key("x-token");
    ///         async move {
    ///             if has_token {
    ///                 Ok(())
    ///             } else {
    ///                 Err(RequestRefusal::new(StatusCode::UNAUTHORIZED, "token required"))
    ///             }
    ///         }
    ///     })
    ///     .build();
    /// assert!(config.allow_request().is_some());
    /// ```
    pub fn allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RequestRefusal>> + Send + 'static,
    {
        self.config.allow_request = Some(AllowRequest::new(f));
        self
    }

    /// Sets the read buffer size of each WebSocket connection, in bytes.
    pub fn ws_read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.ws_read_buffer_size = bytes;
        self
    }

    /// Serves Engine.IO 3 clients (`EIO=3`: Socket.IO 2 clients) beside Engine.IO 4 ones,
    /// each request by its own `EIO` (off by default, Node's `allowEIO3`). When off, an
    /// `EIO=3` handshake is refused with HTTP 400, code 5, and the server logs one warning
    /// naming this option.
    ///
    /// ```
    /// let config = tower_socketio::engine::EngineConfig::builder().allow_eio3(true).build();
    /// assert!(config.allow_eio3());
    /// ```
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.allow_eio3 = allow;
        self
    }

    /// The finished configuration.
    ///
    /// # Panics
    /// If no transport is accepted, or the ping interval, ping timeout, maximum
    /// payload, outgoing queue budget or read buffer size is zero.
    pub fn build(self) -> EngineConfig {
        let c = &self.config;
        assert!(!c.transports.is_empty(), "at least one transport is needed");
        assert!(!c.ping_interval.is_zero(), "ping_interval must not be zero");
        assert!(!c.ping_timeout.is_zero(), "ping_timeout must not be zero");
        assert!(c.max_payload > 0, "max_payload must not be zero");
        assert!(
            c.max_buffered_bytes > 0,
            "max_buffered_bytes must not be zero"
        );
        assert!(
            c.ws_read_buffer_size > 0,
            "ws_read_buffer_size must not be zero"
        );
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_node_defaults() {
        let c = EngineConfig::default();
        assert_eq!(c.path(), "/engine.io");
        assert_eq!(c.ping_interval(), Duration::from_secs(25));
        assert_eq!(c.ping_timeout(), Duration::from_secs(20));
        assert_eq!(c.upgrade_timeout(), Duration::from_secs(10));
        assert_eq!(c.max_payload(), 1_000_000);
        assert!(c.transports().contains(TransportType::Polling));
        assert!(c.transports().contains(TransportType::Websocket));
        assert!(c.cookie().is_none());
        assert!(c.http_compression());
        assert!(!c.allow_origin().is_configured());
        assert!(!c.allow_eio3());
    }

    #[test]
    fn path_matching() {
        let c = EngineConfig::builder().path("/engine.io/").build();
        assert_eq!(c.path(), "/engine.io");
        assert!(c.matches_path("/engine.io"));
        assert!(c.matches_path("/engine.io/"));
        assert!(!c.matches_path("/engine.io-x"));
        assert!(!c.matches_path("/engine.io/x"));
        assert!(!c.matches_path("/"));
        let root = EngineConfig::builder().path("/").build();
        assert_eq!(root.path(), "/");
        assert!(root.matches_path("/"));
        assert!(!root.matches_path("/x"));
    }

    #[test]
    fn cookie_header() {
        let c = CookieConfig::new();
        assert_eq!(
            c.header_value("abc"),
            "io=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        let c = CookieConfig::new()
            .name("sid")
            .path(None::<&'static str>)
            .http_only(false)
            .same_site(Some(SameSite::None))
            .secure(true)
            .max_age(Some(Duration::from_secs(60)));
        assert_eq!(
            c.header_value("x"),
            "sid=x; Max-Age=60; Secure; SameSite=None"
        );
    }

    #[test]
    #[should_panic(expected = "at least one transport")]
    fn empty_transports_panic() {
        let _ = EngineConfig::builder().transports([]).build();
    }
}
