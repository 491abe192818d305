//! The text format of Socket.IO protocol 5 with the default (JSON) parser:
//! `<type>[<attachments>-][<nsp>,][<ack id>][JSON]`.
//!
//! Everything that depends on this exact framing lives here ([`decode`] and [`encode`]);
//! the packet model, the argument mapping and the placeholder handling are shared. The
//! core reaches it only through [`Codec`](super::Codec); the public `encode_*` functions
//! are this codec's, for users of the protocol module alone.

mod decode;
mod encode;

pub(crate) use decode::decode;
pub use encode::{
    encode_ack, encode_ack_args, encode_connect, encode_connect_data, encode_connect_error,
    encode_disconnect, encode_event, encode_event_args, encode_packet,
};
pub(crate) use encode::{encode_connect_reply, encode_event_args_tail};

const CONNECT: u8 = 0;
const DISCONNECT: u8 = 1;
const EVENT: u8 = 2;
const ACK: u8 = 3;
const CONNECT_ERROR: u8 = 4;
const BINARY_EVENT: u8 = 5;
const BINARY_ACK: u8 = 6;
