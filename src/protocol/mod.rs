//! Socket.IO packet codecs: pure and synchronous.
//!
//! Text in, [`Packet`]s out, and back; no I/O. The wire format of Socket.IO protocol 5
//! with the default parser is
//! `<type>[<attachments>-][<nsp>,][<ack id>][JSON]` (types 0 CONNECT, 1 DISCONNECT,
//! 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK; the namespace is
//! omitted for `/`). A binary packet is followed by one binary message per attachment.
//!
//! - Decoding: [`Decoder::decode_text`] (or [`decode_text`]) gives a [`Packet`], or a
//!   [`PartialPacket`] that collects the binary attachments announced by a binary
//!   packet. Malformed input is a [`ProtocolError`], never a panic.
//! - Arguments: [`Args`] keeps the received JSON as a zero-copy slice; handlers
//!   deserialize their types straight from it (see [`args`](Args) for the mapping of
//!   tuples to several arguments).
//! - Encoding: [`encode_event`], [`encode_ack`] and friends serialize Rust values in one
//!   pass, turning byte buffers into binary attachments; [`encode_event_args`] re-emits
//!   received arguments without parsing them again.
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
//! assert_eq!(answer.text.as_str(), r#"3456[1,"2"]"#);
//!
//! // Bytes anywhere in the data become binary attachments.
//! let encoded = encode_event("/", "file", &("a.bin", Bytes::from_static(&[1, 2])), None).unwrap();
//! assert_eq!(encoded.text.as_str(), r#"51-["file","a.bin",{"_placeholder":true,"num":0}]"#);
//! assert_eq!(encoded.attachments, vec![Bytes::from_static(&[1, 2])]);
//! ```
//!
//! # Versions and parsers
//! Everything specific to the protocol-5 text framing lives in one private module
//! (`v5`); the packet model, the argument mapping and the binary placeholder handling
//! are shared. Protocol 4 (Socket.IO 2 clients) and a MessagePack parser are meant to
//! be added as further modules selected through [`Parser`] / [`Decoder`], not as
//! changes to the model.

mod args;
mod de;
mod decoder;
mod error;
mod packet;
mod ser;
mod v5;
mod value;

pub use args::{Args, FromArgs, Spread};
pub use decoder::{Decoded, Decoder, DecoderConfig, Parser, PartialPacket, decode_text};
pub use error::{EncodeError, ProtocolError};
pub use packet::{Encoded, Packet, PacketData};
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
