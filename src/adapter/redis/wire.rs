//! The channels and messages of Node's `@socket.io/redis-adapter` 8.x (and
//! `@socket.io/redis-emitter`), learned from their documentation and behaviour.
//!
//! Channels, for a key prefix `K` (default `socket.io`) and a namespace `N`:
//! - `K#N#`: broadcasts, and `K#N#<room>#` for a broadcast to exactly one room; every
//!   server subscribes to the pattern `K#N#*`. A message is MessagePack
//!   `[uid, packet, {rooms, except, flags}]`, where `packet` is a Socket.IO packet object
//!   `{type, data: [event, ...args], nsp}` whose binary arguments stay binary.
//! - `K-request#N#`: requests between servers, JSON `{uid, requestId?, type, ...}`, except
//!   a broadcast with acknowledgements (type 7), which is MessagePack because its packet
//!   may hold binary. `PUBSUB NUMSUB` of this channel is the number of servers.
//! - `K-response#N#` (and `K-response#N#<uid>#` for servers configured to answer on the
//!   requester's own channel): responses, JSON, except the acknowledgements of a
//!   broadcast (type 9), MessagePack.
//!
//! A message starting with `{` is JSON, anything else MessagePack, both ways.

use bytes::Bytes;

use crate::adapter::{BroadcastFlags, BroadcastOptions, Room};
use crate::msgpack::{self, read::Reader, write};
use crate::protocol::{Args, BroadcastPacket, EncodeError, Parser, Value};

/// The deepest nesting accepted in a message (the parser's default, counted from the
/// message itself).
const MAX_DEPTH: usize = 128;

/// Request and response types.
pub(crate) mod kind {
    /// The ids of the local sockets (old API).
    pub(crate) const SOCKETS: u64 = 0;
    /// The rooms of every server.
    pub(crate) const ALL_ROOMS: u64 = 1;
    /// Targeted sockets join rooms.
    pub(crate) const REMOTE_JOIN: u64 = 2;
    /// Targeted sockets leave rooms.
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    /// Targeted sockets are disconnected.
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    /// The targeted sockets' details.
    pub(crate) const REMOTE_FETCH: u64 = 5;
    /// An event between servers.
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    /// A broadcast with acknowledgements.
    pub(crate) const BROADCAST: u64 = 7;
    /// How many clients a server reached with a broadcast with acknowledgements.
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    /// One client's acknowledgement of a broadcast.
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// The channels of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channels {
    /// `K#N#`.
    pub(crate) broadcast: String,
    /// `K-request#N#`.
    pub(crate) request: String,
    /// `K-response#N#`.
    pub(crate) response: String,
    /// `K-response#N#<uid>#`.
    pub(crate) own_response: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Self {
        let response = format!("{key}-response#{nsp}#");
        Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            own_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// The pattern of every broadcast channel of the namespace (glob characters of the
    /// name escaped, so that `/a*` matches only itself).
    pub(crate) fn broadcast_pattern(&self) -> String {
        let mut p = String::with_capacity(self.broadcast.len() + 4);
        for c in self.broadcast.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('*');
        p
    }

    /// The channel of a broadcast: the room's own channel for exactly one room.
    pub(crate) fn broadcast_channel(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => format!("{}{room}#", self.broadcast),
            _ => self.broadcast.clone(),
        }
    }

    /// The room a broadcast channel names (`None` for the namespace-wide one, or a channel
    /// of another namespace).
    pub(crate) fn room_of<'c>(&self, channel: &'c str) -> Option<&'c str> {
        channel
            .strip_prefix(self.broadcast.as_str())
            .and_then(|rest| rest.strip_suffix('#'))
            .filter(|room| !room.is_empty())
    }
}

/// Checks a MessagePack message with the crate's codec: clean bytes (`notepack.io`'s
/// extensions rewritten), or why not.
fn clean(payload: &Bytes) -> Result<Bytes, String> {
    msgpack::decode(payload.clone(), MAX_DEPTH).map_err(|e| e.to_string())
}

/// Parses a message that is JSON when it starts with `{`, MessagePack otherwise.
pub(crate) fn parse_any(payload: &Bytes) -> Result<Value, String> {
    if payload.first() == Some(&b'{') {
        serde_json::from_slice(payload).map_err(|e| format!("invalid JSON: {e}"))
    } else {
        parse_msgpack(payload)
    }
}

/// Parses a MessagePack message (checked and cleaned by the crate's codec first).
pub(crate) fn parse_msgpack(payload: &Bytes) -> Result<Value, String> {
    let clean = clean(payload)?;
    msgpack::read::from_slice(&clean).map_err(|e| e.to_string())
}

/// Encodes a MessagePack message.
pub(crate) fn to_msgpack(v: &Value) -> Bytes {
    // A `Value` always serializes: its map keys are strings.
    Bytes::from(msgpack::ser::to_vec(v).unwrap_or_default())
}

/// An object with these members.
pub(crate) fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// A whole number (JavaScript has only floats: integral ones count).
pub(crate) fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 18_446_744_073_709_551_616.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

/// Whether this is `true`.
pub(crate) fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

/// Room names as the wire carries them (JavaScript rooms may be numbers).
pub(crate) fn rooms_of(v: Option<&Value>) -> Vec<Room> {
    let Some(items) = v.and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| match r {
            Value::String(s) => Some(Room::Owned(s.clone())),
            Value::Number(n) => Some(Room::Owned(n.to_string())),
            _ => None,
        })
        .collect()
}

fn rooms_value(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| Value::String(r.to_string())).collect())
}

/// `{rooms, except}` of a request.
pub(crate) fn opts_value(opts: &BroadcastOptions) -> Value {
    object([
        ("rooms", rooms_value(&opts.rooms)),
        ("except", rooms_value(&dedup(&opts.except))),
    ])
}

fn dedup(rooms: &[Room]) -> Vec<Room> {
    let mut out: Vec<Room> = Vec::with_capacity(rooms.len());
    for r in rooms {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    out
}

/// `{rooms, except, flags}` of a broadcast; `timeout` in milliseconds for one with acks.
pub(crate) fn broadcast_opts_value(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Value {
    let mut flags = std::collections::BTreeMap::new();
    if opts.flags.volatile {
        flags.insert("volatile".to_owned(), Value::Bool(true));
    }
    if !opts.flags.compress {
        flags.insert("compress".to_owned(), Value::Bool(false));
    }
    if let Some(ms) = timeout_ms {
        flags.insert("timeout".to_owned(), Value::from(ms));
    }
    object([
        ("rooms", rooms_value(&opts.rooms)),
        ("except", rooms_value(&dedup(&opts.except))),
        ("flags", Value::Object(flags)),
    ])
}

/// The targeting of a received message (`local`, as it runs here only now).
pub(crate) fn read_opts(v: Option<&Value>) -> BroadcastOptions {
    let flags = v.and_then(|v| v.get("flags"));
    BroadcastOptions {
        rooms: rooms_of(v.and_then(|v| v.get("rooms"))),
        except: rooms_of(v.and_then(|v| v.get("except"))),
        flags: BroadcastFlags {
            volatile: flags.and_then(|f| f.get("volatile")).is_some_and(is_true),
            local: true,
            compress: flags
                .and_then(|f| f.get("compress"))
                .and_then(Value::as_bool)
                != Some(false),
        },
    }
}

/// An event packet as the wire carries it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WirePacket {
    /// The namespace.
    pub(crate) nsp: String,
    /// The event name.
    pub(crate) event: String,
    /// The arguments (received ones as a slice of the message, in the MessagePack form).
    pub(crate) args: Args,
}

/// Socket.IO packet types carried by the adapter.
const EVENT: u64 = 2;
const BINARY_EVENT: u64 = 5;

impl WirePacket {
    /// The packet of a broadcast (its arguments as they are, in either form).
    pub(crate) fn from_broadcast(packet: &BroadcastPacket) -> Self {
        WirePacket {
            nsp: packet.ns().to_owned(),
            event: packet.event_name().to_owned(),
            args: packet.args().clone(),
        }
    }

    /// About how many bytes the arguments take.
    fn size_hint(&self) -> usize {
        self.args
            .as_msgpack()
            .map_or(self.args.raw().len(), <[u8]>::len)
            + self.event.len()
            + self.nsp.len()
    }

    /// Writes the packet object `{type: 2, data: [event, ...args], nsp}`; MessagePack
    /// arguments are copied as they are, JSON ones converted (binary as `bin`).
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let args = self.args.to_msgpack()?;
        write::map_len(out, 3);
        write::str(out, "type");
        write::uint(out, EVENT);
        write::str(out, "data");
        write::array_len(out, write::count(self.args.len() + 1));
        write::str(out, &self.event);
        out.extend_from_slice(&args);
        write::str(out, "nsp");
        write::str(out, &self.nsp);
        Ok(())
    }

    /// Reads a packet object from clean MessagePack, its arguments kept as a slice of
    /// `clean`. A missing `nsp` is `/`, as in Node; only events (plain or binary) are
    /// accepted.
    fn read(clean: &Bytes, r: &mut Reader<'_>) -> Result<Self, String> {
        let n = r.map_len().ok_or("the packet is not a map")?;
        let mut ty = None;
        let mut nsp = None;
        let mut data = None;
        for _ in 0..n {
            let (key, _) = r.str().ok_or("a packet key is not a string")?;
            match key {
                "type" => ty = r.number(),
                "nsp" if r.nil() => {}
                "nsp" => nsp = Some(r.str().ok_or("the namespace is not a string")?.0.to_owned()),
                "data" => data = r.skip(),
                _ => {
                    r.skip().ok_or("malformed packet")?;
                }
            }
        }
        let ty = ty.and_then(|t| match t {
            msgpack::read::Number::U(n) => Some(n),
            _ => None,
        });
        if ty != Some(EVENT) && ty != Some(BINARY_EVENT) {
            return Err(format!("not an event packet (type {ty:?})"));
        }
        let data = data.ok_or("the packet has no data array")?;
        let mut d = Reader::new(&clean[data.clone()]);
        let len = d.array_len().ok_or("the packet has no data array")? as usize;
        if len == 0 {
            return Err("the packet has no event name".to_owned());
        }
        let event = match d.str() {
            Some((s, _)) => s.to_owned(),
            None => match d.number() {
                Some(msgpack::read::Number::U(n)) => n.to_string(),
                Some(msgpack::read::Number::I(n)) => n.to_string(),
                _ => return Err("the event name is not a string".to_owned()),
            },
        };
        let args = clean.slice(data.start + d.pos()..data.end);
        Ok(WirePacket {
            nsp: nsp.unwrap_or_else(|| "/".to_owned()),
            event,
            args: Args::from_msgpack(args, len - 1),
        })
    }

    /// Reads a packet object another server sent inside a request (already a value).
    pub(crate) fn from_value(v: &Value) -> Result<Self, String> {
        let bytes = Bytes::from(msgpack::ser::to_vec(v).map_err(|e| e.to_string())?);
        Self::read(&bytes, &mut Reader::new(&bytes))
    }

    /// The packet as a broadcast to this server's clients, with an ack id.
    pub(crate) fn to_broadcast(&self, ack: Option<u64>) -> BroadcastPacket {
        BroadcastPacket::from_args(self.nsp.clone(), self.event.clone(), self.args.clone(), ack)
    }
}

/// A broadcast message: `[uid, packet, opts]`.
pub(crate) fn encode_broadcast(
    uid: &str,
    packet: &WirePacket,
    opts: &BroadcastOptions,
) -> Result<Bytes, EncodeError> {
    let mut out = Vec::with_capacity(96 + packet.size_hint());
    write::array_len(&mut out, 3);
    write::str(&mut out, uid);
    packet.write(&mut out)?;
    msgpack::ser::write_value(&mut out, &broadcast_opts_value(opts, None))?;
    Ok(Bytes::from(out))
}

/// A broadcast with acknowledgements: `{uid, requestId, type: 7, packet, opts}`.
pub(crate) fn encode_broadcast_request(
    uid: &str,
    id: &str,
    packet: &WirePacket,
    opts: &BroadcastOptions,
    timeout_ms: u64,
) -> Result<Bytes, EncodeError> {
    let mut out = Vec::with_capacity(128 + packet.size_hint());
    write::map_len(&mut out, 5);
    write::str(&mut out, "uid");
    write::str(&mut out, uid);
    write::str(&mut out, "requestId");
    write::str(&mut out, id);
    write::str(&mut out, "type");
    write::uint(&mut out, kind::BROADCAST);
    write::str(&mut out, "packet");
    packet.write(&mut out)?;
    write::str(&mut out, "opts");
    msgpack::ser::write_value(&mut out, &broadcast_opts_value(opts, Some(timeout_ms)))?;
    Ok(Bytes::from(out))
}

/// One client's acknowledgement of another server's broadcast:
/// `{type: 9, requestId, packet}`, `packet` being the acknowledgement's first argument
/// (what Node hands over), absent when it had none.
pub(crate) fn encode_broadcast_ack(id: &str, args: &Args) -> Result<Bytes, EncodeError> {
    let values = args.to_msgpack()?;
    let first = Reader::new(&values).skip();
    let mut out = Vec::with_capacity(48 + values.len());
    write::map_len(&mut out, 2 + u32::from(first.is_some()));
    write::str(&mut out, "type");
    write::uint(&mut out, kind::BROADCAST_ACK);
    write::str(&mut out, "requestId");
    write::str(&mut out, id);
    if let Some(first) = first {
        write::str(&mut out, "packet");
        out.extend_from_slice(&values[first]);
    }
    Ok(Bytes::from(out))
}

/// The arguments of a received acknowledgement of a broadcast: its `packet`, or none.
pub(crate) fn broadcast_ack_args(packet: Option<&Value>) -> Result<Args, EncodeError> {
    match packet {
        None => Ok(Args::new()),
        Some(v) => Args::from_serialize_with(Parser::MsgPack, &(v,)),
    }
}

/// A received broadcast message.
#[derive(Debug)]
pub(crate) struct IncomingBroadcast {
    pub(crate) uid: String,
    pub(crate) packet: WirePacket,
    pub(crate) opts: BroadcastOptions,
}

/// Reads a broadcast message; the packet's arguments stay a slice of it.
pub(crate) fn decode_broadcast(payload: &Bytes) -> Result<IncomingBroadcast, String> {
    let clean = clean(payload)?;
    let mut r = Reader::new(&clean);
    if r.array_len() != Some(3) {
        return Err("not a [uid, packet, opts] triple".to_owned());
    }
    let uid = match r.str() {
        Some((s, _)) => s.to_owned(),
        None => {
            r.skip().ok_or("malformed message")?;
            String::new()
        }
    };
    let packet = WirePacket::read(&clean, &mut r)?;
    let opts = r.skip().ok_or("malformed message")?;
    let opts: Value = msgpack::read::from_slice(r.bytes(opts)).map_err(|e| e.to_string())?;
    Ok(IncomingBroadcast {
        uid,
        packet,
        opts: read_opts(Some(&opts)),
    })
}

/// A random id of `n` characters from `[A-Za-z0-9]` (Node uses 6 for server and request ids).
pub(crate) fn random_id(n: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = vec![0u8; n];
    if getrandom::fill(&mut raw).is_err() {
        // The OS random source failed: fall back to the clock, still unique enough to tell
        // servers apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    raw.iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
