//! The tower glue: [`SocketIoLayer`] for a router, [`SocketIoService`] standalone.
//!
//! Requests under the path naming a browser client file (`/socket.io/socket.io.js`, see
//! [`client_files`](crate::client_files)) are answered here when `serve_client` is on;
//! everything else goes to the engine, which passes what is not its own to the inner service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::SocketIo;
use crate::client::Client;
use crate::client_files;
use crate::engine::{EngineBody, EngineIo, EngineLayer, EngineService, NotFound, ResponseFuture};

/// A tower layer that answers Socket.IO requests under the server's path and passes every
/// other request to the service it wraps.
///
/// Use it with axum as `Router::layer(layer)`, or wrap any tower service.
#[derive(Clone)]
pub struct SocketIoLayer {
    engine: EngineLayer<Client>,
    io: SocketIo,
}

impl std::fmt::Debug for SocketIoLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoLayer")
            .field("io", &self.io)
            .finish()
    }
}

impl SocketIoLayer {
    pub(crate) fn new(engine: Arc<EngineIo<Client>>, io: SocketIo) -> Self {
        warn_if_no_client(&io);
        Self {
            engine: EngineLayer::new(engine),
            io,
        }
    }

    /// The server handle.
    pub fn io(&self) -> &SocketIo {
        &self.io
    }
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;
    fn layer(&self, inner: S) -> SocketIoService<S> {
        SocketIoService {
            inner: EngineService::with_inner(self.engine.engine().clone(), inner),
            io: self.io.clone(),
        }
    }
}

/// The Socket.IO service: answers requests under the server's path; passes the others to
/// the inner service (by default [`NotFound`], a 404).
pub struct SocketIoService<S = NotFound> {
    inner: EngineService<Client, S>,
    io: SocketIo,
}

impl<S: Clone> Clone for SocketIoService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            io: self.io.clone(),
        }
    }
}

impl<S> std::fmt::Debug for SocketIoService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoService")
            .field("io", &self.io)
            .finish()
    }
}

impl SocketIoService<NotFound> {
    pub(crate) fn new(engine: Arc<EngineIo<Client>>, io: SocketIo) -> Self {
        warn_if_no_client(&io);
        Self {
            inner: EngineService::new(engine),
            io,
        }
    }
}

impl<S> SocketIoService<S> {
    /// The server handle.
    pub fn io(&self) -> &SocketIo {
        &self.io
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SocketIoService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ReqBody::Error: Into<crate::engine::BoxError>,
    ResBody: http_body::Body<Data = bytes::Bytes>,
{
    type Response = Response<EngineBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        #[cfg(feature = "admin-ui")]
        if let Some(response) = admin_ui(&self.io, &req) {
            return ResponseFuture::ready(response);
        }
        if self.io.serve_client() && (req.method() == Method::GET || req.method() == Method::HEAD) {
            let base = self.io.engine_config().base_path();
            if let Some(name) = client_files::match_path(base, req.uri().path()) {
                let response = client_files::respond(name, req.method(), req.headers());
                return ResponseFuture::ready(response);
            }
        }
        self.inner.call(req)
    }
}

/// The Admin UI's answer, when the request is a `GET` or `HEAD` of one of its URLs.
#[cfg(feature = "admin-ui")]
fn admin_ui<B>(io: &SocketIo, req: &Request<B>) -> Option<Response<bytes::Bytes>> {
    use crate::admin::ui;
    let base = io.admin_ui_path()?;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let path = req.uri().path();
    let what = ui::match_path(base, path)?;
    Some(ui::respond(
        what,
        path,
        req.uri().query(),
        req.method(),
        req.headers(),
    ))
}

/// One log line when the server is built to serve a client this build does not have.
fn warn_if_no_client(io: &SocketIo) {
    if io.serve_client() && !client_files::is_embedded() {
        client_files::warn_if_missing(io.engine_config().base_path());
    }
    #[cfg(feature = "admin-ui")]
    if let Some(base) = io.admin_ui_path() {
        if !crate::admin::ui::is_embedded() {
            crate::admin::ui::warn_if_missing(base);
        }
    }
}
