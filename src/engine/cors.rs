//! Which origins may use the server, and the CORS headers of its answers.
//!
//! A browser sends an `Origin` header with its cross-origin requests. Once origins are
//! configured, the engine checks it against [`AllowOrigin`] on every request (WebSocket
//! handshakes included): a refused origin gets HTTP 403 with
//! `{"code":4,"message":"Forbidden"}`; an allowed one gets `Access-Control-Allow-Origin` set
//! to that origin, `Access-Control-Allow-Credentials: true` and `Vary: Origin`. Requests
//! without an `Origin` header (not from a browser page) are always allowed.
//!
//! By default (as Node's Socket.IO 3 and later) no origin is granted cross-origin access:
//! no request is refused and no CORS header is written, so a page of another origin
//! cannot read the server's polling answers, nor send it credentialed requests it could
//! read (see CVE-2020-28481 in `docs/security.md`). Pages served from the server's own
//! origin need nothing. Set [`AllowOrigin::list`] (or `SocketIoBuilder::origins`) for the
//! origins of your pages; [`AllowOrigin::any`] grants every origin.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;

type SyncPredicate = Arc<dyn Fn(&HeaderValue, &Parts) -> bool + Send + Sync>;
type AsyncPredicate =
    Arc<dyn Fn(HeaderValue, &Parts) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Which origins may use the server.
///
/// The default grants no cross-origin access: nothing is refused, no CORS header is sent
/// (see the [module docs](self)).
#[derive(Clone, Default)]
pub struct AllowOrigin(Inner);

#[derive(Clone, Default)]
enum Inner {
    /// No CORS: nothing refused, no header written.
    #[default]
    Unset,
    Any,
    Exact(HeaderValue),
    List(Vec<HeaderValue>),
    Predicate(SyncPredicate),
    AsyncPredicate(AsyncPredicate),
}

impl AllowOrigin {
    /// Any origin, each answered with CORS headers that let its pages read the answers
    /// with credentials (Node's `cors: { origin: true, credentials: true }`). Only for
    /// servers whose clients authenticate by other means than cookies.
    pub fn any() -> Self {
        AllowOrigin(Inner::Any)
    }

    /// Exactly this origin, e.g. `HeaderValue::from_static("http://localhost:8080")`.
    pub fn exact(origin: HeaderValue) -> Self {
        AllowOrigin(Inner::Exact(origin))
    }

    /// Any of these origins.
    pub fn list<I>(origins: I) -> Self
    where
        I: IntoIterator<Item = HeaderValue>,
    {
        AllowOrigin(Inner::List(origins.into_iter().collect()))
    }

    /// The origins for which `f` returns `true`. `f` also sees the request parts.
    pub fn predicate<F>(f: F) -> Self
    where
        F: Fn(&HeaderValue, &Parts) -> bool + Send + Sync + 'static,
    {
        AllowOrigin(Inner::Predicate(Arc::new(f)))
    }

    /// The origins for which the future `f` returns resolves to `true`. `f` gets the
    /// origin by value and the request parts by reference; its future owns what it
    /// needs.
    pub fn async_predicate<F, Fut>(f: F) -> Self
    where
        F: Fn(HeaderValue, &Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        AllowOrigin(Inner::AsyncPredicate(Arc::new(move |origin, parts| {
            Box::pin(f(origin, parts))
        })))
    }

    /// Whether origins are checked and answered with CORS headers (false for the
    /// default, which leaves cross-origin reads to the browser's refusal).
    pub fn is_configured(&self) -> bool {
        !matches!(self.0, Inner::Unset)
    }

    /// Whether `origin` may use the server.
    pub async fn is_allowed(&self, origin: &HeaderValue, parts: &Parts) -> bool {
        match &self.0 {
            Inner::Unset | Inner::Any => true,
            Inner::Exact(o) => o == origin,
            Inner::List(list) => list.iter().any(|o| o == origin),
            Inner::Predicate(f) => f(origin, parts),
            Inner::AsyncPredicate(f) => f(origin.clone(), parts).await,
        }
    }
}

impl fmt::Debug for AllowOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Unset => f.write_str("AllowOrigin::default()"),
            Inner::Any => f.write_str("AllowOrigin::any()"),
            Inner::Exact(o) => f.debug_tuple("AllowOrigin::exact").field(o).finish(),
            Inner::List(l) => f.debug_tuple("AllowOrigin::list").field(l).finish(),
            Inner::Predicate(_) => f.write_str("AllowOrigin::predicate(..)"),
            Inner::AsyncPredicate(_) => f.write_str("AllowOrigin::async_predicate(..)"),
        }
    }
}

/// The methods a preflight allows.
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST");
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: HeaderValue = HeaderValue::from_static("86400");

/// Adds the headers for an allowed origin to an answer.
pub(crate) fn add_origin_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// Adds the preflight headers (methods, requested headers, max age).
pub(crate) fn add_preflight_headers(headers: &mut HeaderMap, request: &HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    if let Some(requested) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        headers.append(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        http::Request::new(()).into_parts().0
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn variants() {
        let a = HeaderValue::from_static("http://localhost:8080");
        let b = HeaderValue::from_static("http://127.0.0.1:5173");
        let p = parts();
        block_on(async {
            assert!(AllowOrigin::any().is_allowed(&a, &p).await);
            assert!(AllowOrigin::any().is_configured());
            assert!(AllowOrigin::default().is_allowed(&a, &p).await);
            assert!(!AllowOrigin::default().is_configured());
            assert!(AllowOrigin::exact(a.clone()).is_allowed(&a, &p).await);
            assert!(!AllowOrigin::exact(a.clone()).is_allowed(&b, &p).await);
            let list = AllowOrigin::list([a.clone()]);
            assert!(list.is_allowed(&a, &p).await);
            assert!(!list.is_allowed(&b, &p).await);
            let pred = AllowOrigin::predicate(|o, _| o.as_bytes().starts_with(b"http://localhost"));
            assert!(pred.is_allowed(&a, &p).await);
            assert!(!pred.is_allowed(&b, &p).await);
            let apred =
                AllowOrigin::async_predicate(|o, _| async move { o == "http://127.0.0.1:5173" });
            assert!(!apred.is_allowed(&a, &p).await);
            assert!(apred.is_allowed(&b, &p).await);
        });
    }
}
