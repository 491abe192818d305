//! No-panic property test: random and mutated packets never panic the decoder, and
//! every packet it accepts re-encodes to text that decodes to the same packet.
//!
//! Deterministic (fixed-seed xorshift) and bounded, so it runs in well under a second
//! in release and a few seconds in debug.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;
use tower_socketio::engine::Str;
use tower_socketio::protocol::{
    Args, Decoded, Decoder, DecoderConfig, Encoded, Packet, PacketData, Value, encode_packet,
};

const ITERATIONS: usize = 100_000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const CORPUS: &[&str] = &[
    "0",
    r#"0{"token":"123"}"#,
    "0/custom,",
    "0/custom",
    r#"0/custom,{"token":"abc"}"#,
    "1",
    "1/custom,",
    r#"2["message",1,"2",{"3":[true]}]"#,
    r#"2456["message-with-ack",1,"2",{"3":[false]}]"#,
    r#"3456[1,"2",{"3":[false]}]"#,
    "312[]",
    r#"2/admin,13["foo"]"#,
    r#"4{"message":"Not authorized","data":{"a":1}}"#,
    r#"4"plain""#,
    r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    r#"51-/admin,["x",{"num":0,"_placeholder":true},{"num":1,"n":[{"_placeholder":false}]}]"#,
    r#"53-["x",{"a":{"_placeholder":true,"num":2},"b":[{"_placeholder":true,"num":0}]},"s\"\u00e9"]"#,
    r#"2[42,"x",-1.5e3,null,true,false,[],{}]"#,
    r#"2["a\"b\u0063",{"k":"v\\"}]"#,
];

const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    ",",
    ":",
    "-",
    "/",
    "0",
    "1",
    "2",
    "5",
    "6",
    "9",
    "10",
    "11",
    "_placeholder",
    "num",
    "true",
    "false",
    "null",
    "\\",
    "\\u00",
    "\\\"",
    " ",
    "é",
    "\u{1F600}",
    "connect",
    "disconnect",
    "\"num\":0",
    "{\"_placeholder\":true,\"num\":",
    "18446744073709551616",
    "99999999999999999999",
    "[[[[[[[[",
    "]]]]]]]]",
    "{\"a\":",
    "1e308",
    "-0",
    "\n",
];

fn mutate(rng: &mut XorShift, input: &str) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = *rng.pick(b"0123456789[]{}\",:-/_ntfa\\ e");
            }
            1 => {
                let i = rng.below(len + 1);
                let tok = rng.pick(TOKENS).as_bytes();
                bytes.splice(i..i, tok.iter().copied());
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(8)).min(len);
                bytes.drain(i..j);
            }
            3 => {
                let i = rng.below(len + 1);
                bytes.truncate(i);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                let copy = bytes[i..j].to_vec();
                bytes.splice(j..j, copy);
            }
            5 => {
                let other = rng.pick(CORPUS).as_bytes();
                let cut = rng.below(other.len() + 1);
                let i = rng.below(len + 1);
                bytes.truncate(i);
                bytes.extend_from_slice(&other[cut..]);
            }
            _ => {
                let i = rng.below(len + 1);
                let d = b'0' + rng.below(10) as u8;
                bytes.insert(i, d);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn random_text(rng: &mut XorShift) -> String {
    let mut s = String::new();
    s.push(char::from(b'0' + rng.below(8) as u8));
    for _ in 0..rng.below(12) {
        s.push_str(TOKENS[rng.below(TOKENS.len())]);
    }
    s
}

fn random_bytes(rng: &mut XorShift) -> Bytes {
    let len = rng.below(6);
    Bytes::from((0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>())
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Loose {
    a: Option<Bytes>,
    b: Option<Vec<Value>>,
    num: Option<u64>,
    _placeholder: Option<bool>,
    k: Option<HashMap<u32, Value>>,
}

/// Deserializes the arguments in many shapes; only panics matter here.
fn exercise(args: &Args) {
    let _ = args.deserialize::<Value>();
    let _ = args.deserialize::<(Value, Value, Value)>();
    let _ = args.deserialize_all::<Vec<Value>>();
    let _ = args.deserialize::<(Bytes, Option<Bytes>)>();
    let _ = args.deserialize::<(Vec<u8>, String)>();
    let _ = args.deserialize::<Loose>();
    let _ = args.deserialize::<(Loose, Loose)>();
    let _ = args.deserialize::<HashMap<String, Bytes>>();
    let _ = args.deserialize::<serde_json::Value>();
    let _ = args.deserialize::<Box<serde_json::value::RawValue>>();
    let _ = args.raw();
}

/// Decodes text plus attachments; `None` when refused.
fn decode_full(decoder: &Decoder, text: Str, atts: &[Bytes]) -> Option<Packet> {
    match decoder.decode_text(text).ok()? {
        Decoded::Packet(p) => Some(p),
        Decoded::Partial(mut partial) => {
            let mut done = None;
            for a in atts {
                done = partial.push(a.clone()).ok()?;
            }
            done
        }
    }
}

fn check_packet(decoder: &Decoder, p: &Packet) {
    if let PacketData::Event { args, .. } | PacketData::EventAck { args, .. } = &p.inner {
        exercise(args);
    }
    // Whatever was accepted re-encodes into text that decodes to the same packet.
    let encoded: Encoded = encode_packet(p);
    let again = decode_full(
        decoder,
        encoded.text().unwrap().clone(),
        encoded.attachments(),
    )
    .unwrap_or_else(|| {
        panic!(
            "re-encoded packet refused: {:?} from {p:?}",
            encoded.text().unwrap()
        )
    });
    assert_eq!(&again, p, "round trip of {:?}", encoded.text().unwrap());
    assert_eq!(encode_packet(&again), encoded);
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let decoder = Decoder::new(DecoderConfig::default().with_max_depth(32));
    // FUZZ_SEED / FUZZ_ITERATIONS allow longer exploratory runs; the default is fixed.
    let seed = env_or("FUZZ_SEED", 0x9E37_79B9_7F4A_7C15).max(1);
    let iterations = env_or("FUZZ_ITERATIONS", ITERATIONS as u64) as usize;
    let mut rng = XorShift(seed);
    let mut accepted = 0usize;
    let mut completed_binary = 0usize;
    for i in 0..iterations {
        let text = if i % 4 == 0 {
            random_text(&mut rng)
        } else {
            let base = *rng.pick(CORPUS);
            mutate(&mut rng, base)
        };
        match decoder.decode_text(Str::from(text)) {
            Err(e) => {
                let _ = e.to_string();
            }
            Ok(Decoded::Packet(p)) => {
                accepted += 1;
                check_packet(&decoder, &p);
            }
            Ok(Decoded::Partial(mut partial)) => {
                let frames = rng.below(partial.expected() + 2);
                for _ in 0..frames {
                    match partial.push(random_bytes(&mut rng)) {
                        Ok(Some(p)) => {
                            completed_binary += 1;
                            check_packet(&decoder, &p);
                        }
                        Ok(None) => {}
                        Err(_) => assert!(partial.is_complete()),
                    }
                }
            }
        }
    }
    // The generator must reach deep enough to be meaningful.
    assert!(accepted > iterations / 20, "only {accepted} accepted");
    assert!(
        completed_binary > iterations / 500,
        "only {completed_binary} binary packets"
    );
}

#[test]
fn corpus_round_trips() {
    let decoder = Decoder::default();
    for text in CORPUS {
        let mut rng = XorShift(7);
        match decoder.decode_text(Str::from(*text)) {
            Ok(Decoded::Packet(p)) => check_packet(&decoder, &p),
            Ok(Decoded::Partial(mut partial)) => {
                let mut done = None;
                for _ in 0..partial.expected() {
                    done = partial.push(random_bytes(&mut rng)).unwrap();
                }
                check_packet(&decoder, &done.unwrap());
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }
}
