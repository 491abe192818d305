//! The rewrite of `notepack.io`'s extensions (and other things JSON cannot name) into
//! plain MessagePack, for input the validation pass accepted.
//!
//! | input | becomes |
//! | --- | --- |
//! | `fixext 1` of type 0 (`undefined`) | `nil` in an array or at the top; in a map, the entry is left out (as `JSON.stringify` does) |
//! | `ext 8/16/32` of type 0 (an `ArrayBuffer` or typed array from Node) | `bin` |
//! | `fixext 8` of type 0 (an old `Date`: milliseconds), timestamp extension -1 (32, 64, 96 bits) | the ISO text of `Date.toJSON()` (`nil` out of JavaScript's range) |
//! | any other extension of type `t` | `[t, bin]`, as `notepack.io` returns it |
//! | a number or boolean map key | its text |
//! | a string with invalid UTF-8 | the string with U+FFFD in place of each invalid sequence (as Node reads it) |
//!
//! Recursion here is bounded by the depth the validation pass allowed. Map headers keep
//! their width when entries are left out (a `map16` of 3 entries is valid MessagePack),
//! so nothing is moved after it was written.

use rmp::Marker;

use super::write;

/// A cursor over validated input: reads cannot fail there; if they did anyway (a caller
/// skipped validation), the rest reads as `nil`s and zero lengths, never a panic.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0xc0,
        }
    }

    fn take(&mut self, n: u64) -> &'a [u8] {
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(self.rest.len());
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        head
    }

    fn len(&mut self, width: u64) -> u64 {
        self.take(width)
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b))
    }
}

/// Rewrites validated input into clean MessagePack (at most
/// [`MAX_GROWTH`](super::MAX_GROWTH) times larger).
pub(crate) fn normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 4 + 8);
    let mut cur = Cursor { rest: input };
    if !value(&mut cur, &mut out) {
        write::nil(&mut out);
    }
    debug_assert!(out.len() <= super::MAX_GROWTH * input.len().max(1));
    out
}

/// Copies (or rewrites) one value; `false` when it was `undefined` and nothing was written.
fn value(cur: &mut Cursor<'_>, out: &mut Vec<u8>) -> bool {
    let start = cur.rest;
    let byte = cur.byte();
    let verbatim = |cur: &mut Cursor<'_>, out: &mut Vec<u8>, n: u64| {
        cur.take(n);
        let used = start.len() - cur.rest.len();
        out.extend_from_slice(&start[..used]);
    };
    match Marker::from_u8(byte) {
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::Null
        | Marker::True
        | Marker::False
        | Marker::Reserved => verbatim(cur, out, 0),
        Marker::U8 | Marker::I8 => verbatim(cur, out, 1),
        Marker::U16 | Marker::I16 => verbatim(cur, out, 2),
        Marker::U32 | Marker::I32 | Marker::F32 => verbatim(cur, out, 4),
        Marker::U64 | Marker::I64 | Marker::F64 => verbatim(cur, out, 8),
        Marker::FixStr(n) => string(cur, out, u64::from(n)),
        Marker::Str8 => {
            let n = cur.len(1);
            string(cur, out, n)
        }
        Marker::Str16 => {
            let n = cur.len(2);
            string(cur, out, n)
        }
        Marker::Str32 => {
            let n = cur.len(4);
            string(cur, out, n)
        }
        Marker::Bin8 => {
            let n = cur.len(1);
            verbatim(cur, out, n)
        }
        Marker::Bin16 => {
            let n = cur.len(2);
            verbatim(cur, out, n)
        }
        Marker::Bin32 => {
            let n = cur.len(4);
            verbatim(cur, out, n)
        }
        Marker::FixExt1 => return ext(cur, out, 1, true),
        Marker::FixExt2 => return ext(cur, out, 2, true),
        Marker::FixExt4 => return ext(cur, out, 4, true),
        Marker::FixExt8 => return ext(cur, out, 8, true),
        Marker::FixExt16 => return ext(cur, out, 16, true),
        Marker::Ext8 => {
            let n = cur.len(1);
            return ext(cur, out, n, false);
        }
        Marker::Ext16 => {
            let n = cur.len(2);
            return ext(cur, out, n, false);
        }
        Marker::Ext32 => {
            let n = cur.len(4);
            return ext(cur, out, n, false);
        }
        Marker::FixArray(n) => array(cur, out, u64::from(n)),
        Marker::Array16 => {
            let n = cur.len(2);
            array(cur, out, n)
        }
        Marker::Array32 => {
            let n = cur.len(4);
            array(cur, out, n)
        }
        Marker::FixMap(n) => map(cur, out, u64::from(n), 0),
        Marker::Map16 => {
            let n = cur.len(2);
            map(cur, out, n, 2)
        }
        Marker::Map32 => {
            let n = cur.len(4);
            map(cur, out, n, 4)
        }
    }
    true
}

fn string(cur: &mut Cursor<'_>, out: &mut Vec<u8>, n: u64) {
    let s = cur.take(n);
    write::str(out, &String::from_utf8_lossy(s));
}

fn array(cur: &mut Cursor<'_>, out: &mut Vec<u8>, n: u64) {
    write::array_len(out, n as u32);
    for _ in 0..n {
        if !value(cur, out) {
            write::nil(out);
        }
    }
}

/// A map: keys as text, entries whose value is `undefined` left out. The header keeps the
/// input's width (`width` 0 for a fixmap), its count patched at the end.
fn map(cur: &mut Cursor<'_>, out: &mut Vec<u8>, n: u64, width: usize) {
    let head = out.len();
    match width {
        0 => out.push(0x80),
        2 => out.extend_from_slice(&[0xde, 0, 0]),
        _ => out.extend_from_slice(&[0xdf, 0, 0, 0, 0]),
    }
    let mut kept: u32 = 0;
    for _ in 0..n {
        let entry = out.len();
        key(cur, out);
        if value(cur, out) {
            kept += 1;
        } else {
            out.truncate(entry);
        }
    }
    match width {
        0 => out[head] = 0x80 | (kept as u8 & 0x0f),
        2 => out[head + 1..head + 3].copy_from_slice(&(kept as u16).to_be_bytes()),
        _ => out[head + 1..head + 5].copy_from_slice(&kept.to_be_bytes()),
    }
}

/// A map key, written as a string.
fn key(cur: &mut Cursor<'_>, out: &mut Vec<u8>) {
    let byte = cur.byte();
    let text = match Marker::from_u8(byte) {
        Marker::FixStr(n) => return string(cur, out, u64::from(n)),
        Marker::Str8 => {
            let n = cur.len(1);
            return string(cur, out, n);
        }
        Marker::Str16 => {
            let n = cur.len(2);
            return string(cur, out, n);
        }
        Marker::Str32 => {
            let n = cur.len(4);
            return string(cur, out, n);
        }
        Marker::FixPos(n) => n.to_string(),
        Marker::FixNeg(n) => n.to_string(),
        Marker::U8 => cur.len(1).to_string(),
        Marker::U16 => cur.len(2).to_string(),
        Marker::U32 => cur.len(4).to_string(),
        Marker::U64 => cur.len(8).to_string(),
        Marker::I8 => (cur.len(1) as u8 as i8).to_string(),
        Marker::I16 => (cur.len(2) as u16 as i16).to_string(),
        Marker::I32 => (cur.len(4) as u32 as i32).to_string(),
        Marker::I64 => (cur.len(8) as i64).to_string(),
        Marker::True => "true".to_owned(),
        Marker::False => "false".to_owned(),
        Marker::F32 => js_number(f64::from(f32::from_bits(cur.len(4) as u32))),
        Marker::F64 => js_number(f64::from_bits(cur.len(8))),
        // Refused by the validation pass.
        _ => String::new(),
    };
    write::str(out, &text);
}

/// A number as JavaScript writes it (`String(n)`): a property name, an event name.
pub(crate) fn js_number(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else if f == 0.0 {
        "0".to_owned()
    } else if f.abs() >= 1e21 || f.abs() < 1e-6 {
        // Rust's plain form would print every digit: JavaScript switches to an exponent.
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x}"),
            _ => e,
        }
    } else {
        f.to_string()
    }
}

/// An extension of `n` data bytes (`fixed`: one of the `fixext` forms); `false` for
/// `undefined`.
fn ext(cur: &mut Cursor<'_>, out: &mut Vec<u8>, n: u64, fixed: bool) -> bool {
    let ty = cur.byte() as i8;
    let data = cur.take(n);
    match (ty, data.len()) {
        // notepack.io 2's `undefined`.
        (0, 1) if fixed => return false,
        // notepack.io 2's `Date`: milliseconds as a signed high word and an unsigned low one.
        (0, 8) if fixed => {
            let hi = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let lo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            date(out, f64::from(hi) * 4_294_967_296.0 + f64::from(lo));
        }
        // notepack.io 2's `ArrayBuffer` and typed arrays.
        (0, _) if !fixed => write::bin(out, data),
        // Timestamp 32: seconds.
        (-1, 4) => {
            let s = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            date(out, f64::from(s) * 1e3);
        }
        // Timestamp 64: 30 bits of nanoseconds, 34 bits of seconds.
        (-1, 8) => {
            let hi = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let lo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            let secs = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
            date(out, secs * 1e3 + f64::from(hi >> 2) / 1e6);
        }
        // Timestamp 96: 32 bits of nanoseconds, 64 signed bits of seconds.
        (-1, 12) => {
            let ns = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let mut s = [0u8; 8];
            s.copy_from_slice(&data[4..12]);
            date(
                out,
                i64::from_be_bytes(s) as f64 * 1e3 + f64::from(ns) / 1e6,
            );
        }
        _ => {
            write::array_len(out, 2);
            write::sint(out, i64::from(ty));
            write::bin(out, data);
        }
    }
    true
}

/// A date as `Date.toJSON()` writes it (`nil` where that gives `null`).
fn date(out: &mut Vec<u8>, ms: f64) {
    match crate::util::iso_date(ms) {
        Some(text) => write::str(out, &text),
        None => write::nil(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgpack::{MAX_GROWTH, check::check};

    fn norm(b: &[u8]) -> Vec<u8> {
        check(b, 16).unwrap();
        normalize(b)
    }

    #[test]
    fn notepack_extensions_become_plain_values() {
        // undefined: nil in arrays and at the top, a dropped entry in maps.
        assert_eq!(norm(b"\xd4\x00\x00"), b"\xc0");
        assert_eq!(norm(b"\x92\xd4\x00\x00\x01"), b"\x92\xc0\x01");
        assert_eq!(norm(b"\x82\xa1a\xd4\x00\x00\xa1b\x01"), b"\x81\xa1b\x01");
        assert_eq!(
            norm(b"\xde\x00\x02\xa1a\xd4\x00\x00\xa1b\x01"),
            b"\xde\x00\x01\xa1b\x01"
        );
        // The ArrayBuffer form is binary.
        assert_eq!(norm(b"\xc7\x02\x00\x01\x02"), b"\xc4\x02\x01\x02");
        // Other extensions are [type, bin].
        assert_eq!(norm(b"\xd5\x05\x01\x02"), b"\x92\x05\xc4\x02\x01\x02");
        assert_eq!(norm(b"\xd4\x00\x07"), b"\xc0");
        assert_eq!(norm(b"\xd4\x01\x07"), b"\x92\x01\xc4\x01\x07");
        assert_eq!(norm(b"\xc7\x01\xfe\x09"), b"\x92\xfe\xc4\x01\x09");
    }

    #[test]
    fn dates_are_iso_text() {
        let iso = |b: &[u8]| {
            let out = norm(b);
            String::from_utf8(out[1..].to_vec()).unwrap()
        };
        // notepack 2: Date(1e12) = 2001-09-09T01:46:40.000Z
        let ms: u64 = 1_000_000_000_000;
        let mut old = b"\xd7\x00".to_vec();
        old.extend_from_slice(&((ms >> 32) as u32).to_be_bytes());
        old.extend_from_slice(&(ms as u32).to_be_bytes());
        assert_eq!(iso(&old), "2001-09-09T01:46:40.000Z");
        // timestamp 32, 64 and 96
        assert_eq!(iso(b"\xd6\xff\x3b\x9a\xca\x00"), "2001-09-09T01:46:40.000Z");
        let t64 = (5_000_000u64 << 34) | 1_000_000_000;
        let mut b = b"\xd7\xff".to_vec();
        b.extend_from_slice(&t64.to_be_bytes());
        assert_eq!(iso(&b), "2001-09-09T01:46:40.005Z");
        let mut b = b"\xc7\x0c\xff".to_vec();
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(iso(&b), "1969-12-31T23:59:59.000Z");
        let mut far = b"\xc7\x0c\xff".to_vec();
        far.extend_from_slice(&0u32.to_be_bytes());
        far.extend_from_slice(&(9e12 as i64).to_be_bytes());
        assert_eq!(norm(&far), b"\xc0");
    }

    #[test]
    fn keys_become_text_and_bad_utf8_is_replaced() {
        assert_eq!(norm(b"\x81\x05\xc0"), b"\x81\xa15\xc0");
        assert_eq!(norm(b"\x81\xd0\xfb\xc0"), b"\x81\xa2-5\xc0");
        assert_eq!(norm(b"\x81\xc3\xc0"), b"\x81\xa4true\xc0");
        assert_eq!(
            norm(b"\x81\xcb\x3f\xf8\0\0\0\0\0\0\xc0"),
            b"\x81\xa31.5\xc0"
        );
        assert_eq!(norm(b"\xa2a\xff"), b"\xa4a\xef\xbf\xbd");
        for (f, js) in [
            (1.0, "1"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (123.25, "123.25"),
            (1e20, "100000000000000000000"),
        ] {
            assert_eq!(js_number(f), js);
        }
    }

    #[test]
    fn growth_is_bounded() {
        // The worst case: timestamp 32 (6 bytes) into a 25-byte string.
        let mut b = vec![0xdc, 0x01, 0x00];
        for _ in 0..256 {
            b.extend_from_slice(b"\xd6\xff\x00\x00\x00\x00");
        }
        let out = norm(&b);
        assert!(
            out.len() <= MAX_GROWTH * b.len(),
            "{} {}",
            out.len(),
            b.len()
        );
        assert!(check(&out, 16).is_ok_and(|s| !s.rewrite));
    }
}
