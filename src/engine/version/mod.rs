//! Everything that differs between Engine.IO protocol versions: which versions are
//! served, the open packet, the polling payload framing (and JSONP), the WebSocket
//! framing of binary data, and who sends the heartbeat.
//!
//! A session's [`Protocol`] is fixed by the request that creates its transport: its
//! version, and for Engine.IO 3 how that transport writes (binary or base64, JSONP). The
//! rest of the engine calls the methods here and never matches on a version.
//!
//! | | Engine.IO 4 ([`v4`]) | Engine.IO 3 ([`v3`], [`jsonp`]) |
//! | --- | --- | --- |
//! | polling payload | packets separated by `\x1e`, binary as `b<base64>` | `<UTF-16 length>:<packet>`, binary as `b4<base64>`; binary (XHR2) payloads; JSONP |
//! | WebSocket binary | the raw bytes | `0x04` then the bytes |
//! | open packet | `sid`, `upgrades`, `pingInterval`, `pingTimeout`, `maxPayload` | without `maxPayload` |
//! | heartbeat | the server pings, the client answers | the client pings, the server answers |

mod jsonp;
mod v3;
mod v4;

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::ProtocolVersion;
use super::error::HttpError;
use super::packet::{DecodeError, Outgoing, Packet, decode_text_packet};
use super::query::{Param, Query};
use crate::message::{Message, Str};

/// Parses the `EIO` query value: exactly `3` or `4`.
pub(crate) fn parse_eio(value: &str) -> Option<ProtocolVersion> {
    match value {
        "3" => Some(ProtocolVersion::V3),
        "4" => Some(ProtocolVersion::V4),
        _ => None,
    }
}

/// A protocol version the server serves, with how one transport of a session writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Engine.IO 3.
    V3(Framing3),
    /// Engine.IO 4.
    V4,
}

/// How an Engine.IO 3 transport writes, from the query of the request that created it
/// (Node's `supportsBinary` and JSONP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing3 {
    /// The client reads binary (no non-empty `b64` in the query): binary payloads over
    /// polling, binary frames over WebSocket. Else binary messages go as base64 text.
    binary: bool,
    /// JSONP polling, answering to this callback index (`j` in the handshake's query).
    jsonp: Option<u32>,
}

/// Base64 as clients write it: standard alphabet, padding optional.
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Appends the base64 of `data` (standard alphabet, padded).
fn push_base64(out: &mut BytesMut, data: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(data, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

/// Appends the text form of a packet that is not a binary message (the same in both
/// versions): its type digit and its data.
fn push_text_packet(out: &mut BytesMut, packet: Outgoing<'_>) {
    match packet {
        Outgoing::Open(json) => {
            out.extend_from_slice(b"0");
            out.extend_from_slice(json.as_bytes());
        }
        Outgoing::Close => out.extend_from_slice(b"1"),
        Outgoing::Ping => out.extend_from_slice(b"2"),
        Outgoing::Pong => out.extend_from_slice(b"3"),
        Outgoing::PongProbe => out.extend_from_slice(b"3probe"),
        Outgoing::Noop => out.extend_from_slice(b"6"),
        Outgoing::Message(Message::Text(s)) => {
            out.extend_from_slice(b"4");
            out.extend_from_slice(s.as_bytes());
        }
        Outgoing::Message(Message::Binary(_)) => {}
    }
}

/// The WebSocket text frame of a packet that is not a binary message.
fn text_frame(packet: Outgoing<'_>) -> WsMessage {
    match packet {
        Outgoing::Open(json) => {
            let mut s = String::with_capacity(1 + json.len());
            s.push('0');
            s.push_str(json);
            WsMessage::text(s)
        }
        Outgoing::Close => WsMessage::text("1"),
        Outgoing::Ping => WsMessage::text("2"),
        Outgoing::Pong => WsMessage::text("3"),
        Outgoing::PongProbe => WsMessage::text("3probe"),
        Outgoing::Noop => WsMessage::text("6"),
        Outgoing::Message(Message::Text(t)) => {
            let mut s = String::with_capacity(1 + t.len());
            s.push('4');
            s.push_str(t.as_str());
            WsMessage::text(s)
        }
        Outgoing::Message(Message::Binary(b)) => WsMessage::Binary(b.clone()),
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenPayload<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u128,
    ping_timeout: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_payload: Option<usize>,
}

/// Whether a `b64` query value asks for base64: any non-empty value does (Node's
/// `!query.b64`; `b64=0` included), an empty or missing one does not.
fn wants_base64(b64: Param<'_>) -> bool {
    !matches!(b64, Param::Missing | Param::One(""))
}

/// Why a handshake's protocol is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `EIO` missing, not `3` or `4`, or `3` while Engine.IO 3 is not served.
    Version(Option<ProtocolVersion>),
    /// A JSONP handshake whose `j` has no usable callback index.
    Jsonp,
}

impl From<Refused> for HttpError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Version(_) => HttpError::UnsupportedProtocolVersion,
            Refused::Jsonp => HttpError::BadRequest,
        }
    }
}

impl Protocol {
    /// The protocol of a new session, from its handshake's query. Engine.IO 3 is served
    /// only when `allow_eio3`.
    pub(crate) fn negotiate(
        query: &Query<'_>,
        polling: bool,
        allow_eio3: bool,
    ) -> Result<Protocol, Refused> {
        let version = query.eio.one().and_then(parse_eio);
        match version {
            Some(ProtocolVersion::V4) => Ok(Protocol::V4),
            Some(ProtocolVersion::V3) if allow_eio3 => {
                let jsonp = match query.j {
                    Param::One(j) if polling => {
                        Some(jsonp::callback_index(j).ok_or(Refused::Jsonp)?)
                    }
                    _ => None,
                };
                Ok(Protocol::V3(Framing3 {
                    // A JSONP client reads text only.
                    binary: !wants_base64(query.b64) && jsonp.is_none(),
                    jsonp,
                }))
            }
            other => Err(Refused::Version(other)),
        }
    }

    /// The protocol of the WebSocket a session upgrades to: its version, with the
    /// framing the upgrade request asks for.
    pub(crate) fn for_upgrade(self, query: &Query<'_>) -> Protocol {
        match self {
            Protocol::V4 => Protocol::V4,
            Protocol::V3(_) => Protocol::V3(Framing3 {
                binary: !wants_base64(query.b64),
                jsonp: None,
            }),
        }
    }

    /// The version this protocol speaks.
    pub(crate) fn version(self) -> ProtocolVersion {
        match self {
            Protocol::V3(_) => ProtocolVersion::V3,
            Protocol::V4 => ProtocolVersion::V4,
        }
    }

    /// The JSON payload of the open packet.
    pub(crate) fn open_payload(
        self,
        sid: &str,
        upgrade_to_websocket: bool,
        ping_interval: Duration,
        ping_timeout: Duration,
        max_payload: usize,
    ) -> String {
        let upgrades: &[&str] = if upgrade_to_websocket {
            &["websocket"]
        } else {
            &[]
        };
        serde_json::to_string(&OpenPayload {
            sid,
            upgrades,
            ping_interval: ping_interval.as_millis(),
            ping_timeout: ping_timeout.as_millis(),
            // Engine.IO 3 clients read no `maxPayload` (the v3 protocol has none).
            max_payload: match self {
                Protocol::V3(_) => None,
                Protocol::V4 => Some(max_payload),
            },
        })
        .unwrap_or_default()
    }

    // ---- polling ----

    /// Decodes a polling POST body (with its `Content-Type`): the packets it carries, each
    /// at most `max` bytes.
    ///
    /// Engine.IO 4 decodes lazily: a bad packet is reported where it stands, after the
    /// good ones before it. Engine.IO 3 validates the whole payload first: an error comes
    /// back here and no packet of that body is delivered.
    pub(crate) fn decode_post(
        self,
        body: Bytes,
        content_type: Option<&HeaderValue>,
        max: usize,
    ) -> Result<PayloadDecoder, DecodeError> {
        let inner = match self {
            Protocol::V4 => Decoder::V4(v4::Payload::new(body)?),
            Protocol::V3(framing) => {
                if framing.jsonp.is_some() {
                    match jsonp::form_payload(&body) {
                        Some(text) => Decoder::V3Text(v3::validated(v3::TextPayload::new(
                            Str::from(text),
                            max,
                        )?)?),
                        None => Decoder::Nothing,
                    }
                } else if content_type.is_some_and(is_octet_stream) {
                    Decoder::V3Binary(v3::validated(v3::BinaryPayload::new(body, max))?)
                } else {
                    Decoder::V3Text(v3::validated(v3::TextPayload::from_body(body, max)?)?)
                }
            }
        };
        Ok(PayloadDecoder(inner))
    }

    /// A polling response to fill: packets go in until the body would pass `max` bytes.
    pub(crate) fn payload_writer(self, max: usize) -> PayloadWriter {
        let inner = match self {
            Protocol::V4 => Writer::V4 {
                body: BytesMut::new(),
                first: true,
            },
            Protocol::V3(framing) => Writer::V3 {
                batch: v3::Batch::new(framing.binary),
                jsonp: framing.jsonp,
            },
        };
        PayloadWriter { max, inner }
    }

    // ---- websocket ----

    /// Decodes a WebSocket text frame.
    pub(crate) fn decode_ws_text(self, text: Bytes) -> Result<Packet, DecodeError> {
        match self {
            Protocol::V4 => decode_text_packet(text),
            Protocol::V3(_) => {
                v3::decode_packet(Str::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8)?)
            }
        }
    }

    /// Decodes a WebSocket binary frame.
    pub(crate) fn decode_ws_binary(self, data: Bytes) -> Result<Packet, DecodeError> {
        match self {
            // Engine.IO 4 binary frames carry the raw message bytes.
            Protocol::V4 => Ok(Packet::Binary(data)),
            Protocol::V3(_) => v3::decode_ws_binary(data),
        }
    }

    /// The WebSocket frame of an outgoing packet.
    pub(crate) fn ws_frame(self, packet: Outgoing<'_>) -> WsMessage {
        match self {
            Protocol::V4 => v4::ws_frame(packet),
            Protocol::V3(framing) => v3::ws_frame(packet, framing.binary),
        }
    }

    /// Whether a new WebSocket session's open packet waits for the answer to a WebSocket
    /// ping (see `ws::ping_first`). Engine.IO 3 only: its official test suite listens for
    /// the open packet once the WebSocket is open, and Node's own server passes it only by
    /// being slow to send it.
    pub(crate) fn open_after_ws_ping(self) -> bool {
        matches!(self, Protocol::V3(_))
    }

    // ---- heartbeat ----

    /// The heartbeat of a new session, counted from `now` (the open packet).
    pub(crate) fn heartbeat(
        self,
        now: Instant,
        interval: Duration,
        timeout: Duration,
    ) -> Heartbeat {
        Heartbeat {
            anchor: now,
            ping_sent: false,
            client_pings: matches!(self, Protocol::V3(_)),
            interval,
            timeout,
        }
    }

    /// What the session does when the client sends a ping.
    pub(crate) fn on_client_ping(self) -> ClientPing {
        match self {
            // In Engine.IO 4 only the server pings: a client ping is an error.
            Protocol::V4 => ClientPing::Refuse,
            Protocol::V3(_) => ClientPing::Answer,
        }
    }

    /// What the session does when the client sends a pong (`3`, not the probe's).
    pub(crate) fn on_client_pong(self) -> ClientPong {
        match self {
            Protocol::V4 => ClientPong::Accept,
            // The server never pings an Engine.IO 3 client.
            Protocol::V3(_) => ClientPong::Refuse,
        }
    }
}

/// Whether a `Content-Type` is `application/octet-stream` (any case, any parameters).
fn is_octet_stream(value: &HeaderValue) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/octet-stream"))
}

/// What to do with a ping from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientPing {
    /// The protocol does not allow it: close the session.
    Refuse,
    /// Restart the heartbeat and answer with a pong.
    Answer,
}

/// What to do with a pong from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientPong {
    /// It answers the server's ping.
    Accept,
    /// The protocol does not allow it: close the session.
    Refuse,
}

/// The heartbeat of a session.
///
/// Engine.IO 4: the server pings `interval` after the open packet or after the last pong,
/// and the session is dead when the pong has not come `timeout` after the ping.
/// Engine.IO 3: the client pings; the session is dead `interval + timeout` after the open
/// packet or the last ping, on either transport and across an upgrade.
///
/// Times are computed from the schedule, not from when a timer happened to fire, so that
/// expiry is exact.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    anchor: Instant,
    ping_sent: bool,
    client_pings: bool,
    interval: Duration,
    timeout: Duration,
}

/// What the heartbeat asks for at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing yet.
    Wait,
    /// Send a ping now.
    Ping,
    /// The pong did not come in time.
    TimedOut,
}

impl Heartbeat {
    /// When the next ping is due.
    fn ping_at(&self) -> Instant {
        self.anchor + self.interval
    }

    /// When the session dies without a pong (or, in Engine.IO 3, a ping).
    fn deadline(&self) -> Instant {
        self.anchor + self.interval + self.timeout
    }

    /// When [`Heartbeat::poll`] has something to do next.
    pub(crate) fn next_event(&self) -> Instant {
        if self.ping_sent || self.client_pings {
            self.deadline()
        } else {
            self.ping_at()
        }
    }

    /// What is due at `now`; a returned [`Beat::Ping`] counts as sent.
    pub(crate) fn poll(&mut self, now: Instant) -> Beat {
        if now >= self.deadline() {
            Beat::TimedOut
        } else if !self.ping_sent && !self.client_pings && now >= self.ping_at() {
            self.ping_sent = true;
            Beat::Ping
        } else {
            Beat::Wait
        }
    }

    /// Whether the session is dead at `now`, whether or not a timer has fired yet.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.deadline()
    }

    /// The client answered; returns whether a ping was waiting for this pong.
    pub(crate) fn on_pong(&mut self, now: Instant) -> bool {
        if self.ping_sent {
            self.ping_sent = false;
            self.anchor = now;
            true
        } else {
            false
        }
    }

    /// The client pinged (Engine.IO 3): the deadline starts again from `now`.
    pub(crate) fn on_client_ping(&mut self, now: Instant) {
        if self.client_pings {
            self.anchor = now;
        }
    }
}

/// The packets of a polling POST body.
#[derive(Debug)]
pub(crate) struct PayloadDecoder(Decoder);

#[derive(Debug)]
enum Decoder {
    V4(v4::Payload),
    V3Text(v3::TextPayload),
    V3Binary(v3::BinaryPayload),
    /// A JSONP POST without a payload.
    Nothing,
}

impl Iterator for PayloadDecoder {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Decoder::V4(d) => d.next(),
            Decoder::V3Text(d) => d.next(),
            Decoder::V3Binary(d) => d.next(),
            Decoder::Nothing => None,
        }
    }
}

/// A polling response being filled (see [`Protocol::payload_writer`]).
#[derive(Debug)]
pub(crate) struct PayloadWriter {
    max: usize,
    inner: Writer,
}

#[derive(Debug)]
enum Writer {
    V4 {
        body: BytesMut,
        first: bool,
    },
    V3 {
        batch: v3::Batch,
        jsonp: Option<u32>,
    },
}

/// A polling response body and its `Content-Type`.
#[derive(Debug)]
pub(crate) struct PollBody {
    pub(crate) body: Bytes,
    pub(crate) content_type: &'static str,
}

/// The `Content-Type` of text polling responses.
const TEXT: &str = "text/plain; charset=UTF-8";

impl PayloadWriter {
    /// Whether nothing was written.
    pub(crate) fn is_empty(&self) -> bool {
        match &self.inner {
            Writer::V4 { first, .. } => *first,
            Writer::V3 { batch, .. } => batch.is_empty(),
        }
    }

    /// Adds `packet` when the body stays within the limit, or when it is the first
    /// (whatever its size); returns whether it was added.
    pub(crate) fn push(&mut self, packet: Outgoing<'_>) -> bool {
        let max = self.max;
        match &mut self.inner {
            Writer::V4 { body, first } => {
                let len = v4::payload_len(packet, *first);
                if !*first && body.len().saturating_add(len) > max {
                    return false;
                }
                body.reserve(len);
                v4::encode_payload_packet(body, packet, *first);
                *first = false;
                true
            }
            Writer::V3 { batch, .. } => batch.push(packet, max),
        }
    }

    /// Adds a packet whatever the size (a control packet that must go now).
    pub(crate) fn push_always(&mut self, packet: Outgoing<'_>) {
        match &mut self.inner {
            Writer::V4 { body, first } => {
                v4::encode_payload_packet(body, packet, *first);
                *first = false;
            }
            Writer::V3 { batch, .. } => batch.push_always(packet),
        }
    }

    /// The response body.
    pub(crate) fn finish(self) -> PollBody {
        match self.inner {
            Writer::V4 { body, .. } => PollBody {
                body: body.freeze(),
                content_type: TEXT,
            },
            Writer::V3 { batch, jsonp } => {
                let written = batch.finish();
                match jsonp {
                    Some(index) => PollBody {
                        // A text payload is UTF-8 (its packets are text, binary ones base64).
                        body: jsonp::script(
                            index,
                            std::str::from_utf8(&written.body).unwrap_or_default(),
                        ),
                        content_type: "text/javascript; charset=UTF-8",
                    },
                    None if written.binary => PollBody {
                        body: written.body,
                        content_type: "application/octet-stream",
                    },
                    None => PollBody {
                        body: written.body,
                        content_type: TEXT,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
