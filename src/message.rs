//! The zero-copy text and message types shared by every layer: shared, reference-counted
//! bytes. They sit below both the engine and the packet codecs, which import them from
//! here; the public path is [`tower_socketio::engine`](crate::engine) (`Str`, `Message`).

use bytes::Bytes;
use std::fmt;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// UTF-8 text backed by [`Bytes`], so one encoded packet can be shared by many sessions.
///
/// The text is checked once, when the value is made; reading it is free.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Str(Utf8Bytes);

impl Str {
    /// Text from a static string, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Str(Utf8Bytes::from_static(s))
    }

    /// Text from bytes, if they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        Utf8Bytes::try_from(bytes).map(Str)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_ref()
    }

    /// The underlying bytes, by value.
    pub fn into_bytes(self) -> Bytes {
        self.0.into()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A sub-slice of this text, sharing the same buffer.
    ///
    /// # Panics
    /// If `range` is out of bounds or does not fall on character boundaries.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Str {
        let s = self.as_str();
        assert!(
            range.start <= range.end
                && range.end <= s.len()
                && s.is_char_boundary(range.start)
                && s.is_char_boundary(range.end),
            "Str::slice: the range does not fall on character boundaries"
        );
        let bytes = self.as_bytes().slice(range);
        // A slice on character boundaries of UTF-8 text is UTF-8.
        Str(Utf8Bytes::try_from(bytes).unwrap_or_default())
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(Utf8Bytes::from(s))
    }
}

impl From<&'static str> for Str {
    fn from(s: &'static str) -> Self {
        Str::from_static(s)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Engine.IO message payload, text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (Engine.IO packet type `4` with a string).
    Text(Str),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// Size of the payload in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Str> for Message {
    fn from(s: Str) -> Self {
        Message::Text(s)
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(Str::from(s))
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::Text(Str::from_static(s))
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(Bytes::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_checks_once_and_shares_its_buffer() {
        let bytes = Bytes::from("héllo wörld".to_owned());
        let s = Str::from_utf8(bytes.clone()).unwrap();
        assert_eq!(s.as_str(), "héllo wörld");
        assert_eq!(s.as_bytes().as_ptr(), bytes.as_ptr());
        assert_eq!(s.len(), bytes.len());
        let world = s.slice(7..13);
        assert_eq!(&*world, "wörld");
        assert_eq!(world.as_bytes().as_ptr(), bytes[7..].as_ptr());
        assert!(Str::from_utf8(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(Str::from_static("x").into_bytes(), Bytes::from_static(b"x"));
        assert!(Str::default().is_empty());
    }

    #[test]
    #[should_panic(expected = "character boundaries")]
    fn slice_inside_a_character_panics() {
        let _ = Str::from("é".to_owned()).slice(0..1);
    }

    #[test]
    fn message_conversions() {
        assert_eq!(Message::from("a"), Message::Text(Str::from_static("a")));
        assert_eq!(Message::from(vec![1u8]).len(), 1);
        assert!(Message::from(Bytes::new()).is_empty());
    }
}
