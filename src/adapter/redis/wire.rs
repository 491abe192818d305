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

use super::msgpack::{self, MsgValue};
use crate::adapter::{BroadcastFlags, BroadcastOptions, Room};
use crate::protocol::{Args, BroadcastPacket, EncodeError};

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

/// Parses a message that is JSON when it starts with `{`, MessagePack otherwise.
pub(crate) fn parse_any(payload: &Bytes) -> Result<MsgValue, String> {
    if payload.first() == Some(&b'{') {
        serde_json::from_slice(payload).map_err(|e| format!("invalid JSON: {e}"))
    } else {
        msgpack::decode(payload).map_err(|e| e.to_string())
    }
}

/// Encodes a MessagePack message.
pub(crate) fn to_msgpack(v: &MsgValue) -> Bytes {
    let mut out = Vec::with_capacity(64);
    msgpack::encode(v, &mut out);
    Bytes::from(out)
}

/// Room names as the wire carries them (JavaScript rooms may be numbers).
pub(crate) fn rooms_of(v: Option<&MsgValue>) -> Vec<Room> {
    let Some(items) = v.and_then(MsgValue::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|r| match r {
            MsgValue::Str(s) => Some(Room::Owned(s.clone())),
            MsgValue::UInt(n) => Some(Room::Owned(n.to_string())),
            MsgValue::Int(n) => Some(Room::Owned(n.to_string())),
            MsgValue::Float(f) if f.is_finite() => Some(Room::Owned(f.to_string())),
            _ => None,
        })
        .collect()
}

fn rooms_value(rooms: &[Room]) -> MsgValue {
    MsgValue::Array(rooms.iter().map(|r| MsgValue::Str(r.to_string())).collect())
}

/// `{rooms, except}` of a request.
pub(crate) fn opts_value(opts: &BroadcastOptions) -> MsgValue {
    MsgValue::map([
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
pub(crate) fn broadcast_opts_value(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> MsgValue {
    let mut flags = Vec::new();
    if opts.flags.volatile {
        flags.push(("volatile", MsgValue::Bool(true)));
    }
    if !opts.flags.compress {
        flags.push(("compress", MsgValue::Bool(false)));
    }
    if let Some(ms) = timeout_ms {
        flags.push(("timeout", MsgValue::UInt(ms)));
    }
    MsgValue::map([
        ("rooms", rooms_value(&opts.rooms)),
        ("except", rooms_value(&dedup(&opts.except))),
        ("flags", MsgValue::map(flags)),
    ])
}

/// The targeting of a received message (`local`, as it runs here only now).
pub(crate) fn read_opts(v: Option<&MsgValue>) -> BroadcastOptions {
    let flags = v.and_then(|v| v.get("flags"));
    BroadcastOptions {
        rooms: rooms_of(v.and_then(|v| v.get("rooms"))),
        except: rooms_of(v.and_then(|v| v.get("except"))),
        flags: BroadcastFlags {
            volatile: flags
                .and_then(|f| f.get("volatile"))
                .is_some_and(MsgValue::is_true),
            local: true,
            compress: !matches!(
                flags.and_then(|f| f.get("compress")),
                Some(MsgValue::Bool(false))
            ),
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
    /// The arguments.
    pub(crate) args: Vec<MsgValue>,
}

/// Socket.IO packet types carried by the adapter.
const EVENT: u64 = 2;
const BINARY_EVENT: u64 = 5;

impl WirePacket {
    /// The packet of a broadcast, its arguments as values (binary ones stay binary).
    pub(crate) fn from_broadcast(packet: &BroadcastPacket) -> Result<Self, String> {
        Ok(WirePacket {
            nsp: packet.ns().to_owned(),
            event: packet.event_name().to_owned(),
            args: packet
                .args()
                .deserialize_all::<Vec<MsgValue>>()
                .map_err(|e| e.to_string())?,
        })
    }

    /// The packet object `{type: 2, data: [event, ...args], nsp}`.
    pub(crate) fn to_value(&self) -> MsgValue {
        let mut data = Vec::with_capacity(self.args.len() + 1);
        data.push(MsgValue::Str(self.event.clone()));
        data.extend(self.args.iter().cloned());
        MsgValue::map([
            ("type", MsgValue::UInt(EVENT)),
            ("data", MsgValue::Array(data)),
            ("nsp", MsgValue::Str(self.nsp.clone())),
        ])
    }

    /// Reads a packet object. A missing `nsp` is `/`, as in Node; only events (plain or
    /// binary) are accepted.
    pub(crate) fn from_value(v: &MsgValue) -> Result<Self, String> {
        let ty = v.get("type").and_then(MsgValue::as_u64);
        if ty != Some(EVENT) && ty != Some(BINARY_EVENT) {
            return Err(format!("not an event packet (type {ty:?})"));
        }
        let nsp = match v.get("nsp") {
            None | Some(MsgValue::Nil) | Some(MsgValue::Undefined) => "/".to_owned(),
            Some(MsgValue::Str(s)) => s.clone(),
            Some(_) => return Err("the namespace is not a string".to_owned()),
        };
        let data = v
            .get("data")
            .and_then(MsgValue::as_array)
            .ok_or("the packet has no data array")?;
        let (event, args) = data.split_first().ok_or("the packet has no event name")?;
        let event = match event {
            MsgValue::Str(s) => s.clone(),
            MsgValue::UInt(n) => n.to_string(),
            MsgValue::Int(n) => n.to_string(),
            _ => return Err("the event name is not a string".to_owned()),
        };
        Ok(WirePacket {
            nsp,
            event,
            args: args.to_vec(),
        })
    }

    /// The packet as a broadcast to this server's clients, with an ack id.
    pub(crate) fn to_broadcast(&self, ack: Option<u64>) -> Result<BroadcastPacket, EncodeError> {
        let args = Args::from_serialize(&SpreadRef(&self.args))?;
        Ok(BroadcastPacket::from_args(
            self.nsp.clone(),
            self.event.clone(),
            args,
            ack,
        ))
    }
}

/// Values sent as several arguments (a tuple), borrowed.
struct SpreadRef<'a>(&'a [MsgValue]);

impl serde::Serialize for SpreadRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// A broadcast message: `[uid, packet, opts]`.
pub(crate) fn encode_broadcast(uid: &str, packet: &WirePacket, opts: &BroadcastOptions) -> Bytes {
    to_msgpack(&MsgValue::Array(vec![
        MsgValue::Str(uid.to_owned()),
        packet.to_value(),
        broadcast_opts_value(opts, None),
    ]))
}

/// A received broadcast message.
#[derive(Debug)]
pub(crate) struct IncomingBroadcast {
    pub(crate) uid: String,
    pub(crate) packet: WirePacket,
    pub(crate) opts: BroadcastOptions,
}

/// Reads a broadcast message.
pub(crate) fn decode_broadcast(payload: &Bytes) -> Result<IncomingBroadcast, String> {
    let v = msgpack::decode(payload).map_err(|e| e.to_string())?;
    let [uid, packet, opts] = v.as_array().ok_or("not an array")? else {
        return Err("not a [uid, packet, opts] triple".to_owned());
    };
    Ok(IncomingBroadcast {
        uid: uid.as_str().unwrap_or_default().to_owned(),
        packet: WirePacket::from_value(packet)?,
        opts: read_opts(Some(opts)),
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
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_node() {
        let c = Channels::new("socket.io", "/chat", "abc123");
        assert_eq!(c.broadcast, "socket.io#/chat#");
        assert_eq!(c.request, "socket.io-request#/chat#");
        assert_eq!(c.response, "socket.io-response#/chat#");
        assert_eq!(c.own_response, "socket.io-response#/chat#abc123#");
        assert_eq!(c.broadcast_pattern(), "socket.io#/chat#*");
        assert_eq!(
            Channels::new("k", "/a*[b]", "u").broadcast_pattern(),
            "k#/a\\*\\[b\\]#*"
        );
        let mut opts = BroadcastOptions::default();
        assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#");
        opts.rooms.push("r1".into());
        assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#r1#");
        opts.rooms.push("r2".into());
        assert_eq!(c.broadcast_channel(&opts), "socket.io#/chat#");
        assert_eq!(c.room_of("socket.io#/chat#r1#"), Some("r1"));
        assert_eq!(c.room_of("socket.io#/chat#"), None);
        assert_eq!(c.room_of("socket.io#/other#"), None);
    }

    #[test]
    fn encoded_events_round_trip_through_the_wire_packet() {
        let data = (
            "text",
            Bytes::from_static(&[1, 2, 3]),
            serde_json::json!({"n": 1, "f": 1.5, "nested": [null, true]}),
        );
        let codec = crate::protocol::Codec::default();
        let broadcast = BroadcastPacket::event("/chat", "ev", &data, None).unwrap();
        let encoded = broadcast.encoded(codec).clone();
        let packet = WirePacket::from_broadcast(&broadcast).unwrap();
        assert_eq!(packet.nsp, "/chat");
        assert_eq!(packet.event, "ev");
        assert_eq!(
            packet.args[1],
            MsgValue::Bin(Bytes::from_static(&[1, 2, 3]))
        );
        let msg = encode_broadcast("uid1", &packet, &BroadcastOptions::default());
        let back = decode_broadcast(&msg).unwrap();
        assert_eq!(back.uid, "uid1");
        assert_eq!(back.packet, packet);
        let again = back.packet.to_broadcast(None).unwrap();
        assert_eq!(again.encoded(codec), &encoded);
        let with_ack = back.packet.to_broadcast(Some(7)).unwrap();
        let text = with_ack.encoded(codec).text().unwrap();
        assert!(text.as_str().starts_with("51-/chat,7["), "{text}");
    }

    #[test]
    fn options_and_flags_round_trip() {
        let opts = BroadcastOptions {
            rooms: vec!["a".into(), "b".into()],
            except: vec!["c".into(), "c".into()],
            flags: BroadcastFlags {
                volatile: true,
                local: false,
                compress: false,
            },
        };
        let v = broadcast_opts_value(&opts, Some(1500));
        let back = read_opts(Some(&v));
        assert_eq!(back.rooms, opts.rooms);
        assert_eq!(back.except, vec![Room::from("c")]);
        assert!(back.flags.volatile && !back.flags.compress && back.flags.local);
        // Numeric rooms (JavaScript allows them) become text.
        let v: MsgValue = serde_json::from_str(r#"{"rooms":[5,"x"],"except":[]}"#).unwrap();
        assert_eq!(
            read_opts(Some(&v)).rooms,
            vec![Room::from("5"), Room::from("x")]
        );
        assert_eq!(
            read_opts(None),
            BroadcastOptions {
                flags: BroadcastFlags {
                    local: true,
                    ..Default::default()
                },
                ..Default::default()
            }
        );
    }

    #[test]
    fn hostile_broadcasts_are_errors() {
        for v in [
            MsgValue::Nil,
            MsgValue::Array(vec![]),
            MsgValue::Array(vec![MsgValue::Nil, MsgValue::Nil, MsgValue::Nil]),
            MsgValue::Array(vec![
                MsgValue::Str("u".into()),
                MsgValue::map([("type", MsgValue::UInt(2))]),
                MsgValue::Nil,
            ]),
            MsgValue::Array(vec![
                MsgValue::Str("u".into()),
                MsgValue::map([
                    ("type", MsgValue::UInt(2)),
                    ("data", MsgValue::Array(vec![])),
                ]),
                MsgValue::Nil,
            ]),
            MsgValue::Array(vec![
                MsgValue::Str("u".into()),
                MsgValue::map([
                    ("type", MsgValue::UInt(1)),
                    ("data", MsgValue::Array(vec![MsgValue::Str("x".into())])),
                ]),
                MsgValue::Nil,
            ]),
        ] {
            assert!(decode_broadcast(&to_msgpack(&v)).is_err(), "{v:?}");
        }
        assert!(decode_broadcast(&Bytes::from_static(b"\xdd\xff\xff\xff\xff")).is_err());
        assert!(parse_any(&Bytes::from_static(b"{not json")).is_err());
    }

    #[test]
    fn random_ids_use_the_alphabet() {
        let a = random_id(6);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_id(16), random_id(16));
    }
}
