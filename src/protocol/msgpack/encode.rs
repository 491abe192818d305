//! Encoding packets as one MessagePack binary message each: a map with the keys in Node's
//! order, `type`, `data` (when there is one), `id` (acks), `nsp`, so an EVENT is byte for
//! byte what a Node server sends.

use bytes::Bytes;
use serde::Serialize;

use crate::message::Message;
use crate::msgpack::{ser::write_value, write};
use crate::protocol::error::EncodeError;
use crate::protocol::ser::write_msgpack_args;
use crate::protocol::{Args, Encoded, Packet, PacketData};

const CONNECT: u64 = 0;
const DISCONNECT: u64 = 1;
const EVENT: u64 = 2;
const ACK: u64 = 3;
const CONNECT_ERROR: u64 = 4;

/// The map header and the type; `data` is written next when `with_data`.
fn head(out: &mut Vec<u8>, ty: u64, with_data: bool, with_id: bool) {
    write::map_len(out, 2 + u32::from(with_data) + u32::from(with_id));
    write::str(out, "type");
    write::uint(out, ty);
    if with_data {
        write::str(out, "data");
    }
}

/// The keys after `data`: `id` for acks, then `nsp`.
fn tail(out: &mut Vec<u8>, id: Option<u64>, ns: &str) {
    if let Some(id) = id {
        write::str(out, "id");
        write::uint(out, id);
    }
    write::str(out, "nsp");
    write::str(out, ns);
}

fn done(out: Vec<u8>) -> Encoded {
    Encoded::new(Message::Binary(Bytes::from(out)), Vec::new())
}

fn buffer(ns: &str, extra: usize) -> Vec<u8> {
    Vec::with_capacity(24 + ns.len() + extra)
}

/// An EVENT of `event` with the arguments of `data` (mapped as in [`Args`]).
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    ns: &str,
    event: &str,
    data: &T,
    ack: Option<u64>,
) -> Result<Encoded, EncodeError> {
    let mut out = buffer(ns, 16 + event.len());
    head(&mut out, EVENT, true, ack.is_some());
    write_msgpack_args(&mut out, Some(event), data, true)?;
    tail(&mut out, ack, ns);
    Ok(done(out))
}

/// An ACK answering event `ack` with the arguments of `data`.
pub(crate) fn encode_ack<T: Serialize + ?Sized>(
    ns: &str,
    ack: u64,
    data: &T,
) -> Result<Encoded, EncodeError> {
    let mut out = buffer(ns, 16);
    head(&mut out, ACK, true, true);
    write_msgpack_args(&mut out, None, data, true)?;
    tail(&mut out, Some(ack), ns);
    Ok(done(out))
}

/// The arguments' MessagePack bytes (JSON ones converted; a conversion cannot fail for
/// arguments a decoder accepted, and leaves none if it did anyway).
fn args_bytes(args: &Args) -> (Bytes, usize) {
    match args.to_msgpack() {
        Ok(bytes) => (bytes, args.len()),
        Err(e) => {
            tracing::warn!(error = %e, "arguments without a MessagePack form: sent none");
            (Bytes::new(), 0)
        }
    }
}

/// An EVENT with arguments already in packet form: MessagePack ones are copied as they
/// are.
pub(crate) fn encode_event_args(ns: &str, event: &str, args: &Args, ack: Option<u64>) -> Encoded {
    encode_event_args_tail(ns, event, args, ack, None)
}

/// [`encode_event_args`] with one more, last, string argument after `args` when `last` is
/// given: the offset of connection state recovery.
pub(crate) fn encode_event_args_tail(
    ns: &str,
    event: &str,
    args: &Args,
    ack: Option<u64>,
    last: Option<&str>,
) -> Encoded {
    let (bytes, len) = args_bytes(args);
    let extra = last.map_or(0, |l| l.len() + 5);
    let mut out = buffer(ns, 16 + event.len() + bytes.len() + extra);
    head(&mut out, EVENT, true, ack.is_some());
    write::array_len(
        &mut out,
        write::count(len + 1 + usize::from(last.is_some())),
    );
    write::str(&mut out, event);
    out.extend_from_slice(&bytes);
    if let Some(last) = last {
        write::str(&mut out, last);
    }
    tail(&mut out, ack, ns);
    done(out)
}

/// An ACK with arguments already in packet form.
pub(crate) fn encode_ack_args(ns: &str, ack: u64, args: &Args) -> Encoded {
    let (bytes, len) = args_bytes(args);
    let mut out = buffer(ns, 16 + bytes.len());
    head(&mut out, ACK, true, true);
    write::array_len(&mut out, write::count(len));
    out.extend_from_slice(&bytes);
    tail(&mut out, Some(ack), ns);
    done(out)
}

/// The server's CONNECT answer: `{type: 0, data: {sid, pid?}, nsp}` (no `pid` key at all
/// without connection state recovery: python-socketio would read Node's `undefined` as an
/// extension object).
pub(crate) fn encode_connect(ns: &str, sid: &str, pid: Option<&str>) -> Encoded {
    let mut out = buffer(ns, 16 + sid.len() + pid.map_or(0, |p| p.len() + 5));
    head(&mut out, CONNECT, true, false);
    write::map_len(&mut out, 1 + u32::from(pid.is_some()));
    write::str(&mut out, "sid");
    write::str(&mut out, sid);
    if let Some(pid) = pid {
        write::str(&mut out, "pid");
        write::str(&mut out, pid);
    }
    tail(&mut out, None, ns);
    done(out)
}

/// The server's CONNECT answer at protocol 4: `{type: 0, nsp}`.
pub(crate) fn encode_connect_v4(ns: &str) -> Encoded {
    let mut out = buffer(ns, 0);
    head(&mut out, CONNECT, false, false);
    tail(&mut out, None, ns);
    done(out)
}

/// A refusal at protocol 4: `{type: 4, data, nsp}`, `data` the error's data when there is
/// some (and it is not `nil`, `false`, `0` or `""`), else its message.
pub(crate) fn encode_connect_error_v4<T: Serialize + ?Sized>(
    ns: &str,
    message: &str,
    data: Option<&T>,
) -> Result<Encoded, EncodeError> {
    let mut value = Vec::new();
    if let Some(data) = data {
        write_value(&mut value, data)?;
    }
    // JavaScript's falsy values, as `err.data || err.message` sees them.
    let falsy = matches!(
        value.as_slice(),
        [] | [0xc0] | [0xc2] | [0x00] | [0xa0] | [0xcb, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    if falsy {
        value.clear();
        write::str(&mut value, message);
    }
    let mut out = buffer(ns, 24 + value.len());
    head(&mut out, CONNECT_ERROR, true, false);
    out.extend_from_slice(&value);
    tail(&mut out, None, ns);
    Ok(done(out))
}

/// A CONNECT_ERROR: `{type: 4, data: {message, data?}, nsp}`.
pub(crate) fn encode_connect_error<T: Serialize + ?Sized>(
    ns: &str,
    message: &str,
    data: Option<&T>,
) -> Result<Encoded, EncodeError> {
    let mut out = buffer(ns, 24 + message.len());
    head(&mut out, CONNECT_ERROR, true, false);
    write::map_len(&mut out, 1 + u32::from(data.is_some()));
    write::str(&mut out, "message");
    write::str(&mut out, message);
    if let Some(data) = data {
        write::str(&mut out, "data");
        write_value(&mut out, data)?;
    }
    tail(&mut out, None, ns);
    Ok(done(out))
}

/// A DISCONNECT: `{type: 1, nsp}`.
pub(crate) fn encode_disconnect(ns: &str) -> Encoded {
    let mut out = buffer(ns, 0);
    head(&mut out, DISCONNECT, false, false);
    tail(&mut out, None, ns);
    done(out)
}

/// The one value of a CONNECT or CONNECT_ERROR payload.
fn one_value(args: &Args, out: &mut Vec<u8>) {
    let (bytes, len) = args_bytes(args);
    if len == 0 {
        write::nil(out);
    } else {
        // One value: the first of the arguments (a payload has exactly one).
        let mut r = crate::msgpack::read::Reader::new(&bytes);
        match r.skip() {
            Some(first) => out.extend_from_slice(&bytes[first]),
            None => write::nil(out),
        }
    }
}

/// Any packet. Arguments and payloads are written as they are.
pub(crate) fn encode_packet(packet: &Packet) -> Encoded {
    let ns = packet.ns.as_str();
    match &packet.inner {
        PacketData::Connect(payload) => {
            let mut out = buffer(ns, 16);
            head(&mut out, CONNECT, payload.is_some(), false);
            if let Some(payload) = payload {
                one_value(payload, &mut out);
            }
            tail(&mut out, None, ns);
            done(out)
        }
        PacketData::Disconnect => encode_disconnect(ns),
        PacketData::Event { event, args, ack } => encode_event_args(ns, event, args, *ack),
        PacketData::EventAck { args, ack } => encode_ack_args(ns, *ack, args),
        PacketData::ConnectError { message, data } => {
            let mut out = buffer(ns, 24 + message.len());
            head(&mut out, CONNECT_ERROR, true, false);
            write::map_len(&mut out, 1 + u32::from(data.is_some()));
            write::str(&mut out, "message");
            write::str(&mut out, message);
            if let Some(data) = data {
                write::str(&mut out, "data");
                one_value(data, &mut out);
            }
            tail(&mut out, None, ns);
            done(out)
        }
    }
}
