//! Acknowledgements, both ways.
//!
//! Client → server: an event handler takes an [`AckSender`] and answers with
//! [`AckSender::send`]. Server → client: `emit_with_ack` returns an [`AckFuture`] (one socket)
//! or an [`AckStream`] (a broadcast), each with a timeout.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::adapter::AdapterError;
use crate::engine::SendError;
use crate::protocol::{Args, FromArgs};
use crate::socket::SocketRef;

/// Why an acknowledgement did not arrive or could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum AckError {
    /// The client did not answer in time.
    Timeout,
    /// The socket disconnected before answering.
    Disconnected,
    /// The reply did not deserialize into the expected type.
    Decode(crate::protocol::DataError),
    /// The packet could not be queued.
    Send(SendError),
    /// The packet could not be encoded.
    Encode(crate::protocol::EncodeError),
    /// The adapter failed (cluster).
    Adapter(AdapterError),
    /// Reserved event names (`connect`, `disconnect`, …) cannot be emitted.
    ReservedEvent(String),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::Timeout => f.write_str("operation has timed out"),
            AckError::Disconnected => f.write_str("the socket disconnected before answering"),
            AckError::Decode(e) => write!(f, "the acknowledgement did not deserialize: {e}"),
            AckError::Send(e) => write!(f, "the packet could not be sent: {e}"),
            AckError::Encode(e) => write!(f, "the packet could not be encoded: {e}"),
            AckError::Adapter(e) => write!(f, "{e}"),
            AckError::ReservedEvent(e) => write!(f, "\"{e}\" is a reserved event name"),
        }
    }
}

impl std::error::Error for AckError {}

/// The untyped result of one acknowledgement.
pub type RawAck = Result<Args, AckError>;

/// Answers a client's event that asked for an acknowledgement.
///
/// When the client did not ask for one, [`send`](AckSender::send) does nothing.
#[derive(Debug)]
pub struct AckSender {
    socket: SocketRef,
    ack: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(socket: SocketRef, ack: Option<u64>) -> Self {
        Self { socket, ack }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn is_requested(&self) -> bool {
        self.ack.is_some()
    }

    /// Sends the acknowledgement. A tuple is sent as several arguments, `()` as none,
    /// anything else as one; `Bytes` anywhere in `data` go as binary attachments.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), AckSendError> {
        let Some(id) = self.ack else {
            return Ok(());
        };
        let packet = self
            .socket
            .codec()
            .encode_ack(self.socket.ns(), id, data)
            .map_err(AckSendError::Encode)?;
        self.socket
            .send_encoded(&packet)
            .map_err(AckSendError::Send)
    }
}

/// An acknowledgement could not be sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum AckSendError {
    /// The value could not be encoded.
    Encode(crate::protocol::EncodeError),
    /// The packet could not be queued.
    Send(SendError),
}

impl std::fmt::Display for AckSendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckSendError::Encode(e) => write!(f, "the acknowledgement could not be encoded: {e}"),
            AckSendError::Send(e) => write!(f, "the acknowledgement could not be sent: {e}"),
        }
    }
}

impl std::error::Error for AckSendError {}

/// Where a socket delivers the replies of a broadcast with acknowledgements. Cluster
/// adapters use it to add the replies (and the expected count) of other servers.
#[derive(Debug, Clone)]
pub struct AckWaiter(mpsc::UnboundedSender<AckEvent>);

#[derive(Debug)]
enum AckEvent {
    Reply(RawAck),
    Expect(usize),
    Sources(isize),
}

impl AckWaiter {
    /// Delivers one reply.
    pub fn reply(&self, reply: RawAck) {
        let _ = self.0.send(AckEvent::Reply(reply));
    }
    /// Announces `n` more expected replies.
    pub fn expect(&self, n: usize) {
        let _ = self.0.send(AckEvent::Expect(n));
    }
    /// Announces a source (another server) whose expected count is still unknown.
    pub fn open_source(&self) {
        let _ = self.0.send(AckEvent::Sources(1));
    }
    /// A source announced with [`open_source`](Self::open_source) has said its count.
    pub fn close_source(&self) {
        let _ = self.0.send(AckEvent::Sources(-1));
    }
    /// Whether nobody waits for the replies any more.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// What a socket keeps for an acknowledgement it waits for.
#[derive(Debug)]
pub(crate) enum AckSlot {
    Single(oneshot::Sender<RawAck>),
    Multi(AckWaiter),
}

impl AckSlot {
    pub(crate) fn resolve(self, reply: RawAck) {
        match self {
            AckSlot::Single(tx) => {
                let _ = tx.send(reply);
            }
            AckSlot::Multi(w) => w.reply(reply),
        }
    }
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            AckSlot::Single(tx) => tx.is_closed(),
            AckSlot::Multi(w) => w.is_closed(),
        }
    }
}

/// The untyped replies of a broadcast with acknowledgements; ends when every expected
/// reply came, or at the timeout (each missing reply then yields [`AckError::Timeout`]).
pub struct RawAckStream {
    rx: mpsc::UnboundedReceiver<AckEvent>,
    expected: usize,
    received: usize,
    sources: isize,
    timed_out: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl std::fmt::Debug for RawAckStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawAckStream")
            .field("expected", &self.expected)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl RawAckStream {
    /// A new stream and the waiter that feeds it.
    pub fn channel(timeout: Duration) -> (AckWaiter, RawAckStream) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            AckWaiter(tx),
            RawAckStream {
                rx,
                expected: 0,
                received: 0,
                sources: 0,
                timed_out: false,
                deadline: Box::pin(tokio::time::sleep(timeout)),
            },
        )
    }
}

impl Stream for RawAckStream {
    type Item = RawAck;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RawAck>> {
        let this = &mut *self;
        if this.timed_out {
            if this.received < this.expected {
                this.received += 1;
                return Poll::Ready(Some(Err(AckError::Timeout)));
            }
            return Poll::Ready(None);
        }
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(AckEvent::Reply(r))) => {
                    this.received += 1;
                    this.expected = this.expected.max(this.received);
                    return Poll::Ready(Some(r));
                }
                Poll::Ready(Some(AckEvent::Expect(n))) => this.expected += n,
                Poll::Ready(Some(AckEvent::Sources(d))) => this.sources += d,
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        if this.received >= this.expected && this.sources <= 0 {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out = true;
            this.rx.close();
            if this.received < this.expected {
                this.received += 1;
                return Poll::Ready(Some(Err(AckError::Timeout)));
            }
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// The typed replies of a broadcast with acknowledgements: a [`Stream`] of results, or
/// `.await` it for all of them in a `Vec`.
pub struct AckStream<T> {
    inner: Result<RawAckStream, Option<AckError>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> AckStream<T> {
    pub(crate) fn new(inner: RawAckStream) -> Self {
        Self {
            inner: Ok(inner),
            _t: PhantomData,
        }
    }
    pub(crate) fn failed(e: AckError) -> Self {
        Self {
            inner: Err(Some(e)),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for AckStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckStream").finish_non_exhaustive()
    }
}

impl<T: FromArgs> Stream for AckStream<T> {
    type Item = Result<T, AckError>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match &mut this.inner {
            Err(e) => Poll::Ready(e.take().map(Err)),
            Ok(s) => Pin::new(s)
                .poll_next(cx)
                .map(|o| o.map(|r| r.and_then(|a| T::from_args(a).map_err(AckError::Decode)))),
        }
    }
}

impl<T: FromArgs + Send + 'static> std::future::IntoFuture for AckStream<T> {
    type Output = Vec<Result<T, AckError>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        use futures_util::StreamExt;
        Box::pin(self.collect())
    }
}

/// The reply of one socket to `emit_with_ack`, with a timeout.
pub struct AckFuture<T> {
    state: AckFutureState,
    _t: PhantomData<fn() -> T>,
}

enum AckFutureState {
    Waiting {
        rx: oneshot::Receiver<RawAck>,
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    Failed(Option<AckError>),
}

impl<T> std::fmt::Debug for AckFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture").finish_non_exhaustive()
    }
}

impl<T> AckFuture<T> {
    pub(crate) fn new(rx: oneshot::Receiver<RawAck>, timeout: Duration) -> Self {
        Self {
            state: AckFutureState::Waiting {
                rx,
                deadline: Box::pin(tokio::time::sleep(timeout)),
            },
            _t: PhantomData,
        }
    }
    pub(crate) fn failed(e: AckError) -> Self {
        Self {
            state: AckFutureState::Failed(Some(e)),
            _t: PhantomData,
        }
    }
}

impl<T: FromArgs> Future for AckFuture<T> {
    type Output = Result<T, AckError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            AckFutureState::Failed(e) => {
                Poll::Ready(Err(e.take().unwrap_or(AckError::Disconnected)))
            }
            AckFutureState::Waiting { rx, deadline } => {
                if let Poll::Ready(r) = Pin::new(rx).poll(cx) {
                    let r = match r {
                        Ok(raw) => raw.and_then(|a| T::from_args(a).map_err(AckError::Decode)),
                        Err(_) => Err(AckError::Disconnected),
                    };
                    return Poll::Ready(r);
                }
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(AckError::Timeout));
                }
                Poll::Pending
            }
        }
    }
}
