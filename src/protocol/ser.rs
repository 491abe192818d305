//! Encoding side of the argument mapping and of binary attachments.
//!
//! Two serializer layers, both writing JSON text in one pass (no intermediate tree):
//!
//! - [`Intercept`] wraps any `Serializer` and forwards every call to it, except
//!   `serialize_bytes`, which becomes a `{"_placeholder":true,"num":N}` object while the
//!   bytes are recorded as attachment `N` (numbered in serialization order). Compound
//!   serializers are wrapped too, so bytes nested anywhere are found.
//! - [`Spread`] is the top-level serializer that maps one Rust value to the arguments of
//!   an event or ack: a tuple (or tuple struct) becomes several arguments, `()` becomes
//!   zero arguments, a newtype struct is transparent, anything else is one argument.

use std::cell::{Cell, RefCell};
use std::io;

use bytes::Bytes;
use serde::ser::{self, Serialize, SerializeStruct, Serializer};

use super::args::{ARGS_TOKEN, RAW_ARGS, WANT_RAW_ARGS};

/// Binary attachments collected while serializing.
pub(crate) type Attachments = RefCell<Vec<Bytes>>;

/// An `io::Write` into a shared buffer, so that the argument separators can be written
/// between values while a `serde_json::Serializer` holds the writer.
pub(crate) struct CellWriter<'b>(pub(crate) &'b RefCell<Vec<u8>>);

impl io::Write for CellWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type JsonSer<'b> = serde_json::Serializer<CellWriter<'b>>;

/// Serializes the arguments of `data` as a JSON array into `buf`, preceded by `first`
/// (the event name) when given. Returns the number of arguments written (the event name
/// not counted) and the binary attachments in placeholder order.
pub(crate) fn write_args<T: Serialize + ?Sized>(
    buf: &RefCell<Vec<u8>>,
    first: Option<&str>,
    data: &T,
) -> Result<(usize, Vec<Bytes>), serde_json::Error> {
    buf.borrow_mut().push(b'[');
    let mut ser = serde_json::Serializer::new(CellWriter(buf));
    let count = Cell::new(0usize);
    if let Some(name) = first {
        (&mut ser).serialize_str(name)?;
        count.set(1);
    }
    let atts = RefCell::new(Vec::new());
    data.serialize(Spread {
        ser: &mut ser,
        buf,
        count: &count,
        atts: &atts,
    })?;
    buf.borrow_mut().push(b']');
    Ok((
        count.get() - usize::from(first.is_some()),
        atts.into_inner(),
    ))
}

// ---------------------------------------------------------------------------------------
// Intercept: any serializer, with bytes turned into placeholders.

/// Forwards every call to `inner`; `serialize_bytes` writes a placeholder instead and
/// records the bytes.
pub(crate) struct Intercept<'a, S> {
    pub(crate) inner: S,
    pub(crate) atts: &'a Attachments,
}

/// A value whose serialization goes through [`Intercept`].
struct Wrapped<'a, T: ?Sized> {
    value: &'a T,
    atts: &'a Attachments,
}

impl<T: Serialize + ?Sized> Serialize for Wrapped<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Intercept {
            inner: serializer,
            atts: self.atts,
        })
    }
}

/// A compound serializer of the inner serializer whose children go through [`Intercept`].
pub(crate) struct Compound<'a, C> {
    inner: C,
    atts: &'a Attachments,
}

impl<'a, C> Compound<'a, C> {
    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Wrapped<'v, T>
    where
        'a: 'v,
    {
        Wrapped {
            value,
            atts: self.atts,
        }
    }
}

macro_rules! forward_scalar {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method(self, v: $ty) -> Result<Self::Ok, Self::Error> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'a, S: Serializer> Serializer for Intercept<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    forward_scalar! {
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
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, Self::Error> {
        let num = {
            let mut atts = self.atts.borrow_mut();
            atts.push(Bytes::copy_from_slice(v));
            atts.len() - 1
        };
        let mut placeholder = self.inner.serialize_struct("_placeholder", 2)?;
        placeholder.serialize_field("_placeholder", &true)?;
        placeholder.serialize_field("num", &num)?;
        placeholder.end()
    }

    fn serialize_none(self) -> Result<Self::Ok, Self::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Self::Error> {
        let atts = self.atts;
        self.inner.serialize_some(&Wrapped { value, atts })
    }

    fn serialize_unit(self) -> Result<Self::Ok, Self::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<Self::Ok, Self::Error> {
        self.inner.serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Self::Error> {
        self.inner
            .serialize_unit_variant(name, variant_index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        let atts = self.atts;
        self.inner
            .serialize_newtype_struct(name, &Wrapped { value, atts })
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        let atts = self.atts;
        self.inner
            .serialize_newtype_variant(name, variant_index, variant, &Wrapped { value, atts })
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Ok(Compound {
            inner: self.inner.serialize_seq(len)?,
            atts: self.atts,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Ok(Compound {
            inner: self.inner.serialize_tuple(len)?,
            atts: self.atts,
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Ok(Compound {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            atts: self.atts,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Ok(Compound {
            inner: self
                .inner
                .serialize_tuple_variant(name, variant_index, variant, len)?,
            atts: self.atts,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Ok(Compound {
            inner: self.inner.serialize_map(len)?,
            atts: self.atts,
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Ok(Compound {
            inner: self.inner.serialize_struct(name, len)?,
            atts: self.atts,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Ok(Compound {
            inner: self
                .inner
                .serialize_struct_variant(name, variant_index, variant, len)?,
            atts: self.atts,
        })
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(
        self,
        value: &T,
    ) -> Result<Self::Ok, Self::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C: ser::SerializeSeq> ser::SerializeSeq for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_element(&value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTuple> ser::SerializeTuple for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_element(&value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTupleStruct> ser::SerializeTupleStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(&value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeTupleVariant> ser::SerializeTupleVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(&value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    // Keys are forwarded as they are: a JSON key cannot be binary.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_value(&value)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_entry(key, &value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStruct> ser::SerializeStruct for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

// ---------------------------------------------------------------------------------------
// Spread: the top-level value mapped to event/ack arguments.

/// The top-level serializer: decides how many arguments a value is.
struct Spread<'s, 'b> {
    ser: &'s mut JsonSer<'b>,
    buf: &'b RefCell<Vec<u8>>,
    count: &'s Cell<usize>,
    atts: &'s Attachments,
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
struct SpreadTuple<'s, 'b> {
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

    /// `()` is zero arguments.
    fn serialize_unit(self) -> Result<(), serde_json::Error> {
        Ok(())
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
        let (buf, count, atts) = (self.buf, self.count, self.atts);
        WANT_RAW_ARGS.with(|w| w.set(true));
        let result = value.serialize(self);
        WANT_RAW_ARGS.with(|w| w.set(false));
        result?;
        if let Some(args) = RAW_ARGS.with(|r| r.borrow_mut().take()) {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::message::Str;
    use crate::protocol::{
        Args, Decoded, PacketData, PartialPacket, decode_text, encode_ack, encode_event,
    };

    fn received(text: &'static str, attachments: &[&'static [u8]]) -> Args {
        let packet = match decode_text(Str::from(text)).unwrap() {
            Decoded::Packet(p) => p,
            Decoded::Partial(mut p) => {
                let mut done = None;
                for a in attachments {
                    done = PartialPacket::push(&mut p, Bytes::from_static(a)).unwrap();
                }
                done.unwrap()
            }
        };
        match packet.inner {
            PacketData::Event { args, .. } => args,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn received_args_are_copied_as_text() {
        let args = received(r#"2["ev","a",{"b":[1,2]},3]"#, &[]);
        let e = encode_event("/", "back", &args, None).unwrap();
        assert_eq!(e.text.as_str(), r#"2["back","a",{"b":[1,2]},3]"#);
        let e = encode_ack("/n", 7, &args).unwrap();
        assert_eq!(e.text.as_str(), r#"3/n,7["a",{"b":[1,2]},3]"#);
        let none = received(r#"2["ev"]"#, &[]);
        assert_eq!(
            encode_event("/", "x", &none, None).unwrap().text.as_str(),
            r#"2["x"]"#
        );
        assert_eq!(encode_ack("/", 1, &none).unwrap().text.as_str(), "31[]");
        // Copied, not re-serialized: even the spacing is kept.
        let spaced = received(r#"2["ev", "a" , 1 ]"#, &[]);
        let e = encode_event("/", "x", &spaced, None).unwrap();
        assert_eq!(e.text.as_str(), r#"2["x","a" , 1 ]"#);
    }

    #[test]
    fn received_binary_args_keep_their_attachments() {
        let args = received(
            r#"51-["ev","f",{"_placeholder":true,"num":0}]"#,
            &[b"\x01\x02"],
        );
        let e = encode_event("/", "back", &args, None).unwrap();
        assert_eq!(
            e.text.as_str(),
            r#"51-["back","f",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(e.attachments, vec![Bytes::from_static(b"\x01\x02")]);
    }

    #[test]
    fn nested_args_are_serialized_as_values() {
        let args = received(r#"2["ev","a",1]"#, &[]);
        // Inside another value the arguments are one array, as before.
        let e = encode_event("/", "x", &(0, &args), None).unwrap();
        assert_eq!(e.text.as_str(), r#"2["x",0,["a",1]]"#);
        assert_eq!(serde_json::to_string(&args).unwrap(), r#"["a",1]"#);
        // And as the whole data again after that.
        let e = encode_event("/", "x", &args, None).unwrap();
        assert_eq!(e.text.as_str(), r#"2["x","a",1]"#);
    }
}
