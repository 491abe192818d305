//! The session handle ([`Socket`]) and the state the engine keeps with it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{Mutex as AsyncMutex, Notify, oneshot};
use tokio_tungstenite::WebSocketStream;

use super::packet::Outgoing;
use super::version::{Heartbeat, Protocol};
use super::writer::{Direct, WsSlot};
use super::{DisconnectReason, Message, ProtocolVersion, SendError, Sid, TransportType};

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

/// What one queued message counts against the queue's budget besides its payload: its
/// slot and the handle to its bytes.
pub(crate) const MESSAGE_OVERHEAD: usize = 64;

fn cost(msg: &Message) -> usize {
    msg.len().saturating_add(MESSAGE_OVERHEAD)
}

/// A session's outgoing queue: bounded in bytes, and allocated only as messages come (an
/// idle session keeps no buffer).
///
/// The policy: a batch is refused (`SendError::Full`) when it would take the queued bytes
/// over the budget, except into an empty queue, which takes any one batch (so a message
/// larger than the budget can still be sent to a reader that keeps up).
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    capacity: usize,
    /// Signalled when messages are queued or the queue closes.
    ready: Notify,
    /// Signalled (to every waiter) when messages leave the queue or it closes.
    room: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Message>,
    /// The cost of `items`.
    bytes: usize,
    closed: bool,
}

impl QueueState {
    fn pop(&mut self) -> Option<Message> {
        let msg = self.items.pop_front()?;
        self.bytes = self.bytes.saturating_sub(cost(&msg));
        Some(msg)
    }
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState::default()),
            capacity,
            ready: Notify::new(),
            room: Notify::new(),
        }
    }

    /// Queues every message or none; a refused batch is given back with the reason
    /// (`Full`), or dropped (`Closed`).
    fn push_all<I: Iterator<Item = Message>>(
        &self,
        msgs: I,
    ) -> Result<(), (SendError, Vec<Message>)> {
        self.push_all_keeping(msgs, None)
    }

    /// [`push_all`](Self::push_all); with `Some(keep)`, only if `keep` bytes of the
    /// budget stay free afterwards (even into an empty queue).
    fn push_all_keeping<I: Iterator<Item = Message>>(
        &self,
        msgs: I,
        keep: Option<usize>,
    ) -> Result<(), (SendError, Vec<Message>)> {
        {
            let mut state = lock(&self.state);
            if state.closed {
                return Err((SendError::Closed, Vec::new()));
            }
            let was_empty = state.items.is_empty();
            let before = state.items.len();
            let mut total = 0usize;
            for msg in msgs {
                total = total.saturating_add(cost(&msg));
                state.items.push_back(msg);
            }
            let after = state.bytes.saturating_add(total);
            let refused = match keep {
                None => !was_empty && after > self.capacity,
                Some(keep) => after.saturating_add(keep) > self.capacity,
            };
            if refused {
                let back = state.items.drain(before..).collect();
                return Err((SendError::Full, back));
            }
            state.bytes = state.bytes.saturating_add(total);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Queues every message, waiting until they fit.
    async fn push_all_wait<I: Iterator<Item = Message>>(&self, msgs: I) -> Result<(), SendError> {
        let room = self.room.notified();
        tokio::pin!(room);
        room.as_mut().enable();
        let mut msgs = match self.push_all(msgs) {
            Ok(()) => return Ok(()),
            Err((SendError::Full, back)) => back,
            Err((error, _)) => return Err(error),
        };
        loop {
            room.as_mut().await;
            room.set(self.room.notified());
            room.as_mut().enable();
            match self.push_all(msgs.into_iter()) {
                Ok(()) => return Ok(()),
                Err((SendError::Full, back)) => msgs = back,
                Err((error, _)) => return Err(error),
            }
        }
    }

    fn freed(&self) {
        self.room.notify_waiters();
    }
}

/// The outgoing queue's reading end, with a message taken out but not sent yet.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Arc<Queue>,
    leftover: Option<Message>,
}

impl Outbox {
    /// The next message if one is ready.
    pub(crate) fn try_next(&mut self) -> Option<Message> {
        if let Some(m) = self.leftover.take() {
            return Some(m);
        }
        let msg = lock(&self.queue.state).pop();
        if msg.is_some() {
            self.queue.freed();
        }
        msg
    }

    /// Moves every ready message to `out`, in order (one lock for all of them).
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Message>) {
        out.extend(self.leftover.take());
        let mut state = lock(&self.queue.state);
        if state.items.is_empty() {
            return;
        }
        out.extend(state.items.drain(..));
        state.bytes = 0;
        // An idle session keeps no slots (a new message allocates them again: a few
        // tens of nanoseconds, against 160 bytes on every connection).
        state.items = VecDeque::new();
        drop(state);
        self.queue.freed();
    }

    /// The next message, waiting for one; `None` once the queue is closed and empty.
    pub(crate) async fn next(&mut self) -> Option<Message> {
        if let Some(m) = self.leftover.take() {
            return Some(m);
        }
        loop {
            let ready = self.queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut state = lock(&self.queue.state);
                if let Some(m) = state.pop() {
                    drop(state);
                    self.queue.freed();
                    return Some(m);
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// Waits until a message is ready (without taking it) or the queue is closed.
    pub(crate) async fn ready(&self) {
        if self.leftover.is_some() {
            return;
        }
        loop {
            let ready = self.queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let state = lock(&self.queue.state);
                if !state.items.is_empty() || state.closed {
                    return;
                }
            }
            ready.await;
        }
    }

    /// Puts back a message that did not fit in a response; it comes out first next time.
    pub(crate) fn put_back(&mut self, msg: Message) {
        self.leftover = Some(msg);
    }

    /// Drops every queued message and refuses new ones.
    pub(crate) fn discard(&mut self) {
        self.leftover = None;
        {
            let mut state = lock(&self.queue.state);
            state.closed = true;
            state.items = VecDeque::new();
            state.bytes = 0;
        }
        self.queue.freed();
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

/// The handshake request's head, kept compact until someone asks for it.
///
/// hyper parses the URI and the header values as slices of its connection read buffer
/// (8 KiB and more), so keeping them as they are for the life of a session would keep
/// that whole buffer allocated too; and a `HeaderMap` of copies costs about 1 KiB per
/// connection (buckets for its capacity, an allocation per value). The head is kept as
/// text instead (the URI, and one buffer of `name:value` lines), and the `Parts` are
/// built from it on the first [`Socket::req_parts`] (most sessions never ask).
struct Head {
    method: http::Method,
    version: http::Version,
    uri: Box<str>,
    /// axum's `OriginalUri` (the URI before any nesting), taken out of the extensions.
    #[cfg(feature = "axum")]
    original_uri: Option<Box<str>>,
    /// `name:value\n` per header, in order (a name has no `:`, a value no `\n`).
    headers: Box<[u8]>,
    /// Every bit is `is_sensitive` of the header with that index (the first 64).
    sensitive: u64,
    /// The extensions (those of tower layers in front of the engine), until the `Parts`
    /// are built.
    extensions: Mutex<Option<http::Extensions>>,
}

impl Head {
    fn new(mut parts: Parts) -> Head {
        let mut headers = Vec::new();
        let mut sensitive = 0u64;
        for (i, (name, value)) in parts.headers.iter().enumerate() {
            headers.extend_from_slice(name.as_str().as_bytes());
            headers.push(b':');
            headers.extend_from_slice(value.as_bytes());
            headers.push(b'\n');
            if value.is_sensitive() && i < 64 {
                sensitive |= 1 << i;
            }
        }
        // axum's router keeps a clone of the URI (so a slice of the same buffer) for
        // `OriginalUri`.
        #[cfg(feature = "axum")]
        let original_uri = parts
            .extensions
            .remove::<axum::extract::OriginalUri>()
            .map(|o| o.0.to_string().into_boxed_str());
        Head {
            method: parts.method,
            version: parts.version,
            uri: parts.uri.to_string().into_boxed_str(),
            #[cfg(feature = "axum")]
            original_uri,
            headers: headers.into_boxed_slice(),
            sensitive,
            extensions: Mutex::new(Some(std::mem::take(&mut parts.extensions))),
        }
    }

    /// The head as `Parts`, every value with bytes of its own. The extensions move into
    /// them (this is called once).
    fn parts(&self) -> Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.version = self.version;
        parts.uri = self.uri.parse().unwrap_or_default();
        let lines = self.headers.split(|&b| b == b'\n');
        for (i, line) in lines.filter(|l| !l.is_empty()).enumerate() {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(&line[colon + 1..]),
            ) else {
                continue;
            };
            value.set_sensitive(i < 64 && self.sensitive & (1 << i) != 0);
            parts.headers.append(name, value);
        }
        parts.extensions = lock(&self.extensions).take().unwrap_or_default();
        #[cfg(feature = "axum")]
        if let Some(uri) = self.original_uri.as_deref().and_then(|u| u.parse().ok()) {
            parts.extensions.insert(axum::extract::OriginalUri(uri));
        }
        parts
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::Uri;

    /// Whether `part` lies inside `buf`'s memory.
    fn inside(buf: &[u8], part: &[u8]) -> bool {
        let start = buf.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        p >= start && p < start + buf.len()
    }

    #[test]
    fn kept_head_has_its_values_but_not_the_buffer() {
        // Values made the way hyper makes them: slices of one shared read buffer.
        let buffer =
            bytes::Bytes::from(b"/socket.io/?EIO=4&transport=websocket|abc|X-Custom".to_vec());
        let uri = Uri::from_maybe_shared(buffer.slice(0..37)).unwrap();
        let value = HeaderValue::from_maybe_shared(buffer.slice(38..41)).unwrap();
        let name = HeaderName::from_bytes(&buffer[42..]).unwrap();
        let mut secret = HeaderValue::from_static("a=b");
        secret.set_sensitive(true);
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = http::Method::POST;
        parts.uri = uri.clone();
        parts.headers.append(name.clone(), value.clone());
        parts.headers.append(http::header::COOKIE, value.clone());
        parts.headers.append(http::header::COOKIE, secret.clone());
        parts.extensions.insert(7u32);
        #[cfg(feature = "axum")]
        parts
            .extensions
            .insert(axum::extract::OriginalUri(uri.clone()));
        assert!(inside(&buffer, parts.uri.path().as_bytes()));

        let head = Head::new(parts);
        let parts = head.parts();
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri, uri);
        assert_eq!(parts.headers.get(&name), Some(&value));
        let cookies: Vec<_> = parts.headers.get_all(http::header::COOKIE).iter().collect();
        assert_eq!(cookies, [&value, &secret]);
        assert!(!cookies[0].is_sensitive() && cookies[1].is_sensitive());
        assert_eq!(parts.headers.len(), 3);
        assert_eq!(parts.extensions.get::<u32>(), Some(&7));
        assert!(!inside(&buffer, parts.uri.path().as_bytes()));
        assert!(!inside(&buffer, parts.uri.query().unwrap_or("").as_bytes()));
        for v in parts.headers.values() {
            assert!(!inside(&buffer, v.as_bytes()));
        }
        #[cfg(feature = "axum")]
        {
            let original = parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .unwrap();
            assert_eq!(original.0, uri);
            assert!(!inside(&buffer, original.0.path().as_bytes()));
        }
    }
}
