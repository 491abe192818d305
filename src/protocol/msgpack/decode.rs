//! Decoding one binary message into a packet: the map `{type, nsp, data, id}` in any key
//! order, unknown keys ignored.

use bytes::Bytes;

use crate::message::Str;
use crate::msgpack::read::{DEPTH_CEILING, Number, Reader};
use crate::msgpack::{self, normal::js_number};
use crate::protocol::decoder::DecoderConfig;
use crate::protocol::error::ProtocolError;
use crate::protocol::packet::DEFAULT_NS;
use crate::protocol::{Args, Packet, PacketData, is_reserved_event};

const CONNECT: u64 = 0;
const DISCONNECT: u64 = 1;
const EVENT: u64 = 2;
const ACK: u64 = 3;
const CONNECT_ERROR: u64 = 4;

fn invalid(e: msgpack::Error, config: &DecoderConfig) -> ProtocolError {
    match e {
        msgpack::Error::Truncated => ProtocolError::InvalidMessagePack("truncated"),
        msgpack::Error::Trailing(_) => ProtocolError::InvalidMessagePack("bytes after the packet"),
        msgpack::Error::TooDeep { .. } => ProtocolError::TooDeep {
            max: config.max_depth,
        },
        msgpack::Error::Reserved => ProtocolError::InvalidMessagePack("reserved byte 0xc1"),
        msgpack::Error::InvalidKey => {
            ProtocolError::InvalidMessagePack("a map key that is not a string")
        }
        msgpack::Error::Custom(_) => ProtocolError::InvalidMessagePack("malformed"),
    }
}

/// A whole number from 0 (integers, and floats without a fraction, as JavaScript sees
/// numbers).
fn whole(n: Number) -> Option<u64> {
    match n {
        Number::U(n) => Some(n),
        Number::I(_) => None,
        Number::F(f) if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 => {
            Some(f as u64)
        }
        Number::F(_) => None,
    }
}

/// Decodes one binary message of the MessagePack parser at protocol 4: a CONNECT's
/// namespace may carry the client's query, which becomes its auth (as with JSON).
pub(crate) fn decode_v4(data: Bytes, config: &DecoderConfig) -> Result<Packet, ProtocolError> {
    let mut packet = decode(data, config)?;
    if let PacketData::Connect(auth) = &mut packet.inner {
        if let Some((ns, query)) = packet.ns.as_str().split_once('?') {
            let ns = if ns.is_empty() { "/" } else { ns };
            *auth = Some(Args::json_value(crate::protocol::v4::query_auth(query)));
            packet.ns = Str::from(ns.to_owned());
        } else if auth.is_none() {
            *auth = Some(Args::json_value(Str::from_static("{}")));
        }
    }
    Ok(packet)
}

/// Decodes one binary message of the MessagePack parser.
///
/// The nesting limit is the configuration's `max_depth` counted from the `data` value (as
/// the JSON parser counts from the payload), so the packet map itself is one more level.
pub(crate) fn decode(data: Bytes, config: &DecoderConfig) -> Result<Packet, ProtocolError> {
    if data.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let depth = config.max_depth.saturating_add(1).min(DEPTH_CEILING);
    let clean = msgpack::decode(data, depth).map_err(|e| invalid(e, config))?;

    let mut r = Reader::new(&clean);
    let entries = r.map_len().ok_or(ProtocolError::InvalidPayload(
        "a packet must be a MessagePack map",
    ))?;
    let mut ty = None;
    let mut nsp = None;
    let mut id = None;
    let mut payload = None;
    for _ in 0..entries {
        let (key, _) = r.str().ok_or(ProtocolError::InvalidMessagePack(
            "a map key that is not a string",
        ))?;
        match key {
            "type" => {
                let t = r.number().and_then(whole).filter(|&t| t <= CONNECT_ERROR);
                ty = Some(t.ok_or(ProtocolError::InvalidPacketType)?);
            }
            "nsp" => {
                let (s, _) = r.str().ok_or(ProtocolError::InvalidNamespace)?;
                nsp = Some(s);
            }
            "id" => {
                id = Some(
                    r.number()
                        .and_then(whole)
                        .ok_or(ProtocolError::InvalidAckId)?,
                );
            }
            "data" => {
                payload = Some(
                    r.skip()
                        .ok_or(ProtocolError::InvalidMessagePack("malformed"))?,
                );
            }
            _ => {
                r.skip()
                    .ok_or(ProtocolError::InvalidMessagePack("malformed"))?;
            }
        }
    }
    let ty = ty.ok_or(ProtocolError::InvalidPacketType)?;
    let nsp = nsp.ok_or(ProtocolError::InvalidNamespace)?;
    // What a socket keeps of a packet is copied out of the message (a namespace lives as
    // long as its socket): `/`, the usual one, costs nothing.
    let ns = if nsp == "/" {
        DEFAULT_NS
    } else {
        Str::from(nsp.to_owned())
    };
    // `data: nil` counts as absent (python-socketio sends it on DISCONNECT).
    let payload = payload.filter(|range| clean.get(range.start) != Some(&0xc0));

    let inner = match ty {
        CONNECT => match payload {
            None => PacketData::Connect(None),
            Some(range) if is_map(clean[range.start]) => PacketData::Connect(Some(
                Args::from_msgpack(Bytes::copy_from_slice(&clean[range]), 1),
            )),
            Some(_) => {
                return Err(ProtocolError::InvalidPayload(
                    "CONNECT payload must be a map",
                ));
            }
        },
        DISCONNECT => match payload {
            None => PacketData::Disconnect,
            Some(_) => {
                return Err(ProtocolError::InvalidPayload(
                    "DISCONNECT carries no payload",
                ));
            }
        },
        EVENT => {
            let range = payload.ok_or(ProtocolError::InvalidPayload("missing payload"))?;
            let mut d = Reader::new(&clean[range.clone()]);
            let n = d
                .array_len()
                .ok_or(ProtocolError::InvalidPayload("expected an array"))?;
            if n == 0 {
                return Err(ProtocolError::EmptyEvent);
            }
            let event = match d.peek() {
                Some(m) if is_str(m) => {
                    let (name, at) = d.str().ok_or(ProtocolError::InvalidEventName)?;
                    if is_reserved_event(name) {
                        return Err(ProtocolError::ReservedEvent(name.to_owned()));
                    }
                    Str::from_utf8(clean.slice(range.start + at.start..range.start + at.end))
                        .map_err(|_| ProtocolError::InvalidEventName)?
                }
                _ => match d.number().ok_or(ProtocolError::InvalidEventName)? {
                    Number::U(n) => Str::from(n.to_string()),
                    Number::I(n) => Str::from(n.to_string()),
                    Number::F(f) => Str::from(js_number(f)),
                },
            };
            let args = clean.slice(range.start + d.pos()..range.end);
            PacketData::Event {
                event,
                args: Args::from_msgpack(args, n as usize - 1),
                ack: id,
            }
        }
        ACK => {
            let ack = id.ok_or(ProtocolError::MissingAckId)?;
            let range = payload.ok_or(ProtocolError::InvalidPayload("missing payload"))?;
            let mut d = Reader::new(&clean[range.clone()]);
            let n = d
                .array_len()
                .ok_or(ProtocolError::InvalidPayload("expected an array"))?;
            let args = clean.slice(range.start + d.pos()..range.end);
            PacketData::EventAck {
                args: Args::from_msgpack(args, n as usize),
                ack,
            }
        }
        _ => decode_connect_error(&clean, payload)?,
    };
    Ok(Packet { ns, inner })
}

fn is_map(b: u8) -> bool {
    matches!(b, 0x80..=0x8f | 0xde | 0xdf)
}

fn is_str(m: rmp::Marker) -> bool {
    matches!(
        m,
        rmp::Marker::FixStr(_) | rmp::Marker::Str8 | rmp::Marker::Str16 | rmp::Marker::Str32
    )
}

/// `data` of a CONNECT_ERROR: the message, or `{message, data}`.
fn decode_connect_error(
    clean: &Bytes,
    payload: Option<std::ops::Range<usize>>,
) -> Result<PacketData, ProtocolError> {
    let shape = ProtocolError::InvalidPayload("CONNECT_ERROR payload must be a string or a map");
    let range = payload.ok_or(shape.clone())?;
    let mut r = Reader::new(&clean[range]);
    if let Some((message, _)) = r.str() {
        return Ok(PacketData::ConnectError {
            message: message.to_owned(),
            data: None,
        });
    }
    let n = r.map_len().ok_or(shape)?;
    let mut message = String::new();
    let mut data = None;
    for _ in 0..n {
        let (key, _) = r.str().ok_or(ProtocolError::InvalidMessagePack(
            "a map key that is not a string",
        ))?;
        match key {
            "message" => {
                let (m, _) = r.str().ok_or(ProtocolError::InvalidPayload(
                    "CONNECT_ERROR message must be a string",
                ))?;
                message = m.to_owned();
            }
            "data" => {
                let value = r
                    .skip()
                    .ok_or(ProtocolError::InvalidMessagePack("malformed"))?;
                data = Some(Args::from_msgpack(
                    Bytes::copy_from_slice(r.bytes(value)),
                    1,
                ));
            }
            _ => {
                r.skip()
                    .ok_or(ProtocolError::InvalidMessagePack("malformed"))?;
            }
        }
    }
    Ok(PacketData::ConnectError { message, data })
}
