//! A serde `Serializer` that writes MessagePack with serde_json's data model, so that a
//! Rust type sends the same shape to a MessagePack client as to a JSON one.
//!
//! | serde | JSON (serde_json) | here |
//! | --- | --- | --- |
//! | struct | object | map (field names as keys) |
//! | `()`, unit struct, `None` | `null` | `nil` |
//! | unit variant | `"Name"` | `"Name"` |
//! | newtype / tuple / struct variant | `{"Name": ..}` | `{"Name": ..}` |
//! | bytes (`Bytes`, `serde_bytes`) | array of numbers (the parser turns them into attachments) | `bin` |
//! | `f32` | its shortest decimal | the `f64` of that decimal (what JavaScript reads from the JSON) |
//! | `i128`/`u128` | the number when it fits 64 bits, else an error | same |
//! | map keys | strings; numbers and booleans as their text | same |
//! | `serde_json::value::RawValue` | its text | its value, transcoded |
//!
//! It is human-readable (as serde_json), so `Uuid`, dates and addresses write their text.
//! `rmp-serde`'s own serializer differs from serde_json on each row but the first four
//! (structs as arrays by default, unit structs as `[]`, `u128` as 16 bytes of `bin`, `f32`
//! as float 32): wrapping it to fix them would be as long as this file.

use serde::ser::{self, Serialize};

mod key;

use self::key::{KeySerializer, TextCapture};
use super::Error;
use super::write;

/// serde_json's `RawValue` serializes as a struct of this name.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Serializes `value` as one MessagePack value appended to `out`.
pub(crate) fn write_value<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), Error> {
    value.serialize(Serializer { out })
}

/// Serializes `value` as MessagePack.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, value)?;
    Ok(out)
}

/// The serializer: appends to a buffer.
pub(crate) struct Serializer<'a> {
    pub(crate) out: &'a mut Vec<u8>,
}

/// The header of an array or map whose count is checked (or, when unknown, written) at the
/// end.
struct Header {
    at: usize,
    len: usize,
    declared: Option<u32>,
    map: bool,
}

impl Header {
    fn open(out: &mut Vec<u8>, declared: Option<usize>, map: bool) -> Header {
        let at = out.len();
        let declared = declared.map(write::count);
        match (declared, map) {
            (Some(n), false) => write::array_len(out, n),
            (Some(n), true) => write::map_len(out, n),
            // Room for the widest header, made minimal at the end.
            (None, false) => out.extend_from_slice(&[0xdd, 0, 0, 0, 0]),
            (None, true) => out.extend_from_slice(&[0xdf, 0, 0, 0, 0]),
        }
        Header {
            at,
            len: out.len() - at,
            declared,
            map,
        }
    }

    /// Rewrites the header when the count differs from the declared one (or none was).
    fn close(self, out: &mut Vec<u8>, count: u32) {
        if self.declared == Some(count) {
            return;
        }
        let mut head = Vec::with_capacity(5);
        if self.map {
            write::map_len(&mut head, count);
        } else {
            write::array_len(&mut head, count);
        }
        out.splice(self.at..self.at + self.len, head);
    }
}

/// An array or a map being written.
pub(crate) struct Compound<'a> {
    out: &'a mut Vec<u8>,
    header: Header,
    count: u32,
}

impl<'a> Compound<'a> {
    fn new(out: &'a mut Vec<u8>, len: Option<usize>, map: bool) -> Self {
        let header = Header::open(out, len, map);
        Compound {
            out,
            header,
            count: 0,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.count += 1;
        value.serialize(Serializer { out: self.out })
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.count += 1;
        key.serialize(KeySerializer { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        self.count += 1;
        write::str(self.out, name);
        value.serialize(Serializer { out: self.out })
    }

    fn end(self) -> Result<(), Error> {
        self.header.close(self.out, self.count);
        Ok(())
    }
}

/// A struct being written: a map, or serde_json's raw value.
pub(crate) enum StructCompound<'a> {
    Map(Compound<'a>),
    Raw(&'a mut Vec<u8>),
}

fn variant_header(out: &mut Vec<u8>, variant: &str) {
    write::map_len(out, 1);
    write::str(out, variant);
}

fn fit_i128(v: i128) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::Custom("number out of range".to_owned()))
}

impl<'a> ser::Serializer for Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = StructCompound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        write::bool(self.out, v);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        write::sint(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(u) => self.serialize_u64(u),
            Err(_) => self.serialize_i64(fit_i128(v)?),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        write::uint(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        let v = u64::try_from(v).map_err(|_| Error::Custom("number out of range".to_owned()))?;
        self.serialize_u64(v)
    }
    /// The `f64` closest to the `f32`'s shortest decimal, as JavaScript would read it from
    /// JSON (`1.1f32` is `1.1`, not `1.100000023841858`).
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        let wide = if v.is_finite() {
            v.to_string().parse::<f64>().unwrap_or(f64::from(v))
        } else {
            f64::from(v)
        };
        self.serialize_f64(wide)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        write::f64(self.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write::str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        write::bin(self.out, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        write::nil(self.out);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        variant_header(self.out, variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::new(self.out, len, false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        Ok(Compound::new(self.out, Some(len), false))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::new(self.out, Some(len), false))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        variant_header(self.out, variant);
        Ok(Compound::new(self.out, Some(len), false))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::new(self.out, len, true))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<StructCompound<'a>, Error> {
        if name == RAW_VALUE_TOKEN {
            return Ok(StructCompound::Raw(self.out));
        }
        Ok(StructCompound::Map(Compound::new(
            self.out,
            Some(len),
            true,
        )))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        variant_header(self.out, variant);
        Ok(Compound::new(self.out, Some(len), true))
    }
    fn is_human_readable(&self) -> bool {
        true
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(Serializer { out: self.out })
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for StructCompound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match self {
            StructCompound::Map(c) => c.field(key, value),
            StructCompound::Raw(out) => {
                let json = value.serialize(TextCapture)?;
                let parsed: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|e| Error::Custom(format!("invalid raw JSON value: {e}")))?;
                parsed.serialize(Serializer { out })
            }
        }
    }
    fn end(self) -> Result<(), Error> {
        match self {
            StructCompound::Map(c) => c.end(),
            StructCompound::Raw(_) => Ok(()),
        }
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::*;
    use crate::msgpack::read::from_slice;

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    enum E {
        A,
        B(u8),
        C(u8, u8),
        D { x: u8 },
    }

    #[derive(Serialize)]
    struct S {
        a: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<u8>,
        #[serde(with = "serde_bytes_like")]
        c: Vec<u8>,
    }

    mod serde_bytes_like {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        to_vec(v).unwrap()
    }

    #[test]
    fn follows_serde_jsons_data_model() {
        assert_eq!(enc(&()), b"\xc0");
        assert_eq!(enc(&Unit), b"\xc0");
        assert_eq!(enc(&None::<u8>), b"\xc0");
        assert_eq!(enc(&E::A), b"\xa1A");
        assert_eq!(enc(&E::B(1)), b"\x81\xa1B\x01");
        assert_eq!(enc(&E::C(1, 2)), b"\x81\xa1C\x92\x01\x02");
        assert_eq!(enc(&E::D { x: 1 }), b"\x81\xa1D\x81\xa1x\x01");
        assert_eq!(
            enc(&S {
                a: 1,
                b: None,
                c: vec![7]
            }),
            b"\x82\xa1a\x01\xa1c\xc4\x01\x07"
        );
        assert_eq!(enc(&vec![1u8, 2]), b"\x92\x01\x02");
        assert_eq!(
            enc(&bytes::Bytes::from_static(&[1, 2])),
            b"\xc4\x02\x01\x02"
        );
        assert_eq!(enc(&1u128), b"\x01");
        assert!(to_vec(&u128::MAX).is_err());
        assert_eq!(enc(&-1i128), b"\xff");
        assert_eq!(from_slice::<f64>(&enc(&1.1f32)).unwrap(), 1.1);
        assert_eq!(enc(&'é'), b"\xa2\xc3\xa9");
        let keys: BTreeMap<u8, bool> = [(1, true)].into();
        assert_eq!(enc(&keys), b"\x81\xa11\xc3");
        let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(to_vec(&bad).is_err());
    }

    #[test]
    fn unknown_lengths_get_the_smallest_header() {
        struct Iter(usize);
        impl Serialize for Iter {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq((0..self.0).filter(|_| true))
            }
        }
        let small = enc(&Iter(3));
        assert_eq!(small, b"\x93\x00\x01\x02");
        let big = enc(&Iter(20));
        assert_eq!(&big[..3], b"\xdc\x00\x14");
        assert_eq!(from_slice::<Vec<u8>>(&big).unwrap().len(), 20);
        // A lying length is corrected.
        struct Liar;
        impl Serialize for Liar {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(5))?;
                m.serialize_entry("a", &1)?;
                m.end()
            }
        }
        assert_eq!(enc(&Liar), b"\x81\xa1a\x01");
    }

    #[test]
    fn raw_json_is_transcoded() {
        let raw = serde_json::value::RawValue::from_string(r#"{"a":[1,"x",null]}"#.into()).unwrap();
        assert_eq!(enc(&raw), b"\x81\xa1a\x93\x01\xa1x\xc0");
    }
}
