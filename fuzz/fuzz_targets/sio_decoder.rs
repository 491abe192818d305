//! The Socket.IO decoder (protocol 5, default parser), fed frame by frame as a connection
//! feeds it: text frames and the binary attachments that follow a binary packet.
//!
//! The input is a sequence of frames separated by `0xff` (never part of UTF-8 text); a
//! frame that starts with `0x00` is binary (the rest of it), any other is text. As the
//! connection does, a text frame while attachments are due, or a binary frame no packet
//! announced, is an error and drops the packet that waited.
//!
//! Checks: the arguments of every accepted packet deserialize as any shape without
//! panicking; every accepted packet re-encodes into frames that decode to the same packet
//! (and encode the same again); a completed packet takes no more attachments.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use tower_socketio::engine::Str;
use tower_socketio::protocol::{
    Args, Decoded, Decoder, DecoderConfig, Packet, PacketData, PartialPacket, Value, encode_packet,
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

fn decode_full(decoder: &Decoder, text: Str, attachments: &[Bytes]) -> Packet {
    match decoder.decode_text(text.clone()) {
        Ok(Decoded::Packet(p)) => {
            assert!(
                attachments.is_empty(),
                "{text:?} announced none of its attachments"
            );
            p
        }
        Ok(Decoded::Partial(mut partial)) => {
            assert_eq!(
                partial.expected(),
                attachments.len(),
                "attachments of {text:?}"
            );
            let mut done = None;
            for a in attachments {
                done = partial
                    .push(a.clone())
                    .expect("an announced attachment is taken");
            }
            done.expect("the last attachment completes the packet")
        }
        Err(e) => panic!("the server's encoding {text:?} is refused: {e}"),
    }
}

fn check_packet(decoder: &Decoder, p: &Packet) {
    if let PacketData::Event { args, .. } | PacketData::EventAck { args, .. } = &p.inner {
        exercise(args);
    }
    let encoded = encode_packet(p);
    let again = decode_full(decoder, encoded.text.clone(), &encoded.attachments);
    assert_eq!(&again, p, "round trip of {:?}", encoded.text);
    assert_eq!(encode_packet(&again), encoded);
}

fn frames(data: &[u8]) -> impl Iterator<Item = Result<Str, Bytes>> + '_ {
    data.split(|&b| b == 0xff)
        .take(32)
        .map(|frame| match frame {
            [0, rest @ ..] => Err(Bytes::copy_from_slice(rest)),
            text => Ok(Str::from(String::from_utf8_lossy(text).into_owned())),
        })
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    // The server's decoder, and one with tighter limits.
    let strict = Decoder::new(
        DecoderConfig::default()
            .with_max_depth(8)
            .with_max_attachments(2),
    );
    for decoder in [Decoder::default(), strict] {
        let mut waiting: Option<PartialPacket> = None;
        for frame in frames(data) {
            match frame {
                Ok(text) => {
                    if waiting.take().is_some() {
                        // A text frame while attachments are due: the connection errs.
                        continue;
                    }
                    match decoder.decode_text(text) {
                        Ok(Decoded::Packet(p)) => check_packet(&decoder, &p),
                        Ok(Decoded::Partial(p)) => {
                            assert!(p.expected() > 0);
                            assert!(p.expected() <= decoder.config().max_attachments);
                            waiting = Some(p);
                        }
                        Err(e) => {
                            let _ = e.to_string();
                        }
                    }
                }
                Err(binary) => {
                    let Some(mut partial) = waiting.take() else {
                        continue;
                    };
                    match partial.push(binary) {
                        Ok(Some(p)) => {
                            assert!(partial.is_complete());
                            assert_eq!(partial.received(), partial.expected());
                            assert!(partial.push(Bytes::new()).is_err());
                            check_packet(&decoder, &p);
                        }
                        Ok(None) => {
                            assert!(partial.received() < partial.expected());
                            waiting = Some(partial);
                        }
                        Err(e) => {
                            let _ = e.to_string();
                        }
                    }
                }
            }
        }
    }
}
