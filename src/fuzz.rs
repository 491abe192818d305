//! Internal decoders as the fuzz targets (`fuzz/fuzz_targets/`) and their corpus replay
//! (`tests/fuzz_corpus.rs`) reach them. **Not API**: hidden from the docs, with no stability
//! promise; nothing here changes how the server behaves.
//!
//! Each function is a thin door onto the code the server runs on untrusted input, with
//! types of its own so that the internal ones stay private. The public decoders
//! ([`crate::protocol::Decoder`], [`crate::engine::Sid`]) need no door.

use bytes::Bytes;

use crate::engine::{Message, ProtocolVersion};

/// Engine.IO: packets, polling payloads, base64, the query.
pub mod engine {
    use super::*;
    use crate::engine::packet::{self, Outgoing};
    use crate::engine::query::{Param, Query};
    use crate::engine::version::{self, Protocol};

    /// An Engine.IO packet as the server decoded it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Packet {
        /// `0`.
        Open,
        /// `1`.
        Close,
        /// `2`, `2probe`.
        Ping {
            /// `2probe`.
            probe: bool,
        },
        /// `3`, `3probe`.
        Pong {
            /// `3probe`.
            probe: bool,
        },
        /// `4…` or a binary packet.
        Message(Message),
        /// `5`.
        Upgrade,
        /// `6`.
        Noop,
    }

    impl From<packet::Packet> for Packet {
        fn from(p: packet::Packet) -> Self {
            match p {
                packet::Packet::Open => Packet::Open,
                packet::Packet::Close => Packet::Close,
                packet::Packet::Ping { probe } => Packet::Ping { probe },
                packet::Packet::Pong { probe } => Packet::Pong { probe },
                packet::Packet::Message(s) => Packet::Message(Message::Text(s)),
                packet::Packet::Binary(b) => Packet::Message(Message::Binary(b)),
                packet::Packet::Upgrade => Packet::Upgrade,
                packet::Packet::Noop => Packet::Noop,
            }
        }
    }

    /// How a session reads and writes: an Engine.IO revision and, for Engine.IO 3, its
    /// framing (binary or base64, JSONP), as a handshake's query sets them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Framing(Protocol);

    /// A polling response body the server wrote, and how many of the given messages it
    /// holds.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PollBody {
        /// The body.
        pub body: Bytes,
        /// Its `Content-Type`.
        pub content_type: &'static str,
        /// How many messages went in (the rest did not fit).
        pub messages: usize,
    }

    impl Framing {
        /// Engine.IO 4.
        pub fn v4() -> Self {
            Framing(Protocol::V4)
        }

        /// The framing a handshake with this query gets (Engine.IO 3 served), as over
        /// polling or WebSocket; `None` when the handshake is refused.
        pub fn from_query(query: &str, polling: bool) -> Option<Self> {
            Protocol::negotiate(&Query::parse(query), polling, true)
                .ok()
                .map(Framing)
        }

        /// The Engine.IO revision.
        pub fn version(self) -> ProtocolVersion {
            self.0.version()
        }

        /// A WebSocket text frame, as the session decodes it.
        pub fn decode_ws_text(self, frame: Bytes) -> Result<Packet, String> {
            self.0
                .decode_ws_text(frame)
                .map(Packet::from)
                .map_err(|e| e.to_string())
        }

        /// A WebSocket binary frame, as the session decodes it.
        pub fn decode_ws_binary(self, frame: Bytes) -> Result<Packet, String> {
            self.0
                .decode_ws_binary(frame)
                .map(Packet::from)
                .map_err(|e| e.to_string())
        }

        /// A polling POST body (`octet_stream`: sent as `application/octet-stream`), each
        /// packet at most `max` bytes: the packets up to and including the first error (the
        /// session stops there), or the error of the body as a whole.
        pub fn decode_post(
            self,
            body: Bytes,
            octet_stream: bool,
            max: usize,
        ) -> Result<Vec<Result<Packet, String>>, String> {
            let content_type =
                octet_stream.then(|| http::HeaderValue::from_static("application/octet-stream"));
            let decoder = self
                .0
                .decode_post(body, content_type.as_ref(), max)
                .map_err(|e| e.to_string())?;
            Ok(decoder
                .map(|r| r.map(Packet::from).map_err(|e| e.to_string()))
                .collect())
        }

        /// The polling response the server writes for these messages within `max` bytes
        /// (the first always goes).
        pub fn encode_poll(self, messages: &[Message], max: usize) -> PollBody {
            let mut writer = self.0.payload_writer(max);
            let mut n = 0;
            for m in messages {
                if !writer.push(Outgoing::Message(m)) {
                    break;
                }
                n += 1;
            }
            let written = writer.finish();
            PollBody {
                body: written.body,
                content_type: written.content_type,
                messages: n,
            }
        }
    }

    /// A WebSocket text frame of Engine.IO 4, as the session decodes it.
    pub fn decode_ws_text(frame: Bytes) -> Result<Packet, String> {
        Framing::v4().decode_ws_text(frame)
    }

    /// A polling POST body of Engine.IO 4: the packets up to and including the first error
    /// (the session stops there), or the error of the body as a whole.
    pub fn decode_payload(body: Bytes) -> Result<Vec<Result<Packet, String>>, String> {
        Framing::v4().decode_post(body, false, usize::MAX)
    }

    /// The Engine.IO 4 polling payload the server writes for these messages (no limit).
    pub fn encode_payload(messages: &[Message]) -> Bytes {
        Framing::v4().encode_poll(messages, usize::MAX).body
    }

    /// The base64 of a binary polling packet (`b…`), decoded as the server does.
    pub fn decode_base64(text: &[u8]) -> Result<Bytes, String> {
        let mut body = Vec::with_capacity(text.len() + 1);
        body.push(b'b');
        body.extend_from_slice(text);
        let packets = decode_payload(Bytes::from(body))?;
        match packets.into_iter().next() {
            Some(Ok(Packet::Message(Message::Binary(b)))) => Ok(b),
            Some(Ok(other)) => Err(format!("not a binary packet: {other:?}")),
            Some(Err(e)) => Err(e),
            None => Err("no packet".to_owned()),
        }
    }

    /// One query parameter: missing, given once (raw value), or given more than once.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum QueryParam<'a> {
        /// Not given.
        Missing,
        /// Given once.
        One(&'a str),
        /// Given more than once.
        Many,
    }

    impl<'a> From<Param<'a>> for QueryParam<'a> {
        fn from(p: Param<'a>) -> Self {
            match p {
                Param::Missing => QueryParam::Missing,
                Param::One(v) => QueryParam::One(v),
                Param::Many => QueryParam::Many,
            }
        }
    }

    /// The query of an engine request, read as the router reads it: `EIO`, `transport`
    /// and `sid`.
    pub fn parse_query(query: &str) -> [QueryParam<'_>; 3] {
        let q = Query::parse(query);
        [q.eio.into(), q.transport.into(), q.sid.into()]
    }

    /// The `EIO` value, as the router reads it.
    pub fn parse_eio(value: &str) -> Option<ProtocolVersion> {
        version::parse_eio(value)
    }

    /// The handshake query as a socket's [`Handshake`](crate::Handshake) reads it
    /// (percent-decoded, the last value wins).
    pub fn parse_handshake_query(query: &str) -> std::collections::BTreeMap<String, String> {
        crate::util::parse_query(query)
    }

    /// Percent-decoding as the handshake query uses it.
    pub fn percent_decode(text: &str) -> String {
        crate::util::percent_decode(text)
    }
}

/// The Redis adapter: its MessagePack codec, and an adapter factory with no Redis behind it
/// so that messages can be handed to the real adapters of a server.
#[cfg(feature = "redis")]
pub mod redis {
    use super::*;
    use crate::adapter::redis::RedisAdapterFactory;
    use crate::adapter::redis::wire;
    use crate::protocol::Value;

    /// A MessagePack value as the adapter decodes it (the crate's one MessagePack codec:
    /// checked, `notepack.io`'s extensions rewritten, then read as a [`Value`]).
    #[derive(Debug, Clone, PartialEq)]
    pub struct MsgValue(Value);

    impl MsgValue {
        /// Decodes one MessagePack value that fills `input`, as the adapter decodes a
        /// message that does not start with `{` (those are JSON; a bare MessagePack value
        /// may start with `0x7b`, the integer 123, which no adapter message is).
        pub fn decode(input: &Bytes) -> Result<Self, String> {
            wire::parse_msgpack(input).map(MsgValue)
        }

        /// The adapter's encoding of the value.
        pub fn encode(&self) -> Vec<u8> {
            crate::msgpack::ser::to_vec(&self.0).unwrap_or_default()
        }

        /// The JSON the adapter hands to the Socket.IO encoder for this value.
        pub fn to_json(&self) -> Result<serde_json::Value, String> {
            serde_json::to_value(&self.0).map_err(|e| e.to_string())
        }
    }

    /// A Redis adapter factory whose driver has no connection: what the adapters publish
    /// is kept for [`published`](Self::published), messages come in through
    /// [`deliver`](Self::deliver), and `PUBSUB NUMSUB` answers `servers`.
    pub struct Detached {
        driver: std::sync::Arc<crate::adapter::redis::driver::Driver>,
        outbox: std::sync::Mutex<crate::adapter::redis::driver::DetachedOutbox>,
    }

    impl std::fmt::Debug for Detached {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Detached").finish_non_exhaustive()
        }
    }

    impl Detached {
        /// A factory for `config` (its URL is never used) whose `PUBSUB NUMSUB` answers
        /// `servers`.
        pub fn new(
            config: crate::adapter::redis::RedisAdapterConfig,
            servers: usize,
        ) -> (Self, RedisAdapterFactory) {
            let (factory, driver, outbox) = RedisAdapterFactory::detached(config, servers);
            (
                Detached {
                    driver,
                    outbox: std::sync::Mutex::new(outbox),
                },
                factory,
            )
        }

        /// Hands `payload` to the adapter listening on `channel` (exactly, or through its
        /// broadcast pattern), as the subscriber would; `false` when none listens.
        pub fn deliver(&self, channel: &str, payload: Bytes) -> bool {
            self.driver.deliver(channel, payload)
        }

        /// Every channel listened to, and the prefix of every pattern.
        pub fn channels(&self) -> Vec<String> {
            self.driver.route_names()
        }

        /// What the adapters published since the last call (each counts as sent).
        pub fn published(&self) -> Vec<(String, Bytes)> {
            crate::util::lock(&self.outbox).drain()
        }
    }
}

/// The messages of the cluster-adapter protocol (the Streams and sharded adapters): pub/sub
/// envelopes in JSON or MessagePack, and stream entries.
#[cfg(any(feature = "redis-streams", feature = "redis-cluster"))]
pub mod cluster {
    use super::*;
    use crate::adapter::cluster::message::Message;

    /// A message as the adapters read it.
    #[derive(Debug, Clone, PartialEq)]
    pub struct ClusterMessage(Message);

    impl ClusterMessage {
        /// A pub/sub envelope: JSON when it starts with `{`, MessagePack otherwise.
        pub fn decode(payload: &Bytes) -> Result<Self, String> {
            Message::decode(payload).map(ClusterMessage)
        }

        /// A MessagePack envelope (the Streams adapter's pub/sub messages).
        pub fn decode_msgpack(payload: &Bytes) -> Result<Self, String> {
            Message::decode_msgpack(payload).map(ClusterMessage)
        }

        /// A stream entry's fields.
        pub fn from_stream_fields(
            uid: &str,
            nsp: &str,
            kind: &str,
            data: Option<&[u8]>,
        ) -> Result<Self, String> {
            Message::from_stream_fields(uid, nsp, kind, data).map(ClusterMessage)
        }

        /// Reads every part the adapters read of a message (request id, options, rooms,
        /// packet, timeout); only panics matter.
        pub fn read_all(&self) {
            let m = &self.0;
            let _ = m.request_id();
            let _ = m.opts();
            let _ = m.rooms();
            let _ = m.ack_timeout_ms();
            let _ = m.has_binary();
            if let Ok(packet) = m.packet() {
                let _ = packet.to_broadcast(None);
                let _ = packet.to_broadcast(Some(1));
            }
        }

        /// Whether its data holds binary (which the JSON forms write as numbers).
        pub fn has_binary(&self) -> bool {
            self.0.has_binary()
        }

        /// The pub/sub envelope the adapters would publish for it.
        pub fn encode(&self) -> Bytes {
            self.0.encode_json_or_msgpack()
        }

        /// Its MessagePack envelope.
        pub fn encode_msgpack(&self) -> Bytes {
            self.0.encode_msgpack()
        }

        /// Its stream entry's fields (`data` as JSON text, or base64 MessagePack when it
        /// holds binary and `only_plaintext` is off).
        pub fn stream_fields(&self, only_plaintext: bool) -> Vec<(&'static str, Bytes)> {
            self.0.stream_fields(only_plaintext)
        }
    }
}
