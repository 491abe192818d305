//! Engine.IO packets as the server sees them, independent of their wire framing
//! (which lives in [`super::version`]).

use bytes::Bytes;

use crate::message::{Message, Str};

/// A packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packet {
    /// `0`: only the server sends it; ignored when a client does.
    Open,
    /// `1`: the client closes the session.
    Close,
    /// `2`: a ping; `2probe` starts an upgrade.
    Ping { probe: bool },
    /// `3`: a pong; `3probe` is only sent by servers.
    Pong { probe: bool },
    /// `4`: a text message.
    Message(Str),
    /// A binary message.
    Binary(Bytes),
    /// `5`: completes an upgrade.
    Upgrade,
    /// `6`: does nothing.
    Noop,
}

/// A packet the server sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    /// The open packet with its JSON payload.
    Open(&'a str),
    /// `1`.
    Close,
    /// `2`.
    Ping,
    /// `3` (Engine.IO 3: the answer to a client's ping).
    Pong,
    /// `3probe`.
    PongProbe,
    /// `6`.
    Noop,
    /// A message, text or binary.
    Message(&'a Message),
}

/// A packet or payload that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// An empty packet.
    Empty,
    /// A packet type that does not exist.
    UnknownType,
    /// A binary packet that is not valid base64.
    InvalidBase64,
    /// Text that is not UTF-8.
    InvalidUtf8,
    /// A payload's packet length that is missing, not digits, too long, or that ends
    /// inside a character.
    InvalidLength,
    /// A payload whose last packet is shorter than its length says.
    Truncated,
    /// A binary payload's packet marker that is neither string (0) nor binary (1).
    InvalidMarker,
    /// A packet larger than `max_payload`.
    TooLarge,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::Empty => "empty packet",
            DecodeError::UnknownType => "unknown packet type",
            DecodeError::InvalidBase64 => "invalid base64",
            DecodeError::InvalidUtf8 => "invalid UTF-8",
            DecodeError::InvalidLength => "invalid packet length",
            DecodeError::Truncated => "truncated packet",
            DecodeError::InvalidMarker => "invalid packet marker",
            DecodeError::TooLarge => "packet over max_payload",
        })
    }
}

/// Decodes one text packet (its type digit and its data); `text` must be UTF-8.
/// Shared by every protocol version: the packet type digits never changed.
pub(crate) fn decode_text_packet(text: Bytes) -> Result<Packet, DecodeError> {
    let Some(&first) = text.first() else {
        return Err(DecodeError::Empty);
    };
    let data = &text[1..];
    Ok(match first {
        b'0' => Packet::Open,
        b'1' => Packet::Close,
        b'2' => Packet::Ping {
            probe: data == b"probe",
        },
        b'3' => Packet::Pong {
            probe: data == b"probe",
        },
        b'4' => {
            Packet::Message(Str::from_utf8(text.slice(1..)).map_err(|_| DecodeError::InvalidUtf8)?)
        }
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        _ => return Err(DecodeError::UnknownType),
    })
}

/// Decodes one text packet from text already known to be UTF-8 (its message shares the
/// buffer, without a second check).
pub(crate) fn decode_str_packet(text: Str) -> Result<Packet, DecodeError> {
    match text.as_bytes().first() {
        Some(b'4') => Ok(Packet::Message(text.slice(1..text.len()))),
        _ => decode_text_packet(text.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_type() {
        let d = |s: &'static str| decode_text_packet(Bytes::from_static(s.as_bytes()));
        assert_eq!(d("0"), Ok(Packet::Open));
        assert_eq!(d("1"), Ok(Packet::Close));
        assert_eq!(d("2"), Ok(Packet::Ping { probe: false }));
        assert_eq!(d("2probe"), Ok(Packet::Ping { probe: true }));
        assert_eq!(d("3"), Ok(Packet::Pong { probe: false }));
        assert_eq!(d("4héllo"), Ok(Packet::Message(Str::from("héllo"))));
        assert_eq!(d("4"), Ok(Packet::Message(Str::from(""))));
        assert_eq!(d("5"), Ok(Packet::Upgrade));
        assert_eq!(d("6"), Ok(Packet::Noop));
        assert_eq!(d(""), Err(DecodeError::Empty));
        assert_eq!(d("7"), Err(DecodeError::UnknownType));
        assert_eq!(d("abc"), Err(DecodeError::UnknownType));
    }
}
