//! Dynamic namespaces: names matched by a pattern, children sharing one handler.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::normalize;
use crate::handler::{ConnectParts, Handler, IntoConnectError};
use crate::ns::{Namespace, NsHandlers};
use crate::socket::EmitError;
use crate::util::read;

type NsMatcher = Box<dyn Fn(&str) -> bool + Send + Sync>;

pub(super) struct DynNs {
    pub(super) matcher: NsMatcher,
    pub(super) parent: DynNamespace,
}

/// Which names a dynamic namespace accepts.
pub struct NsPattern(pub(super) NsMatcher);

impl std::fmt::Debug for NsPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NsPattern")
    }
}

impl NsPattern {
    /// A predicate over the namespace name.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        NsPattern(Box::new(f))
    }

    /// Whether a namespace name matches.
    pub fn matches(&self, name: &str) -> bool {
        (self.0)(name)
    }

    /// A path whose `{param}` segments match any non-empty segment: `/room/{id}`.
    pub fn path(pattern: &str) -> Self {
        let segments: Vec<Option<String>> = normalize(pattern)
            .split('/')
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') && s.len() > 2 {
                    None
                } else {
                    Some(s.to_owned())
                }
            })
            .collect();
        NsPattern(Box::new(move |name: &str| {
            let parts: Vec<&str> = name.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(p, s)| match s {
                    Some(lit) => lit == p,
                    None => !p.is_empty(),
                })
        }))
    }
}

impl From<&str> for NsPattern {
    fn from(p: &str) -> Self {
        NsPattern::path(p)
    }
}

impl From<String> for NsPattern {
    fn from(p: String) -> Self {
        NsPattern::path(&p)
    }
}

/// A dynamic namespace (Node's parent namespace): its middleware and handler apply to
/// every child namespace it creates; broadcasts reach all of them.
#[derive(Clone)]
pub struct DynNamespace {
    pub(super) handlers: Arc<NsHandlers>,
    pub(super) children: Arc<RwLock<Vec<Namespace>>>,
}

impl std::fmt::Debug for DynNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynNamespace").finish_non_exhaustive()
    }
}

impl DynNamespace {
    /// Adds connect middleware for every child namespace (see [`Namespace::use_`]).
    pub fn use_<H, T, E>(&self, middleware: H) -> &Self
    where
        H: Handler<ConnectParts, T, Result<(), E>>,
        T: Send + 'static,
        E: IntoConnectError + Send + 'static,
    {
        crate::ns::push_middleware(&self.handlers, middleware);
        self
    }

    /// The namespaces created so far.
    pub fn namespaces(&self) -> Vec<Namespace> {
        read(&self.children).clone()
    }

    /// Emits to every socket of every child namespace.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        for ns in self.namespaces() {
            ns.emit(event, data).await?;
        }
        Ok(())
    }
}
