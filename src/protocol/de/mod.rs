//! Decoding side of binary attachments.
//!
//! - [`Wrap`] is a `Deserializer` wrapper that forwards to an inner (serde_json)
//!   deserializer and presents a placeholder object `{"_placeholder":true,"num":N}` as
//!   the bytes of attachment `N` (`visit_borrowed_bytes`, or `visit_seq` of `u8` when the
//!   target asked for a sequence). Everything else streams through unchanged.
//! - [`check_placeholders`] walks a binary packet's JSON once when it is decoded and
//!   rejects malformed placeholders, so that [`Wrap`] can rely on their shape.
//!
//! # Placeholders
//! A JSON object with a member `"_placeholder": true` is a placeholder. It must have
//! exactly two members, `_placeholder` and `num` (in either order), and `num` must be an
//! integer below the number of attachments; anything else is a protocol error. The same
//! `num` may be used several times. An object whose `_placeholder` is not `true` is
//! plain data.
//!
//! [`Wrap`] recognises a placeholder from the first two members of an object (any
//! order), so it never buffers more than two raw member values per object. Members it
//! had to read ahead are replayed to the target's visitor.
//!
//! Map keys read ahead are replayed by [`key`]; [`check`] is the validation walk.

mod check;
mod key;

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::value::SeqDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, Error as _, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde_json::value::RawValue;

pub(crate) use check::check_placeholders;
use key::KeyReplay;

/// The newtype name serde_json uses to capture a `RawValue`; such requests are passed
/// through untouched so that `Box<RawValue>` arguments keep working.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

const PLACEHOLDER_KEY: &str = "_placeholder";
const NUM_KEY: &str = "num";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    Placeholder,
    Num,
}

fn special(key: &str) -> Option<Special> {
    match key {
        PLACEHOLDER_KEY => Some(Special::Placeholder),
        NUM_KEY => Some(Special::Num),
        _ => None,
    }
}

/// What the target asked for, so that a placeholder can be presented the right way.
#[derive(Clone, Copy)]
enum Hint {
    Any,
    Seq,
}

// ---------------------------------------------------------------------------------------
// The wrapper.

/// A deserializer that substitutes placeholders with attachment bytes.
pub(crate) struct Wrap<'de, D> {
    inner: D,
    ctx: Ctx<'de>,
}

impl<'de, D> Wrap<'de, D> {
    fn new(inner: D, ctx: Ctx<'de>) -> Self {
        Wrap { inner, ctx }
    }
}

/// A seed whose deserializer gets wrapped.
pub(crate) struct WrapSeed<'de, S> {
    seed: S,
    ctx: Ctx<'de>,
}

impl<'de, S> WrapSeed<'de, S> {
    /// Wraps the top of a value that may contain placeholders for `atts`.
    pub(crate) fn new(seed: S, atts: &'de [Bytes]) -> Self {
        WrapSeed {
            seed,
            ctx: Ctx { atts, depth: 0 },
        }
    }
}

/// What the wrapper carries down: the attachments, and the nesting depth so far.
///
/// Values read ahead are replayed through fresh serde_json deserializers, which start
/// their own recursion count from zero; this depth bounds the recursion whatever the
/// decoder's depth limit was.
#[derive(Clone, Copy)]
struct Ctx<'de> {
    atts: &'de [Bytes],
    depth: usize,
}

/// The deepest nesting the wrapper follows (serde_json's own limit).
const MAX_NESTING: usize = 128;

impl<'de> Ctx<'de> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_NESTING {
            return Err(E::custom("recursion limit exceeded"));
        }
        Ok(Ctx {
            atts: self.atts,
            depth: self.depth + 1,
        })
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for WrapSeed<'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Wrap {
            inner: deserializer,
            ctx: self.ctx,
        })
    }
}

struct WrapVisitor<'de, V> {
    visitor: V,
    ctx: Ctx<'de>,
    hint: Hint,
}

macro_rules! forward_plain {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Wrap<'de, D> {
    fn visitor<V>(&self, visitor: V, hint: Hint) -> WrapVisitor<'de, V> {
        WrapVisitor {
            visitor,
            ctx: self.ctx,
            hint,
        }
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Wrap<'de, D> {
    type Error = D::Error;

    // Scalars cannot hold a placeholder: the inner deserializer answers directly.
    forward_plain! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_any(visitor)
    }

    // Bytes and sequences are read with `deserialize_any` so that an object (a
    // placeholder) reaches `visit_map` instead of being refused by the typed method.
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Seq);
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Seq);
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Seq);
        self.inner.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_option(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        if name == RAW_VALUE_TOKEN {
            return self.inner.deserialize_newtype_struct(name, visitor);
        }
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Hint::Any);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.visitor.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for WrapVisitor<'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Wrap {
            inner: deserializer,
            ctx: self.ctx,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Wrap {
            inner: deserializer,
            ctx: self.ctx,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let ctx = self.ctx.nested()?;
        self.visitor.visit_seq(WrapSeq { seq, ctx })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(WrapEnum {
            data,
            ctx: self.ctx,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V::Value, A::Error> {
        let ctx = self.ctx.nested()?;
        // Read at most the first two members, as long as they can belong to a
        // placeholder; what was read is replayed if it is not one.
        let mut read: [Option<(Cow<'de, str>, &'de RawValue)>; 2] = [None, None];
        let mut n = 0;
        let mut pending = None;
        let mut ended = false;
        let mut placeholder_true = false;
        let mut num = None;
        while n < 2 {
            let Some(key) = map.next_key_seed(KeyCapture)? else {
                ended = true;
                break;
            };
            let kind = special(&key);
            let seen_before = read[..n].iter().flatten().any(|(k, _)| special(k) == kind);
            let Some(kind) = kind.filter(|_| !seen_before) else {
                pending = Some(key);
                break;
            };
            let raw: &'de RawValue = map.next_value()?;
            read[n] = Some((key, raw));
            n += 1;
            match kind {
                Special::Placeholder if raw.get() == "true" => placeholder_true = true,
                Special::Placeholder => break,
                Special::Num => num = Some(raw),
            }
        }
        if let (true, Some(num), None, false) = (placeholder_true, num, &pending, ended) {
            match map.next_key_seed(KeyCapture)? {
                None => return self.placeholder::<A::Error>(num),
                Some(key) => pending = Some(key),
            }
        }
        self.visitor.visit_map(ReplayMap {
            map,
            read,
            next: 0,
            n,
            pending,
            ended,
            raw_value: None,
            ctx,
        })
    }
}

impl<'de, V: Visitor<'de>> WrapVisitor<'de, V> {
    /// Presents attachment `num` to the target's visitor.
    fn placeholder<E: de::Error>(self, num: &RawValue) -> Result<V::Value, E> {
        let bytes = num
            .get()
            .parse::<usize>()
            .ok()
            .and_then(|i| self.ctx.atts.get(i))
            .ok_or_else(|| E::custom("invalid binary placeholder"))?;
        match self.hint {
            Hint::Seq => self
                .visitor
                .visit_seq(SeqDeserializer::<_, E>::new(bytes.iter().copied())),
            Hint::Any => self.visitor.visit_borrowed_bytes(&bytes[..]),
        }
    }
}

/// Captures a map key as text (borrowed when it has no escapes).
struct KeyCapture;

impl<'de> DeserializeSeed<'de> for KeyCapture {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyCapture)
    }
}

impl<'de> Visitor<'de> for KeyCapture {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The members of an object that turned out not to be a placeholder: first the ones
/// read ahead, then the rest of the live object.
struct ReplayMap<'de, A> {
    map: A,
    read: [Option<(Cow<'de, str>, &'de RawValue)>; 2],
    next: usize,
    n: usize,
    pending: Option<Cow<'de, str>>,
    ended: bool,
    raw_value: Option<&'de RawValue>,
    ctx: Ctx<'de>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ReplayMap<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.next < self.n {
            let entry = self.read[self.next].take();
            self.next += 1;
            if let Some((key, raw)) = entry {
                self.raw_value = Some(raw);
                return seed.deserialize(KeyReplay::new(key)).map(Some);
            }
        }
        if let Some(key) = self.pending.take() {
            self.raw_value = None;
            return seed.deserialize(KeyReplay::new(key)).map(Some);
        }
        if self.ended {
            return Ok(None);
        }
        self.map.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let ctx = self.ctx;
        match self.raw_value.take() {
            Some(raw) => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                seed.deserialize(Wrap::new(&mut de, ctx))
                    .map_err(A::Error::custom)
            }
            None => self.map.next_value_seed(WrapSeed { seed, ctx }),
        }
    }
}

struct WrapSeq<'de, A> {
    seq: A,
    ctx: Ctx<'de>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for WrapSeq<'de, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.seq.next_element_seed(WrapSeed {
            seed,
            ctx: self.ctx,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct WrapEnum<'de, A> {
    data: A,
    ctx: Ctx<'de>,
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for WrapEnum<'de, A> {
    type Error = A::Error;
    type Variant = WrapEnum<'de, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.data.variant_seed(seed)?;
        Ok((
            value,
            WrapEnum {
                data: variant,
                ctx: self.ctx,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for WrapEnum<'de, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.data.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.data.newtype_variant_seed(WrapSeed {
            seed,
            ctx: self.ctx,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.data.tuple_variant(
            len,
            WrapVisitor {
                visitor,
                ctx: self.ctx,
                hint: Hint::Seq,
            },
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.data.struct_variant(
            fields,
            WrapVisitor {
                visitor,
                ctx: self.ctx,
                hint: Hint::Any,
            },
        )
    }
}

/// Skips the rest of a sequence.
pub(crate) fn drain<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}
