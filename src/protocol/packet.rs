//! The packet model, independent of the wire format.

use bytes::Bytes;

use super::Args;
use crate::message::{Message, Str};

/// The main namespace.
pub(crate) const DEFAULT_NS: Str = Str::from_static("/");

/// One Socket.IO packet, addressed to a namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace (`/` for the main one).
    pub ns: Str,
    /// What the packet carries.
    pub inner: PacketData,
}

/// What a packet carries.
///
/// Binary packets (`BINARY_EVENT`, `BINARY_ACK`) are the `Event` and `EventAck`
/// variants with attachments inside their [`Args`].
#[derive(Debug, Clone, PartialEq)]
pub enum PacketData {
    /// `CONNECT`: from a client, the optional auth payload as raw JSON (an object); the
    /// server answers with its own payload (`{"sid":..}`), see
    /// [`encode_connect`](super::encode_connect).
    Connect(Option<Str>),
    /// `DISCONNECT` from the namespace.
    Disconnect,
    /// `EVENT` or `BINARY_EVENT`.
    Event {
        /// The event name. A numeric name is kept as its JSON text.
        event: Str,
        /// The arguments.
        args: Args,
        /// The acknowledgement id, when the sender wants an answer.
        ack: Option<u64>,
    },
    /// `ACK` or `BINARY_ACK`: the answer to an event.
    EventAck {
        /// The arguments of the answer.
        args: Args,
        /// The id of the event being answered.
        ack: u64,
    },
    /// `CONNECT_ERROR`: the connection to a namespace was refused.
    ConnectError {
        /// The error message.
        message: String,
        /// Extra data as raw JSON, if any.
        data: Option<Str>,
    },
}

impl PacketData {
    /// The packet type digit this data is encoded with (binary types when attachments
    /// exist).
    pub fn packet_type(&self) -> u8 {
        match self {
            PacketData::Connect(_) => 0,
            PacketData::Disconnect => 1,
            PacketData::Event { args, .. } if args.has_binary() => 5,
            PacketData::Event { .. } => 2,
            PacketData::EventAck { args, .. } if args.has_binary() => 6,
            PacketData::EventAck { .. } => 3,
            PacketData::ConnectError { .. } => 4,
        }
    }
}

impl Packet {
    /// A `CONNECT` packet, with an optional raw JSON object payload.
    pub fn connect(ns: impl Into<Str>, payload: Option<Str>) -> Self {
        Packet {
            ns: ns.into(),
            inner: PacketData::Connect(payload),
        }
    }

    /// A `DISCONNECT` packet.
    pub fn disconnect(ns: impl Into<Str>) -> Self {
        Packet {
            ns: ns.into(),
            inner: PacketData::Disconnect,
        }
    }

    /// An `EVENT` packet (binary when `args` has attachments).
    pub fn event(ns: impl Into<Str>, event: impl Into<Str>, args: Args, ack: Option<u64>) -> Self {
        Packet {
            ns: ns.into(),
            inner: PacketData::Event {
                event: event.into(),
                args,
                ack,
            },
        }
    }

    /// An `ACK` packet (binary when `args` has attachments).
    pub fn ack(ns: impl Into<Str>, args: Args, ack: u64) -> Self {
        Packet {
            ns: ns.into(),
            inner: PacketData::EventAck { args, ack },
        }
    }

    /// A `CONNECT_ERROR` packet.
    pub fn connect_error(
        ns: impl Into<Str>,
        message: impl Into<String>,
        data: Option<Str>,
    ) -> Self {
        Packet {
            ns: ns.into(),
            inner: PacketData::ConnectError {
                message: message.into(),
                data,
            },
        }
    }
}

/// An encoded packet: its text message and the binary messages that follow it.
///
/// Send them in this order and together (the engine's `send_batch`), so that no other
/// packet gets between the text and its attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The text message.
    pub text: Str,
    /// The binary attachments, in order.
    pub attachments: Vec<Bytes>,
}

impl Encoded {
    /// The Engine.IO messages to send: the text, then each attachment.
    pub fn into_messages(self) -> Vec<Message> {
        let mut out = Vec::with_capacity(1 + self.attachments.len());
        out.push(Message::Text(self.text));
        out.extend(self.attachments.into_iter().map(Message::Binary));
        out
    }
}
