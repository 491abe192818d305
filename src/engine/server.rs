//! [`EngineIo`]: the shared state of an Engine.IO server and its request routing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument as _;

use super::config::{EngineConfig, RequestRefusal};
use super::error::HttpError;
use super::query::{Param, Query};
use super::service::BoxError;
use super::socket::{Phase, Socket, UpgradedWs};
use super::version::{Protocol, Refused};
use super::{
    DisconnectReason, EngineHandler, ProtocolVersion, Sid, TransportType, cors, driver, polling, ws,
};

/// A registered session and the channel its upgrade will arrive on.
pub(crate) type NewSession<D> = (Arc<Socket<D>>, tokio::sync::oneshot::Receiver<UpgradedWs>);

/// An Engine.IO server: its options, its handler and its live sessions.
///
/// Create it with [`EngineIo::new`], then serve it with
/// [`EngineLayer`](super::EngineLayer) or [`EngineService`](super::EngineService).
pub struct EngineIo<H: EngineHandler> {
    config: EngineConfig,
    handler: H,
    sessions: RwLock<HashMap<Sid, Arc<Socket<H::Data>>>>,
    ws_config: WebSocketConfig,
    closing: std::sync::atomic::AtomicBool,
    /// The warning about a refused `EIO=3` was logged.
    warned_eio3: std::sync::atomic::AtomicBool,
}

impl<H: EngineHandler> std::fmt::Debug for EngineIo<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineIo")
            .field("config", &self.config)
            .field("sessions", &self.sessions_count())
            .finish()
    }
}

impl<H: EngineHandler> EngineIo<H> {
    /// A server with this handler and these options.
    pub fn new(handler: H, config: EngineConfig) -> Arc<Self> {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(config.ws_read_buffer_size())
            .write_buffer_size(16 * 1024)
            .max_message_size(Some(config.max_payload()))
            .max_frame_size(Some(config.max_payload()));
        Arc::new(EngineIo {
            config,
            handler,
            sessions: RwLock::new(HashMap::new()),
            ws_config,
            closing: std::sync::atomic::AtomicBool::new(false),
            warned_eio3: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The options.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// How many sessions are open.
    pub fn sessions_count(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The open session with this id.
    pub fn get_socket(&self, sid: Sid) -> Option<Arc<Socket<H::Data>>> {
        self.sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sid)
            .cloned()
    }

    /// Ends every session with [`DisconnectReason::ClosingServer`] (their queued
    /// messages are still sent) and waits until they are all gone.
    ///
    /// From then on, new handshakes are refused with 503.
    pub async fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        let sockets: Vec<_> = self
            .sessions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for socket in &sockets {
            socket.close(DisconnectReason::ClosingServer);
        }
        for socket in &sockets {
            socket.finalized().await;
        }
    }

    pub(crate) fn ws_config(&self) -> WebSocketConfig {
        self.ws_config
    }

    /// Creates a session and registers it, under `sid` or (with `None`) a fresh
    /// random id; `None` if `sid` is taken.
    pub(crate) fn create_session(
        &self,
        sid: Option<Sid>,
        protocol: Protocol,
        parts: http::request::Parts,
        phase: Phase,
        now: Instant,
    ) -> Option<NewSession<H::Data>> {
        let transport = match phase {
            Phase::Websocket => TransportType::Websocket,
            _ => TransportType::Polling,
        };
        let remote_addr = remote_addr(&parts.extensions);
        let heartbeat =
            protocol.heartbeat(now, self.config.ping_interval(), self.config.ping_timeout());
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        let sid = match sid {
            Some(sid) if sessions.contains_key(&sid) => return None,
            Some(sid) => sid,
            None => loop {
                let sid = Sid::new();
                if !sessions.contains_key(&sid) {
                    break sid;
                }
            },
        };
        let span = tracing::info_span!(
            "engineio_session",
            sid = %sid,
            transport = transport.as_str(),
        );
        let (socket, upgrade_rx) = Socket::new(
            sid,
            H::Data::default(),
            protocol,
            parts,
            remote_addr,
            phase,
            heartbeat,
            self.config.max_buffered_bytes(),
            span,
        );
        let socket = Arc::new(socket);
        sessions.insert(sid, socket.clone());
        drop(sessions);
        tracing::debug!(parent: &socket.session.span, "session opened");
        Some((socket, upgrade_rx))
    }

    /// Ends a session: unregisters it and calls `on_disconnect` once.
    pub(crate) fn finalize(&self, socket: &Arc<Socket<H::Data>>, reason: DisconnectReason) {
        socket.request_close(reason);
        let reason = socket.close_reason().unwrap_or(reason);
        self.unregister(socket);
        socket.dispatch_last(|| self.handler.on_disconnect(socket.clone(), reason));
        socket.mark_finalized();
        if let Ok(mut outbox) = socket.session.outbox.try_lock() {
            outbox.discard();
        }
        tracing::debug!(parent: &socket.session.span, %reason, "session closed");
    }

    /// Removes a session from the map (if it is still this one).
    pub(crate) fn unregister(&self, socket: &Arc<Socket<H::Data>>) {
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        if sessions
            .get(&socket.id())
            .is_some_and(|s| Arc::ptr_eq(s, socket))
        {
            sessions.remove(&socket.id());
        }
    }

    /// Answers a request to the engine's path.
    pub(crate) async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Response<Bytes>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // A head over the limit is refused before anything is read from it or kept of it.
        let head = head_size(&req);
        if head > self.config.max_http_header_size() {
            tracing::debug!(
                bytes = head,
                limit = self.config.max_http_header_size(),
                "request refused: its head is larger than max_http_header_size"
            );
            return HttpError::HeadersTooLarge.into_response();
        }
        // Without configured origins nothing is checked and no CORS header is written.
        let origin = if self.config.allow_origin().is_configured() {
            req.headers().get(header::ORIGIN).cloned()
        } else {
            None
        };
        let req = match &origin {
            Some(origin) => {
                let (parts, body) = req.into_parts();
                if !self.config.allow_origin().is_allowed(origin, &parts).await {
                    tracing::debug!(?origin, "origin refused");
                    return HttpError::Forbidden(RequestRefusal::forbidden()).into_response();
                }
                Request::from_parts(parts, body)
            }
            None => req,
        };
        let mut response = if req.method() == Method::OPTIONS {
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            cors::add_preflight_headers(r.headers_mut(), req.headers());
            r
        } else {
            match self.route(req).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            }
        };
        if let Some(origin) = &origin {
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                cors::add_origin_headers(response.headers_mut(), origin);
            }
        }
        response
    }

    async fn route<B>(self: Arc<Self>, req: Request<B>) -> Result<Response<Bytes>, HttpError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let query = Query::parse(req.uri().query().unwrap_or(""));
        let transport = match query.transport.one() {
            Some("polling") => TransportType::Polling,
            Some("websocket") => TransportType::Websocket,
            _ => return Err(HttpError::UnknownTransport),
        };
        if !self.config.transports().contains(transport) {
            return Err(HttpError::UnknownTransport);
        }
        let sid = match query.sid {
            Param::Missing => None,
            Param::Many => return Err(HttpError::UnknownSid),
            Param::One(s) => Some(s.parse::<Sid>().map_err(|_| HttpError::UnknownSid)?),
        };

        let Some(sid) = sid else {
            let protocol = Protocol::negotiate(
                &query,
                transport == TransportType::Polling,
                self.config.allow_eio3(),
            );
            return self.handshake(transport, protocol, req).await;
        };
        let socket = self.get_socket(sid).ok_or(HttpError::UnknownSid)?;
        if socket.check_heartbeat(Instant::now()) {
            return Err(HttpError::UnknownSid);
        }
        match transport {
            TransportType::Websocket => {
                if !is_websocket_upgrade(&req) {
                    return Err(HttpError::BadRequest);
                }
                if socket.is_closed() {
                    return Err(HttpError::UnknownSid);
                }
                let protocol = socket.protocol_impl().for_upgrade(&query);
                ws::upgrade(&self, socket, req, protocol)
            }
            TransportType::Polling => {
                if socket.phase() == Phase::Websocket {
                    return Err(HttpError::BadRequest);
                }
                match *req.method() {
                    Method::GET => polling::get(&self, socket, req.headers()).await,
                    Method::POST => polling::post(&self, socket, req).await,
                    _ => Err(HttpError::BadRequest),
                }
            }
        }
    }

    async fn handshake<B>(
        self: Arc<Self>,
        transport: TransportType,
        protocol: Result<Protocol, Refused>,
        req: Request<B>,
    ) -> Result<Response<Bytes>, HttpError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
    {
        if req.method() != Method::GET {
            return Err(HttpError::BadHandshakeMethod);
        }
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return Err(HttpError::Forbidden(RequestRefusal::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Server is shutting down",
            )));
        }
        if transport == TransportType::Websocket && !is_websocket_upgrade(&req) {
            return Err(HttpError::BadRequest);
        }
        let protocol = protocol.inspect_err(|refused| self.log_refusal(*refused))?;
        if let Some(hook) = self.config.allow_request() {
            let (parts, body) = req.into_parts();
            if let Err(refusal) = hook.check(&parts).await {
                tracing::debug!(%refusal, "handshake refused by allow_request");
                return Err(HttpError::Forbidden(refusal));
            }
            let req = Request::from_parts(parts, body);
            return Ok(self.open(transport, protocol, req));
        }
        Ok(self.open(transport, protocol, req))
    }

    fn open<B>(
        self: Arc<Self>,
        transport: TransportType,
        protocol: Protocol,
        req: Request<B>,
    ) -> Response<Bytes>
    where
        B: Send + 'static,
    {
        match transport {
            TransportType::Polling => {
                let (parts, _body) = req.into_parts();
                polling::handshake(&self, protocol, parts)
            }
            TransportType::Websocket => ws::handshake(&self, protocol, req),
        }
    }

    /// The open packet's JSON for a new session.
    pub(crate) fn open_payload(
        &self,
        protocol: Protocol,
        sid: Sid,
        transport: TransportType,
    ) -> String {
        let upgrade = transport == TransportType::Polling
            && self.config.transports().contains(TransportType::Websocket);
        protocol.open_payload(
            sid.as_str(),
            upgrade,
            self.config.ping_interval(),
            self.config.ping_timeout(),
            self.config.max_payload(),
        )
    }

    /// Says why a handshake's protocol was refused. An `EIO=3` refused because Engine.IO 3
    /// is off is a configuration matter, worth one warning per server (not one per
    /// request); anything else is the client's.
    fn log_refusal(&self, refused: Refused) {
        match refused {
            Refused::Version(Some(ProtocolVersion::V3)) => {
                if !self
                    .warned_eio3
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    tracing::warn!(
                        "refused an Engine.IO 3 client (EIO=3, a Socket.IO 2 client): \
                         enable `allow_eio3` to serve it (warned once)"
                    );
                }
                tracing::debug!("EIO=3 refused: allow_eio3 is off");
            }
            Refused::Version(_) => tracing::debug!("handshake refused: EIO missing or unsupported"),
            Refused::Jsonp => tracing::debug!("JSONP handshake refused: `j` has no callback index"),
        }
    }

    /// Adds the session cookie to a handshake answer, if configured.
    pub(crate) fn add_cookie(&self, headers: &mut HeaderMap, sid: Sid) {
        if let Some(cookie) = self.config.cookie() {
            if let Ok(v) = HeaderValue::from_str(&cookie.header_value(sid.as_str())) {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }

    /// Starts the session's task.
    pub(crate) fn spawn_driver(
        self: &Arc<Self>,
        socket: Arc<Socket<H::Data>>,
        start: driver::Start,
    ) {
        let span = socket.session.span.clone();
        tokio::spawn(driver::run(self.clone(), socket, start).instrument(span));
    }
}

/// Whether a request asks for a WebSocket handshake this server can complete.
fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    req.method() == Method::GET
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13")
        && headers
            .get(header::SEC_WEBSOCKET_KEY)
            .is_some_and(|key| valid_websocket_key(key.as_bytes()))
        && req
            .extensions()
            .get::<hyper::upgrade::OnUpgrade>()
            .is_some()
}

/// Whether a `Sec-WebSocket-Key` is the base64 of 16 bytes, as RFC 6455 requires.
fn valid_websocket_key(key: &[u8]) -> bool {
    use base64::Engine as _;
    let mut out = [0u8; 18];
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode_slice(key, &mut out)
            .is_ok_and(|n| n == 16)
}

/// The client address from the request extensions.
fn remote_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    if let Some(addr) = extensions.get::<SocketAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    None
}

/// The size of a request's head as it came over HTTP/1.1: the request line
/// (`METHOD target HTTP/1.1\r\n`) and every header line (`name: value\r\n`).
fn head_size<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + 1 + "HTTP/1.1\r\n".len();
    req.headers().iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + 2 + value.len() + 2
    })
}
