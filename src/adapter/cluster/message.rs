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

use base64::Engine as _;
use bytes::Bytes;

use crate::adapter::redis::msgpack::{self, MsgValue};
use crate::adapter::redis::wire::{self, WirePacket};
use crate::adapter::{BroadcastOptions, Room};

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
    pub(crate) data: Option<MsgValue>,
}

fn opts_value(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> MsgValue {
    wire::broadcast_opts_value(opts, timeout_ms)
}

fn rooms_value(rooms: &[Room]) -> MsgValue {
    MsgValue::Array(rooms.iter().map(|r| MsgValue::Str(r.to_string())).collect())
}

impl Message {
    fn new(kind: u64, uid: &str, nsp: &str, data: Option<MsgValue>) -> Self {
        Message {
            kind,
            uid: uid.to_owned(),
            nsp: nsp.to_owned(),
            data,
        }
    }

    /// A broadcast: `{packet, opts}`, or `{packet, requestId, opts}` with acknowledgements
    /// (`timeout_ms` is then the operator's timeout, in the flags).
    pub(crate) fn broadcast(
        uid: &str,
        nsp: &str,
        packet: &WirePacket,
        opts: &BroadcastOptions,
        ack: Option<(&str, u64)>,
    ) -> Self {
        let mut data = Vec::with_capacity(packet.args.len() + 1);
        data.push(MsgValue::Str(packet.event.clone()));
        data.extend(packet.args.iter().cloned());
        let packet = MsgValue::map([
            ("type", MsgValue::UInt(EVENT)),
            ("data", MsgValue::Array(data)),
        ]);
        let body = match ack {
            None => MsgValue::map([("packet", packet), ("opts", opts_value(opts, None))]),
            Some((request_id, timeout_ms)) => MsgValue::map([
                ("packet", packet),
                ("requestId", MsgValue::Str(request_id.to_owned())),
                ("opts", opts_value(opts, Some(timeout_ms))),
            ]),
        };
        Self::new(kind::BROADCAST, uid, nsp, Some(body))
    }

    /// Targeted sockets join (`join`) or leave rooms: `{opts, rooms}`.
    pub(crate) fn sockets_rooms(
        uid: &str,
        nsp: &str,
        join: bool,
        opts: &BroadcastOptions,
        rooms: &[Room],
    ) -> Self {
        let body = MsgValue::map([
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
        let body = MsgValue::map([
            ("opts", opts_value(opts, None)),
            ("close", MsgValue::Bool(close)),
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
        let body = MsgValue::map([
            ("opts", opts_value(opts, None)),
            ("requestId", MsgValue::Str(request_id.to_owned())),
        ]);
        Self::new(kind::FETCH_SOCKETS, uid, nsp, Some(body))
    }

    /// The answer to a fetch: `{requestId, sockets: [{id, handshake, rooms, data}]}`.
    pub(crate) fn fetch_sockets_response(
        uid: &str,
        nsp: &str,
        request_id: &str,
        sockets: MsgValue,
    ) -> Self {
        let body = MsgValue::map([
            ("requestId", MsgValue::Str(request_id.to_owned())),
            ("sockets", sockets),
        ]);
        Self::new(kind::FETCH_SOCKETS_RESPONSE, uid, nsp, Some(body))
    }

    /// A server-side event: `{packet: [event, ...args]}` or `{requestId, packet}`.
    pub(crate) fn server_side_emit(
        uid: &str,
        nsp: &str,
        packet: MsgValue,
        request_id: Option<&str>,
    ) -> Self {
        let body = match request_id {
            None => MsgValue::map([("packet", packet)]),
            Some(id) => MsgValue::map([
                ("requestId", MsgValue::Str(id.to_owned())),
                ("packet", packet),
            ]),
        };
        Self::new(kind::SERVER_SIDE_EMIT, uid, nsp, Some(body))
    }

    /// A response carrying one value: `{requestId, packet}` (types 10 and 12).
    pub(crate) fn response_packet(
        kind: u64,
        uid: &str,
        nsp: &str,
        request_id: &str,
        packet: MsgValue,
    ) -> Self {
        let body = MsgValue::map([
            ("requestId", MsgValue::Str(request_id.to_owned())),
            ("packet", packet),
        ]);
        Self::new(kind, uid, nsp, Some(body))
    }

    /// How many clients a broadcast with acknowledgements reached here.
    pub(crate) fn client_count(uid: &str, nsp: &str, request_id: &str, n: usize) -> Self {
        let body = MsgValue::map([
            ("requestId", MsgValue::Str(request_id.to_owned())),
            ("clientCount", MsgValue::UInt(n as u64)),
        ]);
        Self::new(kind::BROADCAST_CLIENT_COUNT, uid, nsp, Some(body))
    }

    /// A value of the data map.
    pub(crate) fn get(&self, key: &str) -> Option<&MsgValue> {
        self.data.as_ref().and_then(|d| d.get(key))
    }

    /// The request id (Node's are strings; numbers are tolerated).
    pub(crate) fn request_id(&self) -> Option<String> {
        match self.get("requestId")? {
            MsgValue::Str(s) => Some(s.clone()),
            MsgValue::UInt(n) => Some(n.to_string()),
            MsgValue::Int(n) => Some(n.to_string()),
            _ => None,
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
            .and_then(MsgValue::as_u64)
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

    /// The envelope `{type, data, uid, nsp}` (key order as Node writes it).
    pub(crate) fn to_value(&self) -> MsgValue {
        let mut entries = Vec::with_capacity(4);
        entries.push(("type", MsgValue::UInt(self.kind)));
        if let Some(d) = &self.data {
            entries.push(("data", d.clone()));
        }
        entries.push(("uid", MsgValue::Str(self.uid.clone())));
        entries.push(("nsp", MsgValue::Str(self.nsp.clone())));
        MsgValue::map(entries)
    }

    /// Reads an envelope.
    pub(crate) fn from_value(v: MsgValue) -> Result<Self, String> {
        let MsgValue::Map(entries) = v else {
            return Err("the message is not a map".to_owned());
        };
        let (mut kind, mut uid, mut nsp, mut data) = (None, None, None, None);
        for (k, v) in entries {
            match (k.as_str(), v) {
                (Some("type"), v) => kind = v.as_u64(),
                (Some("uid"), MsgValue::Str(s)) => uid = Some(s),
                (Some("nsp"), MsgValue::Str(s)) => nsp = Some(s),
                (Some("data"), MsgValue::Nil | MsgValue::Undefined) => {}
                (Some("data"), v) => data = Some(v),
                _ => {}
            }
        }
        Ok(Message {
            kind: kind.ok_or("the message has no numeric type")?,
            uid: uid.ok_or("the message has no uid")?,
            nsp: nsp.ok_or("the message has no namespace")?,
            data,
        })
    }

    /// The envelope as MessagePack.
    pub(crate) fn encode_msgpack(&self) -> Bytes {
        wire::to_msgpack(&self.to_value())
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
        Self::from_value(msgpack::decode(payload).map_err(|e| e.to_string())?)
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
                base64::engine::general_purpose::STANDARD.encode(wire::to_msgpack(d))
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
                serde_json::from_slice::<MsgValue>(d)
                    .map_err(|e| format!("the entry's data is not JSON: {e}"))?,
            ),
            Some(d) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .map_err(|e| format!("the entry's data is not base64: {e}"))?;
                Some(msgpack::decode(&Bytes::from(raw)).map_err(|e| e.to_string())?)
            }
        };
        Ok(Message::new(kind, uid, nsp, data))
    }
}

/// JSON text of a value (binary, which the callers never have here, as number arrays).
fn json_text(v: &MsgValue) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".to_owned())
}

/// Whether a value holds binary anywhere.
pub(crate) fn has_binary(v: &MsgValue) -> bool {
    match v {
        MsgValue::Bin(_) | MsgValue::Ext(..) => true,
        MsgValue::Array(items) => items.iter().any(has_binary),
        MsgValue::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
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
mod tests {
    use super::*;
    use crate::adapter::BroadcastFlags;

    fn packet(args: Vec<MsgValue>) -> WirePacket {
        WirePacket {
            nsp: "/".into(),
            event: "ev".into(),
            args,
        }
    }

    #[test]
    fn broadcasts_are_written_as_node_writes_them() {
        let m = Message::broadcast(
            "c73405d6c8976005",
            "/",
            &packet(vec![MsgValue::UInt(1)]),
            &BroadcastOptions {
                rooms: vec!["room1".into()],
                ..Default::default()
            },
            None,
        );
        assert_eq!(
            m.encode_json_or_msgpack(),
            Bytes::from_static(
                br#"{"type":3,"data":{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"c73405d6c8976005","nsp":"/"}"#
            )
        );
        let fields = m.stream_fields(false);
        let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["uid", "nsp", "type", "data"]);
        assert_eq!(fields[2].1, Bytes::from_static(b"3"));
        assert_eq!(
            fields[3].1,
            Bytes::from_static(
                br#"{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["room1"],"except":[],"flags":{}}}"#
            )
        );
        let back =
            Message::from_stream_fields("c73405d6c8976005", "/", "3", Some(&fields[3].1)).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.packet().unwrap(), packet(vec![MsgValue::UInt(1)]));
        assert_eq!(back.opts().rooms, vec![Room::from("room1")]);
        assert!(back.opts().flags.local);
    }

    #[test]
    fn binary_goes_as_messagepack() {
        let bin = MsgValue::Bin(Bytes::from_static(&[1, 2]));
        let m = Message::broadcast(
            "u",
            "/chat",
            &packet(vec![bin.clone()]),
            &BroadcastOptions::default(),
            None,
        );
        assert!(m.has_binary());
        let sharded = m.encode_json_or_msgpack();
        assert_eq!(sharded[0], 0x84, "a map of four entries");
        assert_eq!(Message::decode(&sharded).unwrap(), m);
        assert_eq!(Message::decode_msgpack(&m.encode_msgpack()).unwrap(), m);
        let fields = m.stream_fields(false);
        assert_ne!(fields[3].1[0], b'{');
        let back = Message::from_stream_fields("u", "/chat", "3", Some(&fields[3].1)).unwrap();
        assert_eq!(back.packet().unwrap().args, vec![bin]);
        // Node's capture of a binary stream entry reads back.
        let node = b"gqZwYWNrZXSCpHR5cGUCpGRhdGGTpm1pc3NlZAHEAgkIpG9wdHODpXJvb21zkaVyb29tMaZleGNlcHSQpWZsYWdzgA==";
        let m = Message::from_stream_fields("x", "/", "3", Some(node)).unwrap();
        let p = m.packet().unwrap();
        assert_eq!(p.event, "missed");
        assert_eq!(
            p.args,
            vec![
                MsgValue::UInt(1),
                MsgValue::Bin(Bytes::from_static(&[9, 8]))
            ]
        );
        assert_eq!(m.opts().rooms, vec![Room::from("room1")]);
        // Without binary checks, JSON always.
        assert_eq!(m.stream_fields(true)[3].1[0], b'{');
    }

    #[test]
    fn acknowledged_broadcasts_carry_the_request_and_timeout() {
        let opts = BroadcastOptions {
            flags: BroadcastFlags {
                volatile: true,
                compress: false,
                local: false,
            },
            ..Default::default()
        };
        let m = Message::broadcast("u", "/", &packet(vec![]), &opts, Some(("abc", 500)));
        assert_eq!(m.request_id().as_deref(), Some("abc"));
        assert_eq!(m.ack_timeout_ms(), Some(500));
        let text = m.encode_json_or_msgpack();
        assert!(
            std::str::from_utf8(&text)
                .unwrap()
                .contains(r#""flags":{"volatile":true,"compress":false,"timeout":500}"#),
            "{text:?}"
        );
        let back = Message::decode(&text).unwrap();
        let o = back.opts();
        assert!(o.flags.volatile && !o.flags.compress);
    }

    #[test]
    fn hostile_messages_are_errors() {
        for bad in [
            &b"[1,2]"[..],
            br#"{"type":"x","uid":"u","nsp":"/"}"#,
            br#"{"type":3,"nsp":"/"}"#,
            br#"{"type":3,"uid":"u"}"#,
            br#"{"type":3,"uid":1,"nsp":"/"}"#,
            b"\xc1",
            b"{",
        ] {
            assert!(
                Message::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(Message::from_stream_fields("u", "/", "three", None).is_err());
        assert!(Message::from_stream_fields("u", "/", "3", Some(b"!!not base64")).is_err());
        assert!(Message::from_stream_fields("u", "/", "3", Some(b"{bad")).is_err());
        // A message without data reads; its packet does not.
        let m = Message::decode(&Bytes::from_static(br#"{"type":3,"uid":"u","nsp":"/"}"#)).unwrap();
        assert!(m.packet().is_err());
        assert!(m.request_id().is_none());
    }

    /// Mutated and random inputs never panic a decoder (a fixed-seed xorshift; bounded).
    #[test]
    fn decoders_survive_mutated_input() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: Vec<Vec<u8>> = {
            let m = Message::broadcast(
                "u",
                "/",
                &packet(vec![
                    MsgValue::Bin(Bytes::from_static(&[1])),
                    MsgValue::UInt(7),
                ]),
                &BroadcastOptions {
                    rooms: vec!["r".into()],
                    except: vec!["e".into()],
                    ..Default::default()
                },
                Some(("id", 5)),
            );
            let plain = Message::broadcast(
                "u",
                "/",
                &packet(vec![]),
                &BroadcastOptions::default(),
                None,
            );
            vec![
                m.encode_msgpack().to_vec(),
                m.encode_json_or_msgpack().to_vec(),
                plain.encode_json_or_msgpack().to_vec(),
                m.stream_fields(false)[3].1.to_vec(),
                plain.stream_fields(false)[3].1.to_vec(),
            ]
        };
        for i in 0..20_000 {
            let mut input = seeds[i % seeds.len()].clone();
            for _ in 0..(1 + next() % 4) {
                if input.is_empty() {
                    break;
                }
                let at = (next() as usize) % input.len();
                match next() % 4 {
                    0 => input[at] = next() as u8,
                    1 => input.truncate(at),
                    2 => input.insert(at, next() as u8),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            let bytes = Bytes::from(input.clone());
            if let Ok(m) = Message::decode(&bytes) {
                let _ = (
                    m.packet(),
                    m.opts(),
                    m.rooms(),
                    m.request_id(),
                    m.ack_timeout_ms(),
                );
                let _ = m.encode_json_or_msgpack();
            }
            if let Ok(m) = Message::decode_msgpack(&bytes) {
                let _ = (m.packet(), m.opts(), m.stream_fields(false));
            }
            if let Ok(m) = Message::from_stream_fields("u", "/", "3", Some(&input)) {
                let _ = (m.packet(), m.opts());
            }
        }
    }

    #[test]
    fn ids_are_sixteen_hex_digits() {
        let a = random_hex_id();
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, random_hex_id());
        assert!(kind::is_response(kind::BROADCAST_ACK));
        assert!(!kind::is_response(kind::BROADCAST));
    }
}
