//! The argument mapping in MessagePack: the top-level value spread into arguments, each
//! written by the crate's MessagePack serializer (binary inline as `bin`).

use serde::ser::{self, Serialize, Serializer};

use crate::msgpack::ser::{Compound, StructCompound, write_value};
use crate::msgpack::{self, write};
use crate::protocol::Value;
use crate::protocol::args::{ARGS_TOKEN, RAW_ARGS, WANT_RAW_ARGS};
use crate::protocol::error::DataError;

type Error = msgpack::Error;

/// Writes the arguments of `data` (a tuple is several, `()` none, anything else one):
/// with `header`, as an array of `event` (when given) and the arguments; without, the
/// arguments alone, one value after another (the form [`Args`](crate::protocol::Args)
/// keeps). Returns the number of arguments.
pub(crate) fn write_msgpack_args<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    event: Option<&str>,
    data: &T,
    header: bool,
) -> Result<usize, DataError> {
    let mut count = 0;
    data.serialize(Spread {
        out,
        event,
        header,
        count: &mut count,
        zero_sized: std::mem::size_of_val(data) == 0,
    })?;
    Ok(count)
}

/// The top-level serializer: learns how many arguments the value is, then writes the
/// header, the event name and the arguments.
struct Spread<'a> {
    out: &'a mut Vec<u8>,
    event: Option<&'a str>,
    header: bool,
    count: &'a mut usize,
    /// Whether the value is zero-sized (`()`), the one unit that is no argument; any other
    /// unit (`Value::Null`, `serde_json::Value::Null`) is one `nil`.
    zero_sized: bool,
}

impl<'a> Spread<'a> {
    /// Writes what comes before `n` arguments and hands out the buffer.
    fn start(self, n: usize) -> &'a mut Vec<u8> {
        if self.header {
            write::array_len(
                self.out,
                write::count(n + usize::from(self.event.is_some())),
            );
        }
        if let Some(event) = self.event {
            write::str(self.out, event);
        }
        *self.count = n;
        self.out
    }

    fn one(self) -> msgpack::ser::Serializer<'a> {
        msgpack::ser::Serializer { out: self.start(1) }
    }
}

/// The elements of a top-level tuple, each an argument.
pub(crate) struct SpreadTuple<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
}

impl SpreadTuple<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.left == 0 {
            return Err(Error::Custom(
                "a tuple wrote more elements than its length".into(),
            ));
        }
        self.left -= 1;
        write_value(self.out, value)
    }

    fn finish(self) -> Result<(), Error> {
        if self.left != 0 {
            return Err(Error::Custom(
                "a tuple wrote fewer elements than its length".into(),
            ));
        }
        Ok(())
    }
}

impl ser::SerializeTuple for SpreadTuple<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SpreadTuple<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

macro_rules! one_argument {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method(self, v: $ty) -> Result<(), Error> {
                self.one().$method(v)
            }
        )*
    };
}

impl<'a> Serializer for Spread<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = SpreadTuple<'a>;
    type SerializeTupleStruct = SpreadTuple<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = StructCompound<'a>;
    type SerializeStructVariant = Compound<'a>;

    one_argument! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.one().serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.one().serialize_some(value)
    }

    /// `()` is zero arguments; a null value (`Value::Null`) is one `nil`.
    fn serialize_unit(self) -> Result<(), Error> {
        if self.zero_sized {
            self.start(0);
            Ok(())
        } else {
            self.one().serialize_unit()
        }
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Error> {
        self.one().serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.one().serialize_unit_variant(name, index, variant)
    }

    /// Transparent; received [`Args`](crate::protocol::Args) are copied as their
    /// MessagePack bytes (JSON ones converted value by value).
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        if name != ARGS_TOKEN {
            return value.serialize(self);
        }
        WANT_RAW_ARGS.with(|w| w.set(true));
        let result = value.serialize(msgpack::ser::Serializer {
            out: &mut Vec::new(),
        });
        WANT_RAW_ARGS.with(|w| w.set(false));
        result?;
        let Some(args) = RAW_ARGS.with(|r| r.borrow_mut().take()) else {
            return Ok(());
        };
        match args.as_msgpack() {
            Some(bytes) => {
                self.start(args.len()).extend_from_slice(bytes);
            }
            None => {
                let values: Vec<Value> = args
                    .deserialize_all()
                    .map_err(|e| Error::Custom(e.to_string()))?;
                let out = self.start(values.len());
                for v in &values {
                    write_value(out, v)?;
                }
            }
        }
        Ok(())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.one()
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.one().serialize_seq(len)
    }

    /// A tuple is spread: each element is an argument.
    fn serialize_tuple(self, len: usize) -> Result<SpreadTuple<'a>, Error> {
        Ok(SpreadTuple {
            out: self.start(len),
            left: len,
        })
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SpreadTuple<'a>, Error> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.one()
            .serialize_tuple_variant(name, index, variant, len)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.one().serialize_map(len)
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<StructCompound<'a>, Error> {
        self.one().serialize_struct(name, len)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.one()
            .serialize_struct_variant(name, index, variant, len)
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::{Args, Spread as SpreadList};

    fn args<T: Serialize + ?Sized>(event: Option<&str>, data: &T) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let n = write_msgpack_args(&mut out, event, data, true).unwrap();
        (out, n)
    }

    #[test]
    fn spreads_like_the_json_writer() {
        assert_eq!(args(Some("e"), &()), (b"\x91\xa1e".to_vec(), 0));
        assert_eq!(args(Some("e"), &1), (b"\x92\xa1e\x01".to_vec(), 1));
        assert_eq!(args(None, &(1, "a")), (b"\x92\x01\xa1a".to_vec(), 2));
        assert_eq!(args(None, &vec![1, 2]), (b"\x91\x92\x01\x02".to_vec(), 1));
        assert_eq!(
            args(None, &SpreadList(vec![1, 2, 3])),
            (b"\x93\x01\x02\x03".to_vec(), 3)
        );
        assert_eq!(
            args(None, &(Bytes::from_static(&[9]),)),
            (b"\x91\xc4\x01\x09".to_vec(), 1)
        );
        let mut bare = Vec::new();
        assert_eq!(
            write_msgpack_args(&mut bare, None, &(1, 2), false).unwrap(),
            2
        );
        assert_eq!(bare, b"\x01\x02");
    }

    #[test]
    fn received_args_are_copied_or_converted() {
        let mp = Args::from_msgpack(Bytes::from_static(b"\x01\xc4\x01\x02"), 2);
        assert_eq!(
            args(Some("x"), &mp),
            (b"\x93\xa1x\x01\xc4\x01\x02".to_vec(), 2)
        );
        let json = Args::from_serialize(&(1, Bytes::from_static(&[2]))).unwrap();
        assert_eq!(args(None, &json), (b"\x92\x01\xc4\x01\x02".to_vec(), 2));
        // Nested, they are one array.
        assert_eq!(
            args(None, &(0, &mp)),
            (b"\x92\x00\x92\x01\xc4\x01\x02".to_vec(), 2)
        );
    }
}
