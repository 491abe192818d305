//! Engine.IO 4 framing: polling payloads separated by `\x1e` with binary packets as
//! `b<base64>`, raw binary WebSocket frames.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::BASE64_LENIENT;
use crate::engine::packet::{DecodeError, Outgoing, Packet, decode_text_packet};
use crate::message::Message;

/// The packet separator of an Engine.IO 4 polling payload.
const SEPARATOR: u8 = 0x1e;

/// How many bytes `packet` adds to a polling payload (separator included when it is not
/// the first).
pub(super) fn payload_len(packet: Outgoing<'_>, first: bool) -> usize {
    let sep = usize::from(!first);
    sep + match packet {
        Outgoing::Open(json) => 1 + json.len(),
        Outgoing::Close | Outgoing::Ping | Outgoing::Pong | Outgoing::Noop => 1,
        Outgoing::PongProbe => 6,
        Outgoing::Message(Message::Text(s)) => 1 + s.len(),
        Outgoing::Message(Message::Binary(b)) => {
            1 + base64::encoded_len(b.len(), true).unwrap_or(usize::MAX - 1)
        }
    }
}

/// Appends `packet` to a polling payload.
pub(super) fn encode_payload_packet(out: &mut BytesMut, packet: Outgoing<'_>, first: bool) {
    if !first {
        out.extend_from_slice(&[SEPARATOR]);
    }
    match packet {
        Outgoing::Message(Message::Binary(b)) => {
            out.extend_from_slice(b"b");
            super::push_base64(out, b);
        }
        other => super::push_text_packet(out, other),
    }
}

/// The WebSocket frame of an outgoing packet: text packets as text frames, binary
/// messages as their raw bytes.
pub(super) fn ws_frame(packet: Outgoing<'_>) -> WsMessage {
    match packet {
        Outgoing::Message(Message::Binary(b)) => WsMessage::Binary(b.clone()),
        other => super::text_frame(other),
    }
}

/// The packets of an Engine.IO 4 polling payload, decoded one at a time: a bad packet is
/// reported where it stands, after the good ones before it.
#[derive(Debug)]
pub(super) struct Payload {
    body: Bytes,
    pos: usize,
    done: bool,
}

impl Payload {
    /// A decoder for `body`, which must be UTF-8 and not empty.
    pub(super) fn new(body: Bytes) -> Result<Payload, DecodeError> {
        std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
        if body.is_empty() {
            return Err(DecodeError::Empty);
        }
        Ok(Payload {
            body,
            pos: 0,
            done: false,
        })
    }
}

impl Iterator for Payload {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.body[self.pos..];
        let (end, next) = match rest.iter().position(|&b| b == SEPARATOR) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Str;

    fn decode(body: &'static str) -> Result<Vec<Result<Packet, DecodeError>>, DecodeError> {
        Payload::new(Bytes::from_static(body.as_bytes())).map(|d| d.collect())
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
            Payload::new(Bytes::from_static(b"4\xff")).unwrap_err(),
            DecodeError::InvalidUtf8
        );
    }

    #[test]
    fn base64_starting_with_4_is_not_a_v3_type() {
        // socketioxide #740: one text parser for both versions read this as Engine.IO 3's
        // `b4` + base64. In Engine.IO 4 every character after `b` is base64.
        assert_eq!(
            decode("b4OHi").unwrap(),
            vec![Ok(Packet::Binary(Bytes::from_static(&[0xe0, 0xe1, 0xe2])))]
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
            encode_payload_packet(&mut out, *p, i == 0);
            expected_len += payload_len(*p, i == 0);
        }
        assert_eq!(&out[..], b"4hello\x1ebAQIDBA==\x1e2\x1e6\x1e1");
        assert_eq!(out.len(), expected_len);
    }
}
