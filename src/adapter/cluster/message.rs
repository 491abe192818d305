//! The messages of socket.io-adapter's `ClusterAdapter` (message types 1-13), the protocol
//! shared by Node's `@socket.io/redis-streams-adapter` 0.3 and the sharded adapter of
//! `@socket.io/redis-adapter` 8.3, and their three encodings:
//!
//! - the envelope `{type, data, uid, nsp}` as JSON text, or as MessagePack when its data
//!   holds binary (the sharded adapter; [`Message::encode_json_or_msgpack`]);
//! - the envelope as MessagePack always (the streams adapter's pub/sub part;
//!   [`Message::encode_msgpack`]);
//! - a stream entry `uid, nsp, type, data` where `data` is JSON text, or the standard
//!   base64 of its MessagePack encoding when it holds binary (the streams adapter's
//!   stream; [`Message::stream_fields`]).
//!
//! Decoders are lenient about what they do not need (key order, missing `except` or
//! `flags`, extra fields) and strict about what they do: a message without a numeric
//! `type`, a string `uid` or a string `nsp` is an error.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;

use crate::adapter::redis::wire::{self, WirePacket};
use crate::adapter::{BroadcastOptions, Room};
use crate::protocol::{EncodeError, Value};

/// Reads untrusted MessagePack as a value: the Redis adapter's reading (the crate's codec,
/// with the same depth limit).
pub(crate) use wire::parse_msgpack as msgpack_value;
pub(crate) use wire::to_msgpack;

/// The message types.
pub(crate) mod kind {
    /// A server started (heartbeat variant only; never sent by the Redis adapters).
    pub(crate) const INITIAL_HEARTBEAT: u64 = 1;
    /// A server is alive (heartbeat variant only).
    pub(crate) const HEARTBEAT: u64 = 2;
    /// A broadcast; with a `requestId` when the clients must acknowledge it.
    pub(crate) const BROADCAST: u64 = 3;
    /// Targeted sockets join rooms.
    pub(crate) const SOCKETS_JOIN: u64 = 4;
    /// Targeted sockets leave rooms.
    pub(crate) const SOCKETS_LEAVE: u64 = 5;
    /// Targeted sockets are disconnected.
    pub(crate) const DISCONNECT_SOCKETS: u64 = 6;
    /// A request for the targeted sockets' details.
    pub(crate) const FETCH_SOCKETS: u64 = 7;
    /// The answer to a [`FETCH_SOCKETS`].
    pub(crate) const FETCH_SOCKETS_RESPONSE: u64 = 8;
    /// An event between servers (`serverSideEmit`), with a `requestId` when it wants answers.
    pub(crate) const SERVER_SIDE_EMIT: u64 = 9;
    /// One server's answer to a [`SERVER_SIDE_EMIT`].
    pub(crate) const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    /// How many clients a server reached with a broadcast with acknowledgements.
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 11;
    /// One client's acknowledgement of a broadcast.
    pub(crate) const BROADCAST_ACK: u64 = 12;
    /// A server stopped (heartbeat variant only).
    pub(crate) const ADAPTER_CLOSE: u64 = 13;

    /// Whether a message of this type is a response to one server's request.
    pub(crate) fn is_response(kind: u64) -> bool {
        matches!(
            kind,
            FETCH_SOCKETS_RESPONSE
                | SERVER_SIDE_EMIT_RESPONSE
                | BROADCAST_CLIENT_COUNT
                | BROADCAST_ACK
        )
    }
}

/// Socket.IO's EVENT packet type, the only one a broadcast carries.
const EVENT: u64 = 2;

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    /// The message type (see [`kind`]).
    pub(crate) kind: u64,
    /// The sending server's id (16 hexadecimal digits; `emitter` for an emitter).
    pub(crate) uid: String,
    /// The namespace.
    pub(crate) nsp: String,
    /// The type's data (a map), when it has any.
    pub(crate) data: Option<Value>,
}

fn opts_value(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Value {
    wire::broadcast_opts_value(opts, timeout_ms)
}

fn rooms_value(rooms: &[Room]) -> Value {
    Value::Array(rooms.iter().map(|r| text(r)).collect())
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

impl Message {
    fn new(kind: u64, uid: &str, nsp: &str, data: Option<Value>) -> Self {
        Message {
            kind,
            uid: uid.to_owned(),
            nsp: nsp.to_owned(),
            data,
        }
    }

    /// A broadcast: `{packet, opts}`, or `{packet, requestId, opts}` with acknowledgements
    /// (`timeout_ms` is then the operator's timeout, in the flags). The packet is Node's
    /// `{type: 2, data: [event, ...args]}`, binary arguments as binary.
    pub(crate) fn broadcast(
        uid: &str,
        nsp: &str,
        packet: &WirePacket,
        opts: &BroadcastOptions,
        ack: Option<(&str, u64)>,
    ) -> Result<Self, EncodeError> {
        let args: Vec<Value> = packet.args.deserialize_all().map_err(EncodeError::custom)?;
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(text(&packet.event));
        data.extend(args);
        let packet = wire::object([("type", Value::from(EVENT)), ("data", Value::Array(data))]);
        let body = match ack {
            None => wire::object([("packet", packet), ("opts", opts_value(opts, None))]),
            Some((request_id, timeout_ms)) => wire::object([
                ("packet", packet),
                ("requestId", text(request_id)),
                ("opts", opts_value(opts, Some(timeout_ms))),
            ]),
        };
        Ok(Self::new(kind::BROADCAST, uid, nsp, Some(body)))
    }

    /// Targeted sockets join (`join`) or leave rooms: `{opts, rooms}`.
    pub(crate) fn sockets_rooms(
        uid: &str,
        nsp: &str,
        join: bool,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Self {
        let body = wire::object([
            ("opts", opts_value(opts, None)),
            ("rooms", rooms_value(rooms)),
        ]);
        let kind = if join {
            kind::SOCKETS_JOIN
        } else {
            kind::SOCKETS_LEAVE
        };
        Self::new(kind, uid, nsp, Some(body))
    }

    /// Targeted sockets are disconnected: `{opts, close}`.
    pub(crate) fn disconnect_sockets(
        uid: &str,
        nsp: &str,
        opts: &BroadcastOptions,
        close: bool,
    ) -> Self {
        let body = wire::object([
            ("opts", opts_value(opts, None)),
            ("close", Value::Bool(close)),
        ]);
        Self::new(kind::DISCONNECT_SOCKETS, uid, nsp, Some(body))
    }

    /// A request for the targeted sockets: `{opts, requestId}`.
    pub(crate) fn fetch_sockets(
        uid: &str,
        nsp: &str,
        opts: &BroadcastOptions,
        request_id: &str,
    ) -> Self {
        let body = wire::object([
            ("opts", opts_value(opts, None)),
            ("requestId", text(request_id)),
        ]);
        Self::new(kind::FETCH_SOCKETS, uid, nsp, Some(body))
    }

    /// The answer to a fetch: `{requestId, sockets: [{id, handshake, rooms, data}]}`.
    pub(crate) fn fetch_sockets_response(
        uid: &str,
        nsp: &str,
        request_id: &str,
        sockets: Value,
    ) -> Self {
        let body = wire::object([("requestId", text(request_id)), ("sockets", sockets)]);
        Self::new(kind::FETCH_SOCKETS_RESPONSE, uid, nsp, Some(body))
    }

    /// A server-side event: `{packet: [event, ...args]}` or `{requestId, packet}`.
    pub(crate) fn server_side_emit(
        uid: &str,
        nsp: &str,
        packet: Value,
        request_id: Option<&str>,
    ) -> Self {
        let body = match request_id {
            None => wire::object([("packet", packet)]),
            Some(id) => wire::object([("requestId", text(id)), ("packet", packet)]),
        };
        Self::new(kind::SERVER_SIDE_EMIT, uid, nsp, Some(body))
    }

    /// A response carrying one value: `{requestId, packet}` (types 10 and 12).
    pub(crate) fn response_packet(
        kind: u64,
        uid: &str,
        nsp: &str,
        request_id: &str,
        packet: Value,
    ) -> Self {
        let body = wire::object([("requestId", text(request_id)), ("packet", packet)]);
        Self::new(kind, uid, nsp, Some(body))
    }

    /// How many clients a broadcast with acknowledgements reached here.
    pub(crate) fn client_count(uid: &str, nsp: &str, request_id: &str, n: usize) -> Self {
        let body = wire::object([
            ("requestId", text(request_id)),
            ("clientCount", Value::from(n as u64)),
        ]);
        Self::new(kind::BROADCAST_CLIENT_COUNT, uid, nsp, Some(body))
    }

    /// A value of the data map.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.data.as_ref().and_then(|d| d.get(key))
    }

    /// The request id (Node's are strings; whole numbers are tolerated).
    pub(crate) fn request_id(&self) -> Option<String> {
        match self.get("requestId")? {
            Value::String(s) => Some(s.clone()),
            v => wire::uint(v).map(|n| n.to_string()),
        }
    }

    /// The targeting of a received operation (flagged `local`: it runs here only now).
    pub(crate) fn opts(&self) -> BroadcastOptions {
        wire::read_opts(self.get("opts"))
    }

    /// The rooms of a join or leave.
    pub(crate) fn rooms(&self) -> Vec<Room> {
        wire::rooms_of(self.get("rooms"))
    }

    /// The packet of a broadcast, in this message's namespace.
    pub(crate) fn packet(&self) -> Result<WirePacket, String> {
        let v = self.get("packet").ok_or("the broadcast has no packet")?;
        // Node sends `{type: 2, data}` without `nsp` (the emitter adds it): the envelope's
        // namespace is the one that counts.
        let mut p = WirePacket::from_value(v)?;
        p.nsp.clone_from(&self.nsp);
        Ok(p)
    }

    /// The operator's acknowledgement timeout of a broadcast with acknowledgements.
    pub(crate) fn ack_timeout_ms(&self) -> Option<u64> {
        self.get("opts")
            .and_then(|o| o.get("flags"))
            .and_then(|f| f.get("timeout"))
            .and_then(wire::uint)
    }

    /// Whether Node's encoders look for binary in this type's data.
    fn may_contain_binary(&self) -> bool {
        matches!(
            self.kind,
            kind::BROADCAST
                | kind::FETCH_SOCKETS_RESPONSE
                | kind::SERVER_SIDE_EMIT
                | kind::SERVER_SIDE_EMIT_RESPONSE
                | kind::BROADCAST_ACK
        )
    }

    /// Whether the data holds binary.
    pub(crate) fn has_binary(&self) -> bool {
        self.data.as_ref().is_some_and(has_binary)
    }

    /// The envelope `{type, data, uid, nsp}`.
    pub(crate) fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("type".to_owned(), Value::from(self.kind));
        if let Some(d) = &self.data {
            m.insert("data".to_owned(), d.clone());
        }
        m.insert("uid".to_owned(), text(&self.uid));
        m.insert("nsp".to_owned(), text(&self.nsp));
        Value::Object(m)
    }

    /// Reads an envelope.
    pub(crate) fn from_value(v: Value) -> Result<Self, String> {
        let Value::Object(mut m) = v else {
            return Err("the message is not a map".to_owned());
        };
        let kind = m.get("type").and_then(wire::uint);
        let uid = match m.remove("uid") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let nsp = match m.remove("nsp") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let data = object_data(m.remove("data"))?;
        Ok(Message {
            kind: kind.ok_or("the message has no numeric type")?,
            uid: uid.ok_or("the message has no uid")?,
            nsp: nsp.ok_or("the message has no namespace")?,
            data,
        })
    }

    /// The envelope as MessagePack.
    pub(crate) fn encode_msgpack(&self) -> Bytes {
        to_msgpack(&self.to_value())
    }

    /// The envelope as JSON text, or as MessagePack when its data holds binary (the sharded
    /// adapter's choice).
    pub(crate) fn encode_json_or_msgpack(&self) -> Bytes {
        if self.may_contain_binary() && self.has_binary() {
            self.encode_msgpack()
        } else {
            Bytes::from(json_text(&self.to_value()))
        }
    }

    /// Reads an envelope that is JSON when it starts with `{`, MessagePack otherwise.
    pub(crate) fn decode(payload: &Bytes) -> Result<Self, String> {
        Self::from_value(wire::parse_any(payload)?)
    }

    /// Reads a MessagePack envelope (the streams adapter's pub/sub messages).
    pub(crate) fn decode_msgpack(payload: &Bytes) -> Result<Self, String> {
        Self::from_value(msgpack_value(payload)?)
    }

    /// The fields of the stream entry of this message, in Node's order: `uid`, `nsp`,
    /// `type` (decimal text) and `data` (JSON text, or base64 MessagePack when it holds
    /// binary and `only_plaintext` is off).
    pub(crate) fn stream_fields(&self, only_plaintext: bool) -> Vec<(&'static str, Bytes)> {
        let mut fields = vec![
            ("uid", Bytes::from(self.uid.clone())),
            ("nsp", Bytes::from(self.nsp.clone())),
            ("type", Bytes::from(self.kind.to_string())),
        ];
        if let Some(d) = &self.data {
            let text = if !only_plaintext && self.may_contain_binary() && has_binary(d) {
                base64::engine::general_purpose::STANDARD.encode(to_msgpack(d))
            } else {
                json_text(d)
            };
            fields.push(("data", Bytes::from(text)));
        }
        fields
    }

    /// Reads a stream entry's fields (`data` starting with `{` is JSON, anything else
    /// base64 MessagePack).
    pub(crate) fn from_stream_fields(
        uid: &str,
        nsp: &str,
        kind: &str,
        data: Option<&[u8]>,
    ) -> Result<Self, String> {
        let kind: u64 = kind
            .trim()
            .parse()
            .map_err(|_| format!("the entry's type is not a number: {kind:?}"))?;
        let data = match data {
            None | Some(b"") => None,
            Some(d) if d.first() == Some(&b'{') => Some(
                serde_json::from_slice::<Value>(d)
                    .map_err(|e| format!("the entry's data is not JSON: {e}"))?,
            ),
            Some(d) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map_err(|e| format!("the entry's data is not base64: {e}"))?;
                Some(msgpack_value(&Bytes::from(raw))?)
            }
        };
        Ok(Message::new(kind, uid, nsp, object_data(data)?))
    }
}

/// A message's `data`: absent, `null` (none) or a map; every message type's data is a map
/// (Node's adapters write nothing else, and could not read anything else back from a
/// stream entry, whose data is JSON only when it starts with `{`).
fn object_data(data: Option<Value>) -> Result<Option<Value>, String> {
    match data {
        None | Some(Value::Null) => Ok(None),
        Some(d @ Value::Object(_)) => Ok(Some(d)),
        Some(_) => Err("the message's data is not a map".to_owned()),
    }
}

/// JSON text of a value (binary, which the callers never have here, as number arrays).
fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned())
}

/// Whether a value holds binary anywhere.
pub(crate) fn has_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => true,
        Value::Array(items) => items.iter().any(has_binary),
        Value::Object(entries) => entries.values().any(has_binary),
        _ => false,
    }
}

/// A random id of 16 lowercase hexadecimal digits (8 random bytes), the form of Node's
/// server and request ids.
pub(crate) fn random_hex_id() -> String {
    let mut raw = [0u8; 8];
    if getrandom::fill(&mut raw).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        raw = (t as u64 ^ (t >> 64) as u64).to_le_bytes();
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
