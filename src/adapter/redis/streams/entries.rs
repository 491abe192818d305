//! Stream names, entry ids and the replies of `XREAD`/`XRANGE`, as Node's streams adapter
//! 0.3.1 uses them.

use std::fmt;

use bytes::Bytes;
use redis::Value;

/// The field of our own that every entry we write carries: `<server id>:<sequence>`, so
/// that after a connection died mid-write the writer can tell whether Redis executed an
/// `XADD` before sending it again. Node's adapter ignores fields it does not know.
pub(crate) const MESSAGE_ID_FIELD: &str = "tsio-mid";

/// Node's `hashCode`: the Java string hash over UTF-16 code units, wrapped to 32 bits.
pub(crate) fn hash_code(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The stream of a namespace, computed exactly as Node 0.3.1 does: `stream_name` with one
/// stream, else `stream_name-<hashCode(nsp) % count>`, where the remainder keeps the sign of
/// the hash, so a namespace with a negative hash gets a name like `socket.io--2` (Node's
/// readers never read those; ours read the streams of the namespaces they host).
pub(crate) fn stream_of(stream_name: &str, count: usize, nsp: &str) -> String {
    if count <= 1 {
        return stream_name.to_owned();
    }
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let i = i64::from(hash_code(nsp)) % count;
    format!("{stream_name}-{i}")
}

/// A stream entry id `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct EntryId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl EntryId {
    /// The id before every real one (`0-0`).
    pub(crate) const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    /// Reads `<digits>-<digits>` (the only form Node's `restoreSession` accepts).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        if ms.is_empty()
            || seq.is_empty()
            || !ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one (Node's `nextOffset`, which avoids Redis 6.2's
    /// exclusive ranges).
    pub(crate) fn next(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => EntryId { ms: self.ms, seq },
            None => EntryId {
                ms: self.ms + 1,
                seq: 0,
            },
        }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry: its id and fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) id: EntryId,
    pub(crate) fields: Vec<(Bytes, Bytes)>,
}

impl Entry {
    /// The value of a field.
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k.as_ref() == name.as_bytes())
            .map(|(_, v)| v.as_ref())
    }

    /// The value of a field as text.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn bytes_of(v: Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
        Value::Int(n) => Some(Bytes::from(n.to_string())),
        _ => None,
    }
}

/// Reads the entries of an `XRANGE` reply (`[[id, [field, value, ...]], ...]`); malformed
/// parts are left out.
pub(crate) fn range_entries(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items.into_iter().filter_map(entry).collect()
}

fn entry(v: Value) -> Option<Entry> {
    let Value::Array(pair) = v else { return None };
    let mut it = pair.into_iter();
    let id = bytes_of(it.next()?)?;
    let id = EntryId::parse(std::str::from_utf8(&id).ok()?)?;
    let fields = match it.next()? {
        Value::Array(f) => {
            let mut out = Vec::with_capacity(f.len() / 2);
            let mut f = f.into_iter();
            while let (Some(k), Some(v)) = (f.next(), f.next()) {
                out.push((bytes_of(k)?, bytes_of(v)?));
            }
            out
        }
        Value::Map(m) => m
            .into_iter()
            .filter_map(|(k, v)| Some((bytes_of(k)?, bytes_of(v)?)))
            .collect(),
        // A deleted entry may have no fields.
        Value::Nil => Vec::new(),
        _ => return None,
    };
    Some(Entry { id, fields })
}

/// Reads the entries of one stream from an `XREAD` reply (`nil` when the block timed out;
/// `[[stream, entries]]` in RESP2, a map in RESP3).
pub(crate) fn read_entries(v: Value) -> Vec<Entry> {
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(kv) => kv.into_iter().nth(1).map(range_entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(m) => m.into_iter().flat_map(|(_, v)| range_entries(v)).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_nodes() {
        assert_eq!(hash_code("/"), 47);
        assert_eq!(hash_code("/chat"), 46_457_863);
        assert_eq!(hash_code("/admin"), 1_438_238_848);
        assert_eq!(hash_code("/orders/eu-west"), -2_090_692_239);
        assert_eq!(hash_code("/😀"), 1_818_066);
        assert_eq!(hash_code("/notifications"), -1_014_064_871);
        assert_eq!(stream_of("socket.io", 1, "/chat"), "socket.io");
        assert_eq!(stream_of("socket.io", 3, "/"), "socket.io-2");
        assert_eq!(stream_of("socket.io", 3, "/chat"), "socket.io-1");
        // Node's negative remainders, "-0" printed as "0".
        assert_eq!(stream_of("socket.io", 3, "/notifications"), "socket.io--2");
        assert_eq!(stream_of("socket.io", 3, "/orders/eu-west"), "socket.io-0");
        assert_eq!(stream_of("s", 0, "/x"), "s");
    }

    #[test]
    fn entry_ids_order_and_step() {
        let a = EntryId::parse("1796135810296-0").unwrap();
        let b = EntryId::parse("1796135810296-1").unwrap();
        assert!(a < b && a.next() == b);
        assert_eq!(b.to_string(), "1796135810296-1");
        assert!(EntryId::parse("9-0").unwrap() < EntryId::parse("10-0").unwrap());
        for bad in [
            "", "1", "1-", "-1", "a-1", "1-1-1", "Q8o2B0r", " 1-1", "1-+1",
        ] {
            assert_eq!(EntryId::parse(bad), None, "{bad}");
        }
        assert_eq!(
            EntryId {
                ms: 5,
                seq: u64::MAX
            }
            .next(),
            EntryId { ms: 6, seq: 0 }
        );
    }

    #[test]
    fn replies_are_read_leniently() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let e = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("uid"), bulk("u"), bulk("nsp"), bulk("/")]),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("socket.io"),
            Value::Array(vec![
                e.clone(),
                Value::Int(3),
                Value::Array(vec![bulk("bad")]),
            ]),
        ])]);
        let entries = read_entries(reply);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, EntryId { ms: 1, seq: 0 });
        assert_eq!(entries[0].text("nsp"), Some("/"));
        assert_eq!(entries[0].get("type"), None);
        assert!(read_entries(Value::Nil).is_empty());
        let resp3 = Value::Map(vec![(bulk("s"), Value::Array(vec![e]))]);
        assert_eq!(read_entries(resp3).len(), 1);
        assert!(range_entries(Value::Int(1)).is_empty());
    }
}
