//! Socket.IO packet codecs: pure and synchronous.
//!
//! Messages in, [`Packet`]s out, and back; no I/O. The server core reaches every codec
//! through one seam (see [`Codec`]): a connection's codec is chosen from the server's
//! [`Parser`] and the protocol [`Revision`] of its client; a [`PacketReader`] turns its
//! incoming messages into packets (collecting binary attachments); the codec's `encode_*`
//! methods turn packets into [`Encoded`] Engine.IO messages; a [`BroadcastPacket`] is
//! encoded once per [`WireFormat`] and shared by every receiver.
//!
//! The wire format of Socket.IO protocol 5 with the default parser is
//! `<type>[<attachments>-][<nsp>,][<ack id>][JSON]` (types 0 CONNECT, 1 DISCONNECT,
//! 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK; the namespace is
//! omitted for `/`). A binary packet is followed by one binary message per attachment.
//!
//! - Decoding: [`PacketReader::feed`] per connection; [`Decoder::decode_text`] (or
//!   [`decode_text`]) for one text message, which gives a [`Packet`], or a
//!   [`PartialPacket`] that collects the binary attachments announced by a binary
//!   packet. Malformed input is a [`ProtocolError`], never a panic.
//! - Arguments: [`Args`] keeps the received JSON (or MessagePack) as a zero-copy slice;
//!   handlers deserialize their types straight from it (see [`args`](Args) for the mapping
//!   of tuples to several arguments); errors are [`DataError`].
//! - Encoding: [`Codec::encode_event`], [`Codec::encode_ack`] and friends serialize Rust
//!   values in one pass, turning byte buffers into binary attachments;
//!   [`Codec::encode_event_args`] re-emits received arguments without parsing them
//!   again. The free functions [`encode_event`], [`encode_ack`], ... are the same for
//!   protocol 5 with the default parser.
//! - [`Value`] is a dynamic value with a binary variant.
//!
//! ```
//! use bytes::Bytes;
//! use tower_socketio::engine::Str;
//! use tower_socketio::protocol::{decode_text, encode_ack_args, encode_event, Decoded, PacketData};
//!
//! // An event with an ack id, answered with the same arguments.
//! let Decoded::Packet(packet) = decode_text(Str::from(r#"2456["hi",1,"2"]"#)).unwrap() else {
//!     unreachable!()
//! };
//! let PacketData::Event { event, args, ack: Some(ack) } = &packet.inner else { unreachable!() };
//! assert_eq!(event.as_str(), "hi");
//! let (one, two): (u8, String) = args.deserialize().unwrap();
//! assert_eq!((one, two.as_str()), (1, "2"));
//! let answer = encode_ack_args(&packet.ns, *ack, args);
//! assert_eq!(answer.text().unwrap().as_str(), r#"3456[1,"2"]"#);
//!
//! // Bytes anywhere in the data become binary attachments.
//! let encoded = encode_event("/", "file", &("a.bin", Bytes::from_static(&[1, 2])), None).unwrap();
//! assert_eq!(encoded.text().unwrap().as_str(), r#"51-["file","a.bin",{"_placeholder":true,"num":0}]"#);
//! assert_eq!(encoded.attachments(), [Bytes::from_static(&[1, 2])]);
//! ```
//!
//! # Versions and parsers
//! Everything specific to the protocol-5 text framing lives in one private module
//! (`v5`), and what protocol 4 (Socket.IO 2 clients, [`Revision::V4`]) does differently
//! in another (`v4`: CONNECT with the query as auth, a bare CONNECT answer, refusals as
//! the error's data or message); the packet model, the argument mapping and the binary
//! placeholder handling are shared. The MessagePack parser ([`Parser::MsgPack`],
//! `socket.io-msgpack-parser` 3.x) is one more codec behind [`Codec`] (`msgpack`: one
//! binary message per packet, binary inline, read through the crate's one MessagePack
//! codec with its limits), not a change to the model or to the core.
//!
//! ```
//! use tower_socketio::engine::Message;
//! use tower_socketio::protocol::{Codec, DecoderConfig, PacketData, Parser, Revision};
//!
//! let codec = Codec::new(Parser::MsgPack, Revision::V5);
//! // {type: 2, data: ["hi", 1], nsp: "/"}, as socket.io-msgpack-parser writes it.
//! let frame = b"\x83\xa4type\x02\xa4data\x92\xa2hi\x01\xa3nsp\xa1/";
//! let mut reader = codec.reader(DecoderConfig::default());
//! let packet = reader.feed(Message::Binary(frame[..].to_vec().into())).unwrap().unwrap();
//! let PacketData::Event { event, args, .. } = &packet.inner else { unreachable!() };
//! assert_eq!((event.as_str(), args.deserialize::<u8>().unwrap()), ("hi", 1));
//! // Echoed as it came: the arguments' bytes are copied, not parsed again.
//! let back = codec.encode_event_args("/", "hi", args, None);
//! assert_eq!(back.first(), &Message::Binary(frame[..].to_vec().into()));
//! ```

mod args;
mod broadcast;
mod de;
mod decoder;
mod error;
mod msgpack;
mod packet;
mod parser;
mod ser;
mod v4;
mod v5;
mod value;

pub use args::{Args, FromArgs, Spread};
pub use broadcast::BroadcastPacket;
pub use decoder::{Decoded, Decoder, DecoderConfig, PartialPacket, decode_text};
pub use error::{DataError, EncodeError, ProtocolError};
pub use packet::{Encoded, Messages, Packet, PacketData};
pub use parser::{Codec, ConnectReply, PacketReader, Parser, Revision, WireFormat};
pub use v5::{
    encode_ack, encode_ack_args, encode_connect, encode_connect_data, encode_connect_error,
    encode_disconnect, encode_event, encode_event_args, encode_packet,
};
pub use value::Value;

/// Event names that have a meaning of their own and cannot be used for user events:
/// `connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener`,
/// `removeListener`.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is a reserved event name (see [`RESERVED_EVENTS`]). Incoming events
/// with such a name are refused by the decoder; the server must refuse to emit them.
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}
