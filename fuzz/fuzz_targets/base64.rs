//! Base64 of binary polling packets (`b…`): what clients write (padding optional) decoded
//! as a session does, and what the server writes read back.
//!
//! Checks: decoded data is never longer than the text allows; it reads back the same once
//! the server writes it; any bytes the server writes read back the same.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::engine::{
    Packet, decode_base64, decode_payload, encode_payload,
};
use tower_socketio::engine::Message;

fn round_trip(bytes: Bytes) {
    let message = Message::Binary(bytes);
    let payload = encode_payload(std::slice::from_ref(&message));
    assert_eq!(
        decode_payload(payload),
        Ok(vec![Ok(Packet::Message(message))])
    );
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    if let Ok(bytes) = decode_base64(data) {
        assert!(
            bytes.len() <= data.len() / 4 * 3 + 3,
            "more bytes than the text holds"
        );
        round_trip(bytes);
    }
    round_trip(Bytes::copy_from_slice(data));
}
