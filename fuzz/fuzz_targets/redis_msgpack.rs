//! The crate's MessagePack codec as the Redis adapter reads messages with it (with
//! `notepack.io`'s extensions), on any bytes.
//!
//! Checks: a decoded value (extensions already rewritten into plain values by the codec)
//! encodes into bytes that decode again into the same value and encode the same again;
//! its JSON view is the same before and after; the encoding of a value never exceeds a
//! small multiple of the input that gave it.
#![cfg(feature = "redis")]
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::redis::MsgValue;

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let Ok(value) = MsgValue::decode(&Bytes::copy_from_slice(data)) else {
        return;
    };
    let json = value.to_json();
    let encoded = value.encode();
    assert!(
        encoded.len() <= data.len() * 9 + 16,
        "{} bytes encode to {}",
        data.len(),
        encoded.len()
    );
    let again = MsgValue::decode(&Bytes::from(encoded.clone()))
        .unwrap_or_else(|e| panic!("the adapter's own encoding {encoded:x?} is refused: {e}"));
    assert_eq!(again, value, "a value changed through its encoding");
    assert_eq!(again.encode(), encoded, "encoding is not stable");
    if let (Ok(a), Ok(b)) = (&json, again.to_json()) {
        assert_eq!(*a, b, "the JSON view changed through an encoding");
    }
}
