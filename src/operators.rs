//! Broadcast operators: chain `to`, `except`, `local`, `volatile`, `compress`, `timeout`,
//! then finish with `emit`, `emit_with_ack`, `fetch_sockets`, `join`, `leave` or `disconnect`.

use std::time::Duration;

use serde::Serialize;

use crate::ack::{AckError, AckStream, RawAckStream};
use crate::adapter::{AdapterError, BroadcastOptions};
use crate::engine::Sid;
use crate::ns::Namespace;
use crate::protocol::{self, BroadcastPacket};
use crate::rooms::IntoRooms;
use crate::socket::{EmitError, RemoteSocket, SocketRef};

/// A chain of broadcast operators, from a socket, a namespace or the server.
///
/// From a socket, `to`, `except` and `broadcast` leave the socket itself out (as in Node);
/// without any of them the terminal acts on the socket alone.
#[derive(Debug, Clone)]
#[must_use = "operators do nothing until a terminal such as `emit` is called"]
pub struct BroadcastOperators {
    ns: Namespace,
    socket: Option<SocketRef>,
    opts: BroadcastOptions,
    broadcast: bool,
    timeout: Option<Duration>,
}

impl BroadcastOperators {
    pub(crate) fn from_ns(ns: Namespace) -> Self {
        Self {
            ns,
            socket: None,
            opts: BroadcastOptions::default(),
            broadcast: true,
            timeout: None,
        }
    }

    pub(crate) fn from_socket(socket: SocketRef) -> Self {
        Self {
            ns: socket.namespace().clone(),
            socket: Some(socket),
            opts: BroadcastOptions::default(),
            broadcast: false,
            timeout: None,
        }
    }

    /// Targets a room (or several; chainable).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self.broadcast = true;
        self
    }

    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Same as [`to`](Self::to) (Node's `in`).
    pub fn in_(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Leaves the members of rooms out.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self.broadcast = true;
        self
    }

    /// Targets every socket of the namespace (but the sender, from a socket).
    pub fn broadcast(mut self) -> Self {
        self.broadcast = true;
        self
    }

    /// Only this server's sockets (with a cluster adapter).
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Dropped, not queued, for sockets whose transport is not writable now.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Whether the packet may be compressed.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = compress;
        self
    }

    /// How long to wait for acknowledgements.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn direct(&self) -> Option<&SocketRef> {
        if self.broadcast {
            None
        } else {
            self.socket.as_ref()
        }
    }

    fn final_opts(&self) -> BroadcastOptions {
        let mut opts = self.opts.clone();
        if let Some(s) = &self.socket {
            opts.except.push(s.id().to_string().into());
        }
        opts
    }

    /// Emits an event to every targeted socket. The packet is encoded once per wire format
    /// and its bytes shared by every receiver.
    pub async fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        if let Some(socket) = self.direct() {
            if !self.opts.flags.volatile {
                return socket.emit(event, data);
            }
            let packet = socket.encode_event(event, data, None)?;
            crate::client::send_packet_volatile(socket.conn_arc(), &packet);
            return Ok(());
        }
        if protocol::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let packet = BroadcastPacket::event_with(
            self.ns.parser(),
            self.ns.name_str().clone(),
            event.to_owned(),
            data,
            None,
        )
        .map_err(EmitError::Encode)?;
        let opts = self.final_opts();
        self.ns
            .adapter()
            .broadcast(&packet, &opts)
            .await
            .map_err(EmitError::Adapter)
    }

    /// Emits a `message` event (Node's `send`).
    pub async fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data).await
    }

    /// Emits an event to every targeted socket and gathers their acknowledgements, up to
    /// the timeout (the server's `ack_timeout` unless [`timeout`](Self::timeout) was set).
    /// Stream it, or `.await` it for a `Vec` of every reply.
    pub async fn emit_with_ack<R: crate::protocol::FromArgs>(
        self,
        event: &str,
        data: &(impl Serialize + ?Sized),
    ) -> AckStream<R> {
        let timeout = self.timeout.unwrap_or_else(|| self.ns.ack_timeout());
        if protocol::is_reserved_event(event) {
            return AckStream::failed(AckError::ReservedEvent(event.to_owned()));
        }
        let id = self.ns.next_ack_id();
        if let Some(socket) = self.direct() {
            let packet = match socket
                .codec()
                .encode_event(socket.ns(), event, data, Some(id))
            {
                Ok(p) => p,
                Err(e) => return AckStream::failed(AckError::Encode(e)),
            };
            let (waiter, stream) = RawAckStream::channel(timeout);
            socket.register_ack(id, waiter.clone());
            let sent = if self.opts.flags.volatile {
                crate::client::send_packet_volatile(socket.conn_arc(), &packet)
            } else {
                socket.send_encoded(&packet).is_ok()
            };
            if sent {
                waiter.expect(1);
            } else {
                socket.unregister_ack(id);
            }
            return AckStream::new(stream);
        }
        let packet = match BroadcastPacket::event_with(
            self.ns.parser(),
            self.ns.name_str().clone(),
            event.to_owned(),
            data,
            Some(id),
        ) {
            Ok(p) => p,
            Err(e) => return AckStream::failed(AckError::Encode(e)),
        };
        let opts = self.final_opts();
        match self
            .ns
            .adapter()
            .broadcast_with_ack(&packet, id, &opts, timeout)
            .await
        {
            Ok(s) => AckStream::new(s),
            Err(e) => AckStream::failed(AckError::Adapter(e)),
        }
    }

    /// The targeted sockets, on every server, with id, handshake, rooms and data.
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, AdapterError> {
        if let Some(socket) = self.direct() {
            return Ok(vec![socket.to_remote()]);
        }
        let opts = self.final_opts();
        let mut sockets = self.ns.adapter().fetch_sockets(&opts).await?;
        for s in &mut sockets {
            s.bind(&self.ns);
        }
        Ok(sockets)
    }

    /// The ids of the targeted sockets, on every server (Node's `clients` / `allSockets`).
    pub async fn clients(self) -> Result<Vec<Sid>, AdapterError> {
        Ok(self
            .fetch_sockets()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }

    /// Makes the targeted sockets join rooms.
    pub async fn join(self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        if let Some(socket) = self.direct() {
            socket.join(rooms);
            return Ok(());
        }
        let opts = self.final_opts();
        self.ns.adapter().add_sockets(&opts, &rooms).await
    }

    /// Makes the targeted sockets leave rooms.
    pub async fn leave(self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        if let Some(socket) = self.direct() {
            socket.leave(rooms);
            return Ok(());
        }
        let opts = self.final_opts();
        self.ns.adapter().del_sockets(&opts, &rooms).await
    }

    /// Disconnects the targeted sockets; `close` closes their whole connection.
    pub async fn disconnect(self, close: bool) -> Result<(), AdapterError> {
        if let Some(socket) = self.direct() {
            socket.disconnect_with(close);
            return Ok(());
        }
        let opts = self.final_opts();
        self.ns.adapter().disconnect_sockets(&opts, close).await
    }
}
