//! The Socket.IO decoders behind the parser seam, fed frame by frame as a connection feeds
//! them: a `PacketReader` of protocol 5 (the server's limits, and tight ones), of
//! protocol 4 (Socket.IO 2 clients) and of the MessagePack parser at both gets text frames and the binary attachments that
//! follow a binary packet, through `feed`, as the core calls it.
//!
//! The input is a sequence of frames separated by `0xff` (never part of UTF-8 text); a
//! frame that starts with `0x00` is binary (the rest of it), any other is text.
//!
//! Checks: the arguments of every packet read deserialize as any shape without panicking;
//! every packet re-encodes with the reader's `Codec` into messages that a fresh reader
//! reads back as the same packet (and that encode the same again); a reader that refused
//! a frame holds no packet any more.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use tower_socketio::engine::{Message, Str};
use tower_socketio::protocol::{
    Args, Codec, DecoderConfig, Packet, PacketData, Parser, Revision, Value,
};

#[derive(Deserialize)]
#[allow(dead_code)]
struct Loose {
    a: Option<Bytes>,
    b: Option<Vec<Value>>,
    num: Option<u64>,
    _placeholder: Option<bool>,
    k: Option<HashMap<u32, Value>>,
}

/// Reads the arguments in many shapes; only panics matter.
fn exercise(args: &Args) {
    let _ = args.deserialize::<Value>();
    let _ = args.deserialize::<(Value, Value, Value)>();
    let _ = args.deserialize_all::<Vec<Value>>();
    let _ = args.deserialize::<(Bytes, Option<Bytes>)>();
    let _ = args.deserialize::<(Vec<u8>, String)>();
    let _ = args.deserialize::<(String, u64, i8, f32, bool, char)>();
    let _ = args.deserialize::<Loose>();
    let _ = args.deserialize::<(Loose, Loose)>();
    let _ = args.deserialize::<HashMap<String, Bytes>>();
    let _ = args.deserialize::<serde_json::Value>();
    let _ = args.deserialize_all::<Vec<serde_json::Value>>();
    let _ = args.deserialize::<Box<serde_json::value::RawValue>>();
    let _ = args.deserialize::<Option<()>>();
    let _ = args.raw();
    let _ = args.len();
}

/// Reads the codec's own encoding of `p` with a fresh reader.
fn check_packet(codec: Codec, p: &Packet) {
    if let PacketData::Event { args, .. } | PacketData::EventAck { args, .. } = &p.inner {
        exercise(args);
    }
    // Protocol 4 writes a server's CONNECT and CONNECT_ERROR, not what a client sends (a
    // CONNECT carries a query there): only the packets both sides send come back the same.
    if codec.revision() == Revision::V4
        && matches!(
            p.inner,
            PacketData::Connect(_) | PacketData::ConnectError { .. }
        )
    {
        return;
    }
    let encoded = codec.encode(p);
    let mut reader = codec.reader(
        DecoderConfig::default()
            .with_max_attachments(usize::MAX)
            .with_max_depth(usize::MAX),
    );
    let messages = encoded.messages().collect::<Vec<Message>>();
    let mut again = None;
    for (i, m) in messages.iter().enumerate() {
        match reader.feed(m.clone()) {
            Ok(Some(packet)) => {
                assert_eq!(i, messages.len() - 1, "a packet before its last message");
                again = Some(packet);
            }
            Ok(None) => assert!(i < messages.len() - 1, "no packet after the last message"),
            Err(e) => panic!("the codec's own encoding {messages:?} is refused: {e}"),
        }
    }
    let again = again.expect("a packet");
    assert_eq!(&again, p, "round trip of {messages:?}");
    assert_eq!(codec.encode(&again), encoded);
}

fn frames(data: &[u8]) -> impl Iterator<Item = Message> + '_ {
    data.split(|&b| b == 0xff)
        .take(32)
        .map(|frame| match frame {
            [0, rest @ ..] => Message::Binary(Bytes::copy_from_slice(rest)),
            text => Message::Text(Str::from(String::from_utf8_lossy(text).into_owned())),
        })
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    // Protocol 5 (the default) and protocol 4 (Socket.IO 2 clients), with the server's
    // limits and tight ones; the MessagePack parser at both revisions (its packets are the
    // binary frames).
    let v5 = Codec::default();
    let v4 = Codec::new(Parser::Json, Revision::V4);
    let mp = Codec::new(Parser::MsgPack, Revision::V5);
    let mp4 = Codec::new(Parser::MsgPack, Revision::V4);
    let tight = DecoderConfig::default()
        .with_max_depth(8)
        .with_max_attachments(2);
    let runs = [
        (v5, DecoderConfig::default()),
        (v5, tight),
        (v4, DecoderConfig::default()),
        (mp, DecoderConfig::default()),
        (mp, tight),
        (mp4, DecoderConfig::default()),
    ];
    for (codec, limits) in runs {
        let mut reader = codec.reader(limits);
        for frame in frames(data) {
            match reader.feed(frame) {
                Ok(Some(packet)) => {
                    assert!(!reader.is_pending());
                    check_packet(codec, &packet);
                }
                Ok(None) => assert!(reader.is_pending()),
                Err(e) => {
                    let _ = e.to_string();
                    assert!(
                        !reader.is_pending(),
                        "a refused frame left a packet waiting"
                    );
                }
            }
        }
    }
}
