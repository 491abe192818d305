//! Everything that differs between Engine.IO protocol versions: which versions are
//! served, the open packet, the polling payload framing, the WebSocket framing of
//! binary data, and who sends the heartbeat.
//!
//! Only Engine.IO 4 is served for now. Engine.IO 3 is recognised (the `EIO=3` query
//! value parses to [`ProtocolVersion::V3`]) and refused with code 5; serving it means
//! adding a [`Protocol`] variant and its arms here, nothing elsewhere.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::ProtocolVersion;
use super::packet::{DecodeError, Outgoing, Packet, decode_text_packet};
use crate::message::Message;

/// Parses the `EIO` query value: exactly `3` or `4`.
pub(crate) fn parse_eio(value: &str) -> Option<ProtocolVersion> {
    match value {
        "3" => Some(ProtocolVersion::V3),
        "4" => Some(ProtocolVersion::V4),
        _ => None,
    }
}

/// A protocol version the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Engine.IO 4.
    V4,
}

/// The packet separator of an Engine.IO 4 polling payload.
const V4_SEPARATOR: u8 = 0x1e;

/// Base64 as clients write it: standard alphabet, padding optional.
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OpenPayload<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u128,
    ping_timeout: u128,
    max_payload: usize,
}

impl Protocol {
    /// The protocol that serves `version`, if the server serves it.
    pub(crate) fn negotiate(version: ProtocolVersion) -> Option<Protocol> {
        match version {
            ProtocolVersion::V4 => Some(Protocol::V4),
            ProtocolVersion::V3 => None,
        }
    }

    /// The version this protocol speaks.
    pub(crate) fn version(self) -> ProtocolVersion {
        match self {
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
        match self {
            Protocol::V4 => {
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
                    max_payload,
                })
                .unwrap_or_default()
            }
        }
    }

    // ---- polling ----

    /// Decodes a polling POST body into its packets, lazily: a bad packet is
    /// reported where it stands, after the good ones before it.
    pub(crate) fn decode_payload(self, body: Bytes) -> Result<PayloadDecoder, DecodeError> {
        match self {
            Protocol::V4 => {
                // Engine.IO 4 payloads are text; binary packets are base64.
                std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
                if body.is_empty() {
                    return Err(DecodeError::Empty);
                }
                Ok(PayloadDecoder {
                    protocol: self,
                    body,
                    pos: 0,
                    done: false,
                })
            }
        }
    }

    /// How many bytes `packet` adds to a polling payload (separator included when
    /// it is not the first).
    pub(crate) fn payload_len(self, packet: Outgoing<'_>, first: bool) -> usize {
        match self {
            Protocol::V4 => {
                let sep = usize::from(!first);
                sep + match packet {
                    Outgoing::Open(json) => 1 + json.len(),
                    Outgoing::Close | Outgoing::Ping | Outgoing::Noop => 1,
                    Outgoing::PongProbe => 6,
                    Outgoing::Message(Message::Text(s)) => 1 + s.len(),
                    Outgoing::Message(Message::Binary(b)) => {
                        1 + base64::encoded_len(b.len(), true).unwrap_or(usize::MAX - 1)
                    }
                }
            }
        }
    }

    /// Appends `packet` to a polling payload.
    pub(crate) fn encode_payload_packet(
        self,
        out: &mut BytesMut,
        packet: Outgoing<'_>,
        first: bool,
    ) {
        match self {
            Protocol::V4 => {
                if !first {
                    out.extend_from_slice(&[V4_SEPARATOR]);
                }
                match packet {
                    Outgoing::Open(json) => {
                        out.extend_from_slice(b"0");
                        out.extend_from_slice(json.as_bytes());
                    }
                    Outgoing::Close => out.extend_from_slice(b"1"),
                    Outgoing::Ping => out.extend_from_slice(b"2"),
                    Outgoing::PongProbe => out.extend_from_slice(b"3probe"),
                    Outgoing::Noop => out.extend_from_slice(b"6"),
                    Outgoing::Message(Message::Text(s)) => {
                        out.extend_from_slice(b"4");
                        out.extend_from_slice(s.as_bytes());
                    }
                    Outgoing::Message(Message::Binary(b)) => {
                        out.extend_from_slice(b"b");
                        let start = out.len();
                        let len = base64::encoded_len(b.len(), true).unwrap_or(0);
                        out.resize(start + len, 0);
                        let written = base64::engine::general_purpose::STANDARD
                            .encode_slice(b, &mut out[start..])
                            .unwrap_or(0);
                        out.truncate(start + written);
                    }
                }
            }
        }
    }

    /// The `Content-Type` of polling responses.
    pub(crate) fn payload_content_type(self) -> &'static str {
        match self {
            Protocol::V4 => "text/plain; charset=UTF-8",
        }
    }

    // ---- websocket ----

    /// Decodes a WebSocket text frame.
    pub(crate) fn decode_ws_text(self, text: Bytes) -> Result<Packet, DecodeError> {
        match self {
            Protocol::V4 => decode_text_packet(text),
        }
    }

    /// Decodes a WebSocket binary frame.
    pub(crate) fn decode_ws_binary(self, data: Bytes) -> Result<Packet, DecodeError> {
        match self {
            // Engine.IO 4 binary frames carry the raw message bytes.
            Protocol::V4 => Ok(Packet::Binary(data)),
        }
    }

    /// The WebSocket frame of an outgoing packet.
    pub(crate) fn ws_frame(self, packet: Outgoing<'_>) -> WsMessage {
        match self {
            Protocol::V4 => match packet {
                Outgoing::Open(json) => {
                    let mut s = String::with_capacity(1 + json.len());
                    s.push('0');
                    s.push_str(json);
                    WsMessage::text(s)
                }
                Outgoing::Close => WsMessage::text("1"),
                Outgoing::Ping => WsMessage::text("2"),
                Outgoing::PongProbe => WsMessage::text("3probe"),
                Outgoing::Noop => WsMessage::text("6"),
                Outgoing::Message(Message::Text(t)) => {
                    let mut s = String::with_capacity(1 + t.len());
                    s.push('4');
                    s.push_str(t.as_str());
                    WsMessage::text(s)
                }
                Outgoing::Message(Message::Binary(b)) => WsMessage::Binary(b.clone()),
            },
        }
    }

    // ---- heartbeat ----

    /// The heartbeat of a new session, counted from `now` (the open packet).
    pub(crate) fn heartbeat(
        self,
        now: Instant,
        interval: Duration,
        timeout: Duration,
    ) -> Heartbeat {
        match self {
            Protocol::V4 => Heartbeat {
                anchor: now,
                ping_sent: false,
                interval,
                timeout,
            },
        }
    }

    /// What the session does when the client sends a ping.
    pub(crate) fn on_client_ping(self) -> ClientPing {
        match self {
            // In Engine.IO 4 only the server pings: a client ping is an error.
            Protocol::V4 => ClientPing::Refuse,
        }
    }
}

/// What to do with a ping from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientPing {
    /// The protocol does not allow it: close the session.
    Refuse,
}

/// The Engine.IO 4 heartbeat: the server pings `interval` after the open packet or
/// after the last pong, and the session is dead when the pong has not come
/// `timeout` after the ping. Times are computed from the schedule, not from when
/// a timer happened to fire, so that expiry is exact.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    anchor: Instant,
    ping_sent: bool,
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

    /// When the session dies without a pong.
    fn deadline(&self) -> Instant {
        self.anchor + self.interval + self.timeout
    }

    /// When [`Heartbeat::poll`] has something to do next.
    pub(crate) fn next_event(&self) -> Instant {
        if self.ping_sent {
            self.deadline()
        } else {
            self.ping_at()
        }
    }

    /// What is due at `now`; a returned [`Beat::Ping`] counts as sent.
    pub(crate) fn poll(&mut self, now: Instant) -> Beat {
        if now >= self.deadline() {
            Beat::TimedOut
        } else if !self.ping_sent && now >= self.ping_at() {
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
}

/// The packets of a polling payload, decoded one at a time.
#[derive(Debug)]
pub(crate) struct PayloadDecoder {
    protocol: Protocol,
    body: Bytes,
    pos: usize,
    done: bool,
}

impl Iterator for PayloadDecoder {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.protocol {
            Protocol::V4 => {
                let rest = &self.body[self.pos..];
                let (end, next) = match rest.iter().position(|&b| b == V4_SEPARATOR) {
                    Some(i) => (self.pos + i, self.pos + i + 1),
                    None => {
                        self.done = true;
                        (self.body.len(), self.body.len())
                    }
                };
                let segment = self.body.slice(self.pos..end);
                self.pos = next;
                let result = if segment.first() == Some(&b'b') {
                    BASE64_LENIENT
                        .decode(&segment[1..])
                        .map(|v| Packet::Binary(Bytes::from(v)))
                        .map_err(|_| DecodeError::InvalidBase64)
                } else {
                    decode_text_packet(segment)
                };
                if result.is_err() {
                    self.done = true;
                }
                Some(result)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Str;

    fn decode(body: &'static str) -> Result<Vec<Result<Packet, DecodeError>>, DecodeError> {
        Protocol::V4
            .decode_payload(Bytes::from_static(body.as_bytes()))
            .map(|d| d.collect())
    }

    #[test]
    fn eio_values() {
        assert_eq!(parse_eio("4"), Some(ProtocolVersion::V4));
        assert_eq!(parse_eio("3"), Some(ProtocolVersion::V3));
        assert_eq!(parse_eio("04"), None);
        assert_eq!(parse_eio("4 "), None);
        assert_eq!(parse_eio(""), None);
        assert_eq!(Protocol::negotiate(ProtocolVersion::V4), Some(Protocol::V4));
        assert_eq!(Protocol::negotiate(ProtocolVersion::V3), None);
    }

    #[test]
    fn payload_decoding() {
        assert_eq!(
            decode("4hello\x1ebAQIDBA==\x1e3").unwrap(),
            vec![
                Ok(Packet::Message(Str::from("hello"))),
                Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))),
                Ok(Packet::Pong { probe: false }),
            ]
        );
        assert_eq!(
            decode("bAQIDBA").unwrap(),
            vec![Ok(Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])))]
        );
        assert_eq!(
            decode("4a\x1eabc\x1e4b").unwrap(),
            vec![
                Ok(Packet::Message(Str::from("a"))),
                Err(DecodeError::UnknownType)
            ]
        );
        assert_eq!(decode("4a\x1e").unwrap()[1], Err(DecodeError::Empty));
        assert_eq!(decode("b!!").unwrap()[0], Err(DecodeError::InvalidBase64));
        assert_eq!(decode("").unwrap_err(), DecodeError::Empty);
        assert_eq!(
            Protocol::V4
                .decode_payload(Bytes::from_static(b"4\xff"))
                .unwrap_err(),
            DecodeError::InvalidUtf8
        );
    }

    #[test]
    fn payload_encoding_and_lengths() {
        let text = Message::Text(Str::from("hello"));
        let bin = Message::Binary(Bytes::from_static(&[1, 2, 3, 4]));
        let packets = [
            Outgoing::Message(&text),
            Outgoing::Message(&bin),
            Outgoing::Ping,
            Outgoing::Noop,
            Outgoing::Close,
        ];
        let mut out = BytesMut::new();
        let mut expected_len = 0;
        for (i, p) in packets.iter().enumerate() {
            Protocol::V4.encode_payload_packet(&mut out, *p, i == 0);
            expected_len += Protocol::V4.payload_len(*p, i == 0);
        }
        assert_eq!(&out[..], b"4hello\x1ebAQIDBA==\x1e2\x1e6\x1e1");
        assert_eq!(out.len(), expected_len);
    }

    #[test]
    fn open_payload_has_the_five_keys() {
        let json = Protocol::V4.open_payload(
            "abc",
            true,
            Duration::from_millis(300),
            Duration::from_millis(200),
            1_000_000,
        );
        assert_eq!(
            json,
            r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
        );
        let json = Protocol::V4.open_payload(
            "x",
            false,
            Duration::from_secs(1),
            Duration::from_secs(1),
            5,
        );
        assert!(json.contains(r#""upgrades":[]"#));
    }

    #[test]
    fn heartbeat_schedule() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut hb = Protocol::V4.heartbeat(t0, ms(300), ms(200));
        assert_eq!(hb.next_event(), t0 + ms(300));
        assert_eq!(hb.poll(t0 + ms(299)), Beat::Wait);
        assert!(
            !hb.on_pong(t0 + ms(100)),
            "a pong without a ping is ignored"
        );
        assert_eq!(hb.poll(t0 + ms(301)), Beat::Ping);
        assert_eq!(hb.next_event(), t0 + ms(500));
        assert!(!hb.expired(t0 + ms(499)));
        assert!(hb.expired(t0 + ms(500)));
        assert!(hb.on_pong(t0 + ms(350)));
        assert_eq!(hb.next_event(), t0 + ms(650));
        assert_eq!(hb.poll(t0 + ms(851)), Beat::TimedOut);
    }
}
