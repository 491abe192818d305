//! Session ids: 20 characters of URL-safe base64 from a CSPRNG.

use std::fmt;
use std::str::FromStr;

/// A random, unguessable session id: 20 characters of URL-safe base64 (15 random bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// A new random id from the operating system's CSPRNG.
    pub fn new() -> Self {
        use base64::Engine as _;
        let mut random = [0u8; 15];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        let mut out = [0u8; 20];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(random, &mut out)
            .expect("15 bytes encode to exactly 20 characters");
        debug_assert_eq!(n, 20);
        Sid(out)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only URL-safe base64 characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Sid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

/// The text is not a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSid;

impl fmt::Display for InvalidSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a session id")
    }
}

impl std::error::Error for InvalidSid {}

impl FromStr for Sid {
    type Err = InvalidSid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 20
            || !bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(InvalidSid);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(bytes);
        Ok(Sid(out))
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_20_url_safe_chars_and_distinct() {
        let a = Sid::new();
        let b = Sid::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(a.as_str().parse::<Sid>(), Ok(a));
    }

    #[test]
    fn parse_rejects_other_text() {
        assert!("short".parse::<Sid>().is_err());
        assert!("aaaaaaaaaaaaaaaaaaa/".parse::<Sid>().is_err());
        assert!("aaaaaaaaaaaaaaaaaaaaa".parse::<Sid>().is_err());
    }
}
