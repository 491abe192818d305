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
    /// `CONNECT`: from a client, the optional auth payload (an object), as one argument in
    /// the parser's form (read it with [`Args::deserialize`]); the server answers with its
    /// own payload (`{"sid":..}`), see
    /// [`Codec::encode_connect`](super::Codec::encode_connect).
    Connect(Option<Args>),
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
        /// Extra data, if any, as one argument in the parser's form.
        data: Option<Args>,
    },
}

impl PacketData {
    /// The packet type digit this data is encoded with by the JSON parser (binary types
    /// when attachments exist; the MessagePack parser has no binary types).
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
    /// A `CONNECT` packet, with an optional payload (one argument, an object).
    pub fn connect(ns: impl Into<Str>, payload: Option<Args>) -> Self {
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
        data: Option<Args>,
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

/// An encoded packet: the Engine.IO messages the transport sends for it.
///
/// The first message is the packet itself: a text message with the JSON parser (then
/// followed by one binary message per attachment), or one binary message with a binary
/// parser (no attachments). Send them in this order and together (the engine's
/// `send_batch`), so that no other packet gets between a packet and its attachments.
/// Cloning is cheap (reference-counted buffers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    first: Message,
    attachments: Vec<Bytes>,
}

impl Encoded {
    /// An encoded packet from its first message and the binary attachments that follow.
    pub fn new(first: Message, attachments: Vec<Bytes>) -> Self {
        Encoded { first, attachments }
    }

    /// The first message: the packet itself.
    pub fn first(&self) -> &Message {
        &self.first
    }

    /// The first message's text, when it is a text message (the JSON parser).
    pub fn text(&self) -> Option<&Str> {
        match &self.first {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// The binary attachments that follow the first message, in order (empty for packets
    /// without binary, and with a parser that keeps binary inline).
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// How many Engine.IO messages the packet takes: the first, then each attachment.
    pub fn len(&self) -> usize {
        1 + self.attachments.len()
    }

    /// Always false: an encoded packet has at least its first message.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The messages to send, in order, without copying a buffer.
    pub fn messages(&self) -> Messages<'_> {
        Messages {
            first: Some(&self.first),
            rest: self.attachments.iter(),
        }
    }

    /// The messages to send: the first, then each attachment.
    pub fn into_messages(self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.len());
        out.push(self.first);
        out.extend(self.attachments.into_iter().map(Message::Binary));
        out
    }
}

impl From<Str> for Encoded {
    /// A packet that is one text message.
    fn from(text: Str) -> Self {
        Encoded::new(Message::Text(text), Vec::new())
    }
}

/// The Engine.IO messages of an [`Encoded`] packet, in order: see [`Encoded::messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    first: Option<&'a Message>,
    rest: std::slice::Iter<'a, Bytes>,
}

impl Iterator for Messages<'_> {
    type Item = Message;

    #[inline]
    fn next(&mut self) -> Option<Message> {
        match self.first.take() {
            Some(first) => Some(first.clone()),
            None => self.rest.next().map(|b| Message::Binary(b.clone())),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.first.is_some()) + self.rest.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Messages<'_> {}
