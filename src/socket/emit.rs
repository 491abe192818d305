//! Emitting to one socket, and how a socket sends encoded and broadcast packets.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use super::Socket;
use crate::ack::{AckError, AckFuture, AckSlot};
use crate::engine::{self, SendError};
use crate::observe::observe;
use crate::protocol::{self, Args, BroadcastPacket, Encoded};
use crate::util::read;

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
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let packet = self.encode_event(event, data, None)?;
        self.send_encoded(&packet).map_err(EmitError::Send)
    }

    /// Like [`emit`](Socket::emit), but waits for room when the client's queue is full
    /// instead of failing: backpressure, as awaiting a Node stream's `drain`. (Node's
    /// `emit` buffers without bound; ours buffers up to `max_buffered_bytes`, then this
    /// waits while the client catches up.) Fails only when `data` cannot be encoded or
    /// the connection closes.
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
        let packet = self.encode_event(event, data, None);
        async move {
            let packet = packet?;
            crate::client::send_packet_wait(&self.conn, &packet)
                .await
                .map_err(EmitError::Send)
        }
    }

    /// Emits a `message` event (Node's `socket.send`).
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data)
    }

    /// Emits an event and waits for the client's acknowledgement, up to the server's
    /// `ack_timeout` (see [`timeout`](Socket::timeout) for another).
    pub fn emit_with_ack<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
    ) -> AckFuture<R> {
        self.emit_with_ack_inner(event, data, self.ns.ack_timeout(), false)
    }

    /// Like [`emit_with_ack`](Socket::emit_with_ack), waiting up to `timeout` (Node's
    /// `socket.timeout(ms).emit(event, data, callback)` for one socket).
    pub fn emit_with_ack_timeout<T: Serialize + ?Sized, R: crate::protocol::FromArgs>(
        &self,
        event: &str,
        data: &T,
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
}
