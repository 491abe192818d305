//! A small MessagePack codec, with the extensions of `notepack.io` (the encoder of Node's
//! Redis adapter and emitter).
//!
//! Decoding is for hostile input: it never panics, recursion is capped at [`MAX_DEPTH`],
//! and no allocation is sized by a declared length larger than the bytes that remain (every
//! element takes at least one byte), so a message can never cost more than a small multiple
//! of its own size.
//!
//! `notepack.io` specifics understood here:
//! - `Buffer`, `ArrayBuffer` and typed arrays are `bin` (old versions wrote `ArrayBuffer` as
//!   the extension type 0 of `ext 8/16/32`, still read as binary);
//! - `undefined` is written as `nil` now; old versions wrote the `fixext 1` of type 0, read as
//!   [`MsgValue::Undefined`] (left out of objects, `null` in arrays, as `JSON.stringify` does);
//! - `Date` is the timestamp extension (type -1; old versions: `fixext 8` of type 0 holding
//!   milliseconds), turned into the ISO text a JSON encoder would write;
//! - `Map` and `Set` have no encoding of their own (they arrive as empty objects);
//! - any other extension reads as `[type, bin]`, as `notepack.io` returns it.

use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::util::iso_date;

/// The deepest nesting of arrays and maps the decoder accepts.
pub(crate) const MAX_DEPTH: usize = 64;

/// A MessagePack value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MsgValue {
    /// `nil`.
    Nil,
    /// `notepack.io`'s old encoding of `undefined`.
    Undefined,
    /// `true` / `false`.
    Bool(bool),
    /// A negative integer (or any integer read as signed).
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A float (32-bit ones are widened).
    Float(f64),
    /// A string (invalid UTF-8 is replaced, as Node does).
    Str(String),
    /// Binary data.
    Bin(Bytes),
    /// An array.
    Array(Vec<MsgValue>),
    /// A map, in wire order.
    Map(Vec<(MsgValue, MsgValue)>),
    /// A timestamp (`Date`): milliseconds since the Unix epoch.
    Date(f64),
    /// Any other extension.
    Ext(i8, Bytes),
}

impl MsgValue {
    /// The value of `key` in a map with string keys.
    pub(crate) fn get(&self, key: &str) -> Option<&MsgValue> {
        match self {
            MsgValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, MsgValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            MsgValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a non-negative integer, if it is one (integral floats included, as
    /// JavaScript has only one number type).
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match *self {
            MsgValue::UInt(n) => Some(n),
            MsgValue::Int(n) => u64::try_from(n).ok(),
            MsgValue::Float(f)
                if f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0 =>
            {
                Some(f as u64)
            }
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub(crate) fn as_array(&self) -> Option<&[MsgValue]> {
        match self {
            MsgValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `true`.
    pub(crate) fn is_true(&self) -> bool {
        matches!(self, MsgValue::Bool(true))
    }

    /// A map with string keys, in the given order.
    pub(crate) fn map<I, K>(entries: I) -> MsgValue
    where
        I: IntoIterator<Item = (K, MsgValue)>,
        K: Into<String>,
    {
        MsgValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| (MsgValue::Str(k.into()), v))
                .collect(),
        )
    }
}

/// Why a MessagePack message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The input ended inside a value.
    Truncated,
    /// Bytes were left after the value.
    TrailingBytes(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// `0xc1`, the one byte MessagePack never uses.
    Reserved,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated MessagePack input"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the MessagePack value"),
            DecodeError::TooDeep => write!(f, "MessagePack nesting deeper than {MAX_DEPTH}"),
            DecodeError::Reserved => f.write_str("reserved MessagePack byte 0xc1"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one value that must fill `input` exactly. Binary values share `input`'s buffer.
pub(crate) fn decode(input: &Bytes) -> Result<MsgValue, DecodeError> {
    let mut d = Reader { input, pos: 0 };
    let v = d.value(0)?;
    match input.len() - d.pos {
        0 => Ok(v),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

struct Reader<'a> {
    input: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let b = self.input.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn be_len(&mut self, width: usize) -> Result<usize, DecodeError> {
        let n = match width {
            1 => u64::from(self.u8()?),
            2 => u64::from(u16::from_be_bytes(self.array()?)),
            _ => u64::from(u32::from_be_bytes(self.array()?)),
        };
        usize::try_from(n).map_err(|_| DecodeError::Truncated)
    }

    fn str(&mut self, len: usize) -> Result<MsgValue, DecodeError> {
        let s = self.take(len)?;
        Ok(MsgValue::Str(String::from_utf8_lossy(s).into_owned()))
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<MsgValue, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        // Every element takes at least one byte: never reserve more than what is left.
        if len > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(self.value(depth + 1)?);
        }
        Ok(MsgValue::Array(out))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<MsgValue, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        // Every entry takes at least two bytes.
        if len > self.remaining() / 2 {
            return Err(DecodeError::Truncated);
        }
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            out.push((k, v));
        }
        Ok(MsgValue::Map(out))
    }

    fn ext(&mut self, len: usize, fixed: bool) -> Result<MsgValue, DecodeError> {
        let ty = self.u8()? as i8;
        let data = self.take_bytes(len)?;
        Ok(ext_value(ty, data, fixed))
    }

    fn value(&mut self, depth: usize) -> Result<MsgValue, DecodeError> {
        let b = self.u8()?;
        Ok(match b {
            0x00..=0x7f => MsgValue::UInt(u64::from(b)),
            0x80..=0x8f => return self.map(usize::from(b & 0x0f), depth),
            0x90..=0x9f => return self.seq(usize::from(b & 0x0f), depth),
            0xa0..=0xbf => return self.str(usize::from(b & 0x1f)),
            0xc0 => MsgValue::Nil,
            0xc1 => return Err(DecodeError::Reserved),
            0xc2 => MsgValue::Bool(false),
            0xc3 => MsgValue::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be_len(1 << (b - 0xc4))?;
                MsgValue::Bin(self.take_bytes(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.be_len(1 << (b - 0xc7))?;
                return self.ext(n, false);
            }
            0xca => MsgValue::Float(f64::from(f32::from_be_bytes(self.array()?))),
            0xcb => MsgValue::Float(f64::from_be_bytes(self.array()?)),
            0xcc => MsgValue::UInt(u64::from(self.u8()?)),
            0xcd => MsgValue::UInt(u64::from(u16::from_be_bytes(self.array()?))),
            0xce => MsgValue::UInt(u64::from(u32::from_be_bytes(self.array()?))),
            0xcf => MsgValue::UInt(u64::from_be_bytes(self.array()?)),
            0xd0 => int(i64::from(self.u8()? as i8)),
            0xd1 => int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => int(i64::from_be_bytes(self.array()?)),
            0xd4..=0xd8 => return self.ext(1 << (b - 0xd4), true),
            0xd9..=0xdb => {
                let n = self.be_len(1 << (b - 0xd9))?;
                return self.str(n);
            }
            0xdc | 0xdd => {
                let n = self.be_len(if b == 0xdc { 2 } else { 4 })?;
                return self.seq(n, depth);
            }
            0xde | 0xdf => {
                let n = self.be_len(if b == 0xde { 2 } else { 4 })?;
                return self.map(n, depth);
            }
            0xe0..=0xff => MsgValue::Int(i64::from(b as i8)),
        })
    }
}

fn int(n: i64) -> MsgValue {
    if n >= 0 {
        MsgValue::UInt(n as u64)
    } else {
        MsgValue::Int(n)
    }
}

/// The meaning `notepack.io` gives an extension (`fixed`: one of the `fixext` forms).
fn ext_value(ty: i8, data: Bytes, fixed: bool) -> MsgValue {
    match (ty, data.len()) {
        // Old `undefined`.
        (0, 1) if fixed => MsgValue::Undefined,
        // Old `Date`: milliseconds as a signed high word and an unsigned low word.
        (0, 8) if fixed => {
            let hi = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let lo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            MsgValue::Date(f64::from(hi) * 4_294_967_296.0 + f64::from(lo))
        }
        // Old `ArrayBuffer`.
        (0, _) if !fixed => MsgValue::Bin(data),
        // Timestamp 32: seconds.
        (-1, 4) => {
            let s = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            MsgValue::Date(f64::from(s) * 1e3)
        }
        // Timestamp 64: 30 bits of nanoseconds, 34 bits of seconds.
        (-1, 8) => {
            let hi = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let lo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            let secs = f64::from(hi & 0x3) * 4_294_967_296.0 + f64::from(lo);
            MsgValue::Date(secs * 1e3 + f64::from(hi >> 2) / 1e6)
        }
        // Timestamp 96: 32 bits of nanoseconds, 64 signed bits of seconds.
        (-1, 12) => {
            let ns = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let secs = i64::from_be_bytes([
                data[4], data[5], data[6], data[7], data[8], data[9], data[10], data[11],
            ]);
            MsgValue::Date(secs as f64 * 1e3 + f64::from(ns) / 1e6)
        }
        _ => MsgValue::Ext(ty, data),
    }
}

/// Appends the encoding of `v` to `out`, in the smallest forms (as `notepack.io` does).
pub(crate) fn encode(v: &MsgValue, out: &mut Vec<u8>) {
    match v {
        MsgValue::Nil | MsgValue::Undefined => out.push(0xc0),
        MsgValue::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        MsgValue::UInt(n) => encode_uint(*n, out),
        MsgValue::Int(n) if *n >= 0 => encode_uint(*n as u64, out),
        MsgValue::Int(n) => {
            let n = *n;
            if n >= -32 {
                out.push(n as u8);
            } else if n >= i64::from(i8::MIN) {
                out.push(0xd0);
                out.push(n as i8 as u8);
            } else if n >= i64::from(i16::MIN) {
                out.push(0xd1);
                out.extend_from_slice(&(n as i16).to_be_bytes());
            } else if n >= i64::from(i32::MIN) {
                out.push(0xd2);
                out.extend_from_slice(&(n as i32).to_be_bytes());
            } else {
                out.push(0xd3);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        MsgValue::Float(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        MsgValue::Str(s) => {
            let n = s.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else {
                header(out, n, [0xd9, 0xda, 0xdb]);
            }
            out.extend_from_slice(s.as_bytes());
        }
        MsgValue::Bin(b) => {
            header(out, b.len(), [0xc4, 0xc5, 0xc6]);
            out.extend_from_slice(b);
        }
        MsgValue::Array(items) => {
            if items.len() < 16 {
                out.push(0x90 | items.len() as u8);
            } else {
                header16(out, items.len(), [0xdc, 0xdd]);
            }
            for item in items {
                encode(item, out);
            }
        }
        MsgValue::Map(entries) => {
            if entries.len() < 16 {
                out.push(0x80 | entries.len() as u8);
            } else {
                header16(out, entries.len(), [0xde, 0xdf]);
            }
            for (k, v) in entries {
                encode(k, out);
                encode(v, out);
            }
        }
        MsgValue::Date(ms) => {
            // Timestamp 96 covers every date.
            let secs = (ms / 1e3).floor();
            let nanos = ((ms - secs * 1e3) * 1e6).round().clamp(0.0, 999_999_999.0) as u32;
            out.extend_from_slice(&[0xc7, 12, 0xff]);
            out.extend_from_slice(&nanos.to_be_bytes());
            out.extend_from_slice(&(secs as i64).to_be_bytes());
        }
        MsgValue::Ext(ty, data) => {
            match data.len() {
                1 => out.push(0xd4),
                2 => out.push(0xd5),
                4 => out.push(0xd6),
                8 => out.push(0xd7),
                16 => out.push(0xd8),
                n => header(out, n, [0xc7, 0xc8, 0xc9]),
            }
            out.push(*ty as u8);
            out.extend_from_slice(data);
        }
    }
}

fn encode_uint(n: u64, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A length header with 8, 16 and 32-bit forms. Lengths past `u32::MAX` cannot be written
/// in MessagePack; they are clamped (such a message could not be published anyway).
fn header(out: &mut Vec<u8>, n: usize, tags: [u8; 3]) {
    if n <= usize::from(u8::MAX) {
        out.extend_from_slice(&[tags[0], n as u8]);
    } else {
        header16(out, n, [tags[1], tags[2]]);
    }
}

fn header16(out: &mut Vec<u8>, n: usize, tags: [u8; 2]) {
    if n <= usize::from(u16::MAX) {
        out.push(tags[0]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(tags[1]);
        out.extend_from_slice(&(u32::try_from(n).unwrap_or(u32::MAX)).to_be_bytes());
    }
}

/// A map key as JSON text, or `None` for keys JSON cannot name.
fn key_text(k: &MsgValue) -> Option<String> {
    match k {
        MsgValue::Str(s) => Some(s.clone()),
        MsgValue::UInt(n) => Some(n.to_string()),
        MsgValue::Int(n) => Some(n.to_string()),
        MsgValue::Bool(b) => Some(b.to_string()),
        MsgValue::Float(f) if f.is_finite() => Some(f.to_string()),
        _ => None,
    }
}

/// Serializes as the JSON a Node server would send: binary stays bytes (so the Socket.IO
/// encoder makes it an attachment), `undefined` members are left out, non-finite floats
/// are `null`, dates are ISO text.
impl Serialize for MsgValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MsgValue::Nil | MsgValue::Undefined => s.serialize_unit(),
            MsgValue::Bool(b) => s.serialize_bool(*b),
            MsgValue::Int(n) => s.serialize_i64(*n),
            MsgValue::UInt(n) => s.serialize_u64(*n),
            MsgValue::Float(f) if f.is_finite() => s.serialize_f64(*f),
            MsgValue::Float(_) => s.serialize_unit(),
            MsgValue::Str(v) => s.serialize_str(v),
            MsgValue::Bin(b) => s.serialize_bytes(b),
            MsgValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            MsgValue::Map(entries) => {
                let kept: Vec<(String, &MsgValue)> = entries
                    .iter()
                    .filter(|(_, v)| !matches!(v, MsgValue::Undefined))
                    .filter_map(|(k, v)| key_text(k).map(|k| (k, v)))
                    .collect();
                let mut map = s.serialize_map(Some(kept.len()))?;
                for (k, v) in kept {
                    map.serialize_entry(&k, v)?;
                }
                map.end()
            }
            MsgValue::Date(ms) => match iso_date(*ms) {
                Some(text) => s.serialize_str(&text),
                None => s.serialize_unit(),
            },
            MsgValue::Ext(ty, data) => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(ty)?;
                seq.serialize_element(&MsgValue::Bin(data.clone()))?;
                seq.end()
            }
        }
    }
}

/// Reads any self-describing value; bytes (a binary attachment of received arguments)
/// become [`MsgValue::Bin`].
impl<'de> Deserialize<'de> for MsgValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MsgVisitor)
    }
}

struct MsgVisitor;

impl<'de> Visitor<'de> for MsgVisitor {
    type Value = MsgValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<MsgValue, E> {
        Ok(MsgValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<MsgValue, E> {
        Ok(int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<MsgValue, E> {
        Ok(MsgValue::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<MsgValue, E> {
        Ok(MsgValue::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<MsgValue, E> {
        Ok(MsgValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<MsgValue, E> {
        Ok(MsgValue::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<MsgValue, E> {
        Ok(MsgValue::Bin(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<MsgValue, E> {
        Ok(MsgValue::Bin(Bytes::from(v)))
    }
    fn visit_none<E: de::Error>(self) -> Result<MsgValue, E> {
        Ok(MsgValue::Nil)
    }
    fn visit_unit<E: de::Error>(self) -> Result<MsgValue, E> {
        Ok(MsgValue::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<MsgValue, D::Error> {
        MsgValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MsgValue, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(MsgValue::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MsgValue, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some((k, v)) = map.next_entry::<String, MsgValue>()? {
            out.push((MsgValue::Str(k), v));
        }
        Ok(MsgValue::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &MsgValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    fn dec(b: &[u8]) -> Result<MsgValue, DecodeError> {
        decode(&Bytes::copy_from_slice(b))
    }

    fn sample() -> MsgValue {
        MsgValue::Array(vec![
            MsgValue::Str("emitter".into()),
            MsgValue::map([
                ("type", MsgValue::UInt(2)),
                (
                    "data",
                    MsgValue::Array(vec![
                        MsgValue::Str("ev".into()),
                        MsgValue::Bin(Bytes::from_static(&[1, 2, 3])),
                        MsgValue::Int(-5),
                        MsgValue::Float(1.5),
                        MsgValue::Nil,
                        MsgValue::Bool(true),
                    ]),
                ),
                ("nsp", MsgValue::Str("/".into())),
            ]),
            MsgValue::map([
                (
                    "rooms",
                    MsgValue::Array(vec![MsgValue::Str("r".repeat(40))]),
                ),
                ("except", MsgValue::Array(vec![])),
                ("flags", MsgValue::map::<_, String>([])),
            ]),
        ])
    }

    #[test]
    fn round_trips_every_width() {
        let values = [
            MsgValue::UInt(0),
            MsgValue::UInt(127),
            MsgValue::UInt(128),
            MsgValue::UInt(255),
            MsgValue::UInt(256),
            MsgValue::UInt(65_535),
            MsgValue::UInt(65_536),
            MsgValue::UInt(u64::from(u32::MAX)),
            MsgValue::UInt(u64::from(u32::MAX) + 1),
            MsgValue::UInt(u64::MAX),
            MsgValue::Int(-1),
            MsgValue::Int(-32),
            MsgValue::Int(-33),
            MsgValue::Int(-128),
            MsgValue::Int(-129),
            MsgValue::Int(-32_768),
            MsgValue::Int(-32_769),
            MsgValue::Int(i64::from(i32::MIN)),
            MsgValue::Int(i64::from(i32::MIN) - 1),
            MsgValue::Int(i64::MIN),
            MsgValue::Float(-0.25),
            MsgValue::Str(String::new()),
            MsgValue::Str("é".repeat(20)),
            MsgValue::Str("x".repeat(300)),
            MsgValue::Str("y".repeat(70_000)),
            MsgValue::Bin(Bytes::from(vec![7u8; 300])),
            MsgValue::Bin(Bytes::from(vec![7u8; 70_000])),
            MsgValue::Array((0..20).map(MsgValue::UInt).collect()),
            MsgValue::Array((0..70_000).map(|_| MsgValue::Nil).collect()),
            MsgValue::Map(
                (0..20u64)
                    .map(|i| (MsgValue::Str(i.to_string()), MsgValue::UInt(i)))
                    .collect(),
            ),
            MsgValue::Ext(5, Bytes::from_static(&[1, 2, 3])),
            MsgValue::Ext(-7, Bytes::from_static(&[1, 2, 3, 4])),
            sample(),
        ];
        for v in values {
            assert_eq!(dec(&enc(&v)).as_ref(), Ok(&v), "{v:?}");
        }
    }

    #[test]
    fn reads_notepack_specifics() {
        // Old `undefined`.
        assert_eq!(dec(&[0xd4, 0x00, 0x00]), Ok(MsgValue::Undefined));
        // Old ArrayBuffer: ext 8 of type 0.
        assert_eq!(
            dec(&[0xc7, 0x02, 0x00, 9, 8]),
            Ok(MsgValue::Bin(Bytes::from_static(&[9, 8])))
        );
        // Timestamp 32: 1 s after the epoch.
        assert_eq!(dec(&[0xd6, 0xff, 0, 0, 0, 1]), Ok(MsgValue::Date(1000.0)));
        // Timestamp 64: 500 ms after 2 s.
        let ns: u32 = 500_000_000;
        let hi = (ns << 2).to_be_bytes();
        assert_eq!(
            dec(&[0xd7, 0xff, hi[0], hi[1], hi[2], hi[3], 0, 0, 0, 2]),
            Ok(MsgValue::Date(2500.0))
        );
        // Old Date: fixext 8 of type 0 holding milliseconds.
        assert_eq!(
            dec(&[0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]),
            Ok(MsgValue::Date(1000.0))
        );
        // Our dates read back.
        let d = MsgValue::Date(1_700_000_000_123.0);
        assert_eq!(dec(&enc(&d)), Ok(d));
    }

    #[test]
    fn json_view_matches_javascript() {
        let v = MsgValue::Array(vec![
            MsgValue::map([
                ("a", MsgValue::Undefined),
                ("b", MsgValue::UInt(1)),
                ("d", MsgValue::Date(0.0)),
            ]),
            MsgValue::Undefined,
            MsgValue::Float(f64::NAN),
            MsgValue::Map(vec![(MsgValue::UInt(3), MsgValue::Bool(false))]),
        ]);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"[{"b":1,"d":"1970-01-01T00:00:00.000Z"},null,null,{"3":false}]"#
        );
        assert_eq!(
            iso_date(1_700_000_000_123.0).unwrap(),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(iso_date(-1.0).unwrap(), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso_date(f64::INFINITY), None);
    }

    #[test]
    fn reads_back_from_serde() {
        let v: MsgValue = serde_json::from_str(r#"{"a":[1,-2,1.5,"x",null,true]}"#).unwrap();
        assert_eq!(
            v,
            MsgValue::map([(
                "a",
                MsgValue::Array(vec![
                    MsgValue::UInt(1),
                    MsgValue::Int(-2),
                    MsgValue::Float(1.5),
                    MsgValue::Str("x".into()),
                    MsgValue::Nil,
                    MsgValue::Bool(true),
                ])
            )])
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let full = enc(&sample());
        for n in 0..full.len() {
            assert!(dec(&full[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        assert_eq!(
            dec(&[full.as_slice(), &[0]].concat()),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn huge_declared_lengths_allocate_nothing() {
        for b in [
            vec![0xdd, 0xff, 0xff, 0xff, 0xff],
            vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0x00],
            vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
            vec![0xc6, 0xff, 0xff, 0xff, 0xff, 1],
            vec![0xc9, 0xff, 0xff, 0xff, 0xff, 1, 2],
            vec![0xdc, 0xff, 0xff],
            vec![0xde, 0x00, 0x02, 0x01],
        ] {
            assert_eq!(dec(&b), Err(DecodeError::Truncated), "{b:x?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut b = vec![0x91; 10_000];
        b.push(0xc0);
        assert_eq!(dec(&b), Err(DecodeError::TooDeep));
        let mut b = vec![];
        for _ in 0..10_000 {
            b.extend_from_slice(&[0x81, 0xa1, b'k']);
        }
        b.push(0xc0);
        assert_eq!(dec(&b), Err(DecodeError::TooDeep));
        // Just under the cap is fine.
        let mut b = vec![0x91; MAX_DEPTH - 1];
        b.push(0xc0);
        assert!(dec(&b).is_ok());
        assert_eq!(dec(&[0xc1]), Err(DecodeError::Reserved));
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        // A small deterministic generator (xorshift): no test dependency needed.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = enc(&sample());
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = dec(&junk);
            let mut m = base.clone();
            for _ in 0..3 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            if let Ok(v) = dec(&m) {
                // Whatever decodes also serializes to JSON and re-encodes.
                let _ = serde_json::to_string(&v);
                let _ = enc(&v);
            }
        }
    }
}
