//! The handshake hook: [`AllowRequest`] and the [`RequestRefusal`] it answers with.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;

/// Why a request was refused by the [`allow_request`](super::EngineConfigBuilder::allow_request)
/// hook: the HTTP status and the message sent as `{"code":4,"message":...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefusal {
    status: StatusCode,
    message: Cow<'static, str>,
}

impl RequestRefusal {
    /// A refusal with this status and message.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        RequestRefusal {
            status,
            message: message.into(),
        }
    }

    /// HTTP 403 with the message `Forbidden`.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden")
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message of the answer.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl Default for RequestRefusal {
    fn default() -> Self {
        Self::forbidden()
    }
}

impl<M: Into<Cow<'static, str>>> From<(StatusCode, M)> for RequestRefusal {
    fn from((status, message): (StatusCode, M)) -> Self {
        Self::new(status, message)
    }
}

impl fmt::Display for RequestRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for RequestRefusal {}

/// The future an [`AllowRequest`] hook returns.
pub type AllowRequestFuture = Pin<Box<dyn Future<Output = Result<(), RequestRefusal>> + Send>>;

/// An asynchronous check run on every handshake, before a session is created.
///
/// Built by [`EngineConfigBuilder::allow_request`](super::EngineConfigBuilder::allow_request). The hook sees the request's
/// method, URI, headers and extensions (never its body).
#[derive(Clone)]
pub struct AllowRequest(Arc<dyn Fn(&Parts) -> AllowRequestFuture + Send + Sync>);

impl AllowRequest {
    /// A hook from a closure. The closure gets the request parts by reference and
    /// returns a future that owns what it needs from them.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RequestRefusal>> + Send + 'static,
    {
        AllowRequest(Arc::new(move |parts| Box::pin(f(parts))))
    }

    /// Runs the hook.
    pub fn check(&self, parts: &Parts) -> AllowRequestFuture {
        (self.0)(parts)
    }
}

impl fmt::Debug for AllowRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AllowRequest(..)")
    }
}
