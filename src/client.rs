//! The bridge between an Engine.IO connection and its Socket.IO sockets.
//!
//! `Client` is the core's [`EngineHandler`]: it decodes packets, routes them to the socket
//! of their namespace, runs namespace connections, and ends every socket when the connection
//! ends. Handler futures of one connection start in order, in place, and those that wait go on
//! in one ordered task per connection (see [`spawn_ordered`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;

use crate::engine::{self, EngineHandler, Message, ProtocolVersion, Sid, Str, TransportType};
use crate::handler::{BoxFuture, BoxedHandler, ConnectParts};
use crate::io::IoInner;
use crate::observe::observe;
use crate::protocol::{
    Args, BroadcastPacket, Codec, ConnectReply, Encoded, Packet, PacketData, PacketReader, Revision,
};
use crate::socket::{DisconnectReason, SocketRef};
use crate::util::lock;

enum NsSlot {
    Connecting,
    Connected(SocketRef),
}

/// What the core keeps with each Engine.IO connection.
#[derive(Default)]
pub(crate) struct ConnState {
    nsps: Mutex<Vec<(Str, NsSlot)>>,
    /// The connection's codec and the packet whose attachments are still arriving; set up
    /// by `on_connect`, before any message.
    reader: Mutex<PacketReader>,
    dispatch: Mutex<Dispatch>,
    connect_timer: Mutex<Option<tokio::task::AbortHandle>>,
    upgraded: tokio::sync::Notify,
    /// The server's observer, when it is instrumented; set by `on_connect`.
    #[cfg(feature = "admin-ui")]
    observe: std::sync::OnceLock<Arc<crate::observe::Observe>>,
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState").finish_non_exhaustive()
    }
}

type Conn_ = Arc<engine::Socket<ConnState>>;

/// The observer of the server the connection belongs to, if it is instrumented.
#[cfg(feature = "admin-ui")]
#[inline]
pub(crate) fn observer(conn: &Conn_) -> Option<&crate::observe::Observe> {
    conn.data().observe.get().map(|o| &**o)
}

/// Queues an encoded packet (all its messages or none; see the engine's `send_batch`).
#[inline]
pub(crate) fn send_packet(conn: &Conn_, packet: &Encoded) -> Result<(), engine::SendError> {
    let sent = conn.send_batch(packet.messages());
    observe!(observer(conn) => |o| if sent.is_ok() {
        o.counters.sent(packet)
    });
    sent
}

/// Queues an encoded packet, waiting for room in the queue (see the engine's
/// `send_batch_wait`).
pub(crate) async fn send_packet_wait(
    conn: &Conn_,
    packet: &Encoded,
) -> Result<(), engine::SendError> {
    let sent = conn.send_batch_wait(packet.messages()).await;
    observe!(observer(conn) => |o| if sent.is_ok() {
        o.counters.sent(packet)
    });
    sent
}

/// Queues an encoded packet only if the transport can write it now (see the engine's
/// `send_volatile`); whether it was queued.
#[inline]
pub(crate) fn send_packet_volatile(conn: &Conn_, packet: &Encoded) -> bool {
    let sent = conn.send_volatile(packet.messages());
    observe!(observer(conn) => |o| if sent {
        o.counters.sent(packet)
    });
    sent
}

/// The Engine.IO connection under a socket (Node's `socket.conn` / `socket.client`).
#[derive(Clone, Copy)]
pub struct Conn<'a> {
    inner: &'a Conn_,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.id())
            .field("transport", &self.transport())
            .finish()
    }
}

impl<'a> Conn<'a> {
    pub(crate) fn new(inner: &'a Conn_) -> Self {
        Self { inner }
    }
    /// The Engine.IO session id (not the socket's id).
    pub fn id(&self) -> Sid {
        self.inner.id()
    }
    /// The transport in use now.
    pub fn transport(&self) -> TransportType {
        self.inner.transport()
    }
    /// The Engine.IO protocol revision of the client.
    pub fn protocol(&self) -> ProtocolVersion {
        self.inner.protocol()
    }
    /// The client's address, when the server knows it.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.remote_addr()
    }
    /// The handshake request's parts (Node's `client.request`).
    pub fn req_parts(&self) -> &'a http::request::Parts {
        self.inner.req_parts()
    }
    /// Resolves once the connection uses WebSocket: at once if it already does, else when
    /// the client upgrades from polling (Node's `socket.conn.on("upgrade")`). Never resolves
    /// for a polling-only client.
    pub async fn upgraded(&self) {
        loop {
            let notified = self.inner.data().upgraded.notified();
            if self.inner.transport() == TransportType::Websocket {
                return;
            }
            notified.await;
        }
    }

    /// Closes the connection, and so every socket on it.
    pub fn close(&self) {
        close_connection(self.inner, engine::DisconnectReason::ServerClose);
    }
}

/// The codec of a connection.
pub(crate) fn codec(conn: &Conn_) -> Codec {
    lock(&conn.data().reader).codec()
}

/// The Socket.IO protocol revision a client of this Engine.IO revision speaks: Socket.IO 2
/// clients (Engine.IO 3) speak protocol 4, later ones protocol 5.
fn revision(eio: ProtocolVersion) -> Revision {
    match eio {
        ProtocolVersion::V4 => Revision::V5,
        ProtocolVersion::V3 => Revision::V4,
    }
}

pub(crate) fn close_connection(conn: &Conn_, reason: engine::DisconnectReason) {
    conn.close(reason);
}

/// Node's `socket.disconnect(true)`: every socket of the connection leaves its namespace
/// (the client gets a DISCONNECT for each, so it does not reconnect), then the connection
/// closes once they are written.
pub(crate) fn disconnect_all(conn: &Conn_) {
    let slots = std::mem::take(&mut *lock(&conn.data().nsps));
    for (_, slot) in slots {
        if let NsSlot::Connected(s) = slot {
            let _ = send_packet(conn, &s.codec().encode_disconnect(s.ns()));
            s.close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }
    conn.close(engine::DisconnectReason::ServerClose);
}

pub(crate) fn remove_socket(conn: &Conn_, ns: &str) -> Option<SocketRef> {
    let mut nsps = lock(&conn.data().nsps);
    let i = nsps.iter().position(|(n, _)| n.as_str() == ns)?;
    match nsps.swap_remove(i).1 {
        NsSlot::Connected(s) => Some(s),
        NsSlot::Connecting => None,
    }
}

fn get_socket(conn: &Conn_, ns: &str) -> Option<SocketRef> {
    lock(&conn.data().nsps)
        .iter()
        .find_map(|(n, slot)| match slot {
            NsSlot::Connected(s) if n.as_str() == ns => Some(s.clone()),
            _ => None,
        })
}

/// Where the handler futures of one connection run when they do not finish at once.
#[derive(Default)]
pub(crate) struct Dispatch {
    tx: Option<mpsc::UnboundedSender<(BoxFuture<()>, bool)>>,
    /// Futures handed to the task and not polled yet.
    queued: Arc<AtomicUsize>,
}

/// Runs a handler future in the connection's order.
///
/// Futures of one connection are first polled in the order they were queued, so the
/// synchronous start of each handler (until its first `.await`) runs in the order the
/// client sent its packets; after that they run concurrently. A slow handler never stalls
/// other connections, nor later events of its own. A panicking handler is logged and
/// dropped; the others go on.
///
/// When nothing is waiting for its first poll, the future is polled right here, and most
/// handlers (those that never wait) end there: no task, no queue, nothing kept for an idle
/// connection. A future still pending then goes to the connection's task, created on first
/// use, which polls it again with its own waker.
pub(crate) fn spawn_ordered(conn: &Conn_, fut: BoxFuture<()>) {
    spawn_ordered_with(conn, fut, true);
}

/// Like [`spawn_ordered`], but the first poll always happens in the connection's task, after
/// the current handler's synchronous part (the disconnect sequence runs this way).
pub(crate) fn spawn_ordered_later(conn: &Conn_, fut: BoxFuture<()>) {
    spawn_ordered_with(conn, fut, false);
}

fn spawn_ordered_with(conn: &Conn_, mut fut: BoxFuture<()>, inline: bool) {
    let may_poll_now = inline && lock(&conn.data().dispatch).queued.load(Ordering::Acquire) == 0;
    if may_poll_now {
        let mut cx = Context::from_waker(Waker::noop());
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(())) => return,
            Err(_) => {
                tracing::error!("a handler panicked; the connection goes on");
                return;
            }
            Ok(Poll::Pending) => {}
        }
    }
    let mut dispatch = lock(&conn.data().dispatch);
    let counted = !may_poll_now;
    if counted {
        dispatch.queued.fetch_add(1, Ordering::AcqRel);
    }
    let queued = dispatch.queued.clone();
    let tx = dispatch.tx.get_or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_dispatcher(rx, queued));
        tx
    });
    if let Err(mpsc::error::SendError((_, counted))) = tx.send((fut, counted)) {
        if counted {
            dispatch.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// While alive, new handler futures of the connection are not polled in place but queued
/// behind the current one. The connect sequence holds it from answering CONNECT until the
/// connection handler's synchronous start has run, so that an event the client sends right
/// after CONNECT (read on another thread) finds the listeners that handler registers.
pub(crate) struct OrderHold(Arc<AtomicUsize>);

impl OrderHold {
    pub(crate) fn new(conn: &Conn_) -> Self {
        let queued = lock(&conn.data().dispatch).queued.clone();
        queued.fetch_add(1, Ordering::AcqRel);
        OrderHold(queued)
    }
}

impl Drop for OrderHold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A future whose first poll takes it off the count of queued futures.
struct FirstPoll {
    fut: BoxFuture<()>,
    queued: Option<Arc<AtomicUsize>>,
}

impl Future for FirstPoll {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(q) = self.queued.take() {
            q.fetch_sub(1, Ordering::AcqRel);
        }
        self.fut.as_mut().poll(cx)
    }
}

async fn run_dispatcher(
    mut rx: mpsc::UnboundedReceiver<(BoxFuture<()>, bool)>,
    queued: Arc<AtomicUsize>,
) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            next = rx.recv() => match next {
                Some((fut, counted)) => {
                    let fut = FirstPoll { fut, queued: counted.then(|| queued.clone()) };
                    running.push(AssertUnwindSafe(fut).catch_unwind());
                }
                None => break,
            },
            Some(res) = running.next(), if !running.is_empty() => {
                if res.is_err() {
                    tracing::error!("a handler panicked; the connection goes on");
                }
            }
        }
    }
    while let Some(res) = running.next().await {
        if res.is_err() {
            tracing::error!("a handler panicked; the connection goes on");
        }
    }
}

/// Puts a registered socket on its connection, answers CONNECT (after the packets a
/// recovered socket missed, and before the live ones held for it), then runs its handler.
pub(crate) async fn finish_connect(
    socket: SocketRef,
    handler: Option<BoxedHandler<ConnectParts, ()>>,
    auth: Option<Args>,
    missed: Vec<BroadcastPacket>,
) -> SocketRef {
    let conn = socket.conn_arc().clone();
    let hold = OrderHold::new(&conn);
    let placed = {
        let mut nsps = lock(&conn.data().nsps);
        match nsps.iter_mut().find(|(n, _)| n.as_str() == socket.ns()) {
            Some((_, slot)) => {
                *slot = NsSlot::Connected(socket.clone());
                true
            }
            None => false,
        }
    };
    if !placed {
        // The connection ended while the socket was being connected, and its sockets were
        // closed without this one: close it here (with recovery, its session is persisted
        // as for any other drop).
        drop(hold);
        // Or the client left the namespace before its CONNECT was answered.
        let reason = conn
            .close_reason()
            .map(DisconnectReason::from)
            .unwrap_or(DisconnectReason::ClientNamespaceDisconnect);
        socket.close(reason);
        return socket;
    }
    if let Some(t) = lock(&conn.data().connect_timer).take() {
        t.abort();
    }
    let (sid, pid) = (socket.id(), socket.pid());
    let mut reply = ConnectReply::new(sid.as_str());
    if let Some(pid) = &pid {
        reply = reply.with_pid(pid.as_str());
    }
    let packet = socket.codec().encode_connect(socket.ns(), reply);
    if socket.recovery().is_some_and(|r| lock(&r.held).is_some()) {
        // A recovered socket: missed packets, CONNECT, held packets (boxed, so that its
        // state stays out of every other connect's future).
        Box::pin(crate::recovery::release(&socket, &missed, &packet)).await;
    } else {
        let _ = send_packet(&conn, &packet);
    }
    drop(missed);
    tracing::debug!(sid = %socket.id(), ns = %socket.ns(), recovered = socket.recovered(), "socket connected");
    let running = handler.and_then(|h| {
        h.call(ConnectParts {
            socket: socket.clone(),
            auth,
        })
    });
    if let Some(mut f) = running {
        // The handler's synchronous start runs under the hold; the rest runs freely.
        let first = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await;
        drop(hold);
        if first.is_pending() {
            f.await;
        }
    }
    socket
}

/// `s` in a buffer of its own. A `Str` or `Bytes` cut from a received frame keeps the
/// transport's whole read buffer alive (tungstenite and hyper hand out slices of it): what
/// outlives the packet is copied.
fn own(s: &Str) -> Str {
    match s.as_str() {
        "/" => Str::from_static("/"),
        text => Str::from(text.to_owned()),
    }
}

/// The core's Engine.IO handler.
pub(crate) struct Client {
    pub(crate) io: Arc<IoInner>,
}

impl Client {
    fn protocol_error(&self, conn: &Conn_, why: &dyn std::fmt::Display) {
        tracing::debug!(sid = %conn.id(), error = %why, "protocol error: closing the connection");
        conn.close(engine::DisconnectReason::PacketParsingError);
    }

    /// Feeds the connection's reader; a complete packet is dispatched (outside its lock).
    fn on_engine_message(&self, msg: Message, conn: &Conn_) {
        let result = lock(&conn.data().reader).feed(msg);
        match result {
            Ok(Some(packet)) => self.on_packet(packet, conn),
            Ok(None) => {}
            Err(e) => self.protocol_error(conn, &e),
        }
    }

    #[inline]
    fn on_packet(&self, packet: Packet, conn: &Conn_) {
        let ns = packet.ns;
        match packet.inner {
            PacketData::Connect(auth) => self.on_connect_packet(ns, auth, conn),
            PacketData::Disconnect => match remove_socket(conn, &ns) {
                Some(s) => s.close(DisconnectReason::ClientNamespaceDisconnect),
                None => self.protocol_error(conn, &"DISCONNECT for a namespace not joined"),
            },
            PacketData::Event { event, args, ack } => match get_socket(conn, &ns) {
                Some(s) => s.recv_event(event, args, ack),
                None => self.protocol_error(conn, &"EVENT for a namespace not joined"),
            },
            PacketData::EventAck { args, ack } => match get_socket(conn, &ns) {
                Some(s) => s.recv_ack(ack, args),
                None => self.protocol_error(conn, &"ACK for a namespace not joined"),
            },
            _ => self.protocol_error(conn, &"a packet type clients may not send"),
        }
    }

    fn on_connect_packet(&self, ns_name: Str, auth: Option<Args>, conn: &Conn_) {
        // Both are kept for the connection's life: in buffers of their own, not as slices of
        // the frame (which would keep the transport's whole read buffer alive).
        let ns_name = own(&ns_name);
        let auth = auth.as_ref().map(Args::detached);
        {
            let mut nsps = lock(&conn.data().nsps);
            if nsps.iter().any(|(n, _)| *n == ns_name) {
                drop(nsps);
                return self.protocol_error(conn, &"a second CONNECT to a joined namespace");
            }
            let Some(ns) = self.io.get_or_create_ns(&ns_name) else {
                drop(nsps);
                if let Ok(packet) =
                    codec(conn).encode_connect_error::<()>(&ns_name, "Invalid namespace", None)
                {
                    let _ = send_packet(conn, &packet);
                }
                return;
            };
            // Most connections join one namespace: no spare slots kept for each.
            nsps.reserve_exact(1);
            nsps.push((ns_name.clone(), NsSlot::Connecting));
            drop(nsps);
            let conn2 = conn.clone();
            let span = tracing::debug_span!("connect", conn = %conn.id(), ns = %ns_name);
            let run = async move {
                if let Err(e) = ns.connect(conn2.clone(), auth).await {
                    remove_socket(&conn2, &ns_name);
                    if !e.is_closed() {
                        if let Ok(packet) =
                            codec(&conn2).encode_connect_error(&ns_name, e.message(), e.data())
                        {
                            let _ = send_packet(&conn2, &packet);
                        }
                    }
                }
            };
            spawn_ordered(conn, Box::pin(tracing::Instrument::instrument(run, span)));
        }
    }
}

impl EngineHandler for Client {
    type Data = ConnState;

    fn on_connect(&self, conn: Arc<engine::Socket<ConnState>>) {
        observe!(&self.io.observe => |o| {
            o.counters.connection(conn.transport() == TransportType::Polling);
            let _ = conn.data().observe.set(o.clone());
        });
        let config = &self.io.config;
        let codec = Codec::new(config.parser, revision(conn.protocol()));
        *lock(&conn.data().reader) = codec.reader(config.limits);
        let timeout = config.connect_timeout;
        let weak = Arc::downgrade(&conn);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(conn) = weak.upgrade() {
                let connected = lock(&conn.data().nsps)
                    .iter()
                    .any(|(_, s)| matches!(s, NsSlot::Connected(_)));
                if !connected {
                    tracing::debug!(sid = %conn.id(), "no namespace joined in time: closing");
                    conn.close(engine::DisconnectReason::ServerClose);
                }
            }
        });
        *lock(&conn.data().connect_timer) = Some(timer.abort_handle());
        if codec.revision() == Revision::V4 {
            // A Socket.IO 2 client is in `/` as soon as its connection opens (it never
            // sends CONNECT for it); its auth there is `{}`.
            let auth = Args::json_value(Str::from_static("{}"));
            self.on_connect_packet(Str::from_static("/"), Some(auth), &conn);
        }
    }

    fn on_message(&self, msg: Str, conn: &Arc<engine::Socket<ConnState>>) {
        let msg = Message::Text(msg);
        observe!(observer(conn) => |o| o.counters.received(&msg));
        self.on_engine_message(msg, conn);
    }

    fn on_binary(&self, data: Bytes, conn: &Arc<engine::Socket<ConnState>>) {
        let msg = Message::Binary(data);
        observe!(observer(conn) => |o| o.counters.received(&msg));
        self.on_engine_message(msg, conn);
    }

    fn on_upgrade(&self, conn: &Arc<engine::Socket<ConnState>>) {
        tracing::debug!(sid = %conn.id(), "connection upgraded to WebSocket");
        observe!(observer(conn) => |o| {
            o.counters.upgrade();
            if let Some(events) = &o.events {
                for (_, slot) in lock(&conn.data().nsps).iter() {
                    if let NsSlot::Connected(s) = slot {
                        events.transport_upgraded(s);
                    }
                }
            }
        });
        conn.data().upgraded.notify_waiters();
    }

    fn on_disconnect(
        &self,
        conn: Arc<engine::Socket<ConnState>>,
        reason: engine::DisconnectReason,
    ) {
        if let Some(t) = lock(&conn.data().connect_timer).take() {
            t.abort();
        }
        observe!(observer(&conn) => |o| o.counters.disconnection(
            reason,
            conn.transport() == TransportType::Polling
        ));
        lock(&conn.data().reader).reset();
        let slots = std::mem::take(&mut *lock(&conn.data().nsps));
        let reason = DisconnectReason::from(reason);
        for (_, slot) in slots {
            if let NsSlot::Connected(s) = slot {
                s.close(reason);
            }
        }
    }
}
