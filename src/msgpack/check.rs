//! The validation pass: one forward walk over untrusted bytes, without recursion.

use rmp::Marker;

use super::Error;

/// What the pass learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Something must be rewritten before the bytes are clean (an extension, a key that is
    /// not a string, invalid UTF-8).
    pub(crate) rewrite: bool,
}

/// An open array or map: how many elements (keys and values for a map) are still due.
#[derive(Clone, Copy)]
struct Frame {
    left: u64,
    map: bool,
}

/// A cursor over the input.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self.rest.split_first().ok_or(Error::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::Truncated)?;
        if n > self.rest.len() {
            return Err(Error::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// A big-endian length of `width` bytes.
    fn len(&mut self, width: u64) -> Result<u64, Error> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b)))
    }

    fn left(&self) -> u64 {
        self.rest.len() as u64
    }
}

/// What one marker opens.
enum Step {
    /// A complete value (scalar, string, binary, extension, empty container).
    Value,
    /// A container with this many elements still to read.
    Open(Frame),
}

/// Checks that `input` is exactly one MessagePack value nested at most `max_depth` deep
/// (an array or map is one level), with every declared length backed by the bytes left.
///
/// Allocates only the stack of open containers (at most `max_depth` frames).
pub(crate) fn check(input: &[u8], max_depth: usize) -> Result<Scan, Error> {
    let mut cur = Cursor { rest: input };
    let mut stack: Vec<Frame> = Vec::new();
    let mut rewrite = false;
    loop {
        let key = stack.last().is_some_and(|f| f.map && f.left % 2 == 0);
        let marker = Marker::from_u8(cur.byte()?);
        if key {
            match marker {
                Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {}
                Marker::FixPos(_)
                | Marker::FixNeg(_)
                | Marker::U8
                | Marker::U16
                | Marker::U32
                | Marker::U64
                | Marker::I8
                | Marker::I16
                | Marker::I32
                | Marker::I64
                | Marker::True
                | Marker::False
                | Marker::F32
                | Marker::F64 => rewrite = true,
                _ => return Err(Error::InvalidKey),
            }
        }
        let step = match marker {
            Marker::Reserved => return Err(Error::Reserved),
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                Step::Value
            }
            Marker::U8 | Marker::I8 => scalar(&mut cur, 1)?,
            Marker::U16 | Marker::I16 => scalar(&mut cur, 2)?,
            Marker::U32 | Marker::I32 | Marker::F32 => scalar(&mut cur, 4)?,
            Marker::U64 | Marker::I64 | Marker::F64 => scalar(&mut cur, 8)?,
            Marker::FixStr(n) => string(&mut cur, u64::from(n), &mut rewrite)?,
            Marker::Str8 => {
                let n = cur.len(1)?;
                string(&mut cur, n, &mut rewrite)?
            }
            Marker::Str16 => {
                let n = cur.len(2)?;
                string(&mut cur, n, &mut rewrite)?
            }
            Marker::Str32 => {
                let n = cur.len(4)?;
                string(&mut cur, n, &mut rewrite)?
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let width = match marker {
                    Marker::Bin8 => 1,
                    Marker::Bin16 => 2,
                    _ => 4,
                };
                let n = cur.len(width)?;
                cur.take(n)?;
                Step::Value
            }
            Marker::FixExt1 => ext(&mut cur, 1, &mut rewrite)?,
            Marker::FixExt2 => ext(&mut cur, 2, &mut rewrite)?,
            Marker::FixExt4 => ext(&mut cur, 4, &mut rewrite)?,
            Marker::FixExt8 => ext(&mut cur, 8, &mut rewrite)?,
            Marker::FixExt16 => ext(&mut cur, 16, &mut rewrite)?,
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let width = match marker {
                    Marker::Ext8 => 1,
                    Marker::Ext16 => 2,
                    _ => 4,
                };
                let n = cur.len(width)?;
                ext(&mut cur, n, &mut rewrite)?
            }
            Marker::FixArray(n) => open(&cur, u64::from(n), false)?,
            Marker::Array16 => {
                let n = cur.len(2)?;
                open(&cur, n, false)?
            }
            Marker::Array32 => {
                let n = cur.len(4)?;
                open(&cur, n, false)?
            }
            Marker::FixMap(n) => open(&cur, u64::from(n), true)?,
            Marker::Map16 => {
                let n = cur.len(2)?;
                open(&cur, n, true)?
            }
            Marker::Map32 => {
                let n = cur.len(4)?;
                open(&cur, n, true)?
            }
        };
        // The value (or the container just opened) is one element of the enclosing one.
        if let Some(top) = stack.last_mut() {
            top.left -= 1;
        }
        let opened = matches!(
            marker,
            Marker::FixArray(_)
                | Marker::Array16
                | Marker::Array32
                | Marker::FixMap(_)
                | Marker::Map16
                | Marker::Map32
        );
        if opened && stack.len() >= max_depth {
            return Err(Error::TooDeep { max: max_depth });
        }
        if let Step::Open(frame) = step {
            stack.push(frame);
            continue;
        }
        while stack.last().is_some_and(|f| f.left == 0) {
            stack.pop();
        }
        if stack.is_empty() {
            break;
        }
    }
    match cur.rest.len() {
        0 => Ok(Scan { rewrite }),
        n => Err(Error::Trailing(n)),
    }
}

fn scalar(cur: &mut Cursor<'_>, n: u64) -> Result<Step, Error> {
    cur.take(n)?;
    Ok(Step::Value)
}

fn string(cur: &mut Cursor<'_>, n: u64, rewrite: &mut bool) -> Result<Step, Error> {
    let s = cur.take(n)?;
    if std::str::from_utf8(s).is_err() {
        *rewrite = true;
    }
    Ok(Step::Value)
}

fn ext(cur: &mut Cursor<'_>, n: u64, rewrite: &mut bool) -> Result<Step, Error> {
    cur.take(1)?;
    cur.take(n)?;
    *rewrite = true;
    Ok(Step::Value)
}

/// A container of `n` elements (`2n` for a map); each element takes at least a byte, so
/// a length the rest of the input cannot hold is refused before anything is read.
fn open(cur: &Cursor<'_>, n: u64, map: bool) -> Result<Step, Error> {
    let left = if map { n * 2 } else { n };
    if left > cur.left() {
        return Err(Error::Truncated);
    }
    if left == 0 {
        return Ok(Step::Value);
    }
    Ok(Step::Open(Frame { left, map }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(b: &[u8]) -> bool {
        check(b, 8).unwrap().rewrite
    }

    #[test]
    fn accepts_one_value_of_every_kind() {
        for b in [
            &b"\xc0"[..],
            b"\x7f",
            b"\xff",
            b"\xcc\x01",
            b"\xcd\x01\x02",
            b"\xce\x01\x02\x03\x04",
            b"\xcf\0\0\0\0\0\0\0\x01",
            b"\xd3\0\0\0\0\0\0\0\x01",
            b"\xcb\0\0\0\0\0\0\0\0",
            b"\xa1a",
            b"\xd9\x01a",
            b"\xc4\x02\x01\x02",
            b"\x90",
            b"\x80",
            b"\x92\x01\x91\x02",
            b"\x82\xa1a\x01\xa1b\x90",
            b"\xdc\x00\x01\xc0",
            b"\xde\x00\x01\xa1k\xc0",
        ] {
            assert!(!ok(b), "{b:x?}");
        }
        // Extensions, number keys and invalid UTF-8 ask for a rewrite.
        for b in [
            &b"\xd4\x00\x00"[..],
            b"\xc7\x01\x00\x05",
            b"\x81\x01\xc0",
            b"\x81\xc3\xc0",
            b"\xa1\xff",
        ] {
            assert!(ok(b), "{b:x?}");
        }
    }

    #[test]
    fn refuses_what_is_not_exactly_one_value() {
        assert_eq!(check(b"", 8), Err(Error::Truncated));
        assert_eq!(check(b"\xc0\x00", 8), Err(Error::Trailing(1)));
        assert_eq!(check(b"\x90\x90", 8), Err(Error::Trailing(1)));
        assert_eq!(check(b"\xc1", 8), Err(Error::Reserved));
        assert_eq!(check(b"\x92\x01", 8), Err(Error::Truncated));
        assert_eq!(check(b"\xa2a", 8), Err(Error::Truncated));
        assert_eq!(check(b"\x81\xc0\xc0", 8), Err(Error::InvalidKey));
        assert_eq!(check(b"\x81\x90\xc0", 8), Err(Error::InvalidKey));
        assert_eq!(check(b"\x81\xc4\x00\xc0", 8), Err(Error::InvalidKey));
    }

    #[test]
    fn huge_headers_fail_at_once() {
        for b in [
            &b"\xdd\xff\xff\xff\xff"[..],
            b"\xdf\xff\xff\xff\xff",
            b"\xdb\xff\xff\xff\xff",
            b"\xc6\xff\xff\xff\xff",
            b"\xc9\xff\xff\xff\xff\x00",
            b"\x91\xdd\xff\xff\xff\xff",
            // A map of n entries needs 2n bytes.
            b"\x82\xa1a\x01",
        ] {
            assert_eq!(check(b, 8), Err(Error::Truncated), "{b:x?}");
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0xc0);
        assert_eq!(check(&deep, 128), Err(Error::TooDeep { max: 128 }));
        let mut maps = b"\x81\xa1k".repeat(100_000);
        maps.push(0xc0);
        assert_eq!(check(&maps, 128), Err(Error::TooDeep { max: 128 }));
        // Exactly at the limit; empty containers count as a level too.
        assert!(check(b"\x91\x91\xc0", 2).is_ok());
        assert!(check(b"\x91\x91\x90", 2).is_err());
        assert!(check(b"\x91\x90", 2).is_ok());
    }
}
