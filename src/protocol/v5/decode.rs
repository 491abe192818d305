//! Decoding one text message into a packet (or a packet waiting for attachments).

use serde::Deserialize;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{ACK, BINARY_ACK, BINARY_EVENT, CONNECT, CONNECT_ERROR, DISCONNECT, EVENT};
use crate::message::Str;
use crate::protocol::de::check_placeholders;
use crate::protocol::decoder::{Decoded, DecoderConfig, PartialPacket};
use crate::protocol::error::ProtocolError;
use crate::protocol::packet::DEFAULT_NS;
use crate::protocol::{Args, Packet, PacketData, is_reserved_event};

/// Decodes one text message.
pub(crate) fn decode(text: Str, config: &DecoderConfig) -> Result<Decoded, ProtocolError> {
    let s = text.as_str();
    let b = s.as_bytes();
    let ty = match b.first() {
        None => return Err(ProtocolError::Empty),
        Some(&c @ b'0'..=b'6') => c - b'0',
        Some(_) => {
            return Err(ProtocolError::UnknownPacketType(
                s.chars().next().unwrap_or('\0'),
            ));
        }
    };
    let binary = ty == BINARY_EVENT || ty == BINARY_ACK;
    let mut pos = 1;

    // Attachment count.
    let mut expected = 0;
    let digits = count_digits(&b[pos..]);
    let dash = b.get(pos + digits) == Some(&b'-');
    if binary {
        if digits == 0 || !dash {
            return Err(ProtocolError::InvalidAttachmentCount);
        }
        expected = parse_bounded(&b[pos..pos + digits], config.max_attachments as u64).ok_or(
            ProtocolError::TooManyAttachments {
                max: config.max_attachments,
            },
        )? as usize;
        pos += digits + 1;
    } else if digits > 0 && dash {
        return Err(ProtocolError::UnexpectedAttachmentCount);
    }

    // Namespace: from `/` to `,` or the end of the packet.
    let ns = if b.get(pos) == Some(&b'/') {
        let end = b[pos..]
            .iter()
            .position(|&c| c == b',')
            .map_or(b.len(), |i| pos + i);
        let ns = text.slice(pos..end);
        pos = (end + 1).min(b.len());
        ns
    } else {
        DEFAULT_NS
    };

    // Acknowledgement id.
    let mut ack = None;
    if matches!(ty, EVENT | ACK | BINARY_EVENT | BINARY_ACK) {
        let digits = count_digits(&b[pos..]);
        if digits > 0 {
            ack = Some(
                parse_bounded(&b[pos..pos + digits], u64::MAX)
                    .ok_or(ProtocolError::InvalidAckId)?,
            );
            pos += digits;
        }
        // An id must be followed by the array; letters there are a broken id.
        if b.get(pos).is_some_and(u8::is_ascii_alphanumeric) {
            return Err(ProtocolError::InvalidAckId);
        }
    }

    let payload = &s[pos..];
    let inner = match ty {
        CONNECT => PacketData::Connect(decode_connect(&text, payload, config)?),
        DISCONNECT if payload.is_empty() => PacketData::Disconnect,
        DISCONNECT => {
            return Err(ProtocolError::InvalidPayload(
                "DISCONNECT carries no payload",
            ));
        }
        CONNECT_ERROR => decode_connect_error(&text, payload, config)?,
        EVENT | BINARY_EVENT => {
            let (event, args) = decode_array(&text, payload, true, config)?;
            PacketData::Event {
                event: event.unwrap_or_default(),
                args,
                ack,
            }
        }
        _ => {
            let ack = ack.ok_or(ProtocolError::MissingAckId)?;
            let (_, args) = decode_array(&text, payload, false, config)?;
            PacketData::EventAck { args, ack }
        }
    };

    if binary && !check_placeholders(payload, expected).map_err(|_| invalid_json())? {
        return Err(ProtocolError::InvalidPlaceholder);
    }
    let packet = Packet { ns, inner };
    if expected == 0 {
        Ok(Decoded::Packet(packet))
    } else {
        Ok(Decoded::Partial(PartialPacket::new(packet, expected)))
    }
}

fn invalid_json() -> ProtocolError {
    ProtocolError::InvalidPayload("not valid JSON")
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Parses ASCII digits; `None` when the value is above `max` (no overflow).
fn parse_bounded(digits: &[u8], max: u64) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .filter(|&v| v <= max)
    })
}

/// A sub-slice of `text` given as a `&str` borrowed from it, without copying.
fn sub(text: &Str, part: &str) -> Str {
    let base = text.as_str().as_ptr() as usize;
    match (part.as_ptr() as usize).checked_sub(base) {
        Some(off) if off + part.len() <= text.len() => text.slice(off..off + part.len()),
        _ => Str::from(part.to_owned()),
    }
}

/// Refuses JSON nested deeper than `max` (serde_json's raw-value scanning, used to find
/// the arguments without parsing them, has no depth limit of its own).
fn check_depth(json: &[u8], max: usize) -> Result<(), ProtocolError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(ProtocolError::TooDeep { max });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn trim_json_end(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\n', '\r'])
}

fn decode_connect(
    text: &Str,
    payload: &str,
    config: &DecoderConfig,
) -> Result<Option<Args>, ProtocolError> {
    if payload.is_empty() {
        return Ok(None);
    }
    check_depth(payload.as_bytes(), config.max_depth)?;
    let raw: &RawValue = serde_json::from_str(payload).map_err(|_| invalid_json())?;
    if !raw.get().starts_with('{') {
        return Err(ProtocolError::InvalidPayload(
            "CONNECT payload must be a JSON object",
        ));
    }
    Ok(Some(Args::json_value(sub(text, raw.get()))))
}

#[derive(Deserialize)]
struct ConnectErrorObject<'a> {
    #[serde(default)]
    message: String,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

fn decode_connect_error(
    text: &Str,
    payload: &str,
    config: &DecoderConfig,
) -> Result<PacketData, ProtocolError> {
    check_depth(payload.as_bytes(), config.max_depth)?;
    let raw: &RawValue = serde_json::from_str(payload).map_err(|_| invalid_json())?;
    let json = raw.get();
    if json.starts_with('"') {
        let message: String = serde_json::from_str(json).map_err(|_| invalid_json())?;
        Ok(PacketData::ConnectError {
            message,
            data: None,
        })
    } else if json.starts_with('{') {
        let obj: ConnectErrorObject<'_> = serde_json::from_str(json)
            .map_err(|_| ProtocolError::InvalidPayload("CONNECT_ERROR message must be a string"))?;
        Ok(PacketData::ConnectError {
            message: obj.message,
            data: obj.data.map(|d| Args::json_value(sub(text, d.get()))),
        })
    } else {
        Err(ProtocolError::InvalidPayload(
            "CONNECT_ERROR payload must be a string or an object",
        ))
    }
}

/// The shape of an EVENT/ACK array, found without building a tree.
struct Head<'a> {
    name: Option<&'a RawValue>,
    first: Option<&'a RawValue>,
    count: usize,
}

struct HeadVisitor {
    named: bool,
}

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = Head<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head<'de>, A::Error> {
        let mut head = Head {
            name: None,
            first: None,
            count: 0,
        };
        if self.named {
            head.name = seq.next_element()?;
            if head.name.is_none() {
                return Ok(head);
            }
        }
        head.first = seq.next_element()?;
        if head.first.is_some() {
            head.count = 1;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                head.count += 1;
            }
        }
        Ok(head)
    }
}

/// Decodes the array of an EVENT (`named`: starts with the event name) or an ACK.
fn decode_array(
    text: &Str,
    payload: &str,
    named: bool,
    config: &DecoderConfig,
) -> Result<(Option<Str>, Args), ProtocolError> {
    if payload.is_empty() {
        return Err(ProtocolError::InvalidPayload("missing payload"));
    }
    check_depth(payload.as_bytes(), config.max_depth)?;
    let mut de = serde_json::Deserializer::from_str(payload);
    let head = de
        .deserialize_seq(HeadVisitor { named })
        .and_then(|head| de.end().map(|()| head))
        .map_err(|_| ProtocolError::InvalidPayload("expected a JSON array"))?;

    let event = if named {
        let raw = head.name.ok_or(ProtocolError::EmptyEvent)?.get();
        let event = match raw.as_bytes().first() {
            Some(b'"') => match serde_json::from_str::<&str>(raw) {
                Ok(name) => sub(text, name),
                Err(_) => Str::from(
                    serde_json::from_str::<String>(raw)
                        .map_err(|_| ProtocolError::InvalidEventName)?,
                ),
            },
            Some(b'-' | b'0'..=b'9') => sub(text, raw),
            _ => return Err(ProtocolError::InvalidEventName),
        };
        if is_reserved_event(&event) {
            return Err(ProtocolError::ReservedEvent(event.as_str().to_owned()));
        }
        Some(event)
    } else {
        None
    };

    let base = payload.as_ptr() as usize;
    let end = trim_json_end(payload).len().saturating_sub(1);
    let start = head.first.map_or(end, |first| {
        (first.get().as_ptr() as usize).saturating_sub(base)
    });
    let args = Args::from_parts(sub(text, payload), start, end, named, head.count);
    Ok((event, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_number_parsing() {
        assert_eq!(parse_bounded(b"0", 10), Some(0));
        assert_eq!(parse_bounded(b"010", 10), Some(10));
        assert_eq!(parse_bounded(b"11", 10), None);
        assert_eq!(
            parse_bounded(b"18446744073709551615", u64::MAX),
            Some(u64::MAX)
        );
        assert_eq!(parse_bounded(b"18446744073709551616", u64::MAX), None);
        assert_eq!(parse_bounded(&[b'9'; 100], u64::MAX), None);
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert!(check_depth(b"[[]]", 2).is_ok());
        assert_eq!(
            check_depth(b"[[[]]]", 2),
            Err(ProtocolError::TooDeep { max: 2 })
        );
        assert!(check_depth(br#"["[[[[\"[[[["]"#, 1).is_ok());
        assert!(check_depth(br#"[{"a\\":[1]}]"#, 3).is_ok());
        assert!(check_depth(br#"[{"a\\":[1]}]"#, 2).is_err());
        // Unbalanced input is left to the JSON parser.
        assert!(check_depth(b"]]]][", 1).is_ok());
    }

    #[test]
    fn sub_slices_share_or_copy() {
        let text = Str::from("2[\"abc\"]".to_owned());
        let part = &text.as_str()[3..6];
        let s = sub(&text, part);
        assert_eq!(s.as_str(), "abc");
        assert_eq!(s.as_bytes().as_ptr(), part.as_ptr());
        let foreign = sub(&text, "elsewhere");
        assert_eq!(foreign.as_str(), "elsewhere");
    }
}
