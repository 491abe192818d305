//! The validation walk: every placeholder of a binary packet checked once, when it is
//! decoded.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use super::{Special, special};

/// What a value is, as far as placeholders care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Summary {
    True,
    UInt(u64),
    Other,
}

/// Walks a JSON text once and checks every placeholder against `count` attachments.
///
/// Returns `Ok(true)` when the JSON is valid and its placeholders are well formed,
/// `Ok(false)` when a placeholder is not, and `Err` when the JSON itself is refused
/// (e.g. serde_json's recursion limit).
pub(crate) fn check_placeholders(json: &str, count: usize) -> Result<bool, serde_json::Error> {
    let bad = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(json);
    let result = Check { count, bad: &bad }
        .deserialize(&mut de)
        .and_then(|_| de.end());
    match result {
        Ok(()) => Ok(true),
        Err(_) if bad.get() => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Clone, Copy)]
struct Check<'c> {
    count: usize,
    bad: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = Summary;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Summary, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = Summary;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Summary, E> {
        Ok(if v { Summary::True } else { Summary::Other })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Summary, E> {
        Ok(Summary::UInt(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Summary, E> {
        Ok(u64::try_from(v).map_or(Summary::Other, Summary::UInt))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Summary, E> {
        Ok(Summary::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Summary, E> {
        Ok(Summary::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Summary, E> {
        Ok(Summary::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Summary, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(Summary::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
        let mut members = 0usize;
        let mut placeholder_keys = 0usize;
        let mut placeholder_true = false;
        let mut num_keys = 0usize;
        let mut num = None;
        while let Some(kind) = map.next_key_seed(KeyKind)? {
            members += 1;
            let value = map.next_value_seed(self)?;
            match kind {
                Some(Special::Placeholder) => {
                    placeholder_keys += 1;
                    placeholder_true |= value == Summary::True;
                }
                Some(Special::Num) => {
                    num_keys += 1;
                    num = match value {
                        Summary::UInt(n) => Some(n),
                        _ => None,
                    };
                }
                None => {}
            }
        }
        if placeholder_true {
            let in_range = num.is_some_and(|n| usize::try_from(n).is_ok_and(|n| n < self.count));
            if members != 2 || placeholder_keys != 1 || num_keys != 1 || !in_range {
                self.bad.set(true);
                return Err(A::Error::custom("invalid binary placeholder"));
            }
        }
        Ok(Summary::Other)
    }
}

/// Classifies a map key without allocating.
struct KeyKind;

impl<'de> DeserializeSeed<'de> for KeyKind {
    type Value = Option<Special>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Special>, D::Error> {
        d.deserialize_str(KeyKind)
    }
}

impl<'de> Visitor<'de> for KeyKind {
    type Value = Option<Special>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<Special>, E> {
        Ok(special(v))
    }
}
