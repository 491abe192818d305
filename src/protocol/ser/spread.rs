//! Spread: the top-level value mapped to event/ack arguments.

use std::cell::{Cell, RefCell};

use serde::ser::{self, Serialize, Serializer};

use super::intercept::{Compound, Intercept};
use super::{Attachments, CellWriter, JsonSer};
use crate::protocol::args::{ARGS_TOKEN, RAW_ARGS, WANT_RAW_ARGS};

/// The top-level serializer: decides how many arguments a value is.
pub(super) struct Spread<'s, 'b> {
    pub(super) ser: &'s mut JsonSer<'b>,
    pub(super) buf: &'b RefCell<Vec<u8>>,
    pub(super) count: &'s Cell<usize>,
    pub(super) atts: &'s Attachments,
    /// Whether the value is zero-sized (`()`), the one unit that is no argument; any other
    /// unit (`Value::Null`, `serde_json::Value::Null`) is one `null`.
    pub(super) zero_sized: bool,
}

fn separator(buf: &RefCell<Vec<u8>>, count: &Cell<usize>) {
    if count.get() > 0 {
        buf.borrow_mut().push(b',');
    }
    count.set(count.get() + 1);
}

impl<'s, 'b> Spread<'s, 'b> {
    /// Starts one argument and returns the serializer that writes it.
    fn one(self) -> Intercept<'s, &'s mut JsonSer<'b>> {
        separator(self.buf, self.count);
        Intercept {
            inner: self.ser,
            atts: self.atts,
        }
    }
}

macro_rules! one_argument {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method(self, v: $ty) -> Result<(), serde_json::Error> {
                self.one().$method(v)
            }
        )*
    };
}

/// Writes each element of a top-level tuple as an argument of its own.
pub(super) struct SpreadTuple<'s, 'b> {
    ser: &'s mut JsonSer<'b>,
    buf: &'b RefCell<Vec<u8>>,
    count: &'s Cell<usize>,
    atts: &'s Attachments,
}

impl SpreadTuple<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        separator(self.buf, self.count);
        value.serialize(Intercept {
            inner: &mut *self.ser,
            atts: self.atts,
        })
    }
}

impl ser::SerializeTuple for SpreadTuple<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), serde_json::Error> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for SpreadTuple<'_, '_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.element(value)
    }

    fn end(self) -> Result<(), serde_json::Error> {
        Ok(())
    }
}

type JsonCompound<'s, 'b> =
    serde_json::ser::Compound<'s, CellWriter<'b>, serde_json::ser::CompactFormatter>;

impl<'s, 'b> Serializer for Spread<'s, 'b> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Compound<'s, JsonCompound<'s, 'b>>;
    type SerializeTuple = SpreadTuple<'s, 'b>;
    type SerializeTupleStruct = SpreadTuple<'s, 'b>;
    type SerializeTupleVariant = Compound<'s, JsonCompound<'s, 'b>>;
    type SerializeMap = Compound<'s, JsonCompound<'s, 'b>>;
    type SerializeStruct = Compound<'s, JsonCompound<'s, 'b>>;
    type SerializeStructVariant = Compound<'s, JsonCompound<'s, 'b>>;

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

    fn serialize_none(self) -> Result<(), serde_json::Error> {
        self.one().serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), serde_json::Error> {
        self.one().serialize_some(value)
    }

    /// `()` is zero arguments; a null value (`Value::Null`) is one `null`.
    fn serialize_unit(self) -> Result<(), serde_json::Error> {
        if self.zero_sized {
            Ok(())
        } else {
            self.one().serialize_unit()
        }
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), serde_json::Error> {
        self.one().serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
    ) -> Result<(), serde_json::Error> {
        self.one()
            .serialize_unit_variant(name, variant_index, variant)
    }

    /// A newtype struct is transparent: `Wrapper((a, b))` is two arguments. Received
    /// [`Args`](super::Args) are copied as their JSON text, attachments included.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        if name != ARGS_TOKEN || !self.atts.borrow().is_empty() {
            return value.serialize(self);
        }
        let Spread {
            ser,
            buf,
            count,
            atts,
            ..
        } = self;
        WANT_RAW_ARGS.with(|w| w.set(true));
        // The arguments answer with a unit that stands for no argument of its own.
        let result = value.serialize(Spread {
            ser: &mut *ser,
            buf,
            count,
            atts,
            zero_sized: true,
        });
        WANT_RAW_ARGS.with(|w| w.set(false));
        result?;
        if let Some(args) = RAW_ARGS.with(|r| r.borrow_mut().take()) {
            if args.as_msgpack().is_some() {
                // MessagePack arguments: each value is written as JSON (binary becomes
                // attachments).
                let values: Vec<crate::protocol::Value> = args
                    .deserialize_all()
                    .map_err(<serde_json::Error as ser::Error>::custom)?;
                return crate::protocol::Spread(values).serialize(Spread {
                    ser,
                    buf,
                    count,
                    atts,
                    zero_sized: false,
                });
            }
            let raw = args.raw();
            if !raw.is_empty() {
                let mut buf = buf.borrow_mut();
                if count.get() > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(raw.as_bytes());
                count.set(count.get() + args.len());
            }
            atts.borrow_mut().extend(args.attachments().iter().cloned());
        }
        Ok(())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.one()
            .serialize_newtype_variant(name, variant_index, variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        self.one().serialize_seq(len)
    }

    /// A tuple is spread: each element is an argument.
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        Ok(SpreadTuple {
            ser: self.ser,
            buf: self.buf,
            count: self.count,
            atts: self.atts,
        })
    }

    /// A tuple struct is spread like a tuple.
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        Ok(SpreadTuple {
            ser: self.ser,
            buf: self.buf,
            count: self.count,
            atts: self.atts,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        self.one()
            .serialize_tuple_variant(name, variant_index, variant, len)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        self.one().serialize_map(len)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        self.one().serialize_struct(name, len)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        self.one()
            .serialize_struct_variant(name, variant_index, variant, len)
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(
        self,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.one().collect_str(value)
    }
}
