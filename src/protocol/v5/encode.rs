//! Encoding packets as protocol-5 text (plus binary attachments).

use std::cell::RefCell;

use bytes::Bytes;
use serde::Serialize;

use super::{ACK, BINARY_EVENT, CONNECT, CONNECT_ERROR, DISCONNECT, EVENT};
use crate::message::{Message, Str};
use crate::protocol::error::EncodeError;
use crate::protocol::ser::write_args;
use crate::protocol::{Args, Encoded, Packet, PacketData};

fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn write_header(buf: &mut Vec<u8>, ty: u8, ns: &str, ack: Option<u64>) {
    buf.push(b'0' + ty);
    if !ns.is_empty() && ns != "/" {
        buf.extend_from_slice(ns.as_bytes());
        buf.push(b',');
    }
    if let Some(id) = ack {
        write_u64(buf, id);
    }
}

/// Writes `s` as a JSON string.
fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[from..i]);
        if short.is_empty() {
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(c >> 4)]);
            buf.push(HEX[usize::from(c & 0xf)]);
        } else {
            buf.extend_from_slice(short);
        }
        from = i + 1;
    }
    buf.extend_from_slice(&bytes[from..]);
    buf.push(b'"');
}

fn into_str(buf: Vec<u8>) -> Str {
    match String::from_utf8(buf) {
        Ok(s) => Str::from(s),
        // Everything written here is UTF-8; this branch only keeps the code panic-free.
        Err(e) => Str::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Switches an EVENT/ACK to its binary type and writes the attachment count when there
/// are attachments.
fn finish(mut buf: Vec<u8>, attachments: Vec<Bytes>) -> Encoded {
    if !attachments.is_empty() {
        if let Some(ty) = buf.first_mut() {
            *ty += BINARY_EVENT - EVENT;
        }
        let mut count = Vec::with_capacity(4);
        write_u64(&mut count, attachments.len() as u64);
        count.push(b'-');
        buf.splice(1..1, count);
    }
    Encoded::new(Message::Text(into_str(buf)), attachments)
}

fn serialized<T: Serialize + ?Sized>(
    buf: Vec<u8>,
    first: Option<&str>,
    data: &T,
) -> Result<Encoded, EncodeError> {
    let cell = RefCell::new(buf);
    let (_, attachments) = write_args(&cell, first, data)?;
    Ok(finish(cell.into_inner(), attachments))
}

/// Encodes an EVENT (a BINARY_EVENT when `data` holds bytes) of `event` with the
/// arguments of `data`: a tuple is spread into several arguments, `()` is none,
/// anything else is one argument (see [`Args`] for the mapping).
pub fn encode_event<T: Serialize + ?Sized>(
    ns: &str,
    event: &str,
    data: &T,
    ack: Option<u64>,
) -> Result<Encoded, EncodeError> {
    let mut buf = Vec::with_capacity(32 + ns.len() + event.len());
    write_header(&mut buf, EVENT, ns, ack);
    serialized(buf, Some(event), data)
}

/// Encodes an ACK (a BINARY_ACK when `data` holds bytes) answering event `ack`, with the
/// arguments of `data` mapped as in [`encode_event`].
pub fn encode_ack<T: Serialize + ?Sized>(
    ns: &str,
    ack: u64,
    data: &T,
) -> Result<Encoded, EncodeError> {
    let mut buf = Vec::with_capacity(32 + ns.len());
    write_header(&mut buf, ACK, ns, Some(ack));
    serialized(buf, None, data)
}

fn write_args_array(buf: &mut Vec<u8>, event: Option<&str>, args: &Args, tail: Option<&str>) {
    buf.push(b'[');
    if let Some(event) = event {
        write_json_str(buf, event);
    }
    let raw = args.raw();
    if !raw.is_empty() {
        if event.is_some() {
            buf.push(b',');
        }
        buf.extend_from_slice(raw.as_bytes());
    }
    if let Some(tail) = tail {
        if event.is_some() || !raw.is_empty() {
            buf.push(b',');
        }
        write_json_str(buf, tail);
    }
    buf.push(b']');
}

/// Encodes an EVENT with already-encoded arguments (e.g. received ones, for an echo),
/// without parsing them again. Attachments are sent as they are; arguments in the
/// MessagePack form (another server's, in a cluster) are converted.
pub fn encode_event_args(ns: &str, event: &str, args: &Args, ack: Option<u64>) -> Encoded {
    encode_event_args_tail(ns, event, args, ack, None)
}

/// [`encode_event_args`] with one more, last, string argument after `args` when `tail`
/// is given: the offset of connection state recovery (`2["ev",1,"<offset>"]`, also for a
/// binary event).
pub(crate) fn encode_event_args_tail(
    ns: &str,
    event: &str,
    args: &Args,
    ack: Option<u64>,
    tail: Option<&str>,
) -> Encoded {
    let args = args.to_json();
    let extra = tail.map_or(0, |t| t.len() + 3);
    let mut buf = Vec::with_capacity(32 + ns.len() + event.len() + args.raw().len() + extra);
    write_header(&mut buf, EVENT, ns, ack);
    write_args_array(&mut buf, Some(event), &args, tail);
    finish(buf, args.attachments().to_vec())
}

/// Encodes an ACK with already-encoded arguments, without parsing them again.
pub fn encode_ack_args(ns: &str, ack: u64, args: &Args) -> Encoded {
    let args = args.to_json();
    let mut buf = Vec::with_capacity(32 + ns.len() + args.raw().len());
    write_header(&mut buf, ACK, ns, Some(ack));
    write_args_array(&mut buf, None, &args, None);
    finish(buf, args.attachments().to_vec())
}

/// Encodes the server's CONNECT answer: `0[<nsp>,]{"sid":"<sid>"}`.
pub fn encode_connect(ns: &str, sid: &str) -> Str {
    encode_connect_reply(ns, sid, None)
}

/// The server's CONNECT answer with the private session id of connection state recovery
/// when there is one: `0[<nsp>,]{"sid":"<sid>"[,"pid":"<pid>"]}`.
pub(crate) fn encode_connect_reply(ns: &str, sid: &str, pid: Option<&str>) -> Str {
    let mut buf = Vec::with_capacity(16 + ns.len() + sid.len() + pid.map_or(0, |p| p.len() + 9));
    write_header(&mut buf, CONNECT, ns, None);
    buf.extend_from_slice(b"{\"sid\":");
    write_json_str(&mut buf, sid);
    if let Some(pid) = pid {
        buf.extend_from_slice(b",\"pid\":");
        write_json_str(&mut buf, pid);
    }
    buf.push(b'}');
    into_str(buf)
}

/// Encodes a CONNECT packet with any payload (e.g. `{"sid":..,"pid":..}` once connection
/// state recovery exists). The payload must serialize to a JSON object.
pub fn encode_connect_data<T: Serialize + ?Sized>(ns: &str, data: &T) -> Result<Str, EncodeError> {
    let mut buf = Vec::with_capacity(32 + ns.len());
    write_header(&mut buf, CONNECT, ns, None);
    let at = buf.len();
    serde_json::to_writer(&mut buf, data)?;
    if buf.get(at) != Some(&b'{') {
        return Err(EncodeError::custom(
            "a CONNECT payload must be a JSON object",
        ));
    }
    Ok(into_str(buf))
}

/// Encodes a CONNECT_ERROR: `4[<nsp>,]{"message":"..."[,"data":...]}`.
///
/// Pass `None::<&()>` for no data.
pub fn encode_connect_error<T: Serialize + ?Sized>(
    ns: &str,
    message: &str,
    data: Option<&T>,
) -> Result<Str, EncodeError> {
    let mut buf = Vec::with_capacity(32 + ns.len() + message.len());
    write_header(&mut buf, CONNECT_ERROR, ns, None);
    buf.extend_from_slice(b"{\"message\":");
    write_json_str(&mut buf, message);
    if let Some(data) = data {
        buf.extend_from_slice(b",\"data\":");
        serde_json::to_writer(&mut buf, data)?;
    }
    buf.push(b'}');
    Ok(into_str(buf))
}

/// Encodes a DISCONNECT: `1[<nsp>,]`.
pub fn encode_disconnect(ns: &str) -> Str {
    let mut buf = Vec::with_capacity(2 + ns.len());
    write_header(&mut buf, DISCONNECT, ns, None);
    into_str(buf)
}

/// Encodes any packet. Arguments and raw payloads are written as they are.
pub fn encode_packet(packet: &Packet) -> Encoded {
    let ns = packet.ns.as_str();
    match &packet.inner {
        PacketData::Connect(payload) => {
            let payload = payload.as_ref().map(Args::to_json);
            let mut buf =
                Vec::with_capacity(2 + ns.len() + payload.as_ref().map_or(0, |p| p.raw().len()));
            write_header(&mut buf, CONNECT, ns, None);
            if let Some(payload) = payload {
                buf.extend_from_slice(payload.raw().as_bytes());
            }
            finish(buf, Vec::new())
        }
        PacketData::Disconnect => {
            let mut buf = Vec::with_capacity(2 + ns.len());
            write_header(&mut buf, DISCONNECT, ns, None);
            finish(buf, Vec::new())
        }
        PacketData::Event { event, args, ack } => encode_event_args(ns, event, args, *ack),
        PacketData::EventAck { args, ack } => encode_ack_args(ns, *ack, args),
        PacketData::ConnectError { message, data } => {
            let mut buf = Vec::with_capacity(32 + ns.len() + message.len());
            write_header(&mut buf, CONNECT_ERROR, ns, None);
            buf.extend_from_slice(b"{\"message\":");
            write_json_str(&mut buf, message);
            if let Some(data) = data {
                buf.extend_from_slice(b",\"data\":");
                buf.extend_from_slice(data.to_json().raw().as_bytes());
            }
            buf.push(b'}');
            finish(buf, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_match_serde_json() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        for s in ["", "plain", "q\"b\\s/", "é\u{1F600}\u{2028}", &all_controls] {
            let mut buf = Vec::new();
            write_json_str(&mut buf, s);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn binary_header_is_inserted_after_the_type() {
        let mut buf = Vec::new();
        write_header(&mut buf, EVENT, "/n", Some(12));
        let e = finish(buf, vec![Bytes::from_static(b"a"); 11]);
        assert_eq!(e.text().unwrap().as_str(), "511-/n,12");
        let mut buf = Vec::new();
        write_header(&mut buf, ACK, "/", Some(0));
        assert_eq!(finish(buf, Vec::new()).text().unwrap().as_str(), "30");
    }

    #[test]
    fn an_offset_is_the_last_argument() {
        let args = Args::from_serialize(&(1, "x")).unwrap();
        let e = encode_event_args_tail("/", "ev", &args, None, Some("ab.1"));
        assert_eq!(e.text().unwrap().as_str(), r#"2["ev",1,"x","ab.1"]"#);
        let none = Args::new();
        let e = encode_event_args_tail("/chat", "ev", &none, None, Some("o"));
        assert_eq!(e.text().unwrap().as_str(), r#"2/chat,["ev","o"]"#);
        let bin = Args::from_serialize(&(Bytes::from_static(&[1, 2]),)).unwrap();
        let e = encode_event_args_tail("/", "b", &bin, None, Some("q\"z"));
        assert_eq!(
            e.text().unwrap().as_str(),
            r#"51-["b",{"_placeholder":true,"num":0},"q\"z"]"#
        );
        assert_eq!(e.attachments(), [Bytes::from_static(&[1, 2])]);
    }

    #[test]
    fn connect_reply_with_and_without_pid() {
        assert_eq!(
            encode_connect_reply("/", "abc", None).as_str(),
            r#"0{"sid":"abc"}"#
        );
        assert_eq!(
            encode_connect_reply("/chat", "a\"b", Some("p")).as_str(),
            r#"0/chat,{"sid":"a\"b","pid":"p"}"#
        );
    }
}
