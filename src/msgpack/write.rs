//! Writing MessagePack into a `Vec<u8>` with `rmp::encode`, in the smallest forms (the
//! ones `notepack.io` picks too).
//!
//! `rmp`'s writers return `Result` because they write to any `io::Write`; into a `Vec`
//! they cannot fail, so these wrappers drop the `Ok`. Lengths past `u32::MAX` cannot be
//! written in MessagePack; nothing this crate sends comes near (a message is bounded by
//! the engine's payload limit long before).

use rmp::encode;

pub(crate) fn nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

pub(crate) fn bool(out: &mut Vec<u8>, v: bool) {
    out.push(if v { 0xc3 } else { 0xc2 });
}

pub(crate) fn uint(out: &mut Vec<u8>, v: u64) {
    let _ = encode::write_uint(out, v);
}

pub(crate) fn sint(out: &mut Vec<u8>, v: i64) {
    let _ = encode::write_sint(out, v);
}

pub(crate) fn f64(out: &mut Vec<u8>, v: f64) {
    let _ = encode::write_f64(out, v);
}

pub(crate) fn str(out: &mut Vec<u8>, v: &str) {
    let _ = encode::write_str(out, v);
}

pub(crate) fn bin(out: &mut Vec<u8>, v: &[u8]) {
    let _ = encode::write_bin(out, v);
}

pub(crate) fn array_len(out: &mut Vec<u8>, n: u32) {
    let _ = encode::write_array_len(out, n);
}

pub(crate) fn map_len(out: &mut Vec<u8>, n: u32) {
    let _ = encode::write_map_len(out, n);
}

/// A length as a header count (clamped at `u32::MAX`, see the module docs).
pub(crate) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_forms_as_notepack() {
        let w = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            f(&mut v);
            v
        };
        assert_eq!(w(&|o| sint(o, -1)), [0xff]);
        assert_eq!(w(&|o| sint(o, 100)), [0x64]);
        assert_eq!(w(&|o| uint(o, 200)), [0xcc, 0xc8]);
        assert_eq!(w(&|o| sint(o, -200)), [0xd1, 0xff, 0x38]);
        assert_eq!(w(&|o| uint(o, 1 << 40)), [0xcf, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(w(&|o| str(o, "ab")), [0xa2, b'a', b'b']);
        assert_eq!(w(&|o| bin(o, &[1])), [0xc4, 1, 1]);
        assert_eq!(w(&|o| array_len(o, 15)), [0x9f]);
        assert_eq!(w(&|o| array_len(o, 16)), [0xdc, 0, 16]);
        assert_eq!(w(&|o| array_len(o, 65536)), [0xdd, 0, 1, 0, 0]);
    }
}
