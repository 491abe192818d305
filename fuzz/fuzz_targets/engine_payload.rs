//! Engine.IO 4 polling payloads: a POST body, as a session decodes it.
//!
//! Checks: packets come out up to the first bad one and never past it; there are no more
//! packets than separators allow; the messages read back the same once the server writes
//! them into a payload; a response within a limit takes the messages that fit, and stays
//! within it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::engine::{Framing, Packet, decode_payload, encode_payload};
use tower_socketio::engine::Message;

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let packets = match decode_payload(Bytes::copy_from_slice(data)) {
        Ok(p) => p,
        Err(_) => {
            assert!(
                data.is_empty() || std::str::from_utf8(data).is_err(),
                "a UTF-8 body refused as a whole"
            );
            return;
        }
    };
    assert!(
        std::str::from_utf8(data).is_ok(),
        "a body that is not UTF-8 was read"
    );
    let separators = data.iter().filter(|&&b| b == 0x1e).count();
    assert!(!packets.is_empty() && packets.len() <= separators + 1);
    if let Some(i) = packets.iter().position(Result::is_err) {
        assert_eq!(i, packets.len() - 1, "a packet was read after a bad one");
    }
    let messages: Vec<Message> = packets
        .iter()
        .filter_map(|p| match p {
            Ok(Packet::Message(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    if messages.is_empty() {
        return;
    }
    let read_back = |payload: Bytes| -> Vec<Message> {
        decode_payload(payload)
            .expect("the server's own payload reads back")
            .into_iter()
            .map(|p| match p {
                Ok(Packet::Message(m)) => m,
                other => panic!("the server's own payload read back as {other:?}"),
            })
            .collect()
    };
    assert_eq!(read_back(encode_payload(&messages)), messages);
    // Within a limit (from the input), a response takes the messages that fit, in order,
    // and stays within it unless the first alone is larger.
    let max = data.len() / 2 + 1;
    let poll = Framing::v4().encode_poll(&messages, max);
    assert!(poll.messages >= 1);
    assert!(
        poll.body.len() <= max || poll.messages == 1,
        "{} bytes for a limit of {max}",
        poll.body.len()
    );
    assert_eq!(read_back(poll.body), messages[..poll.messages]);
}
