//! The arguments of an event or an acknowledgement, and how Rust values map to them.
//!
//! The type and its serialization are here; [`de`] reads the arguments into Rust types
//! by the argument mapping.

mod de;

use std::cell::{Cell, RefCell};
use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::Deserialize;

use self::de::{AllArgs, ArgsDeserializer};
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
/// | anything else (`String`, a struct, `Vec<T>`, [`Value`](super::Value), `Option<T>`, ...) | the **first** argument; with zero arguments a `null`-like value (`None`, `Value::Null`, or an error for types that need data) | exactly one argument, `null` included (`Value::Null`, `serde_json::Value::Null` and `None` are one `null`, which a JavaScript client reads as `null`, not `undefined`) |
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
