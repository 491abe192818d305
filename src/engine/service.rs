//! The engine as a tower [`Layer`] and [`Service`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use pin_project::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::body::EngineBody;
use super::{EngineHandler, EngineIo};

/// A boxed error, as request bodies' errors are turned into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds an Engine.IO server under its path to any service: requests to the
/// engine's path are answered by the engine, every other request goes to the
/// wrapped service untouched.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use bytes::Bytes;
/// # use tower_socketio::engine::*;
/// # struct Echo;
/// # impl EngineHandler for Echo {
/// #     type Data = ();
/// #     fn on_connect(&self, _: Arc<Socket<()>>) {}
/// #     fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
/// #     fn on_message(&self, msg: Str, s: &Arc<Socket<()>>) { let _ = s.send(Message::Text(msg)); }
/// #     fn on_binary(&self, data: Bytes, s: &Arc<Socket<()>>) { let _ = s.send(Message::Binary(data)); }
/// # }
/// # async fn run() {
/// let engine = EngineIo::new(Echo, EngineConfig::default());
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(EngineLayer::new(engine.clone()));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
pub struct EngineLayer<H: EngineHandler> {
    engine: Arc<EngineIo<H>>,
}

impl<H: EngineHandler> EngineLayer<H> {
    /// A layer serving `engine`.
    pub fn new(engine: Arc<EngineIo<H>>) -> Self {
        EngineLayer { engine }
    }

    /// The engine this layer serves.
    pub fn engine(&self) -> &Arc<EngineIo<H>> {
        &self.engine
    }
}

impl<H: EngineHandler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer {
            engine: self.engine.clone(),
        }
    }
}

impl<H: EngineHandler> std::fmt::Debug for EngineLayer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLayer")
            .field("path", &self.engine.config().path())
            .finish()
    }
}

impl<H: EngineHandler, S> Layer<S> for EngineLayer<H> {
    type Service = EngineService<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineService::with_inner(self.engine.clone(), inner)
    }
}

/// The inner service of a standalone [`EngineService`]: answers 404 to everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(response))
    }
}

/// The Engine.IO server as a tower service. Requests to the engine's path are
/// answered by the engine; the others go to the inner service `S` (by default
/// [`NotFound`], which answers 404).
pub struct EngineService<H: EngineHandler, S = NotFound> {
    engine: Arc<EngineIo<H>>,
    inner: S,
}

impl<H: EngineHandler> EngineService<H, NotFound> {
    /// A standalone service: 404 for other paths.
    pub fn new(engine: Arc<EngineIo<H>>) -> Self {
        EngineService {
            engine,
            inner: NotFound,
        }
    }
}

impl<H: EngineHandler, S> EngineService<H, S> {
    /// A service sending requests outside the engine's path to `inner`.
    pub fn with_inner(engine: Arc<EngineIo<H>>, inner: S) -> Self {
        EngineService { engine, inner }
    }

    /// The engine this service serves.
    pub fn engine(&self) -> &Arc<EngineIo<H>> {
        &self.engine
    }

    /// The inner service.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<H: EngineHandler, S: Clone> Clone for EngineService<H, S> {
    fn clone(&self) -> Self {
        EngineService {
            engine: self.engine.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<H: EngineHandler, S: std::fmt::Debug> std::fmt::Debug for EngineService<H, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineService")
            .field("path", &self.engine.config().path())
            .field("inner", &self.inner)
            .finish()
    }
}

impl<H, S, ReqBody, ResBody> Service<Request<ReqBody>> for EngineService<H, S>
where
    H: EngineHandler,
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes>,
{
    type Response = Response<EngineBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.engine.config().matches_path(req.uri().path()) {
            let engine = self.engine.clone();
            ResponseFuture {
                kind: FutureKind::Engine {
                    future: Box::pin(async move { engine.handle(req).await }),
                },
            }
        } else {
            ResponseFuture {
                kind: FutureKind::Inner {
                    future: self.inner.call(req),
                },
            }
        }
    }
}

/// Response future of [`EngineService`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    kind: FutureKind<F>,
}

impl<F> ResponseFuture<F> {
    /// A future that answers at once with `response` (the client files of the layer above).
    pub(crate) fn ready(response: Response<Bytes>) -> Self {
        ResponseFuture {
            kind: FutureKind::Ready {
                response: Some(response),
            },
        }
    }
}

#[pin_project(project = FutureKindProj)]
enum FutureKind<F> {
    Engine {
        future: Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>,
    },
    Inner {
        #[pin]
        future: F,
    },
    Ready {
        response: Option<Response<Bytes>>,
    },
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<EngineBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            FutureKindProj::Engine { future } => future
                .as_mut()
                .poll(cx)
                .map(|response| Ok(response.map(EngineBody::full))),
            FutureKindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(EngineBody::inner))),
            FutureKindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion")
                .map(EngineBody::full))),
        }
    }
}
