//! Emitting to one socket, and how a socket sends encoded and broadcast packets.

use std::time::Duration;

use std::task::{Context, Poll, Waker};

use serde::Serialize;
use tokio::sync::oneshot;

use super::Socket;
use crate::ack::{AckError, AckFuture, AckSlot};
use crate::adapter::{AdapterFuture, BroadcastOptions, Room};
use crate::engine::{self, SendError};
use crate::observe::observe;
use crate::protocol::{self, Args, BroadcastPacket, Encoded};
use crate::util::{lock, read};

/// An error from emitting an event.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmitError {
    /// Reserved event names (`connect`, `disconnect`, …) cannot be emitted.
    ReservedEvent(String),
    /// The value could not be encoded.
    Encode(protocol::EncodeError),
    /// The packet could not be queued (the socket is gone or its queue is full).
    Send(SendError),
    /// The adapter failed (cluster).
    Adapter(crate::adapter::AdapterError),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::ReservedEvent(e) => write!(f, "\"{e}\" is a reserved event name"),
            EmitError::Encode(e) => write!(f, "the event could not be encoded: {e}"),
            EmitError::Send(e) => write!(f, "the event could not be sent: {e}"),
            EmitError::Adapter(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EmitError {}

impl Socket {
    /// Emits an event to this client. A tuple is sent as several arguments, `()` as none,
    /// anything else as one argument; `Bytes` anywhere in `data` go as binary attachments.
    ///
    /// Returns `SendError::Full` in [`EmitError::Send`] when the client reads too slowly
    /// and its queue is full (`max_buffered_bytes`); [`emit_wait`](Socket::emit_wait)
    /// waits for room instead.
    ///
    /// With [connection state recovery](crate::ConnectionStateRecovery) on, an emit to a
    /// connected socket is stored and carries an offset like a broadcast, as in Node (it
    /// goes through the adapter as a broadcast to the socket's own room): it is replayed if
    /// the client drops and recovers, and a full queue is handled as for a broadcast (the
    /// stalled connection is closed; the client gets the packet when it recovers).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        if self.stores_emits() {
            let packet = self.stored_packet(event, data)?;
            return self.store(packet);
        }
        let packet = self.encode_event(event, data, None)?;
        self.send_encoded(&packet).map_err(EmitError::Send)
    }

    /// Like [`emit`](Socket::emit), but waits for room when the client's queue is full
    /// instead of failing: backpressure, as awaiting a Node stream's `drain`. (Node's
    /// `emit` buffers without bound; ours buffers up to `max_buffered_bytes`, then this
    /// waits while the client catches up.) Fails only when `data` cannot be encoded or
    /// the connection closes. With connection state recovery on, the packet is stored
    /// (with an offset) as [`emit`](Socket::emit)'s, and written waiting for room as well.
    ///
    /// ```no_run
    /// # async fn f(socket: tower_socketio::SocketRef) {
    /// for chunk in 0..10_000u32 {
    ///     if socket.emit_wait("chunk", &chunk).await.is_err() {
    ///         break; // disconnected
    ///     }
    /// }
    /// # }
    /// ```
    pub fn emit_wait<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> impl std::future::Future<Output = Result<(), EmitError>> + Send + '_ {
        enum Prepared {
            Plain(Result<Encoded, EmitError>),
            Stored(Result<Box<BroadcastPacket>, EmitError>),
        }
        let prepared = if self.stores_emits() {
            Prepared::Stored(self.stored_packet(event, data).map(Box::new))
        } else {
            Prepared::Plain(self.encode_event(event, data, None))
        };
        async move {
            match prepared {
                Prepared::Plain(packet) => crate::client::send_packet_wait(&self.conn, &packet?)
                    .await
                    .map_err(EmitError::Send),
                Prepared::Stored(packet) => self.store_wait(*packet?).await,
            }
        }
    }

    /// Whether a direct emit (no ack, not volatile) is stored for recovery: recovery is on,
    /// the client speaks a protocol with offsets, and the socket has joined its namespace.
    fn stores_emits(&self) -> bool {
        self.recovery()
            .is_some_and(|r| r.registered.load(std::sync::atomic::Ordering::Acquire))
            && self.codec.carries_offsets()
    }

    /// The packet of a stored direct emit (the outgoing listeners see it).
    fn stored_packet<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastPacket, EmitError> {
        if protocol::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let packet =
            BroadcastPacket::event(self.ns.name_str().clone(), event.to_owned(), data, None)
                .map_err(EmitError::Encode)?;
        self.notify_outgoing_args(event, packet.args());
        Ok(packet)
    }

    /// A direct emit as Node sends it with recovery on: a broadcast to the socket's own
    /// room, which the adapter stores with an offset before delivering it. The adapter's
    /// future is polled once here (the in-memory adapter is done then); one that must wait
    /// (a cluster store) ends in the background, its place in the order already taken.
    fn store(&self, packet: BroadcastPacket) -> Result<(), EmitError> {
        let opts = BroadcastOptions {
            rooms: vec![Room::Owned(self.id.to_string())],
            ..BroadcastOptions::default()
        };
        let adapter = self.ns.adapter().clone();
        let mut fut: AdapterFuture<'static, Result<(), crate::adapter::AdapterError>> =
            Box::pin(async move { adapter.broadcast(&packet, &opts).await });
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(result) => result.map_err(EmitError::Adapter),
            Poll::Pending => {
                let sid = self.id;
                let finish = async move {
                    if let Err(e) = fut.await {
                        tracing::warn!(%sid, error = %e, "a stored emit failed in the adapter");
                    }
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(finish);
                    }
                    Err(_) => tracing::warn!(%sid, "a stored emit needs a Tokio runtime: dropped"),
                }
                Ok(())
            }
        }
    }

    /// [`store`](Self::store), waiting for room in the queue: the socket is held while the
    /// adapter delivers (so the stored copy, and any broadcast meanwhile, wait in the hold),
    /// then the hold is written out waiting for room, in order, and switched off. When the
    /// socket is already held (a recovery, or another `emit_wait`), the packet joins that
    /// hold and its owner writes it.
    async fn store_wait(&self, packet: BroadcastPacket) -> Result<(), EmitError> {
        let Some(rec) = self.recovery() else {
            return self.store(packet);
        };
        let owner = {
            let mut held = lock(&rec.held);
            match held.as_ref() {
                Some(_) => false,
                None => {
                    let max = self
                        .ns
                        .recovery_config()
                        .map_or(usize::MAX, |c| c.get_max_stored_bytes());
                    *held = Some(crate::recovery::Held::new(max));
                    true
                }
            }
        };
        let stored = self.store(packet);
        if owner && !crate::recovery::drain_hold(self, &Default::default()).await {
            return Err(EmitError::Send(SendError::Closed));
        }
        stored
    }

    /// Emits a `message` event (Node's `socket.send`).
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data)
    }

    /// Emits an event and waits for the client's acknowledgement, up to the server's
    /// `ack_timeout` (see [`timeout`](Socket::timeout) for another).
    pub fn emit_with_ack<R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> AckFuture<R> {
        self.emit_with_ack_inner(event, data, self.ns.ack_timeout(), false)
    }

    /// Like [`emit_with_ack`](Socket::emit_with_ack), waiting up to `timeout` (Node's
    /// `socket.timeout(ms).emit(event, data, callback)` for one socket).
    pub fn emit_with_ack_timeout<R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
        timeout: Duration,
    ) -> AckFuture<R> {
        self.emit_with_ack_inner(event, data, timeout, false)
    }

    pub(crate) fn emit_with_ack_inner<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
        volatile: bool,
    ) -> AckFuture<R> {
        let id = self.ns.next_ack_id();
        let packet = match self.encode_event(event, data, Some(id)) {
            Ok(p) => p,
            Err(EmitError::Encode(e)) => return AckFuture::failed(AckError::Encode(e)),
            Err(EmitError::Send(e)) => return AckFuture::failed(AckError::Send(e)),
            Err(EmitError::ReservedEvent(e)) => {
                return AckFuture::failed(AckError::ReservedEvent(e));
            }
            Err(EmitError::Adapter(e)) => return AckFuture::failed(AckError::Adapter(e)),
        };
        let (tx, rx) = oneshot::channel();
        self.register_ack(id, AckSlot::Single(tx));
        let sent = if volatile {
            if crate::client::send_packet_volatile(&self.conn, &packet) {
                Ok(())
            } else {
                Err(SendError::Full)
            }
        } else {
            self.send_encoded(&packet)
        };
        if let Err(e) = sent {
            self.unregister_ack(id);
            return AckFuture::failed(AckError::Send(e));
        }
        AckFuture::new(rx, timeout)
    }

    pub(crate) fn encode_event<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        ack: Option<u64>,
    ) -> Result<Encoded, EmitError> {
        if protocol::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let packet = self
            .codec
            .encode_event(self.ns(), event, data, ack)
            .map_err(EmitError::Encode)?;
        self.notify_outgoing(event, data);
        observe!(self.events() => |e| if let Ok(args) = Args::from_serialize(data) {
            e.event_sent(self, event, &args)
        });
        Ok(packet)
    }

    fn notify_outgoing<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        let listeners = read(&self.any_outgoing);
        if listeners.is_empty() {
            return;
        }
        if let Ok(args) = Args::from_serialize(data) {
            for l in listeners.iter() {
                l(event, &args);
            }
        }
    }

    fn notify_outgoing_args(&self, event: &str, args: &Args) {
        for l in read(&self.any_outgoing).iter() {
            l(event, args);
        }
    }

    pub(crate) fn send_encoded(&self, packet: &Encoded) -> Result<(), SendError> {
        if !self.connected() && self.ns.get_socket(self.id).is_none() && self.conn.is_closed() {
            return Err(SendError::Closed);
        }
        crate::client::send_packet(&self.conn, packet)
    }

    /// Sends a broadcast packet in this connection's encoding (made once per wire format
    /// and shared); `false` when it was not delivered. A socket whose queue is full for a
    /// non-volatile broadcast is disconnected: a slow reader must not make the server
    /// buffer without bound nor slow the others.
    pub(crate) fn send_broadcast(&self, packet: &BroadcastPacket, volatile: bool) -> bool {
        if let Some(rec) = self.recovery() {
            let mut held = lock(&rec.held);
            if let Some(held) = held.as_mut() {
                // A recovered socket being connected: the packet waits for its missed ones
                // and its CONNECT reply. A volatile one is not writable now: dropped.
                return !volatile && held.push(packet);
            }
        }
        let sent = self.send_broadcast_encoded(packet.encoded(self.codec), volatile);
        observe!(self.events() => |e| if sent {
            e.event_sent(self, packet.event_name(), packet.args())
        });
        sent
    }

    fn send_broadcast_encoded(&self, packet: &Encoded, volatile: bool) -> bool {
        if volatile {
            return crate::client::send_packet_volatile(&self.conn, packet);
        }
        match crate::client::send_packet(&self.conn, packet) {
            Ok(()) => true,
            Err(SendError::Full) => {
                tracing::warn!(sid = %self.id, ns = %self.ns(), "outgoing queue full: closing the slow connection");
                crate::client::close_connection(
                    &self.conn,
                    engine::DisconnectReason::TransportError,
                );
                false
            }
            Err(_) => false,
        }
    }

    /// Sends a stored packet (replayed, or held for a recovered socket) in this
    /// connection's encoding, waiting for room in its queue; `false` when the connection
    /// is gone.
    pub(crate) async fn send_stored_wait(&self, packet: &BroadcastPacket) -> bool {
        let sent = self.send_encoded_wait(packet.encoded(self.codec)).await;
        observe!(self.events() => |e| if sent {
            e.event_sent(self, packet.event_name(), packet.args())
        });
        sent
    }

    /// Queues a packet, waiting while the queue is full (the client reads at its own
    /// speed); `false` when the connection is gone.
    pub(crate) async fn send_encoded_wait(&self, packet: &Encoded) -> bool {
        crate::client::send_packet_wait(&self.conn, packet)
            .await
            .is_ok()
    }
}
