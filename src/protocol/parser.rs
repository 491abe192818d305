//! The parser seam: the one interface through which the server core reads and writes
//! Socket.IO packets, whatever the wire format.
//!
//! A connection gets a [`Codec`] when it opens, chosen from the server's [`Parser`] and the
//! protocol [`Revision`] its client speaks (given by the Engine.IO revision). Everything
//! the core sends goes through the codec's `encode_*` methods, into an [`Encoded`] packet
//! (the Engine.IO messages to send); everything it receives goes through the connection's
//! [`PacketReader`], which keeps a binary packet's attachments until they are complete, so
//! that the core only ever sees whole [`Packet`]s. A broadcast is a
//! [`BroadcastPacket`](super::BroadcastPacket), encoded once per wire format.
//!
//! The dispatch is a `match` on a small enum (no trait object), so the generic
//! `encode_event<T: Serialize>` stays a direct call of the codec's own function.
//!
//! Adding a codec (as protocol 4 was; MessagePack next): a variant of the private `Kind`, a module
//! beside `v5` with its decoder and encoder, one arm in each method below, and a
//! [`WireFormat`] when its EVENT bytes differ from every existing one.

use bytes::Bytes;
use serde::Serialize;

use super::decoder::{Decoded, DecoderConfig, PartialPacket};
use super::error::{EncodeError, ProtocolError};
use super::{Args, Encoded, Packet, msgpack, v4, v5};
use crate::message::{Message, Str};

/// The packet format a server speaks (Node's `parser` option). One server speaks one:
/// its clients must use the same parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Parser {
    /// The default parser: JSON text packets, binary data as separate attachments
    /// referenced by placeholders.
    #[default]
    Json,
    /// The MessagePack parser, compatible with `socket.io-msgpack-parser` 3.x (Node's
    /// `parser: require("socket.io-msgpack-parser")`, the client's
    /// `socket.io.msgpack.min.js`, python-socketio's `serializer='msgpack'`): each packet
    /// is one binary message, a MessagePack map `{type, nsp, data, id}`; binary data
    /// stays inline.
    MsgPack,
}

impl Parser {
    /// Encodes any packet with this parser (Socket.IO protocol 5).
    pub fn encode(&self, packet: &Packet) -> Encoded {
        Codec::new(*self, Revision::V5).encode(packet)
    }
}

/// The Socket.IO protocol revision a connection speaks: 5 for Engine.IO 4 clients
/// (Socket.IO 3 and 4 clients), 4 for Engine.IO 3 clients (Socket.IO 2 clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Revision {
    /// Socket.IO protocol 4 (Socket.IO 2 clients).
    V4 = 4,
    /// Socket.IO protocol 5.
    #[default]
    V5 = 5,
}

/// The encoding of EVENT and ACK packets, the part of a codec a broadcast depends on:
/// codecs with the same wire format produce the same bytes for one broadcast, so a
/// broadcast is encoded once per wire format, not once per codec or per receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireFormat {
    /// JSON text with binary attachments (the default parser, protocols 4 and 5).
    Json,
    /// One MessagePack binary message (the MessagePack parser).
    MsgPack,
}

impl WireFormat {
    /// How many wire formats exist (the size of a broadcast's cache).
    pub(crate) const COUNT: usize = 2;

    /// This format's slot in a broadcast's cache.
    pub(crate) fn index(self) -> usize {
        match self {
            WireFormat::Json => 0,
            WireFormat::MsgPack => 1,
        }
    }
}

/// What the server answers to a namespace CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectReply<'a> {
    /// The socket id.
    pub sid: &'a str,
    /// The private session id of connection state recovery, when the socket can be
    /// recovered.
    pub pid: Option<&'a str>,
}

impl<'a> ConnectReply<'a> {
    /// A reply with the socket id.
    pub fn new(sid: &'a str) -> Self {
        ConnectReply { sid, pid: None }
    }

    /// Adds the private session id.
    pub fn with_pid(mut self, pid: &'a str) -> Self {
        self.pid = Some(pid);
        self
    }
}

/// The codecs there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Protocol 5, default (JSON) parser.
    JsonV5,
    /// Protocol 4, default (JSON) parser.
    JsonV4,
    /// Protocol 5, MessagePack parser.
    MsgPackV5,
    /// Protocol 4, MessagePack parser (no client pairs them; framed as Engine.IO 3 frames
    /// any binary message, with protocol 4's namespace rules).
    MsgPackV4,
}

/// How one connection's packets are written and read: a [`Parser`] at a [`Revision`].
///
/// Small and `Copy`; the core keeps one per socket and calls nothing but these methods.
///
/// ```
/// use tower_socketio::protocol::{Codec, ConnectReply, Parser, Revision};
///
/// let codec = Codec::new(Parser::Json, Revision::V5);
/// let reply = codec.encode_connect("/chat", ConnectReply::new("abc"));
/// assert_eq!(reply.text().unwrap().as_str(), r#"0/chat,{"sid":"abc"}"#);
/// let event = codec.encode_event("/", "hi", &(1, "two"), None).unwrap();
/// assert_eq!(event.text().unwrap().as_str(), r#"2["hi",1,"two"]"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Codec {
    kind: Kind,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(Parser::Json, Revision::V5)
    }
}

impl Codec {
    /// The codec of `parser` at `revision`.
    pub const fn new(parser: Parser, revision: Revision) -> Codec {
        let kind = match (parser, revision) {
            (Parser::Json, Revision::V5) => Kind::JsonV5,
            (Parser::Json, Revision::V4) => Kind::JsonV4,
            (Parser::MsgPack, Revision::V5) => Kind::MsgPackV5,
            (Parser::MsgPack, Revision::V4) => Kind::MsgPackV4,
        };
        Codec { kind }
    }

    /// The parser.
    pub fn parser(self) -> Parser {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => Parser::Json,
            Kind::MsgPackV5 | Kind::MsgPackV4 => Parser::MsgPack,
        }
    }

    /// The protocol revision.
    pub fn revision(self) -> Revision {
        match self.kind {
            Kind::JsonV5 | Kind::MsgPackV5 => Revision::V5,
            Kind::JsonV4 | Kind::MsgPackV4 => Revision::V4,
        }
    }

    /// The encoding of this codec's EVENT and ACK packets.
    pub fn wire_format(self) -> WireFormat {
        match self.kind {
            // EVENT and ACK bytes are the same in protocols 4 and 5.
            Kind::JsonV5 | Kind::JsonV4 => WireFormat::Json,
            Kind::MsgPackV5 | Kind::MsgPackV4 => WireFormat::MsgPack,
        }
    }

    /// Whether this codec's clients take part in connection state recovery: they read a
    /// trailing offset argument on stored broadcasts and send it back when they reconnect
    /// (protocol 5). A codec without recovery (Socket.IO 2's protocol 4) gets broadcasts
    /// without the offset, so one broadcast may need one encoding with it and one without
    /// (see [`BroadcastPacket`](super::BroadcastPacket)).
    pub fn carries_offsets(self) -> bool {
        match self.kind {
            Kind::JsonV5 | Kind::MsgPackV5 => true,
            Kind::JsonV4 | Kind::MsgPackV4 => false,
        }
    }

    /// A reader for one connection, with these limits.
    pub fn reader(self, limits: DecoderConfig) -> PacketReader {
        PacketReader::new(self, limits)
    }

    // ----- decoding -----

    /// Decodes a text message. A packet that announces binary attachments comes back as
    /// [`Decoded::Partial`] (a [`PacketReader`] collects them).
    #[inline]
    pub(crate) fn decode_text(
        self,
        text: Str,
        limits: &DecoderConfig,
    ) -> Result<Decoded, ProtocolError> {
        match self.kind {
            Kind::JsonV5 => v5::decode(text, limits),
            Kind::JsonV4 => v4::decode(text, limits),
            Kind::MsgPackV5 | Kind::MsgPackV4 => Err(ProtocolError::UnexpectedText),
        }
    }

    /// Decodes a binary message that is not an attachment: a whole packet with the
    /// MessagePack parser. The JSON parser has none (every binary message belongs to the
    /// text packet before it).
    pub(crate) fn decode_binary(
        self,
        data: Bytes,
        limits: &DecoderConfig,
    ) -> Result<Decoded, ProtocolError> {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => Err(ProtocolError::UnexpectedAttachment),
            Kind::MsgPackV5 => msgpack::decode(data, limits).map(Decoded::Packet),
            Kind::MsgPackV4 => msgpack::decode_v4(data, limits).map(Decoded::Packet),
        }
    }

    /// Whether a binary message is an attachment of the packet before it (rather than a
    /// packet of its own).
    fn binary_is_attachment(self) -> bool {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => true,
            Kind::MsgPackV5 | Kind::MsgPackV4 => false,
        }
    }

    // ----- encoding -----

    /// Encodes any packet. Arguments and raw payloads are written as they are.
    pub fn encode(self, packet: &Packet) -> Encoded {
        match self.kind {
            Kind::JsonV5 => v5::encode_packet(packet),
            Kind::JsonV4 => v4::encode_packet(packet),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_packet(packet),
        }
    }

    /// Encodes an EVENT of `event` with the arguments of `data` (a tuple is several
    /// arguments, `()` none, anything else one; bytes anywhere become binary), carrying an
    /// ack id when the sender wants an answer.
    pub fn encode_event<T: Serialize + ?Sized>(
        self,
        ns: &str,
        event: &str,
        data: &T,
        ack: Option<u64>,
    ) -> Result<Encoded, EncodeError> {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => v5::encode_event(ns, event, data, ack),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_event(ns, event, data, ack),
        }
    }

    /// Encodes an ACK answering event `ack`, with the arguments of `data` mapped as in
    /// [`encode_event`](Self::encode_event).
    pub fn encode_ack<T: Serialize + ?Sized>(
        self,
        ns: &str,
        ack: u64,
        data: &T,
    ) -> Result<Encoded, EncodeError> {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => v5::encode_ack(ns, ack, data),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_ack(ns, ack, data),
        }
    }

    /// Encodes an EVENT with arguments already in packet form (received ones, or a
    /// broadcast's), without serializing them again.
    pub fn encode_event_args(
        self,
        ns: &str,
        event: &str,
        args: &Args,
        ack: Option<u64>,
    ) -> Encoded {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => v5::encode_event_args(ns, event, args, ack),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_event_args(ns, event, args, ack),
        }
    }

    /// Encodes an EVENT with arguments already in packet form followed by one more, last,
    /// string argument: the offset of connection state recovery, which the client keeps as
    /// its position (`2["ev",1,"<offset>"]`). The operation every codec provides for a
    /// stored broadcast: JSON writes one more string before the array's `]` (binary events
    /// too); a MessagePack codec appends one `str` to the `data` array.
    pub fn encode_event_args_with_offset(
        self,
        ns: &str,
        event: &str,
        args: &Args,
        offset: &str,
    ) -> Encoded {
        match self.kind {
            Kind::JsonV5 => v5::encode_event_args_tail(ns, event, args, None, Some(offset)),
            // Socket.IO 2 has no recovery: its clients never get an offset (a broadcast
            // encodes without it for them, see `BroadcastPacket::encoded`).
            Kind::JsonV4 => v5::encode_event_args(ns, event, args, None),
            Kind::MsgPackV5 => msgpack::encode_event_args_tail(ns, event, args, None, Some(offset)),
            Kind::MsgPackV4 => msgpack::encode_event_args(ns, event, args, None),
        }
    }

    /// Encodes an ACK with arguments already in packet form.
    pub fn encode_ack_args(self, ns: &str, ack: u64, args: &Args) -> Encoded {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => v5::encode_ack_args(ns, ack, args),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_ack_args(ns, ack, args),
        }
    }

    /// Encodes the server's answer to a namespace CONNECT.
    pub fn encode_connect(self, ns: &str, reply: ConnectReply<'_>) -> Encoded {
        match self.kind {
            Kind::JsonV5 => Encoded::from(v5::encode_connect_reply(ns, reply.sid, reply.pid)),
            // Protocol 4 answers with nothing but the namespace.
            Kind::JsonV4 => Encoded::from(v4::encode_connect(ns)),
            Kind::MsgPackV5 => msgpack::encode_connect(ns, reply.sid, reply.pid),
            Kind::MsgPackV4 => msgpack::encode_connect_v4(ns),
        }
    }

    /// Encodes the refusal of a namespace connection, with the error's message and its
    /// optional `data` (pass `None::<&()>` for none).
    pub fn encode_connect_error<T: Serialize + ?Sized>(
        self,
        ns: &str,
        message: &str,
        data: Option<&T>,
    ) -> Result<Encoded, EncodeError> {
        match self.kind {
            Kind::JsonV5 => v5::encode_connect_error(ns, message, data).map(Encoded::from),
            Kind::JsonV4 => v4::encode_connect_error(ns, message, data).map(Encoded::from),
            Kind::MsgPackV5 => msgpack::encode_connect_error(ns, message, data),
            Kind::MsgPackV4 => msgpack::encode_connect_error_v4(ns, message, data),
        }
    }

    /// Encodes a DISCONNECT from a namespace.
    pub fn encode_disconnect(self, ns: &str) -> Encoded {
        match self.kind {
            Kind::JsonV5 | Kind::JsonV4 => Encoded::from(v5::encode_disconnect(ns)),
            Kind::MsgPackV5 | Kind::MsgPackV4 => msgpack::encode_disconnect(ns),
        }
    }
}

/// Reads one connection's incoming messages into packets.
///
/// It keeps a packet whose binary attachments are still arriving until the last one is
/// there, so its user sees only complete packets. Every decoding error means the peer broke
/// the protocol (close the connection); the reader then forgets any pending packet.
///
/// ```
/// use bytes::Bytes;
/// use tower_socketio::engine::{Message, Str};
/// use tower_socketio::protocol::{Codec, DecoderConfig, PacketData};
///
/// let mut reader = Codec::default().reader(DecoderConfig::default());
/// let text = Str::from(r#"51-["file",{"_placeholder":true,"num":0}]"#);
/// assert!(reader.feed(Message::Text(text)).unwrap().is_none());
/// let packet = reader.feed(Message::Binary(Bytes::from_static(&[1, 2]))).unwrap().unwrap();
/// let PacketData::Event { args, .. } = packet.inner else { unreachable!() };
/// assert_eq!(args.attachments(), [Bytes::from_static(&[1, 2])]);
/// ```
#[derive(Debug)]
pub struct PacketReader {
    codec: Codec,
    limits: DecoderConfig,
    /// Boxed: most connections never have one, and it is large.
    pending: Option<Box<PartialPacket>>,
}

impl Default for PacketReader {
    fn default() -> Self {
        Codec::default().reader(DecoderConfig::default())
    }
}

impl PacketReader {
    /// A reader for `codec` with these limits.
    pub fn new(codec: Codec, limits: DecoderConfig) -> Self {
        PacketReader {
            codec,
            limits,
            pending: None,
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The limits.
    pub fn limits(&self) -> &DecoderConfig {
        &self.limits
    }

    /// Whether a packet waits for binary attachments.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets a packet that waits for attachments (the connection ended).
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Reads the next message: `Ok(Some(packet))` when a packet is complete, `Ok(None)`
    /// when more messages are due (the attachments of a binary packet).
    #[inline]
    pub fn feed(&mut self, msg: Message) -> Result<Option<Packet>, ProtocolError> {
        match msg {
            Message::Text(text) => {
                if self.pending.is_some() {
                    self.pending = None;
                    return Err(ProtocolError::AttachmentsPending);
                }
                match self.codec.decode_text(text.clone(), &self.limits) {
                    Ok(Decoded::Partial(_)) => {
                        // It waits for its attachments, maybe long: decoded again from a
                        // copy, as a slice of the frame would keep the transport's whole
                        // read buffer alive.
                        let copy = Str::from(text.as_str().to_owned());
                        match self.codec.decode_text(copy, &self.limits) {
                            Ok(decoded) => Ok(self.settle(decoded)),
                            Err(e) => Err(e),
                        }
                    }
                    Ok(decoded) => Ok(self.settle(decoded)),
                    Err(e) => Err(e),
                }
            }
            Message::Binary(data) => self.feed_binary(data),
        }
    }

    /// A complete packet comes out; one waiting for attachments is kept.
    #[inline]
    fn settle(&mut self, decoded: Decoded) -> Option<Packet> {
        match decoded {
            Decoded::Packet(packet) => Some(packet),
            Decoded::Partial(partial) => {
                self.pending = Some(Box::new(partial));
                None
            }
        }
    }

    fn feed_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ProtocolError> {
        if !self.codec.binary_is_attachment() {
            return match self.codec.decode_binary(data, &self.limits) {
                Ok(decoded) => Ok(self.settle(decoded)),
                Err(e) => {
                    self.pending = None;
                    Err(e)
                }
            };
        }
        let Some(partial) = self.pending.as_mut() else {
            return Err(ProtocolError::UnexpectedAttachment);
        };
        // An attachment that waits for the next ones is copied out of the frame too; the
        // last one completes the packet and goes to the handlers as it is.
        let data = if partial.received() + 1 < partial.expected() {
            Bytes::copy_from_slice(&data)
        } else {
            data
        };
        match partial.push(data) {
            Ok(Some(packet)) => {
                self.pending = None;
                Ok(Some(packet))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.pending = None;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
