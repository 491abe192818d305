//! Engine.IO packets: one WebSocket text frame, as a session decodes it (Engine.IO 4, and
//! Engine.IO 3 as text and as a binary frame).
//!
//! Checks: only an empty frame or an unknown type digit is refused; a message keeps its
//! text exactly; a message the server writes back over polling reads back the same.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::engine::{
    Framing, Packet, decode_payload, decode_ws_text, encode_payload,
};
use tower_socketio::engine::Message;

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    // Engine.IO 3 frames: only no panic (its packet format is the same text, and a binary
    // frame is a type byte and the data).
    if let Some(v3) = Framing::from_query("EIO=3", false) {
        let _ = v3.decode_ws_text(Bytes::copy_from_slice(data));
        let _ = v3.decode_ws_binary(Bytes::copy_from_slice(data));
    }
    let decoded = decode_ws_text(Bytes::copy_from_slice(data));
    // WebSocket text frames are UTF-8 (tungstenite checks); other bytes only must not panic.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let packet = match decoded {
        Ok(p) => p,
        Err(_) => {
            assert!(
                data.first().is_none_or(|b| !(b'0'..=b'6').contains(b)),
                "refused a frame of a known type: {text:?}"
            );
            return;
        }
    };
    let expected_type = data[0];
    match &packet {
        Packet::Open => assert_eq!(expected_type, b'0'),
        Packet::Close => assert_eq!(expected_type, b'1'),
        Packet::Ping { probe } => {
            assert_eq!(expected_type, b'2');
            assert_eq!(*probe, &text[1..] == "probe");
        }
        Packet::Pong { probe } => {
            assert_eq!(expected_type, b'3');
            assert_eq!(*probe, &text[1..] == "probe");
        }
        Packet::Message(Message::Text(s)) => {
            assert_eq!(expected_type, b'4');
            assert_eq!(s.as_str(), &text[1..]);
        }
        Packet::Message(Message::Binary(_)) => panic!("a text frame decoded as binary"),
        Packet::Upgrade => assert_eq!(expected_type, b'5'),
        Packet::Noop => assert_eq!(expected_type, b'6'),
    }
    // The polling framing separates packets with 0x1e, which a text frame may contain.
    if let Packet::Message(m) = &packet {
        if !text.contains('\u{1e}') {
            let payload = encode_payload(std::slice::from_ref(m));
            assert_eq!(decode_payload(payload), Ok(vec![Ok(packet.clone())]));
        }
    }
}
