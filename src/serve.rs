//! Standalone serving, for Node's `io(port)` case: no router, just the Socket.IO service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_service::Service;

/// The limits [`serve_with`] applies to each HTTP connection. The defaults are Node's:
/// request heads up to 16 KiB (`maxHttpHeaderSize`), and 30 s to send a request head
/// (`headersTimeout`), which also ends a keep-alive connection left idle that long.
///
/// ```
/// use std::time::Duration;
/// use tower_socketio::ServeOptions;
///
/// let options = ServeOptions::new()
///     .max_http_header_size(32 * 1024)
///     .header_read_timeout(Duration::from_secs(10));
/// assert_eq!(options.get_max_http_header_size(), 32 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ServeOptions {
    max_http_header_size: usize,
    header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_http_header_size: 16 * 1024,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

impl ServeOptions {
    /// The defaults: 16 KiB heads, 30 s to send one.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest request head (request line and headers) accepted, in bytes; a larger
    /// one is answered `431 Request Header Fields Too Large` and the connection closed.
    /// Node's `maxHttpHeaderSize`; 16 KiB by default.
    ///
    /// # Panics
    /// If `bytes` is zero.
    pub fn max_http_header_size(mut self, bytes: usize) -> Self {
        assert!(bytes > 0, "max_http_header_size must not be zero");
        self.max_http_header_size = bytes;
        self
    }

    /// How long a client may take to send a request head, and so how long a keep-alive
    /// connection may stay idle between requests (30 s by default). A pending polling GET
    /// or an open WebSocket is not idle: this does not end them.
    ///
    /// # Panics
    /// If `timeout` is zero.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        assert!(!timeout.is_zero(), "header_read_timeout must not be zero");
        self.header_read_timeout = timeout;
        self
    }

    /// The largest request head accepted, in bytes.
    pub fn get_max_http_header_size(&self) -> usize {
        self.max_http_header_size
    }

    /// How long a client may take to send a request head.
    pub fn get_header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }

    fn builder(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_header_size(self.max_http_header_size)
            // What hyper may buffer while a head is still incomplete: the head limit and
            // a little more (hyper's own default is about 400 KB).
            .max_buf_size(self.max_http_header_size.saturating_add(8192).max(8192));
        builder
    }
}

/// Serves a service (e.g. from [`SocketIoBuilder::build_svc`](crate::SocketIoBuilder::build_svc),
/// or an axum `Router` with the [`SocketIoLayer`](crate::SocketIoLayer)) over HTTP/1.1 with
/// upgrades, with the default [`ServeOptions`], until the listener fails. Each request
/// carries the client's address as a `SocketAddr` extension (the handshake's `address`).
pub async fn serve<S, B>(listener: TcpListener, svc: S) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_with(
        listener,
        svc,
        ServeOptions::default(),
        std::future::pending(),
    )
    .await
}

/// Like [`serve`], until `shutdown` completes; then stops accepting connections and returns.
/// Call [`SocketIo::close`](crate::SocketIo::close) to end the open Socket.IO connections.
pub async fn serve_with_shutdown<S, B>(
    listener: TcpListener,
    svc: S,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_with(listener, svc, ServeOptions::default(), shutdown).await
}

/// Like [`serve_with_shutdown`], with these [`ServeOptions`].
///
/// ```no_run
/// use tower_socketio::{ServeOptions, SocketIo};
///
/// # async fn run() -> std::io::Result<()> {
/// let (svc, _io) = SocketIo::builder().build_svc();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let options = ServeOptions::new().max_http_header_size(64 * 1024);
/// tower_socketio::serve_with(listener, svc, options, std::future::pending()).await
/// # }
/// ```
pub async fn serve_with<S, B>(
    listener: TcpListener,
    svc: S,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let builder = options.builder();
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed; going on");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        let conn = builder
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(WithAddr { inner: svc, addr }),
            )
            .with_upgrades();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) || e.raw_os_error() == Some(24) // EMFILE: too many open files, wait and retry
}

#[derive(Clone)]
struct WithAddr<S> {
    inner: S,
    addr: SocketAddr,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for WithAddr<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.addr);
        self.inner.call(req)
    }
}
