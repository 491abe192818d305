//! The one MessagePack codec of the crate: `rmp` (markers, envelopes) and `rmp-serde`
//! (typed values), wrapped with the limits hostile input needs.
//!
//! The MessagePack parser (`protocol::msgpack`) and the Redis adapter both go through
//! [`decode`], which turns untrusted bytes into *clean* MessagePack in two steps:
//!
//! 1. [`check`](check::check): one forward pass, no recursion, no allocation but a stack
//!    of at most `max_depth` frames. Exactly one value and nothing after it; nesting at most
//!    `max_depth`; every declared length at most the bytes left (an array of `n` elements
//!    needs `n` bytes, a map `2n`), so a 2^32-element header with no data is refused in
//!    O(1); `0xc1` refused; map keys are strings, integers, booleans or floats.
//! 2. [`normal`](normal::normalize), only when the pass saw something to rewrite (rare: an
//!    extension type, a non-string key, invalid UTF-8): `notepack.io`'s extensions become
//!    plain values (`undefined` is `nil` in arrays and drops its key in maps; the old
//!    `ArrayBuffer` form is `bin`; `Date`s and timestamps are the ISO text
//!    `JSON.stringify` writes; any other extension is `[type, bin]`), keys become strings,
//!    invalid UTF-8 becomes U+FFFD (as Node decodes it). The output is at most
//!    [`MAX_GROWTH`] times the input.
//!
//! Clean MessagePack holds only nil, booleans, integers, floats, valid strings, bin,
//! arrays and maps with string keys, within the depth limit and with every length real. So
//! what reads it afterwards ([`read::Reader`] for envelopes, `rmp-serde` for typed values
//! through [`read::deserializer`]) can trust every length: no allocation is sized by a
//! length the input does not back, and no recursion goes deeper than the limit.
//!
//! [`ser`] writes any `Serialize` value with serde_json's data model (structs as maps,
//! `()` and unit structs as `nil`, bytes as `bin`, human-readable), so a type sends the
//! same shape with either parser.

pub(crate) mod check;
pub(crate) mod normal;
pub(crate) mod read;
pub(crate) mod ser;
pub(crate) mod write;

use std::fmt;

use bytes::Bytes;

/// The largest factor by which [`normal::normalize`] can grow its input: a 6-byte
/// timestamp becomes a 25-byte ISO string.
pub(crate) const MAX_GROWTH: usize = 5;

/// Why bytes are not one acceptable MessagePack value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Error {
    /// The input ended inside a value (or a declared length is longer than what is left).
    Truncated,
    /// Bytes were left after the value.
    Trailing(usize),
    /// Nesting deeper than allowed.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// `0xc1`, the one byte MessagePack never uses.
    Reserved,
    /// A map key that is neither a string, a number nor a boolean.
    InvalidKey,
    /// A value could not be written or read (serde's custom errors).
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated MessagePack input"),
            Error::Trailing(n) => write!(f, "{n} bytes after the MessagePack value"),
            Error::TooDeep { max } => write!(f, "MessagePack nested deeper than {max} levels"),
            Error::Reserved => f.write_str("reserved MessagePack byte 0xc1"),
            Error::InvalidKey => f.write_str("MessagePack map key that is not a string"),
            Error::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

/// Checks untrusted bytes and returns them as clean MessagePack: the same buffer when
/// nothing needed a rewrite (the common case: no copy), else the normalised copy.
pub(crate) fn decode(input: Bytes, max_depth: usize) -> Result<Bytes, Error> {
    let scan = check::check(&input, max_depth)?;
    if scan.rewrite {
        Ok(Bytes::from(normal::normalize(&input)))
    } else {
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_input_is_shared_and_the_rest_rewritten() {
        let clean = Bytes::from_static(b"\x92\x01\xa1a");
        let out = decode(clean.clone(), 8).unwrap();
        assert_eq!(out.as_ptr(), clean.as_ptr());
        // [undefined, ext 5] -> [nil, [5, bin]]
        let out = decode(Bytes::from_static(b"\x92\xd4\x00\x00\xd5\x05\x01\x02"), 8).unwrap();
        assert_eq!(&out[..], b"\x92\xc0\x92\x05\xc4\x02\x01\x02");
    }
}
