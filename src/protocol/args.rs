//! The arguments of an event or an acknowledgement, and how Rust values map to them.

use std::cell::{Cell, RefCell};
use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::value::UnitDeserializer;
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, Error as _, IgnoredAny, SeqAccess, Visitor,
};

use super::de::{RAW_VALUE_TOKEN, WrapSeed, drain};
use super::error::EncodeError;
use super::ser::write_args;
use crate::message::Str;

/// The arguments of an event or an acknowledgement: raw JSON plus binary attachments.
///
/// Cloning is cheap (reference-counted buffers).
///
/// # Argument mapping
///
/// Socket.IO events carry a list of arguments (`socket.emit("ev", a, b, c)`). A Rust
/// handler asks for one type `T`; the same rule applies on both sides:
///
/// | `T` | receives (decode) | sends (encode) |
/// | --- | --- | --- |
/// | a tuple or tuple struct `(A, B, ..)` | the arguments in order, one per element; missing ones are `null`-like (so `Option` elements become `None`), extra ones are ignored | one argument per element |
/// | `()` | nothing (any arguments are accepted and ignored) | zero arguments |
/// | a newtype struct `W(T)` | whatever `T` receives | whatever `T` sends |
/// | anything else (`String`, a struct, `Vec<T>`, [`Value`](super::Value), `Option<T>`, ...) | the **first** argument; with zero arguments a `null`-like value (`None`, `Value::Null`, or an error for types that need data) | exactly one argument |
///
/// So `Vec<T>` is one argument that is an array, not "all arguments";
/// [`Args::deserialize_all`] reads every argument as a sequence instead.
///
/// # Representation
///
/// Decoded arguments are not parsed into a tree: [`Args`] keeps a zero-copy slice of the
/// received text (the JSON array) and the binary attachments. A handler's type is
/// deserialized straight from that text, so it may even borrow `&str` from it. When
/// attachments exist, a wrapper deserializer presents each placeholder as the bytes of
/// its attachment (`Bytes`, `serde_bytes`-style buffers, `Vec<u8>` and
/// [`Value::Binary`](super::Value::Binary) all accept it).
#[derive(Clone)]
pub struct Args {
    /// A JSON array: `[args..]`, or `[event, args..]` when `skip_first`.
    json: Str,
    /// Byte offset in `json` of the first argument, or of the closing `]` when none.
    start: usize,
    /// Byte offset in `json` of the closing `]`.
    end: usize,
    /// The array starts with the event name, which is not an argument.
    skip_first: bool,
    /// Number of arguments.
    len: usize,
    /// Binary attachments referenced by placeholders in `json`.
    attachments: Vec<Bytes>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Args {
            json: Str::from_static("[]"),
            start: 1,
            end: 1,
            skip_first: false,
            len: 0,
            attachments: Vec::new(),
        }
    }

    /// Serializes `data` into arguments, following the mapping in the
    /// [type documentation](Args): a tuple is several arguments, `()` none, anything
    /// else one. Byte buffers anywhere inside become binary attachments.
    pub fn from_serialize<T: Serialize + ?Sized>(data: &T) -> Result<Self, EncodeError> {
        let buf = RefCell::new(Vec::new());
        let (len, attachments) = write_args(&buf, None, data)?;
        let json = String::from_utf8(buf.into_inner()).map_err(|_| {
            EncodeError(serde::ser::Error::custom("serializer wrote invalid UTF-8"))
        })?;
        let end = json.len() - 1;
        let start = if len == 0 { end } else { 1 };
        Ok(Args {
            json: Str::from(json),
            start,
            end,
            skip_first: false,
            len,
            attachments,
        })
    }

    /// Arguments over a validated JSON array (see the field docs).
    pub(crate) fn from_parts(
        json: Str,
        start: usize,
        end: usize,
        skip_first: bool,
        len: usize,
    ) -> Self {
        Args {
            json,
            start,
            end,
            skip_first,
            len,
            attachments: Vec::new(),
        }
    }

    pub(crate) fn push_attachment(&mut self, data: Bytes) {
        self.attachments.push(data);
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Whether the arguments carry binary attachments.
    pub fn has_binary(&self) -> bool {
        !self.attachments.is_empty()
    }

    /// The arguments as JSON text separated by commas, without the enclosing brackets,
    /// exactly as received (binary ones as `{"_placeholder":true,"num":N}`).
    pub fn raw(&self) -> &str {
        self.json.as_str().get(self.start..self.end).unwrap_or("")
    }

    /// The arguments as a JSON array text (`[a,b,..]`), placeholders included.
    pub fn to_json_array(&self) -> String {
        let raw = self.raw();
        let mut s = String::with_capacity(raw.len() + 2);
        s.push('[');
        s.push_str(raw);
        s.push(']');
        s
    }

    /// Deserializes the arguments into `T` following the mapping in the
    /// [type documentation](Args): a tuple receives the arguments in order, anything
    /// else receives the first argument.
    ///
    /// `T` may borrow from the arguments (e.g. `&str` without escapes, `&[u8]` of a
    /// binary attachment).
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        T::deserialize(ArgsDeserializer { args: self })
    }

    /// Deserializes all the arguments as one sequence, whatever `T` is: use it for
    /// `Vec<Value>` or any other sequence type that wants every argument.
    pub fn deserialize_all<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        T::deserialize(AllArgs { args: self })
    }

    /// Reads the array and hands the arguments to `visitor`.
    fn visit<'a, V: ArgsVisitor<'a>>(&'a self, visitor: V) -> Result<V::Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(self.json.as_str());
        let value = de.deserialize_seq(SeqVisitor {
            visitor,
            skip_first: self.skip_first,
        })?;
        de.end()?;
        Ok(value)
    }
}

/// Several arguments from a list whose length is known only at run time: `Spread(vec)`
/// serializes as a tuple, so an emit or an ack sends each element as its own argument
/// (Node's `socket.emit("ev", ...list)`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spread<T>(pub Vec<T>);

impl<T: Serialize> Serialize for Spread<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

/// What an acknowledgement can be read as: any `DeserializeOwned` type (by the argument
/// mapping), or [`Args`] itself for every argument untyped.
pub trait FromArgs: Sized {
    /// Reads the value from the arguments.
    fn from_args(args: Args) -> Result<Self, serde_json::Error>;
}

impl<T: serde::de::DeserializeOwned> FromArgs for T {
    fn from_args(args: Args) -> Result<Self, serde_json::Error> {
        args.deserialize()
    }
}

impl FromArgs for Args {
    fn from_args(args: Args) -> Result<Self, serde_json::Error> {
        Ok(args)
    }
}

/// The newtype name under which [`Args`] serialize, so that the argument writer of this
/// crate recognises them and copies their JSON text as it is.
pub(crate) const ARGS_TOKEN: &str = "$tower_socketio::private::Args";

thread_local! {
    /// Set by the argument writer right before it serializes a value named
    /// [`ARGS_TOKEN`]: the arguments then leave a copy of themselves in [`RAW_ARGS`]
    /// instead of being serialized one by one.
    pub(crate) static WANT_RAW_ARGS: Cell<bool> = const { Cell::new(false) };
    pub(crate) static RAW_ARGS: RefCell<Option<Args>> = const { RefCell::new(None) };
}

/// Serializes as the arguments themselves, as a tuple, so that an emit or an ack spreads
/// them: re-emitting decoded arguments sends them as they came, binary included. As the
/// whole data of an emit or an ack, their JSON text is copied without being parsed again.
impl Serialize for Args {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(ARGS_TOKEN, &ArgsTuple(self))
    }
}

/// [`Args`] as a tuple of their values.
struct ArgsTuple<'a>(&'a Args);

impl Serialize for ArgsTuple<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeTuple};
        if WANT_RAW_ARGS.with(|w| w.replace(false)) {
            RAW_ARGS.with(|r| *r.borrow_mut() = Some(self.0.clone()));
            return s.serialize_unit();
        }
        let this = self.0;
        let mut t = s.serialize_tuple(this.len)?;
        if this.attachments.is_empty() {
            let raw: Vec<&serde_json::value::RawValue> =
                this.deserialize_all().map_err(S::Error::custom)?;
            for r in raw {
                t.serialize_element(r)?;
            }
        } else {
            let values: Vec<super::Value> = this.deserialize_all().map_err(S::Error::custom)?;
            for v in &values {
                t.serialize_element(v)?;
            }
        }
        t.end()
    }
}

impl Default for Args {
    fn default() -> Self {
        Args::new()
    }
}

impl PartialEq for Args {
    /// Same argument text and same attachments.
    fn eq(&self, other: &Self) -> bool {
        self.raw() == other.raw() && self.attachments == other.attachments
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Args")
            .field("json", &self.to_json_array())
            .field("attachments", &self.attachments.len())
            .finish()
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
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        _seed: T,
    ) -> Result<Option<T::Value>, serde_json::Error> {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// The top-level deserializers.

/// Applies the argument mapping.
struct ArgsDeserializer<'a> {
    args: &'a Args,
}

impl<'a> ArgsDeserializer<'a> {
    fn first<V: Visitor<'a>>(
        self,
        method: Method,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        if self.args.len == 0 {
            return method.call(UnitDeserializer::new(), visitor);
        }
        self.args.visit(First {
            method,
            visitor,
            atts: &self.args.attachments,
        })
    }
}

/// Spreads the arguments into a sequence of `len` elements.
fn spread<'a, V: Visitor<'a>>(
    args: &'a Args,
    len: usize,
    visitor: V,
) -> Result<V::Value, serde_json::Error> {
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
        atts: &args.attachments,
    })
}

macro_rules! first_argument {
    ($($method:ident => $m:expr;)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
                self.first($m, visitor)
            }
        )*
    };
}

impl<'a> Deserializer<'a> for ArgsDeserializer<'a> {
    type Error = serde_json::Error;

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

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        if self.args.len == 0 {
            visitor.visit_none()
        } else {
            self.first(Method::Option, visitor)
        }
    }

    /// `()` accepts any arguments.
    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(
        self,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_unit()
    }

    /// Transparent, except for serde_json's `RawValue`, which captures the first argument.
    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
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
    ) -> Result<V::Value, serde_json::Error> {
        spread(self.args, len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        spread(self.args, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.first(Method::Struct(name, fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        self.first(Method::Enum(name, variants), visitor)
    }
}

/// Presents every argument as one sequence.
struct AllArgs<'a> {
    args: &'a Args,
}

impl<'de> Deserializer<'de> for AllArgs<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, serde_json::Error> {
        spread(self.args, self.args.len, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        spread(self.args, len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, serde_json::Error> {
        spread(self.args, len, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq map struct enum identifier ignored_any
    }
}
