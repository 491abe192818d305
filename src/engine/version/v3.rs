//! Engine.IO 3 framing (Socket.IO 2 clients).
//!
//! - A text polling payload is `<length>:<packet>` repeated, the length counting the
//!   packet's UTF-16 code units (JavaScript's `string.length`); a binary packet in it is
//!   `b4<base64>`.
//! - A binary polling payload (XHR2 clients without `b64`, python-engineio's every POST)
//!   frames each packet as a marker byte (`0x00` string, `0x01` binary), the decimal digits
//!   of its byte length one per byte (values 0 to 9), `0xff`, then the packet: a string
//!   packet's type character and UTF-8 text, or a binary packet's type byte `0x04` and its
//!   bytes.
//! - Over WebSocket a binary message is one binary frame, `0x04` then the bytes (or a text
//!   frame `b4<base64>` when the client asked for base64).
//!
//! Decoders are strict where Node's is lenient (lengths are 1 to 10 ASCII digits, base64
//! is checked, binary packets must be messages) and never deliver a part of a payload
//! that fails: see `docs/ARCHITECTURE.md`.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::BASE64_LENIENT;
use crate::engine::packet::{DecodeError, Outgoing, Packet, decode_str_packet};
use crate::message::{Message, Str};

/// The most length digits a payload may use (a length needs at most 10 digits to reach
/// any `max_payload` this server accepts; more is refused before it is converted).
const MAX_DIGITS: usize = 10;

/// The length of `s` in UTF-16 code units: one per character, two for those outside the
/// Basic Multilingual Plane (the 4-byte UTF-8 sequences).
pub(crate) fn utf16_len(s: &str) -> usize {
    s.bytes()
        .map(|b| usize::from(b & 0xc0 != 0x80) + usize::from(b >= 0xf0))
        .sum()
}

/// How many decimal digits `n` is written with.
fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Decodes one packet of Engine.IO 3 text: a type digit and its data, or `b4` and the
/// base64 of a binary message.
pub(crate) fn decode_packet(text: Str) -> Result<Packet, DecodeError> {
    match text.as_bytes().first() {
        Some(b'b') => {
            if text.as_bytes().get(1) != Some(&b'4') {
                return Err(DecodeError::UnknownType);
            }
            BASE64_LENIENT
                .decode(&text.as_bytes()[2..])
                .map(|v| Packet::Binary(Bytes::from(v)))
                .map_err(|_| DecodeError::InvalidBase64)
        }
        _ => decode_str_packet(text),
    }
}

/// Decodes a WebSocket binary frame: `0x04` then the message's bytes.
pub(crate) fn decode_ws_binary(data: Bytes) -> Result<Packet, DecodeError> {
    match data.first() {
        Some(4) => Ok(Packet::Binary(data.slice(1..))),
        Some(_) => Err(DecodeError::UnknownType),
        None => Err(DecodeError::Empty),
    }
}

/// Refuses a packet whose data is larger than `max` bytes. A payload within the body limit
/// can still expand (invalid UTF-8 read lossily grows), so every packet is checked again.
fn check_size(packet: Packet, max: usize) -> Result<Packet, DecodeError> {
    let len = match &packet {
        Packet::Message(s) => s.len(),
        Packet::Binary(b) => b.len(),
        _ => 0,
    };
    if len > max {
        Err(DecodeError::TooLarge)
    } else {
        Ok(packet)
    }
}

/// The packets of a text payload, one at a time; the first error ends it.
#[derive(Debug, Clone)]
pub(crate) struct TextPayload {
    text: Str,
    pos: usize,
    max: usize,
    done: bool,
}

impl TextPayload {
    /// A decoder for `text`, which must not be empty. `max` bounds each packet's data.
    pub(crate) fn new(text: Str, max: usize) -> Result<Self, DecodeError> {
        if text.is_empty() {
            return Err(DecodeError::Empty);
        }
        Ok(TextPayload {
            text,
            pos: 0,
            max,
            done: false,
        })
    }

    /// A decoder for a body read as UTF-8, lossily (invalid sequences become U+FFFD, as
    /// Node reads a text body); valid UTF-8 is not copied.
    pub(crate) fn from_body(body: Bytes, max: usize) -> Result<Self, DecodeError> {
        let text = match Str::from_utf8(body.clone()) {
            Ok(text) => text,
            Err(_) => Str::from(String::from_utf8_lossy(&body).into_owned()),
        };
        Self::new(text, max)
    }
}

impl Step for TextPayload {
    fn done(&mut self) -> &mut bool {
        &mut self.done
    }

    fn next_packet(&mut self) -> Option<Result<Packet, DecodeError>> {
        loop {
            let all = self.text.as_str();
            let rest = &all[self.pos..];
            if rest.is_empty() {
                return None;
            }
            // The digits, then ':'. More than MAX_DIGITS is refused without reading on.
            let head = &rest.as_bytes()[..rest.len().min(MAX_DIGITS + 1)];
            let Some(colon) = head.iter().position(|&b| b == b':') else {
                return Some(Err(DecodeError::InvalidLength));
            };
            let digits = &rest[..colon];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Some(Err(DecodeError::InvalidLength));
            }
            let units: usize = match digits.parse() {
                Ok(n) => n,
                Err(_) => return Some(Err(DecodeError::InvalidLength)),
            };
            let start = self.pos + colon + 1;
            let body = &all[start..];
            // A code unit takes at least one byte.
            if units > body.len() {
                return Some(Err(DecodeError::Truncated));
            }
            let mut counted = 0usize;
            let mut end = None;
            for (i, c) in body.char_indices() {
                if counted == units {
                    end = Some(i);
                    break;
                }
                counted += c.len_utf16();
                if counted > units {
                    // The length ends between the two halves of a surrogate pair.
                    return Some(Err(DecodeError::InvalidLength));
                }
            }
            let end = match end {
                Some(end) => end,
                None if counted == units => body.len(),
                None => return Some(Err(DecodeError::Truncated)),
            };
            self.pos = start + end;
            if units == 0 {
                // `0:` is an empty packet: nothing to deliver.
                continue;
            }
            let packet = self.text.slice(start..start + end);
            return Some(decode_packet(packet).and_then(|p| check_size(p, self.max)));
        }
    }
}

impl Iterator for TextPayload {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        fused(self)
    }
}

/// A payload decoder, one packet a step.
trait Step {
    fn done(&mut self) -> &mut bool;
    fn next_packet(&mut self) -> Option<Result<Packet, DecodeError>>;
}

/// The next packet of a decoder that ends for good at its end or its first error.
fn fused(d: &mut impl Step) -> Option<Result<Packet, DecodeError>> {
    if *d.done() {
        return None;
    }
    let item = d.next_packet();
    if !matches!(item, Some(Ok(_))) {
        *d.done() = true;
    }
    item
}

/// The packets of a binary (XHR2) payload, one at a time; the first error ends it.
#[derive(Debug, Clone)]
pub(crate) struct BinaryPayload {
    body: Bytes,
    pos: usize,
    max: usize,
    done: bool,
}

impl BinaryPayload {
    /// A decoder for `body` (an empty body holds no packet). `max` bounds each packet.
    pub(crate) fn new(body: Bytes, max: usize) -> Self {
        BinaryPayload {
            body,
            pos: 0,
            max,
            done: false,
        }
    }
}

impl Step for BinaryPayload {
    fn done(&mut self) -> &mut bool {
        &mut self.done
    }

    fn next_packet(&mut self) -> Option<Result<Packet, DecodeError>> {
        let body = &self.body[..];
        if self.pos >= body.len() {
            return None;
        }
        let string = match body[self.pos] {
            0 => true,
            1 => false,
            _ => return Some(Err(DecodeError::InvalidMarker)),
        };
        let mut i = self.pos + 1;
        let mut len = 0usize;
        let mut count = 0;
        loop {
            let Some(&b) = body.get(i) else {
                // The length never ends with 0xff.
                return Some(Err(DecodeError::Truncated));
            };
            i += 1;
            match b {
                0xff => break,
                0..=9 if count < MAX_DIGITS => {
                    len = len * 10 + usize::from(b);
                    count += 1;
                }
                _ => return Some(Err(DecodeError::InvalidLength)),
            }
        }
        if count == 0 || len == 0 {
            return Some(Err(DecodeError::InvalidLength));
        }
        if len > body.len() - i {
            return Some(Err(DecodeError::Truncated));
        }
        let packet = self.body.slice(i..i + len);
        self.pos = i + len;
        let decoded = if string {
            match Str::from_utf8(packet) {
                Ok(text) => decode_packet(text),
                Err(_) => Err(DecodeError::InvalidUtf8),
            }
        } else {
            match packet[0] {
                4 => Ok(Packet::Binary(packet.slice(1..))),
                _ => Err(DecodeError::UnknownType),
            }
        };
        Some(decoded.and_then(|p| check_size(p, self.max)))
    }
}

impl Iterator for BinaryPayload {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        fused(self)
    }
}

/// Runs a payload decoder to its end: the first error, or the decoder again from the
/// start when every packet is good. A payload is validated as a whole before any packet
/// is delivered, without holding its packets in memory.
pub(crate) fn validated<I>(payload: I) -> Result<I, DecodeError>
where
    I: Iterator<Item = Result<Packet, DecodeError>> + Clone,
{
    for packet in payload.clone() {
        packet?;
    }
    Ok(payload)
}

/// One packet of a polling response, kept until the batch's framing is known.
#[derive(Debug, Clone)]
enum Item {
    /// A packet without a message: its whole text (`"1"`, `"3probe"`, `"0{...}"`).
    Control(Str),
    Text(Str),
    Binary(Bytes),
}

impl Item {
    fn from_outgoing(packet: Outgoing<'_>) -> Item {
        match packet {
            Outgoing::Open(json) => {
                let mut s = String::with_capacity(1 + json.len());
                s.push('0');
                s.push_str(json);
                Item::Control(Str::from(s))
            }
            Outgoing::Close => Item::Control(Str::from_static("1")),
            Outgoing::Ping => Item::Control(Str::from_static("2")),
            Outgoing::Pong => Item::Control(Str::from_static("3")),
            Outgoing::PongProbe => Item::Control(Str::from_static("3probe")),
            Outgoing::Noop => Item::Control(Str::from_static("6")),
            Outgoing::Message(Message::Text(s)) => Item::Text(s.clone()),
            Outgoing::Message(Message::Binary(b)) => Item::Binary(b.clone()),
        }
    }

    /// Bytes in a text payload: `<UTF-16 length>:<packet>`.
    fn text_len(&self) -> usize {
        let (units, bytes) = match self {
            Item::Control(s) => (utf16_len(s), s.len()),
            Item::Text(s) => (1 + utf16_len(s), 1 + s.len()),
            Item::Binary(b) => {
                let n = 2 + base64::encoded_len(b.len(), true).unwrap_or(usize::MAX / 2);
                (n, n)
            }
        };
        digits(units) + 1 + bytes
    }

    /// Bytes in a binary payload: marker, length digits, `0xff`, packet.
    fn binary_len(&self) -> usize {
        let packet = match self {
            Item::Control(s) => s.len(),
            Item::Text(s) => 1 + s.len(),
            Item::Binary(b) => 1 + b.len(),
        };
        2 + digits(packet) + packet
    }

    fn write_text(&self, out: &mut BytesMut) {
        match self {
            Item::Control(s) => {
                push_number(out, utf16_len(s));
                out.extend_from_slice(b":");
                out.extend_from_slice(s.as_bytes());
            }
            Item::Text(s) => {
                push_number(out, 1 + utf16_len(s));
                out.extend_from_slice(b":4");
                out.extend_from_slice(s.as_bytes());
            }
            Item::Binary(b) => {
                let n = 2 + base64::encoded_len(b.len(), true).unwrap_or(0);
                push_number(out, n);
                out.extend_from_slice(b":b4");
                super::push_base64(out, b);
            }
        }
    }

    fn write_binary(&self, out: &mut BytesMut) {
        let (marker, len) = match self {
            Item::Control(s) => (0, s.len()),
            Item::Text(s) => (0, 1 + s.len()),
            Item::Binary(b) => (1, 1 + b.len()),
        };
        out.extend_from_slice(&[marker]);
        for d in len.to_string().bytes() {
            out.extend_from_slice(&[d - b'0']);
        }
        out.extend_from_slice(&[0xff]);
        match self {
            Item::Control(s) => out.extend_from_slice(s.as_bytes()),
            Item::Text(s) => {
                out.extend_from_slice(b"4");
                out.extend_from_slice(s.as_bytes());
            }
            Item::Binary(b) => {
                out.extend_from_slice(&[4]);
                out.extend_from_slice(b);
            }
        }
    }
}

fn push_number(out: &mut BytesMut, n: usize) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// A polling response under way. Whether it is a text or a binary payload depends on all
/// its packets (one binary message makes the whole batch binary for a client that reads
/// binary), so packets are kept, cheaply (shared buffers), until [`Batch::finish`]; the
/// size of both framings is kept exact as they come, so that a batch never grows past the
/// limit whichever framing it ends with.
#[derive(Debug)]
pub(crate) struct Batch {
    items: Vec<Item>,
    text_len: usize,
    binary_len: usize,
    has_binary: bool,
    /// The client reads binary payloads.
    binary_ok: bool,
}

/// A finished polling response body and its framing.
#[derive(Debug)]
pub(crate) struct Written {
    /// The body.
    pub(crate) body: Bytes,
    /// A binary payload (else text).
    pub(crate) binary: bool,
}

impl Batch {
    /// An empty batch for a client that reads binary payloads, or not.
    pub(crate) fn new(binary_ok: bool) -> Self {
        Batch {
            items: Vec::new(),
            text_len: 0,
            binary_len: 0,
            has_binary: false,
            binary_ok,
        }
    }

    /// Whether no packet was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The size of the body the batch would be now.
    pub(crate) fn len(&self) -> usize {
        if self.binary_ok && self.has_binary {
            self.binary_len
        } else {
            self.text_len
        }
    }

    /// Adds `packet` if the body stays within `max` bytes, or if the batch is empty (a
    /// packet larger than `max` goes alone); returns whether it was added.
    pub(crate) fn push(&mut self, packet: Outgoing<'_>, max: usize) -> bool {
        let item = Item::from_outgoing(packet);
        let text_len = self.text_len.saturating_add(item.text_len());
        let binary_len = self.binary_len.saturating_add(item.binary_len());
        let has_binary = self.has_binary || matches!(item, Item::Binary(_));
        let len = if self.binary_ok && has_binary {
            binary_len
        } else {
            text_len
        };
        if !self.items.is_empty() && len > max {
            return false;
        }
        self.text_len = text_len;
        self.binary_len = binary_len;
        self.has_binary = has_binary;
        self.items.push(item);
        true
    }

    /// Adds a packet whatever the size (a control packet that must go now).
    pub(crate) fn push_always(&mut self, packet: Outgoing<'_>) {
        self.push(packet, usize::MAX);
    }

    /// The body: a binary payload when the client reads them and a packet is binary,
    /// else a text payload.
    pub(crate) fn finish(self) -> Written {
        let binary = self.binary_ok && self.has_binary;
        let mut out = BytesMut::with_capacity(self.len());
        for item in &self.items {
            if binary {
                item.write_binary(&mut out);
            } else {
                item.write_text(&mut out);
            }
        }
        Written {
            body: out.freeze(),
            binary,
        }
    }
}

/// The WebSocket frame of an outgoing packet. `binary_ok`: binary messages go as binary
/// frames (`0x04` first), else as `b4<base64>` text frames.
pub(super) fn ws_frame(packet: Outgoing<'_>, binary_ok: bool) -> WsMessage {
    match packet {
        Outgoing::Message(Message::Binary(b)) if binary_ok => {
            let mut frame = BytesMut::with_capacity(1 + b.len());
            frame.extend_from_slice(&[4]);
            frame.extend_from_slice(b);
            WsMessage::Binary(frame.freeze())
        }
        Outgoing::Message(Message::Binary(b)) => {
            let mut text =
                String::with_capacity(2 + base64::encoded_len(b.len(), true).unwrap_or(0));
            text.push_str("b4");
            base64::engine::general_purpose::STANDARD.encode_string(b, &mut text);
            WsMessage::text(text)
        }
        other => super::text_frame(other),
    }
}

#[cfg(test)]
#[path = "v3_tests.rs"]
mod tests;
