//! The messages of the cluster-adapter protocol (the Streams and sharded adapters) as the
//! adapters read them from Redis: pub/sub envelopes (JSON when they start with `{`,
//! MessagePack otherwise), MessagePack-only envelopes, and stream entries.
//!
//! The first byte picks the door (envelope, MessagePack envelope, stream entry); for a
//! stream entry the rest is four fields separated by `0xc1` (`uid`, `nsp`, `type`,
//! `data`; a missing `data` is none).
//!
//! Checks: whatever decodes can be read in every way the adapters read it without a
//! panic; its MessagePack envelope decodes back to the same message; its own envelope
//! (MessagePack for a message type that carries binary and holds some, JSON otherwise) and
//! its stream entry, with and without MessagePack for binary, read back as a message, the
//! same one unless binary had to go as JSON (as numbers, as Node's adapters write a
//! `Buffer` into JSON).
#![cfg(feature = "redis-streams")]
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::cluster::ClusterMessage;

fn field(fields: &[(&'static str, Bytes)], name: &str) -> Option<Bytes> {
    fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let Some((&door, rest)) = data.split_first() else {
        return;
    };
    let decoded = match door % 3 {
        0 => ClusterMessage::decode(&Bytes::copy_from_slice(rest)),
        1 => ClusterMessage::decode_msgpack(&Bytes::copy_from_slice(rest)),
        _ => {
            let mut parts = rest.split(|&b| b == 0xc1);
            let uid = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let nsp = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let kind = String::from_utf8_lossy(parts.next().unwrap_or_default());
            let data = parts.next();
            ClusterMessage::from_stream_fields(&uid, &nsp, &kind, data)
        }
    };
    let Ok(message) = decoded else {
        return;
    };
    message.read_all();
    let envelope = message.encode();
    let again = ClusterMessage::decode(&envelope)
        .unwrap_or_else(|e| panic!("its own envelope {envelope:?} is refused: {e}"));
    let json_binary = message.has_binary() && envelope.first() == Some(&b'{');
    if !json_binary {
        assert_eq!(again, message, "through its envelope {envelope:?}");
    }
    let mp = message.encode_msgpack();
    let again = ClusterMessage::decode_msgpack(&mp)
        .unwrap_or_else(|e| panic!("its own MessagePack {mp:x?} is refused: {e}"));
    assert_eq!(again, message, "through its MessagePack envelope");
    for only_plaintext in [false, true] {
        let fields = message.stream_fields(only_plaintext);
        let text = |name| {
            field(&fields, name)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let data = field(&fields, "data");
        let again = ClusterMessage::from_stream_fields(
            &text("uid"),
            &text("nsp"),
            &text("type"),
            data.as_deref(),
        )
        .unwrap_or_else(|e| panic!("its own stream entry {fields:?} is refused: {e}"));
        let text_data = data.as_ref().is_some_and(|d| d.first() == Some(&b'{'));
        if !(message.has_binary() && text_data) {
            assert_eq!(again, message, "through its stream entry {fields:?}");
        }
    }
}
