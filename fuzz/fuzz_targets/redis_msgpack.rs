//! The Redis adapter's MessagePack codec (with `notepack.io`'s extensions), on any bytes.
//!
//! Checks: a decoded value encodes into bytes that decode again, and from then on
//! encoding is stable (the first encoding may differ: smallest forms, old extensions
//! rewritten); its JSON view is the same before and after (but for `notepack.io`'s old
//! `undefined`, which the JSON view of a map leaves out and which encodes as `nil`, as
//! `notepack.io` writes `undefined` today); the encoding of a value never exceeds a small
//! multiple of the input that gave it.
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
    let stable = again.encode();
    let third = MsgValue::decode(&Bytes::from(stable.clone())).expect("stable encoding decodes");
    assert_eq!(third.encode(), stable, "encoding is not stable");
    if !value.has_nan() {
        assert_eq!(third, again);
        if let (Ok(a), Ok(b)) = (again.to_json(), third.to_json()) {
            assert_eq!(a, b, "the JSON view changed through a second encoding");
        }
        // `undefined` members are left out of the JSON view, and encoded as `nil` (as
        // `notepack.io` encodes `undefined`), so only a value without any keeps its view.
        if !value.has_undefined() {
            if let (Ok(a), Ok(b)) = (&json, again.to_json()) {
                assert_eq!(*a, b, "the JSON view changed through an encoding");
            }
        }
    }
}
