//! Reading the arguments: the argument mapping as serde deserializers over the received
//! JSON array (binary placeholders presented as their attachments) or MessagePack values.

use std::fmt;

use bytes::Bytes;
use serde::de::value::UnitDeserializer;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, SeqAccess, Visitor};

use super::{Args, Repr};
use crate::msgpack;
use crate::protocol::de::{RAW_VALUE_TOKEN, WrapSeed, drain};
use crate::protocol::error::DataError;

impl Args {
    /// Opens the arguments and hands them to `visitor` as a sequence.
    fn visit<'a, V: ArgsVisitor<'a>>(&'a self, visitor: V) -> Result<V::Value, DataError> {
        match &self.repr {
            Repr::Json(j) if j.array => {
                let mut de = serde_json::Deserializer::from_str(j.text.as_str());
                let value = de.deserialize_seq(SeqVisitor {
                    visitor,
                    skip_first: j.skip_first,
                })?;
                de.end()?;
                Ok(value)
            }
            Repr::Json(j) => {
                let mut de = serde_json::Deserializer::from_str(j.text.as_str());
                let mut seq = JsonOne {
                    de: &mut de,
                    done: false,
                };
                let value = visitor.visit(&mut seq)?;
                drain(&mut seq)?;
                de.end()?;
                Ok(value)
            }
            Repr::MsgPack(bytes) => {
                let mut de = msgpack::read::deserializer(bytes);
                let mut seq = MsgPackSeq {
                    de: &mut de,
                    left: self.len,
                };
                let value = visitor.visit(&mut seq).map_err(DataError::msgpack)?;
                drain(&mut seq).map_err(DataError::msgpack)?;
                Ok(value)
            }
        }
    }
}

/// One JSON value as a sequence of one argument.
struct JsonOne<'d, 'a> {
    de: &'d mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
    done: bool,
}

impl<'a> SeqAccess<'a> for JsonOne<'_, 'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, serde_json::Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(usize::from(!self.done))
    }
}

/// MessagePack values one after another as a sequence of `left` arguments.
struct MsgPackSeq<'d, 'a> {
    de: &'d mut msgpack::read::Deserializer<'a>,
    left: usize,
}

impl<'a> SeqAccess<'a> for MsgPackSeq<'_, 'a> {
    type Error = rmp_serde::decode::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, rmp_serde::decode::Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

// ---------------------------------------------------------------------------------------
// Reading the array.

/// What to do with the arguments once the array is open.
trait ArgsVisitor<'a> {
    type Value;
    fn visit<A: SeqAccess<'a>>(self, seq: &mut A) -> Result<Self::Value, A::Error>;
}

struct SeqVisitor<V> {
    visitor: V,
    skip_first: bool,
}

impl<'a, V: ArgsVisitor<'a>> Visitor<'a> for SeqVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of arguments")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<V::Value, A::Error> {
        if self.skip_first {
            seq.next_element::<IgnoredAny>()?;
        }
        let value = self.visitor.visit(&mut seq)?;
        drain(&mut seq)?;
        Ok(value)
    }
}

/// A seed whose deserializer is wrapped only when there are attachments, so the
/// no-binary path reads straight from serde_json.
struct ArgSeed<'a, S> {
    seed: S,
    atts: &'a [Bytes],
}

impl<'a, S: DeserializeSeed<'a>> DeserializeSeed<'a> for ArgSeed<'a, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<S::Value, D::Error> {
        if self.atts.is_empty() {
            self.seed.deserialize(d)
        } else {
            WrapSeed::new(self.seed, self.atts).deserialize(d)
        }
    }
}

/// One `Deserializer` method and its parameters, replayed on the first argument.
#[derive(Clone, Copy)]
enum Method {
    Any,
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    String,
    Bytes,
    ByteBuf,
    Option,
    NewtypeStruct(&'static str),
    Seq,
    Map,
    Struct(&'static str, &'static [&'static str]),
    Enum(&'static str, &'static [&'static str]),
    Identifier,
}

impl Method {
    fn call<'de, D: Deserializer<'de>, V: Visitor<'de>>(
        self,
        d: D,
        v: V,
    ) -> Result<V::Value, D::Error> {
        match self {
            Method::Any => d.deserialize_any(v),
            Method::Bool => d.deserialize_bool(v),
            Method::I8 => d.deserialize_i8(v),
            Method::I16 => d.deserialize_i16(v),
            Method::I32 => d.deserialize_i32(v),
            Method::I64 => d.deserialize_i64(v),
            Method::I128 => d.deserialize_i128(v),
            Method::U8 => d.deserialize_u8(v),
            Method::U16 => d.deserialize_u16(v),
            Method::U32 => d.deserialize_u32(v),
            Method::U64 => d.deserialize_u64(v),
            Method::U128 => d.deserialize_u128(v),
            Method::F32 => d.deserialize_f32(v),
            Method::F64 => d.deserialize_f64(v),
            Method::Char => d.deserialize_char(v),
            Method::Str => d.deserialize_str(v),
            Method::String => d.deserialize_string(v),
            Method::Bytes => d.deserialize_bytes(v),
            Method::ByteBuf => d.deserialize_byte_buf(v),
            Method::Option => d.deserialize_option(v),
            Method::NewtypeStruct(name) => d.deserialize_newtype_struct(name, v),
            Method::Seq => d.deserialize_seq(v),
            Method::Map => d.deserialize_map(v),
            Method::Struct(name, fields) => d.deserialize_struct(name, fields, v),
            Method::Enum(name, variants) => d.deserialize_enum(name, variants, v),
            Method::Identifier => d.deserialize_identifier(v),
        }
    }
}

/// Calls a `Deserializer` method on one element.
struct MethodSeed<V> {
    method: Method,
    visitor: V,
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for MethodSeed<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.method.call(d, self.visitor)
    }
}

/// Hands the first argument to a visitor.
struct First<'a, V> {
    method: Method,
    visitor: V,
    atts: &'a [Bytes],
}

impl<'a, V: Visitor<'a>> ArgsVisitor<'a> for First<'a, V> {
    type Value = V::Value;

    fn visit<A: SeqAccess<'a>>(self, seq: &mut A) -> Result<V::Value, A::Error> {
        let seed = ArgSeed {
            seed: MethodSeed {
                method: self.method,
                visitor: self.visitor,
            },
            atts: self.atts,
        };
        seq.next_element_seed(seed)?
            .ok_or_else(|| A::Error::custom("missing argument"))
    }
}

/// Hands `len` arguments to a visitor as a sequence.
struct SpreadArgs<'a, V> {
    len: usize,
    available: usize,
    visitor: V,
    atts: &'a [Bytes],
}

impl<'a, V: Visitor<'a>> ArgsVisitor<'a> for SpreadArgs<'a, V> {
    type Value = V::Value;

    fn visit<A: SeqAccess<'a>>(self, seq: &mut A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(SpreadSeq {
            seq: Some(seq),
            remaining: self.len,
            available: self.available,
            atts: self.atts,
        })
    }
}

/// Yields exactly `remaining` elements: the available arguments, then `null`-like
/// padding.
struct SpreadSeq<'s, 'a, A> {
    seq: Option<&'s mut A>,
    remaining: usize,
    available: usize,
    atts: &'a [Bytes],
}

impl<'a, A: SeqAccess<'a>> SeqAccess<'a> for SpreadSeq<'_, 'a, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        match self.seq.as_deref_mut() {
            Some(seq) if self.available > 0 => {
                self.available -= 1;
                let seed = ArgSeed {
                    seed,
                    atts: self.atts,
                };
                match seq.next_element_seed(seed)? {
                    Some(value) => Ok(Some(value)),
                    None => Err(A::Error::custom("missing argument")),
                }
            }
            _ => seed.deserialize(UnitDeserializer::new()).map(Some),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.remaining)
    }
}

/// A `SeqAccess` that never yields, for spreading zero arguments.
struct NoSeq;

impl<'a> SeqAccess<'a> for NoSeq {
    type Error = DataError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        _seed: T,
    ) -> Result<Option<T::Value>, DataError> {
        Ok(None)
    }
}

/// Reads the first argument as a plain value (no mapping): a CONNECT payload.
struct Payload<'a, T> {
    atts: &'a [Bytes],
    target: std::marker::PhantomData<T>,
}

impl<'a, T: serde::Deserialize<'a>> ArgsVisitor<'a> for Payload<'a, T> {
    type Value = Option<T>;

    fn visit<A: SeqAccess<'a>>(self, seq: &mut A) -> Result<Option<T>, A::Error> {
        seq.next_element_seed(ArgSeed {
            seed: std::marker::PhantomData::<T>,
            atts: self.atts,
        })
    }
}

impl Args {
    /// The first argument as a `T`, whatever `T` is (no tuple spreading): the one value
    /// of a CONNECT or CONNECT_ERROR payload.
    pub(crate) fn deserialize_payload<'a, T: serde::Deserialize<'a>>(
        &'a self,
    ) -> Result<Option<T>, DataError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.visit(Payload {
            atts: self.attachments(),
            target: std::marker::PhantomData,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The top-level deserializers.

/// Applies the argument mapping.
pub(super) struct ArgsDeserializer<'a> {
    pub(super) args: &'a Args,
}

impl<'a> ArgsDeserializer<'a> {
    fn first<V: Visitor<'a>>(self, method: Method, visitor: V) -> Result<V::Value, DataError> {
        if self.args.len == 0 {
            return method.call(UnitDeserializer::new(), visitor);
        }
        self.args.visit(First {
            method,
            visitor,
            atts: self.args.attachments(),
        })
    }
}

/// Spreads the arguments into a sequence of `len` elements.
fn spread<'a, V: Visitor<'a>>(
    args: &'a Args,
    len: usize,
    visitor: V,
) -> Result<V::Value, DataError> {
    if args.len == 0 {
        return visitor.visit_seq(SpreadSeq::<NoSeq> {
            seq: None,
            remaining: len,
            available: 0,
            atts: &[],
        });
    }
    args.visit(SpreadArgs {
        len,
        available: args.len,
        visitor,
        atts: args.attachments(),
    })
}

macro_rules! first_argument {
    ($($method:ident => $m:expr;)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DataError> {
                self.first($m, visitor)
            }
        )*
    };
}

impl<'a> Deserializer<'a> for ArgsDeserializer<'a> {
    type Error = DataError;

    first_argument! {
        deserialize_any => Method::Any;
        deserialize_bool => Method::Bool;
        deserialize_i8 => Method::I8;
        deserialize_i16 => Method::I16;
        deserialize_i32 => Method::I32;
        deserialize_i64 => Method::I64;
        deserialize_i128 => Method::I128;
        deserialize_u8 => Method::U8;
        deserialize_u16 => Method::U16;
        deserialize_u32 => Method::U32;
        deserialize_u64 => Method::U64;
        deserialize_u128 => Method::U128;
        deserialize_f32 => Method::F32;
        deserialize_f64 => Method::F64;
        deserialize_char => Method::Char;
        deserialize_str => Method::Str;
        deserialize_string => Method::String;
        deserialize_bytes => Method::Bytes;
        deserialize_byte_buf => Method::ByteBuf;
        deserialize_seq => Method::Seq;
        deserialize_map => Method::Map;
        deserialize_identifier => Method::Identifier;
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DataError> {
        if self.args.len == 0 {
            visitor.visit_none()
        } else {
            self.first(Method::Option, visitor)
        }
    }

    /// `()` accepts any arguments.
    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DataError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DataError> {
        visitor.visit_unit()
    }

    /// Transparent, except for serde_json's `RawValue`, which captures the first argument.
    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        if name == RAW_VALUE_TOKEN {
            self.first(Method::NewtypeStruct(name), visitor)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        spread(self.args, len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        spread(self.args, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DataError> {
        self.first(Method::Struct(name, fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DataError> {
        self.first(Method::Enum(name, variants), visitor)
    }
}

/// Presents every argument as one sequence.
pub(super) struct AllArgs<'a> {
    pub(super) args: &'a Args,
}

impl<'de> Deserializer<'de> for AllArgs<'de> {
    type Error = DataError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        spread(self.args, self.args.len, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DataError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        spread(self.args, len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DataError> {
        spread(self.args, len, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq map struct enum identifier ignored_any
    }
}
