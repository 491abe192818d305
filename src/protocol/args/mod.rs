//! The arguments of an event or an acknowledgement, and how Rust values map to them.
//!
//! The type and its serialization are here; [`de`] reads the arguments into Rust types
//! by the argument mapping, over either representation.

mod de;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::Deserialize;

use self::de::{AllArgs, ArgsDeserializer};
use super::Parser;
use super::error::{DataError, EncodeError};
use super::ser::{write_args, write_msgpack_args};
use crate::message::Str;

/// The arguments of an event or an acknowledgement, in the wire form of the parser they
/// came with: JSON text plus binary attachments, or MessagePack.
///
/// Cloning is cheap (reference-counted buffers).
///
/// # Argument mapping
///
/// Socket.IO events carry a list of arguments (`socket.emit("ev", a, b, c)`). A Rust
/// handler asks for one type `T`; the same rule applies on both sides, with either parser:
///
/// | `T` | receives (decode) | sends (encode) |
/// | --- | --- | --- |
/// | a tuple or tuple struct `(A, B, ..)` | the arguments in order, one per element; missing ones are `null`-like (so `Option` elements become `None`), extra ones are ignored | one argument per element |
/// | `()` | nothing (any arguments are accepted and ignored) | zero arguments |
/// | a newtype struct `W(T)` | whatever `T` receives | whatever `T` sends |
/// | anything else (`String`, a struct, `Vec<T>`, [`Value`](super::Value), `Option<T>`, ...) | the **first** argument; with zero arguments a `null`-like value (`None`, `Value::Null`, or an error for types that need data) | exactly one argument, `null` included (`Value::Null`, `serde_json::Value::Null` and `None` are one `null`, which a JavaScript client reads as `null`, not `undefined`) |
///
/// So `Vec<T>` is one argument that is an array, not "all arguments";
/// [`Args::deserialize_all`] reads every argument as a sequence instead.
///
/// # Representation
///
/// Decoded arguments are not parsed into a tree. With the JSON parser, [`Args`] keeps a
/// zero-copy slice of the received text (the JSON array) and the binary attachments; a
/// wrapper deserializer presents each placeholder as the bytes of its attachment. With the
/// MessagePack parser, it keeps a zero-copy slice of the received message: the arguments'
/// MessagePack values one after another, binary inline as `bin`. A handler's type is
/// deserialized straight from those bytes (it may even borrow `&str` from them); `Bytes`,
/// `serde_bytes`-style buffers, `Vec<u8>` and [`Value::Binary`](super::Value::Binary) all
/// accept binary data in either form.
///
/// Arguments re-emitted with the parser they came with are copied as they are, never
/// parsed again; emitted with the other one (a broadcast from another server of a cluster,
/// say), they are converted once.
///
/// The same type carries the single payload of a CONNECT (the `auth` object) and of a
/// CONNECT_ERROR (its `data`), as one argument.
#[derive(Clone)]
pub struct Args {
    repr: Repr,
    /// Number of arguments.
    len: usize,
}

#[derive(Clone)]
enum Repr {
    Json(JsonArgs),
    /// Clean MessagePack (see `crate::msgpack`): `len` values one after another.
    MsgPack(Bytes),
}

#[derive(Clone)]
struct JsonArgs {
    /// A JSON array: `[args..]`, or `[event, args..]` when `skip_first`; or, when not
    /// `array`, one JSON value (a CONNECT payload).
    text: Str,
    /// Byte offset in `text` of the first argument, or of the closing `]` when none.
    start: usize,
    /// Byte offset in `text` of the closing `]` (the end of the value when not `array`).
    end: usize,
    /// The array starts with the event name, which is not an argument.
    skip_first: bool,
    /// `text` is an array of arguments (else one value).
    array: bool,
    /// Binary attachments referenced by placeholders in `text`.
    attachments: Vec<Bytes>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Args {
            repr: Repr::Json(JsonArgs {
                text: Str::from_static("[]"),
                start: 1,
                end: 1,
                skip_first: false,
                array: true,
                attachments: Vec::new(),
            }),
            len: 0,
        }
    }

    /// Serializes `data` into arguments in the JSON form, following the mapping in the
    /// [type documentation](Args): a tuple is several arguments, `()` none, anything
    /// else one. Byte buffers anywhere inside become binary attachments.
    pub fn from_serialize<T: Serialize + ?Sized>(data: &T) -> Result<Self, EncodeError> {
        let buf = RefCell::new(Vec::new());
        let (len, attachments) = write_args(&buf, None, data)?;
        let json = String::from_utf8(buf.into_inner())
            .map_err(|_| EncodeError::custom("serializer wrote invalid UTF-8"))?;
        let end = json.len() - 1;
        let start = if len == 0 { end } else { 1 };
        Ok(Args {
            repr: Repr::Json(JsonArgs {
                text: Str::from(json),
                start,
                end,
                skip_first: false,
                array: true,
                attachments,
            }),
            len,
        })
    }

    /// Serializes `data` into arguments in the wire form of `parser` (the mapping of
    /// [`from_serialize`](Self::from_serialize)): JSON with attachments, or MessagePack
    /// with binary inline. Arguments made in the form a server speaks are sent without
    /// conversion.
    ///
    /// ```
    /// use tower_socketio::protocol::{Args, Parser};
    ///
    /// let args = Args::from_serialize_with(Parser::MsgPack, &("a", 1)).unwrap();
    /// assert_eq!(args.parser(), Parser::MsgPack);
    /// assert_eq!(args.as_msgpack(), Some(&b"\xa1a\x01"[..]));
    /// assert_eq!(args.deserialize::<(String, u8)>().unwrap(), ("a".to_owned(), 1));
    /// ```
    pub fn from_serialize_with<T: Serialize + ?Sized>(
        parser: Parser,
        data: &T,
    ) -> Result<Self, EncodeError> {
        match parser {
            Parser::Json => Self::from_serialize(data),
            Parser::MsgPack => {
                let mut out = Vec::with_capacity(64);
                let len = write_msgpack_args(&mut out, None, data, false)?;
                Ok(Args::from_msgpack(Bytes::from(out), len))
            }
        }
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
            repr: Repr::Json(JsonArgs {
                text: json,
                start,
                end,
                skip_first,
                array: true,
                attachments: Vec::new(),
            }),
            len,
        }
    }

    /// One argument: a validated JSON value.
    pub(crate) fn json_value(json: Str) -> Self {
        let end = json.len();
        Args {
            repr: Repr::Json(JsonArgs {
                text: json,
                start: 0,
                end,
                skip_first: false,
                array: false,
                attachments: Vec::new(),
            }),
            len: 1,
        }
    }

    /// The same arguments in buffers of their own, not slices of a received frame (which
    /// would keep the transport's whole read buffer alive): for what is kept long, such as
    /// a CONNECT's auth, which lives as long as its socket.
    pub(crate) fn detached(&self) -> Self {
        let repr = match &self.repr {
            Repr::Json(j) => Repr::Json(JsonArgs {
                text: Str::from(j.text.as_str().to_owned()),
                attachments: j
                    .attachments
                    .iter()
                    .map(|b| Bytes::copy_from_slice(b))
                    .collect(),
                ..j.clone()
            }),
            Repr::MsgPack(b) => Repr::MsgPack(Bytes::copy_from_slice(b)),
        };
        Args {
            repr,
            len: self.len,
        }
    }

    /// `len` arguments: clean MessagePack values one after another (see `crate::msgpack`).
    pub(crate) fn from_msgpack(bytes: Bytes, len: usize) -> Self {
        Args {
            repr: Repr::MsgPack(bytes),
            len,
        }
    }

    pub(crate) fn push_attachment(&mut self, data: Bytes) {
        if let Repr::Json(j) = &mut self.repr {
            j.attachments.push(data);
        }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The parser whose wire form the arguments are in: [`Parser::Json`] for received JSON
    /// and [`from_serialize`](Self::from_serialize), [`Parser::MsgPack`] for received
    /// MessagePack.
    pub fn parser(&self) -> Parser {
        match self.repr {
            Repr::Json(_) => Parser::Json,
            Repr::MsgPack(_) => Parser::MsgPack,
        }
    }

    /// The binary attachments, in placeholder order (JSON form; MessagePack keeps binary
    /// inline and has none).
    pub fn attachments(&self) -> &[Bytes] {
        match &self.repr {
            Repr::Json(j) => &j.attachments,
            Repr::MsgPack(_) => &[],
        }
    }

    /// Whether the arguments carry binary attachments (JSON form).
    pub fn has_binary(&self) -> bool {
        !self.attachments().is_empty()
    }

    /// The arguments as JSON text separated by commas, without the enclosing brackets,
    /// exactly as received (binary ones as `{"_placeholder":true,"num":N}`).
    ///
    /// Empty for arguments in the MessagePack form: see [`as_msgpack`](Self::as_msgpack)
    /// and [`to_json_array`](Self::to_json_array).
    pub fn raw(&self) -> &str {
        match &self.repr {
            Repr::Json(j) => j.text.as_str().get(j.start..j.end).unwrap_or(""),
            Repr::MsgPack(_) => "",
        }
    }

    /// The arguments as MessagePack values one after another (no array header), exactly
    /// as received; `None` for arguments in the JSON form.
    pub fn as_msgpack(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Json(_) => None,
            Repr::MsgPack(b) => Some(b),
        }
    }

    /// The arguments as a JSON array text (`[a,b,..]`): placeholders included in the JSON
    /// form; for MessagePack arguments, their JSON rendering (binary as arrays of byte
    /// values, as serde_json writes bytes).
    pub fn to_json_array(&self) -> String {
        match &self.repr {
            Repr::Json(_) => {
                let raw = self.raw();
                let mut s = String::with_capacity(raw.len() + 2);
                s.push('[');
                s.push_str(raw);
                s.push(']');
                s
            }
            Repr::MsgPack(_) => self
                .deserialize_all::<Vec<super::Value>>()
                .ok()
                .and_then(|v| serde_json::to_string(&v).ok())
                .unwrap_or_else(|| "[]".to_owned()),
        }
    }

    /// Deserializes the arguments into `T` following the mapping in the
    /// [type documentation](Args): a tuple receives the arguments in order, anything
    /// else receives the first argument.
    ///
    /// `T` may borrow from the arguments (e.g. `&str` without escapes, `&[u8]` of binary
    /// data).
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, DataError> {
        T::deserialize(ArgsDeserializer { args: self })
    }

    /// Deserializes all the arguments as one sequence, whatever `T` is: use it for
    /// `Vec<Value>` or any other sequence type that wants every argument.
    pub fn deserialize_all<'a, T: Deserialize<'a>>(&'a self) -> Result<T, DataError> {
        T::deserialize(AllArgs { args: self })
    }

    /// The arguments in the JSON form (a copy converted once for MessagePack ones).
    pub(crate) fn to_json(&self) -> Cow<'_, Args> {
        match self.repr {
            Repr::Json(_) => Cow::Borrowed(self),
            Repr::MsgPack(_) => Cow::Owned(Args::from_serialize(self).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "MessagePack arguments without a JSON form");
                Args::new()
            })),
        }
    }

    /// The arguments as MessagePack values one after another (converted for JSON ones).
    pub(crate) fn to_msgpack(&self) -> Result<Bytes, EncodeError> {
        match &self.repr {
            Repr::MsgPack(b) => Ok(b.clone()),
            Repr::Json(_) => {
                let mut out = Vec::with_capacity(self.raw().len() + 8);
                write_msgpack_args(&mut out, None, self, false)?;
                Ok(Bytes::from(out))
            }
        }
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
    fn from_args(args: Args) -> Result<Self, DataError>;
}

impl<T: serde::de::DeserializeOwned> FromArgs for T {
    fn from_args(args: Args) -> Result<Self, DataError> {
        args.deserialize()
    }
}

impl FromArgs for Args {
    fn from_args(args: Args) -> Result<Self, DataError> {
        Ok(args)
    }
}

/// The newtype name under which [`Args`] serialize, so that the argument writer of this
/// crate recognise them and copy their text (or MessagePack) as it is.
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
        if matches!(&this.repr, Repr::Json(j) if j.attachments.is_empty()) {
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
    /// Same arguments: the same text and attachments (JSON), the same bytes (MessagePack),
    /// or, across forms, the same values.
    fn eq(&self, other: &Self) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Json(a), Repr::Json(b)) => {
                self.raw() == other.raw() && a.attachments == b.attachments
            }
            (Repr::MsgPack(a), Repr::MsgPack(b)) => self.len == other.len && a == b,
            _ => {
                let a = self.deserialize_all::<Vec<super::Value>>();
                let b = other.deserialize_all::<Vec<super::Value>>();
                matches!((a, b), (Ok(a), Ok(b)) if a == b)
            }
        }
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Json(j) => f
                .debug_struct("Args")
                .field("json", &self.to_json_array())
                .field("attachments", &j.attachments.len())
                .finish(),
            Repr::MsgPack(_) => f
                .debug_struct("Args")
                .field("msgpack", &self.to_json_array())
                .finish(),
        }
    }
}
