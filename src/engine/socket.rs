//! The session handle ([`Socket`]) and the state the engine keeps with it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use http::request::Parts;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{Mutex as AsyncMutex, Notify, oneshot};
use tokio_tungstenite::WebSocketStream;

use super::head::Head;
use super::packet::Outgoing;
use super::queue::cost;
pub(crate) use super::queue::{Outbox, Queue};
use super::version::{Heartbeat, Protocol};
use super::writer::{Direct, WsSlot};
use super::{DisconnectReason, Message, ProtocolVersion, SendError, Sid, TransportType};
use crate::util::lock;

/// A server-side WebSocket connection.
pub(crate) type WsStream = WebSocketStream<TokioIo<Upgraded>>;

/// A completed upgrade: the WebSocket and how it writes (its own request's framing).
pub(crate) type UpgradedWs = (WsStream, Protocol);

/// Where a session stands with its transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    /// Long-polling.
    Polling = 0,
    /// Long-polling; a WebSocket is attached and the probe is awaited.
    ProbeWait = 1,
    /// The probe was answered: polling is paused until the client's `5`.
    Upgrading = 2,
    /// WebSocket.
    Websocket = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Polling,
            1 => Phase::ProbeWait,
            2 => Phase::Upgrading,
            _ => Phase::Websocket,
        }
    }
}

#[derive(Debug, Default)]
struct CloseState {
    reason: Option<DisconnectReason>,
    /// Queued messages go out before the close packet.
    graceful: bool,
    delivered: bool,
}

/// Whether a close that the upper layer asks for lets queued messages out first: it
/// does unless the transport itself is gone or stalled (Node's `socket.close()` waits for
/// its write buffer to drain in the same cases).
fn is_graceful(reason: DisconnectReason) -> bool {
    !matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::HeartbeatTimeout
    )
}

/// `Session::pong_pending`: a `3`.
const PONG: u8 = 1;
/// `Session::pong_pending`: a `3probe`.
const PONG_PROBE: u8 = 2;

/// The engine's state of a session, beside what the upper layer sees.
pub(crate) struct Session {
    pub(crate) span: tracing::Span,
    /// The WebSocket, while the session is over one (shared with senders: `writer`).
    pub(crate) ws: WsSlot,
    queue: Arc<Queue>,
    pub(crate) outbox: AsyncMutex<Outbox>,
    phase: AtomicU8,
    close: Mutex<CloseState>,
    closing: AtomicBool,
    finalized: AtomicBool,
    /// Wakes the session's task.
    pub(crate) wake_driver: Notify,
    /// Wakes the pending polling GET.
    pub(crate) wake_poll: Notify,
    /// Wakes everyone waiting for a close (`notify_waiters`).
    changed: Notify,
    /// A ping waits for the next polling GET.
    pub(crate) ping_pending: AtomicBool,
    /// Engine.IO 3: a pong waits for the transport (`PONG` or `PONG_PROBE`).
    pub(crate) pong_pending: AtomicU8,
    /// A polling GET is waiting for data.
    pub(crate) poll_waiting: AtomicBool,
    /// A polling POST is being read.
    pub(crate) posting: AtomicBool,
    heartbeat: Mutex<Heartbeat>,
    upgrade_tx: Mutex<Option<oneshot::Sender<UpgradedWs>>>,
    dispatch: Mutex<()>,
}

/// One Engine.IO session (a client connection), as the upper layer sees it.
///
/// The engine creates it after a handshake and hands it to
/// [`EngineHandler::on_connect`](super::EngineHandler::on_connect). Sending never
/// waits: messages go to a bounded queue that the session's transport drains.
pub struct Socket<D> {
    id: Sid,
    data: D,
    protocol: Protocol,
    head: Head,
    /// Built from `head` on the first `req_parts()`.
    req_parts: std::sync::OnceLock<Box<Parts>>,
    remote_addr: Option<SocketAddr>,
    pub(crate) session: Session,
}

impl<D> std::fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("transport", &self.transport())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<D> Socket<D> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: Sid,
        data: D,
        protocol: Protocol,
        req_parts: Parts,
        remote_addr: Option<SocketAddr>,
        phase: Phase,
        heartbeat: Heartbeat,
        max_buffered_bytes: usize,
        span: tracing::Span,
    ) -> (Self, oneshot::Receiver<UpgradedWs>) {
        let queue = Arc::new(Queue::new(max_buffered_bytes.max(1)));
        let (upgrade_tx, upgrade_rx) = oneshot::channel();
        let socket = Socket {
            id,
            data,
            protocol,
            head: Head::new(req_parts),
            req_parts: std::sync::OnceLock::new(),
            remote_addr,
            session: Session {
                span,
                ws: WsSlot::default(),
                outbox: AsyncMutex::new(Outbox {
                    queue: queue.clone(),
                    leftover: None,
                }),
                queue,
                phase: AtomicU8::new(phase as u8),
                close: Mutex::new(CloseState::default()),
                closing: AtomicBool::new(false),
                finalized: AtomicBool::new(false),
                wake_driver: Notify::new(),
                wake_poll: Notify::new(),
                changed: Notify::new(),
                ping_pending: AtomicBool::new(false),
                pong_pending: AtomicU8::new(0),
                poll_waiting: AtomicBool::new(false),
                posting: AtomicBool::new(false),
                heartbeat: Mutex::new(heartbeat),
                upgrade_tx: Mutex::new(Some(upgrade_tx)),
                dispatch: Mutex::new(()),
            },
        };
        (socket, upgrade_rx)
    }

    /// The session id.
    pub fn id(&self) -> Sid {
        self.id
    }

    /// The data the upper layer keeps with this session.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The Engine.IO protocol version the client speaks.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol.version()
    }

    /// The transport the session uses now: polling until an upgrade completes.
    pub fn transport(&self) -> TransportType {
        match self.phase() {
            Phase::Websocket => TransportType::Websocket,
            _ => TransportType::Polling,
        }
    }

    /// The handshake request: method, URI, version, headers and extensions (those
    /// set by tower layers in front of the engine included), never its body.
    pub fn req_parts(&self) -> &Parts {
        self.req_parts.get_or_init(|| Box::new(self.head.parts()))
    }

    /// The client's address, when the server put it in the handshake request's
    /// extensions as a [`SocketAddr`] (or, with the `axum` feature, on by default, as
    /// axum's `ConnectInfo<SocketAddr>`, which `into_make_service_with_connect_info`
    /// provides).
    ///
    /// Built without the feature (`default-features = false`), a middleware copies it
    /// over under axum:
    ///
    /// ```
    /// async fn remote_addr(
    ///     axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    ///     mut req: axum::extract::Request,
    ///     next: axum::middleware::Next,
    /// ) -> axum::response::Response {
    ///     req.extensions_mut().insert(addr);
    ///     next.run(req).await
    /// }
    /// // router.layer(engine_layer).layer(axum::middleware::from_fn(remote_addr))
    /// ```
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Queues a message. Fails at once when the queue is full or the session closed.
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        self.send_batch(std::iter::once(msg))
    }

    /// Queues several messages, all or none: when the queue has no room for all of
    /// them, none is queued. A Socket.IO packet and its binary attachments are sent
    /// this way so that they are never split.
    pub fn send_batch<I>(&self, msgs: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = Message>,
        I::IntoIter: ExactSizeIterator,
    {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        match self.send_now(msgs.into_iter()) {
            Ok(sent) => sent,
            Err(msgs) => self
                .session
                .queue
                .push_all(msgs)
                .map_err(|(error, _)| error),
        }
    }

    /// Writes the messages at once when the session is over WebSocket and nothing is
    /// waiting for its socket (see `writer`); gives them back otherwise, for the queue.
    fn send_now<I: Iterator<Item = Message>>(&self, msgs: I) -> Result<Result<(), SendError>, I> {
        if self.phase() != Phase::Websocket || super::writer::in_burst() {
            return Err(msgs);
        }
        let queue = &self.session.queue;
        let queue_empty = || lock(&queue.state).items.is_empty();
        match self.session.ws.try_send(queue_empty, msgs) {
            Direct::Written { backlog } => {
                if backlog {
                    // The kernel did not take it all: the session's task writes the rest.
                    self.session.wake_driver.notify_one();
                }
                Ok(Ok(()))
            }
            Direct::Queue(msgs) => Err(msgs),
            Direct::Failed(error) => {
                tracing::debug!(parent: &self.session.span, %error, "WebSocket write failed");
                self.request_close(DisconnectReason::TransportError);
                Ok(Err(SendError::Closed))
            }
        }
    }

    /// Queues a message, waiting for room when the queue is full (the client reads
    /// slower than the server writes). Fails only when the session closes.
    pub async fn send_wait(&self, msg: Message) -> Result<(), SendError> {
        self.send_batch_wait(std::iter::once(msg)).await
    }

    /// [`send_batch`](Self::send_batch), waiting for room when the queue is full. Fails
    /// only when the session closes (its messages are then dropped).
    pub async fn send_batch_wait<I>(&self, msgs: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = Message>,
    {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        // Nothing waiting for the socket: written at once, as `send_batch` does.
        let msgs = match self.send_now(msgs.into_iter()) {
            Ok(sent) => return sent,
            Err(msgs) => msgs,
        };
        let closing = self.closing();
        tokio::pin!(closing);
        tokio::select! {
            biased;
            sent = self.session.queue.push_all_wait(msgs) => sent,
            () = &mut closing => Err(SendError::Closed),
        }
    }

    /// Queues messages only if the transport can write them right now: the
    /// WebSocket is connected and its queue at most half full, or a polling request
    /// is waiting. Otherwise (or when they do not all fit) they are dropped. Returns
    /// whether they were queued.
    pub fn send_volatile<I>(&self, msgs: I) -> bool
    where
        I: IntoIterator<Item = Message>,
        I::IntoIter: ExactSizeIterator,
    {
        let queue = &self.session.queue;
        let keep = match self.phase() {
            Phase::Websocket => queue.capacity / 2,
            Phase::Polling | Phase::ProbeWait | Phase::Upgrading => {
                if !self.session.poll_waiting.load(Ordering::Acquire) {
                    return false;
                }
                0
            }
        };
        if self.is_closed() {
            return false;
        }
        // A socket with nothing waiting can write now: at once, if the messages would
        // have fitted in the queue with `keep` bytes to spare (the queue's policy, which
        // drops a volatile message larger than that even into an empty queue).
        let msgs = msgs.into_iter();
        if msgs.len() == 1 {
            let mut msgs = msgs.peekable();
            let fits = msgs
                .peek()
                .is_some_and(|m| cost(m).saturating_add(keep) <= queue.capacity);
            if fits {
                match self.send_now(msgs) {
                    Ok(sent) => return sent.is_ok(),
                    Err(msgs) => return queue.push_all_keeping(msgs, Some(keep)).is_ok(),
                }
            }
            return queue.push_all_keeping(msgs, Some(keep)).is_ok();
        }
        queue.push_all_keeping(msgs, Some(keep)).is_ok()
    }

    /// Closes the session. Messages already queued are still sent first, then the
    /// close packet, except with [`DisconnectReason::TransportError`],
    /// [`DisconnectReason::TransportClose`] or [`DisconnectReason::HeartbeatTimeout`]
    /// (the transport is gone or stalled): then they are dropped. The handler's
    /// `on_disconnect` follows from the session's task.
    pub fn close(&self, reason: DisconnectReason) {
        self.start_close(reason, is_graceful(reason));
    }

    /// Whether the session is closed or closing: it takes no more messages.
    pub fn is_closed(&self) -> bool {
        self.session.closing.load(Ordering::Acquire)
    }

    // ---- engine internals ----

    pub(crate) fn protocol_impl(&self) -> Protocol {
        self.protocol
    }

    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.session.phase.load(Ordering::Acquire))
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.session.phase.store(phase as u8, Ordering::Release);
    }

    /// Moves from `from` to `to`; false when the phase was not `from`.
    pub(crate) fn switch_phase(&self, from: Phase, to: Phase) -> bool {
        self.session
            .phase
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Ends the session at once (the engine's own closes: a failed transport, a bad
    /// packet, a missed pong); queued messages are dropped. The first reason wins.
    /// Returns whether this call started the close.
    pub(crate) fn request_close(&self, reason: DisconnectReason) -> bool {
        self.start_close(reason, false)
    }

    fn start_close(&self, reason: DisconnectReason, graceful: bool) -> bool {
        {
            let mut state = lock(&self.session.close);
            if state.reason.is_some() {
                return false;
            }
            state.reason = Some(reason);
            state.graceful = graceful;
            self.session.closing.store(true, Ordering::Release);
        }
        tracing::debug!(parent: &self.session.span, %reason, "closing");
        self.session.wake_driver.notify_one();
        self.session.wake_poll.notify_one();
        self.session.changed.notify_waiters();
        true
    }

    /// Why the session is closing, if it is.
    pub(crate) fn close_reason(&self) -> Option<DisconnectReason> {
        if !self.is_closed() {
            return None;
        }
        lock(&self.session.close).reason
    }

    /// Whether the session is closing and its queued messages still go out first.
    pub(crate) fn closing_gracefully(&self) -> bool {
        self.is_closed() && lock(&self.session.close).graceful
    }

    /// A graceful close's last messages went out.
    pub(crate) fn mark_delivered(&self) {
        lock(&self.session.close).delivered = true;
        self.session.wake_driver.notify_one();
    }

    pub(crate) fn delivered(&self) -> bool {
        lock(&self.session.close).delivered
    }

    /// Whether the session has ended (its `on_disconnect` ran).
    pub(crate) fn is_finalized(&self) -> bool {
        self.session.finalized.load(Ordering::Acquire)
    }

    pub(crate) fn mark_finalized(&self) {
        self.session.finalized.store(true, Ordering::Release);
        self.session.wake_poll.notify_one();
        self.session.changed.notify_waiters();
    }

    /// Waits until a close is requested.
    pub(crate) async fn closing(&self) {
        loop {
            let changed = self.session.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_closed() {
                return;
            }
            changed.await;
        }
    }

    /// Waits until the session has ended.
    pub(crate) async fn finalized(&self) {
        loop {
            let changed = self.session.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_finalized() {
                return;
            }
            changed.await;
        }
    }

    /// The heartbeat state.
    pub(crate) fn heartbeat(&self) -> MutexGuard<'_, Heartbeat> {
        lock(&self.session.heartbeat)
    }

    /// Whether the heartbeat expired at `now`; closes the session if so.
    pub(crate) fn check_heartbeat(&self, now: Instant) -> bool {
        let expired = self.heartbeat().expired(now);
        if expired {
            self.request_close(DisconnectReason::HeartbeatTimeout);
        }
        expired
    }

    /// Engine.IO 3: the client pinged. The heartbeat starts again, and a pong (`3probe`
    /// for `2probe`) waits for the transport, which is woken.
    pub(crate) fn on_client_ping(&self, probe: bool, now: Instant) {
        self.heartbeat().on_client_ping(now);
        let pong = if probe { PONG_PROBE } else { PONG };
        self.session.pong_pending.store(pong, Ordering::Release);
        self.session.wake_poll.notify_one();
        self.session.wake_driver.notify_one();
    }

    /// Takes the pong that waits for the transport, if any.
    pub(crate) fn take_pong(&self) -> Option<Outgoing<'static>> {
        match self.session.pong_pending.swap(0, Ordering::AcqRel) {
            PONG => Some(Outgoing::Pong),
            PONG_PROBE => Some(Outgoing::PongProbe),
            _ => None,
        }
    }

    /// Takes the channel that hands a completed upgrade to the session's task.
    pub(crate) fn take_upgrade_tx(&self) -> Option<oneshot::Sender<UpgradedWs>> {
        lock(&self.session.upgrade_tx).take()
    }

    /// Runs a handler call, serialised with the session's other calls, unless the
    /// session is closing. A panicking handler closes its session, nothing more.
    pub(crate) fn dispatch(&self, f: impl FnOnce()) {
        let _guard = lock(&self.session.dispatch);
        if !self.is_closed() {
            self.guarded(f);
        }
    }

    /// Runs the handler's last call, serialised with the others.
    pub(crate) fn dispatch_last(&self, f: impl FnOnce()) {
        let _guard = lock(&self.session.dispatch);
        self.guarded(f);
    }

    fn guarded(&self, f: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            tracing::error!(parent: &self.session.span, "the handler panicked: closing the session");
            self.request_close(DisconnectReason::TransportError);
        }
    }
}
