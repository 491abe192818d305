//! The response body of the engine's service: either the engine's own answer or
//! the body of the wrapped service, passed through untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

/// Response body of [`EngineService`](super::EngineService): the engine's own bytes,
/// or the inner service's body `B`.
#[pin_project]
#[derive(Debug)]
pub struct EngineBody<B> {
    #[pin]
    kind: Kind<B>,
}

#[pin_project(project = KindProj)]
#[derive(Debug)]
enum Kind<B> {
    Full {
        data: Option<Bytes>,
    },
    Inner {
        #[pin]
        body: B,
    },
}

impl<B> EngineBody<B> {
    /// A body of these bytes.
    pub fn full(data: Bytes) -> Self {
        EngineBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        EngineBody {
            kind: Kind::Full { data: None },
        }
    }

    /// The inner service's body.
    pub fn inner(body: B) -> Self {
        EngineBody {
            kind: Kind::Inner { body },
        }
    }
}

impl<B> Body for EngineBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data } => data.is_none(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body } => body.size_hint(),
        }
    }
}
