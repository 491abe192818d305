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
    if ty != DISCONNECT && check_depth(payload.as_bytes(), config.max_depth)? {
        // A `\u` escape of a UTF-16 surrogate: one without its pair cannot be part of a
        // Rust string. JavaScript keeps it (Node hands such names and values to the
        // handlers); here it reads as U+FFFD, the replacement character, everywhere in the
        // packet. The replacement has the same length, so nothing else moves.
        if let Some(fixed) = replace_lone_surrogates(payload) {
            let mut copy = String::with_capacity(s.len());
            copy.push_str(&s[..pos]);
            copy.push_str(&fixed);
            return decode(Str::from(copy), config);
        }
    }
    let inner = match ty {
        CONNECT => PacketData::Connect(decode_connect(&text, payload)?),
        DISCONNECT if payload.is_empty() => PacketData::Disconnect,
        DISCONNECT => {
            return Err(ProtocolError::InvalidPayload(
                "DISCONNECT carries no payload",
            ));
        }
        CONNECT_ERROR => decode_connect_error(&text, payload)?,
        EVENT | BINARY_EVENT => {
            let (event, args) = decode_array(&text, payload, true)?;
            PacketData::Event {
                event: event.unwrap_or_default(),
                args,
                ack,
            }
        }
        _ => {
            let ack = ack.ok_or(ProtocolError::MissingAckId)?;
            let (_, args) = decode_array(&text, payload, false)?;
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
/// the arguments without parsing them, has no depth limit of its own). Returns whether a
/// string holds the `\u` escape of a UTF-16 surrogate (`\ud800` to `\udfff`).
fn check_depth(json: &[u8], max: usize) -> Result<bool, ProtocolError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut surrogate = false;
    for (i, &c) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
                if c == b'u'
                    && matches!(json.get(i + 1), Some(b'd' | b'D'))
                    && matches!(
                        json.get(i + 2),
                        Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                    )
                {
                    surrogate = true;
                }
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
    Ok(surrogate)
}

/// `json` with every lone surrogate escape (`\ud800` without its low half, or a low half
/// alone) replaced by `\ufffd`, which is as long; `None` when there is none.
fn replace_lone_surrogates(json: &str) -> Option<String> {
    fn unit(b: &[u8], at: usize) -> Option<u16> {
        if b.get(at) != Some(&b'\\') || b.get(at + 1) != Some(&b'u') {
            return None;
        }
        let hex = std::str::from_utf8(b.get(at + 2..at + 6)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let b = json.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match (in_string, b[i]) {
            (false, b'"') => {
                in_string = true;
                i += 1;
            }
            (false, _) => i += 1,
            (true, b'"') => {
                in_string = false;
                i += 1;
            }
            (true, b'\\') => match unit(b, i) {
                Some(0xD800..=0xDBFF) if matches!(unit(b, i + 6), Some(0xDC00..=0xDFFF)) => {
                    i += 12;
                }
                Some(0xD800..=0xDFFF) => {
                    out.get_or_insert_with(|| b.to_vec())[i + 2..i + 6].copy_from_slice(b"fffd");
                    i += 6;
                }
                _ => i += 2,
            },
            (true, _) => i += 1,
        }
    }
    out.map(|o| String::from_utf8(o).expect("only ASCII hex digits were replaced"))
}

fn trim_json_end(s: &str) -> &str {
    s.trim_end_matches([' ', '\t', '\n', '\r'])
}

fn decode_connect(text: &Str, payload: &str) -> Result<Option<Args>, ProtocolError> {
    if payload.is_empty() {
        return Ok(None);
    }
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

fn decode_connect_error(text: &Str, payload: &str) -> Result<PacketData, ProtocolError> {
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
) -> Result<(Option<Str>, Args), ProtocolError> {
    if payload.is_empty() {
        return Err(ProtocolError::InvalidPayload("missing payload"));
    }
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
    fn surrogate_escapes_are_found_and_lone_ones_replaced() {
        assert_eq!(check_depth(br#"["\ud800"]"#, 9), Ok(true));
        assert_eq!(check_depth(br#"["\uDFFF"]"#, 9), Ok(true));
        assert_eq!(check_depth(br#"["\u00e9","\\ud800"]"#, 9), Ok(false));
        assert_eq!(check_depth(br#"["ud800"]"#, 9), Ok(false));
        let fix = |s: &str| replace_lone_surrogates(s);
        assert_eq!(fix(r#"["\ud800"]"#).as_deref(), Some(r#"["\ufffd"]"#));
        assert_eq!(fix(r#"["\udc00x"]"#).as_deref(), Some(r#"["\ufffdx"]"#));
        assert_eq!(fix(r#"["\ud83d\ude00"]"#), None, "a pair stays");
        assert_eq!(
            fix(r#"["\ud83d\ud83d\ude00","\ude00"]"#).as_deref(),
            Some(r#"["\ufffd\ud83d\ude00","\ufffd"]"#)
        );
        assert_eq!(
            fix(r#"["\\ud800"]"#),
            None,
            "an escaped backslash, not an escape"
        );
        assert_eq!(fix(r#"{"\ud800":1}"#).as_deref(), Some(r#"{"\ufffd":1}"#));
        assert_eq!(fix(r#"["\ud800"#).as_deref(), Some(r#"["\ufffd"#));
        assert_eq!(
            fix(r#"["\ud8"]"#),
            None,
            "a broken escape is the parser's to refuse"
        );
    }

    #[test]
    fn lone_surrogates_read_as_the_replacement_character() {
        let config = DecoderConfig::default();
        let Ok(Decoded::Packet(p)) = decode(Str::from(r#"2["\ud800",1]"#), &config) else {
            panic!("refused");
        };
        let PacketData::Event { event, args, .. } = p.inner else {
            panic!("not an event");
        };
        assert_eq!(event.as_str(), "\u{fffd}");
        assert_eq!(args.deserialize::<u8>().unwrap(), 1);
        let Ok(Decoded::Packet(p)) = decode(Str::from(r#"0/a,{"k":"x\udfffy"}"#), &config) else {
            panic!("refused");
        };
        assert_eq!(p.ns.as_str(), "/a");
        let PacketData::Connect(Some(auth)) = p.inner else {
            panic!("not a CONNECT with auth");
        };
        let auth: serde_json::Value = auth.deserialize().unwrap();
        assert_eq!(auth["k"], "x\u{fffd}y");
        // Arguments too, and pairs are kept.
        let Ok(Decoded::Packet(p)) =
            decode(Str::from(r#"23["e","\ud800","\ud83d\ude00"]"#), &config)
        else {
            panic!("refused");
        };
        let PacketData::Event { args, ack, .. } = p.inner else {
            panic!("not an event");
        };
        assert_eq!(ack, Some(3));
        let (a, b): (String, String) = args.deserialize().unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("\u{fffd}", "\u{1f600}"));
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
