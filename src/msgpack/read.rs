//! Reading clean MessagePack (what [`decode`](super::decode) returns): a cursor for
//! envelopes, and `rmp-serde` for typed values.

use std::ops::Range;

use rmp::Marker;
use rmp_serde::config::{DefaultConfig, HumanReadableConfig};
use rmp_serde::decode::ReadRefReader;

/// The deepest nesting this crate ever validates, whatever a configuration asks (deeper
/// recursion could exhaust a thread's stack in a debug build; the JSON side has serde_json's
/// own 128).
pub(crate) const DEPTH_CEILING: usize = 256;

/// The `rmp-serde` deserializer of this crate: over a borrowed slice (strings and bytes
/// borrow from it), human-readable like serde_json (so `Uuid`, dates, addresses read from
/// their text forms, as JavaScript sends them), with an explicit depth limit.
pub(crate) type Deserializer<'a> =
    rmp_serde::Deserializer<ReadRefReader<'a, [u8]>, HumanReadableConfig<DefaultConfig>>;

/// A deserializer over clean MessagePack (one value or several in a row).
pub(crate) fn deserializer(bytes: &[u8]) -> Deserializer<'_> {
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes).with_human_readable();
    // Clean input is already within the validated depth; this is a second fence.
    de.set_max_depth(DEPTH_CEILING + 2);
    de
}

/// Reads one value of type `T` from clean MessagePack holding exactly that value.
pub(crate) fn from_slice<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<T, rmp_serde::decode::Error> {
    T::deserialize(&mut deserializer(bytes))
}

/// A number read from MessagePack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// A non-negative integer.
    U(u64),
    /// A negative integer.
    I(i64),
    /// A float.
    F(f64),
}

/// A cursor over clean MessagePack, for reading envelopes (packet maps, Redis messages)
/// without building a tree. Methods that expect a kind of value consume it only when it
/// is that kind.
///
/// Reads never fail on clean input; on anything else they return `None`, never panic.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The offset of the next value.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes of a range of the buffer (one a method returned).
    pub(crate) fn bytes(&self, range: Range<usize>) -> &'a [u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Whether every byte was read.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next marker, not consumed.
    pub(crate) fn peek(&self) -> Option<Marker> {
        self.buf.get(self.pos).map(|&b| Marker::from_u8(b))
    }

    fn be(&self, at: usize, width: usize) -> Option<u64> {
        let bytes = self.buf.get(at..at.checked_add(width)?)?;
        Some(bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
    }

    /// `nil`, consumed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn nil(&mut self) -> bool {
        if self.peek() == Some(Marker::Null) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A map header: its number of entries.
    pub(crate) fn map_len(&mut self) -> Option<u32> {
        let (n, head) = match self.peek()? {
            Marker::FixMap(n) => (u64::from(n), 1),
            Marker::Map16 => (self.be(self.pos + 1, 2)?, 3),
            Marker::Map32 => (self.be(self.pos + 1, 4)?, 5),
            _ => return None,
        };
        self.pos += head;
        Some(n as u32)
    }

    /// An array header: its number of elements.
    pub(crate) fn array_len(&mut self) -> Option<u32> {
        let (n, head) = match self.peek()? {
            Marker::FixArray(n) => (u64::from(n), 1),
            Marker::Array16 => (self.be(self.pos + 1, 2)?, 3),
            Marker::Array32 => (self.be(self.pos + 1, 4)?, 5),
            _ => return None,
        };
        self.pos += head;
        Some(n as u32)
    }

    /// A string, and its byte range in the buffer.
    pub(crate) fn str(&mut self) -> Option<(&'a str, Range<usize>)> {
        let (n, head) = match self.peek()? {
            Marker::FixStr(n) => (u64::from(n), 1),
            Marker::Str8 => (self.be(self.pos + 1, 1)?, 2),
            Marker::Str16 => (self.be(self.pos + 1, 2)?, 3),
            Marker::Str32 => (self.be(self.pos + 1, 4)?, 5),
            _ => return None,
        };
        let start = self.pos + head;
        let end = start.checked_add(usize::try_from(n).ok()?)?;
        let s = std::str::from_utf8(self.buf.get(start..end)?).ok()?;
        self.pos = end;
        Some((s, start..end))
    }

    /// A number (integer or float).
    pub(crate) fn number(&mut self) -> Option<Number> {
        let at = self.pos + 1;
        let (n, width) = match self.peek()? {
            Marker::FixPos(n) => (Number::U(u64::from(n)), 0),
            Marker::FixNeg(n) => (Number::I(i64::from(n)), 0),
            Marker::U8 => (Number::U(self.be(at, 1)?), 1),
            Marker::U16 => (Number::U(self.be(at, 2)?), 2),
            Marker::U32 => (Number::U(self.be(at, 4)?), 4),
            Marker::U64 => (Number::U(self.be(at, 8)?), 8),
            Marker::I8 => (int(i64::from(self.be(at, 1)? as u8 as i8)), 1),
            Marker::I16 => (int(i64::from(self.be(at, 2)? as u16 as i16)), 2),
            Marker::I32 => (int(i64::from(self.be(at, 4)? as u32 as i32)), 4),
            Marker::I64 => (int(self.be(at, 8)? as i64), 8),
            Marker::F32 => (
                Number::F(f64::from(f32::from_bits(self.be(at, 4)? as u32))),
                4,
            ),
            Marker::F64 => (Number::F(f64::from_bits(self.be(at, 8)?)), 8),
            _ => return None,
        };
        self.pos = at + width;
        Some(n)
    }

    /// Skips one value and returns its byte range.
    pub(crate) fn skip(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        let mut due: u64 = 1;
        while due > 0 {
            let at = self.pos + 1;
            let (head, data, children) = match self.peek()? {
                Marker::FixPos(_)
                | Marker::FixNeg(_)
                | Marker::Null
                | Marker::True
                | Marker::False
                | Marker::Reserved => (1, 0, 0),
                Marker::U8 | Marker::I8 => (1, 1, 0),
                Marker::U16 | Marker::I16 => (1, 2, 0),
                Marker::U32 | Marker::I32 | Marker::F32 => (1, 4, 0),
                Marker::U64 | Marker::I64 | Marker::F64 => (1, 8, 0),
                Marker::FixStr(n) => (1, u64::from(n), 0),
                Marker::Str8 | Marker::Bin8 => (2, self.be(at, 1)?, 0),
                Marker::Str16 | Marker::Bin16 => (3, self.be(at, 2)?, 0),
                Marker::Str32 | Marker::Bin32 => (5, self.be(at, 4)?, 0),
                Marker::FixExt1 => (2, 1, 0),
                Marker::FixExt2 => (2, 2, 0),
                Marker::FixExt4 => (2, 4, 0),
                Marker::FixExt8 => (2, 8, 0),
                Marker::FixExt16 => (2, 16, 0),
                Marker::Ext8 => (3, self.be(at, 1)?, 0),
                Marker::Ext16 => (4, self.be(at, 2)?, 0),
                Marker::Ext32 => (6, self.be(at, 4)?, 0),
                Marker::FixArray(n) => (1, 0, u64::from(n)),
                Marker::Array16 => (3, 0, self.be(at, 2)?),
                Marker::Array32 => (5, 0, self.be(at, 4)?),
                Marker::FixMap(n) => (1, 0, 2 * u64::from(n)),
                Marker::Map16 => (3, 0, 2 * self.be(at, 2)?),
                Marker::Map32 => (5, 0, 2 * self.be(at, 4)?),
            };
            let next = self
                .pos
                .checked_add(head)?
                .checked_add(usize::try_from(data).ok()?)?;
            if next > self.buf.len() {
                return None;
            }
            self.pos = next;
            due = due - 1 + children;
        }
        Some(start..self.pos)
    }
}

fn int(n: i64) -> Number {
    if n >= 0 {
        Number::U(n as u64)
    } else {
        Number::I(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_envelope_without_a_tree() {
        // {"type": 2, "data": ["ev", 1, [2, {"a": nil}]], "nsp": "/"}
        let b = b"\x83\xa4type\x02\xa4data\x93\xa2ev\x01\x92\x02\x81\xa1a\xc0\xa3nsp\xa1/";
        let mut r = Reader::new(b);
        assert_eq!(r.map_len(), Some(3));
        assert_eq!(r.str().unwrap().0, "type");
        assert_eq!(r.array_len(), None);
        assert_eq!(r.number(), Some(Number::U(2)));
        assert_eq!(r.str().unwrap().0, "data");
        let data = r.skip().unwrap();
        assert_eq!(&b[data.clone()], b"\x93\xa2ev\x01\x92\x02\x81\xa1a\xc0");
        assert_eq!(r.str().unwrap().0, "nsp");
        assert_eq!(r.str().unwrap().0, "/");
        assert!(r.is_done());
        let mut d = Reader::new(&b[data]);
        assert_eq!(d.array_len(), Some(3));
        assert_eq!(d.str().unwrap().0, "ev");
        assert_eq!(d.number(), Some(Number::U(1)));
        assert!(d.skip().is_some() && d.is_done());
    }

    #[test]
    fn numbers_of_every_width() {
        for (b, n) in [
            (&b"\x05"[..], Number::U(5)),
            (b"\xff", Number::I(-1)),
            (b"\xd0\x05", Number::U(5)),
            (b"\xd1\xff\x38", Number::I(-200)),
            (b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", Number::U(u64::MAX)),
            (b"\xca\x3f\xc0\x00\x00", Number::F(1.5)),
        ] {
            assert_eq!(Reader::new(b).number(), Some(n), "{b:x?}");
        }
    }

    #[test]
    fn broken_input_gives_none() {
        assert_eq!(Reader::new(b"\x92\x01").skip(), None);
        assert_eq!(Reader::new(b"\xdd\xff\xff\xff\xff").skip(), None);
        assert_eq!(Reader::new(b"\xa3ab").str(), None);
        assert_eq!(Reader::new(b"").map_len(), None);
    }

    #[test]
    fn typed_values_through_rmp_serde() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct S<'a> {
            a: &'a str,
            b: Vec<u8>,
        }
        let s: S<'_> = from_slice(b"\x82\xa1a\xa2hi\xa1b\xc4\x02\x01\x02").unwrap();
        assert_eq!(
            s,
            S {
                a: "hi",
                b: vec![1, 2]
            }
        );
    }
}
