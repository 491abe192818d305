//! The request query: the engine's `EIO`, `transport` and `sid` as the router reads them,
//! session ids, and the handshake query a socket sees (percent-decoded).
//!
//! Checks against a plain reading of the same text: a parameter given once has exactly
//! its value, more than once is refused; `EIO` is only `3` or `4`; a session id is 20
//! URL-safe characters and prints as it was read; percent-encoding any text decodes back.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use tower_socketio::__private_fuzz::engine::{
    QueryParam, parse_eio, parse_handshake_query, parse_query, percent_decode,
};
use tower_socketio::engine::{ProtocolVersion, Sid};

fn check_sid(text: &str) {
    match text.parse::<Sid>() {
        Ok(sid) => {
            assert_eq!(sid.as_str(), text);
            assert_eq!(sid.to_string(), text);
            assert!(text.len() == 20);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let json = serde_json::to_string(&sid).unwrap();
            assert_eq!(serde_json::from_str::<Sid>(&json).unwrap(), sid);
        }
        Err(_) => assert!(
            text.len() != 20
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "a valid id refused: {text:?}"
        ),
    }
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let params = parse_query(query);
    for (param, key) in params.iter().zip(["EIO", "transport", "sid"]) {
        let values: Vec<&str> = query
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == key).then_some(v)
            })
            .collect();
        let expected = match values.as_slice() {
            [] => QueryParam::Missing,
            [one] => QueryParam::One(one),
            _ => QueryParam::Many,
        };
        assert_eq!(*param, expected, "{key} of {query:?}");
    }
    if let QueryParam::One(v) = params[0] {
        let expected = match v {
            "3" => Some(ProtocolVersion::V3),
            "4" => Some(ProtocolVersion::V4),
            _ => None,
        };
        assert_eq!(parse_eio(v), expected);
    }
    if let QueryParam::One(v) = params[2] {
        check_sid(v);
    }
    check_sid(query);

    let handshake = parse_handshake_query(query);
    assert!(handshake.len() <= query.split('&').count());
    let _ = percent_decode(query);
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(query.len() * 3);
    for b in query.bytes() {
        encoded.push('%');
        encoded.push(char::from(HEX[usize::from(b >> 4)]));
        encoded.push(char::from(HEX[usize::from(b & 15)]));
    }
    assert_eq!(percent_decode(&encoded), query);
    let plus: String = query.replace(' ', "+");
    if !query.contains('+') && !query.contains('%') {
        assert_eq!(percent_decode(&plus), query);
    }
}
