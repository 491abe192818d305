//! Socket.IO protocol 4 (Socket.IO 2 clients, over Engine.IO 3) with the default parser.
//!
//! Its text framing is protocol 5's, `<type>[<attachments>-][<nsp>,][<ack id>][JSON]`, and
//! EVENT, ACK and their binary forms are byte for byte the same (so both share one
//! [`WireFormat`](super::WireFormat): a broadcast is encoded once for both). What differs:
//!
//! - CONNECT from a client carries no JSON; the client's query follows the namespace,
//!   `0/chat?token=abc,`, and is the socket's auth (`{"token":"abc"}`, strings only, the
//!   last of a repeated key). The namespace is the text before `?`, as written. The client
//!   never connects `/`: the server joins it as the Engine.IO session opens.
//! - The server's CONNECT answer carries nothing: `0` or `0/chat,`.
//! - A refusal is an ERROR packet whose data is the error's data when it has some (and it
//!   is not `null`, `false`, `0` or `""`, which JavaScript takes for none), else its message
//!   as a JSON string: `4/chat,"not authorized"`.

use serde::Serialize;

use super::decoder::{Decoded, DecoderConfig};
use super::error::{EncodeError, ProtocolError};
use super::packet::DEFAULT_NS;
use super::{Args, Encoded, Packet, PacketData, v5};
use crate::message::{Message, Str};

/// Decodes one text message of protocol 4.
pub(crate) fn decode(text: Str, config: &DecoderConfig) -> Result<Decoded, ProtocolError> {
    if text.as_bytes().first() == Some(&b'0') {
        return decode_connect(&text).map(Decoded::Packet);
    }
    v5::decode(text, config)
}

/// `0[<nsp>[?<query>]][,<ignored>]`: the namespace and its query as auth.
fn decode_connect(text: &Str) -> Result<Packet, ProtocolError> {
    let b = text.as_bytes();
    if b.len() == 1 {
        // `/` is joined by the server; a CONNECT for it is refused by the core as a
        // second CONNECT, like Node's.
        return Ok(Packet::connect(
            DEFAULT_NS,
            Some(Args::json_value(Str::from_static("{}"))),
        ));
    }
    if b[1] != b'/' {
        return Err(ProtocolError::InvalidPayload(
            "a protocol 4 CONNECT names its namespace",
        ));
    }
    let end = b.iter().position(|&c| c == b',').unwrap_or(b.len());
    let target = &text.as_str()[1..end];
    let (ns_end, query) = match target.find('?') {
        Some(q) => (1 + q, &target[q + 1..]),
        None => (end, ""),
    };
    let ns = text.slice(1..ns_end);
    Ok(Packet::connect(
        ns,
        Some(Args::json_value(query_auth(query))),
    ))
}

/// A query string as a JSON object of strings (`application/x-www-form-urlencoded`:
/// `+` is a space, malformed `%` sequences stay as they are), keys in their first order,
/// the last value of a repeated key.
pub(crate) fn query_auth(query: &str) -> Str {
    if query.is_empty() {
        return Str::from_static("{}");
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some(pair) => pair.1 = v.into_owned(),
            None => pairs.push((k.into_owned(), v.into_owned())),
        }
    }
    let mut out = String::with_capacity(query.len() + 8);
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A string always serializes.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    out.push('}');
    Str::from(out)
}

/// The header `<type>[<nsp>,]` of a packet without an id.
fn header(ty: char, ns: &str) -> String {
    let mut s = String::with_capacity(2 + ns.len());
    s.push(ty);
    if !ns.is_empty() && ns != "/" {
        s.push_str(ns);
        s.push(',');
    }
    s
}

/// The server's CONNECT answer: `0[<nsp>,]`, nothing else.
pub(crate) fn encode_connect(ns: &str) -> Str {
    Str::from(header('0', ns))
}

/// Whether JSON text is one of JavaScript's falsy values (`err.data || err.message`).
fn falsy(json: &str) -> bool {
    matches!(
        json,
        "null" | "false" | "0" | "-0" | "0.0" | "-0.0" | "\"\""
    )
}

/// A refusal: `4[<nsp>,]<data>` with the error's data, else its message as a JSON string.
pub(crate) fn encode_connect_error<T: Serialize + ?Sized>(
    ns: &str,
    message: &str,
    data: Option<&T>,
) -> Result<Str, EncodeError> {
    let data = match data {
        Some(d) => Some(serde_json::to_string(d)?),
        None => None,
    };
    Ok(connect_error_text(ns, message, data.as_deref()))
}

fn connect_error_text(ns: &str, message: &str, data: Option<&str>) -> Str {
    let mut s = header('4', ns);
    match data {
        Some(d) if !falsy(d) => s.push_str(d),
        _ => s.push_str(&serde_json::to_string(message).unwrap_or_default()),
    }
    Str::from(s)
}

/// Encodes any packet as protocol 4 writes it.
pub(crate) fn encode_packet(packet: &Packet) -> Encoded {
    let ns = packet.ns.as_str();
    match &packet.inner {
        PacketData::Connect(_) => Encoded::from(encode_connect(ns)),
        PacketData::ConnectError { message, data } => {
            let data = data.as_ref().map(|d| d.to_json().raw().to_owned());
            Encoded::new(
                Message::Text(connect_error_text(ns, message, data.as_deref())),
                Vec::new(),
            )
        }
        _ => v5::encode_packet(packet),
    }
}

#[cfg(test)]
#[path = "v4_tests.rs"]
mod tests;
