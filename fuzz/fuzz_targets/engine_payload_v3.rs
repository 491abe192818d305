//! Engine.IO 3 polling payloads (Socket.IO 2 clients): a POST body as a session decodes it,
//! text (`<length>:<packet>`, lengths in UTF-16 code units, binary as `b4` and base64),
//! binary (`application/octet-stream`: a marker byte, length digits, `0xff`, the packet),
//! or JSONP (a form body `d=...`).
//!
//! The input: the first byte picks how the client reads (bit 0: the body is
//! `application/octet-stream`, bit 1: JSONP, bit 2: `b64=1`) and the packet limit (the
//! other bits); the rest is the body.
//!
//! Checks: a body is refused as a whole or every packet of it is delivered (Engine.IO 3
//! payloads are validated first); no packet exceeds the limit; the messages read back the
//! same once the server writes them, as a binary payload and as a text payload; a response
//! within a limit takes the messages that fit, and stays within it.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use bytes::Bytes;
use tower_socketio::__private_fuzz::engine::{Framing, Packet};
use tower_socketio::engine::Message;

fn framing(query: &str) -> Framing {
    Framing::from_query(query, true).expect("Engine.IO 3 is served")
}

/// Writes `messages` with `writer` and reads the body back as a POST of that framing.
fn round_trip(writer: Framing, messages: &[Message], max: usize) -> Vec<Message> {
    let poll = writer.encode_poll(messages, max);
    assert!(poll.messages >= 1);
    assert!(
        poll.body.len() <= max || poll.messages == 1,
        "{} bytes for a limit of {max}",
        poll.body.len()
    );
    let octet = poll.content_type.starts_with("application/octet-stream");
    let read = writer
        .decode_post(poll.body.clone(), octet, usize::MAX)
        .unwrap_or_else(|e| panic!("the server's own payload {:?} is refused: {e}", poll.body));
    let again: Vec<Message> = read
        .into_iter()
        .map(|p| match p {
            Ok(Packet::Message(m)) => m,
            other => panic!("the server's own payload read back as {other:?}"),
        })
        .collect();
    assert_eq!(again, messages[..poll.messages], "payload {:?}", poll.body);
    again
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let octet = mode & 1 != 0;
    let jsonp = mode & 2 != 0;
    let b64 = mode & 4 != 0;
    let max = [64, 1_000, 100_000, 1_000_000][usize::from(mode >> 6)];
    let query = format!(
        "EIO=3&transport=polling{}{}",
        if jsonp { "&j=0" } else { "" },
        if b64 { "&b64=1" } else { "" }
    );
    let reader = framing(&query);
    let Ok(packets) = reader.decode_post(Bytes::copy_from_slice(body), octet, max) else {
        return;
    };
    let mut messages = Vec::new();
    for p in packets {
        match p {
            Ok(Packet::Message(m)) => {
                assert!(
                    m.len() <= max,
                    "a {} byte packet past the {max} limit",
                    m.len()
                );
                messages.push(m);
            }
            Ok(_) => {}
            Err(e) => panic!("an Engine.IO 3 body was delivered in part, then: {e}"),
        }
    }
    if messages.is_empty() {
        return;
    }
    // Written for a client that reads binary, and for one that reads base64 text.
    round_trip(framing("EIO=3&transport=polling"), &messages, usize::MAX);
    round_trip(
        framing("EIO=3&transport=polling&b64=1"),
        &messages,
        usize::MAX,
    );
    let limit = body.len() / 2 + 1;
    round_trip(framing("EIO=3&transport=polling"), &messages, limit);
    round_trip(framing("EIO=3&transport=polling&b64=1"), &messages, limit);
}
