//! Errors of the packet codec.

use std::fmt;

/// Why an incoming Socket.IO packet was refused.
///
/// Every variant means the peer broke the protocol: the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text message was empty.
    Empty,
    /// The first character is not a packet type (`0` to `6`).
    UnknownPacketType(char),
    /// A binary packet (`5` or `6`) without a valid `<count>-` prefix.
    InvalidAttachmentCount,
    /// A binary packet announced more attachments than allowed.
    TooManyAttachments {
        /// The configured maximum.
        max: usize,
    },
    /// A non-binary packet carried an attachment count (`<count>-`).
    UnexpectedAttachmentCount,
    /// The acknowledgement id is not a number that fits in 64 bits.
    InvalidAckId,
    /// An ACK packet without an acknowledgement id.
    MissingAckId,
    /// The payload is missing, is not JSON, or has the wrong shape for the packet type.
    InvalidPayload(&'static str),
    /// The JSON payload is nested deeper than allowed.
    TooDeep {
        /// The configured maximum nesting depth.
        max: usize,
    },
    /// An EVENT payload was an empty array (no event name).
    EmptyEvent,
    /// The event name is neither a string nor a number.
    InvalidEventName,
    /// The event name is reserved (see [`is_reserved_event`](super::is_reserved_event)).
    ReservedEvent(String),
    /// A binary placeholder is malformed or its `num` is not an in-range integer.
    InvalidPlaceholder,
    /// A binary frame arrived that no packet was waiting for (more frames than announced).
    UnexpectedAttachment,
    /// A text message arrived while a binary packet still waited for its attachments.
    AttachmentsPending,
    /// A text message reached a server whose parser speaks binary messages only (the
    /// MessagePack parser): a JSON client on a MessagePack server.
    UnexpectedText,
    /// A binary message is not one valid MessagePack value (truncated, bytes after it, a
    /// reserved byte, a map key that is not a string, or a declared length the message
    /// cannot hold).
    InvalidMessagePack(&'static str),
    /// A MessagePack packet's `type` is missing or not an integer from 0 to 4.
    InvalidPacketType,
    /// A packet's namespace is missing or not a string.
    InvalidNamespace,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Empty => f.write_str("empty packet"),
            ProtocolError::UnknownPacketType(c) => write!(f, "unknown packet type {c:?}"),
            ProtocolError::InvalidAttachmentCount => {
                f.write_str("binary packet without a valid attachment count")
            }
            ProtocolError::TooManyAttachments { max } => {
                write!(f, "more than {max} binary attachments announced")
            }
            ProtocolError::UnexpectedAttachmentCount => {
                f.write_str("attachment count on a packet type that carries no binary")
            }
            ProtocolError::InvalidAckId => f.write_str("invalid acknowledgement id"),
            ProtocolError::MissingAckId => f.write_str("ACK packet without an acknowledgement id"),
            ProtocolError::InvalidPayload(why) => write!(f, "invalid payload: {why}"),
            ProtocolError::TooDeep { max } => {
                write!(f, "JSON payload nested deeper than {max} levels")
            }
            ProtocolError::EmptyEvent => f.write_str("event payload is an empty array"),
            ProtocolError::InvalidEventName => {
                f.write_str("event name is neither a string nor a number")
            }
            ProtocolError::ReservedEvent(name) => write!(f, "reserved event name {name:?}"),
            ProtocolError::InvalidPlaceholder => {
                f.write_str("invalid binary placeholder (num must be an in-range integer)")
            }
            ProtocolError::UnexpectedAttachment => {
                f.write_str("binary frame received while no attachment was expected")
            }
            ProtocolError::AttachmentsPending => {
                f.write_str("text message received while binary attachments were due")
            }
            ProtocolError::UnexpectedText => {
                f.write_str("text message received by a server that speaks MessagePack")
            }
            ProtocolError::InvalidMessagePack(why) => write!(f, "invalid MessagePack: {why}"),
            ProtocolError::InvalidPacketType => {
                f.write_str("packet type missing or not an integer from 0 to 4")
            }
            ProtocolError::InvalidNamespace => f.write_str("namespace missing or not a string"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Packet data could not be read into a Rust type (an event's arguments, a CONNECT
/// payload, an acknowledgement), or a Rust value could not be written as packet data.
///
/// The one error type of data extraction, whatever the server's parser:
/// [`Args::deserialize`](super::Args::deserialize), [`Data<T>`](crate::extract::Data)'s
/// rejection, [`TryData<T>`](crate::extract::TryData), acknowledgements. With the JSON
/// parser it carries serde_json's error ([`as_json`](Self::as_json): line, column,
/// category); with MessagePack, the MessagePack decoder's.
///
/// ```
/// use tower_socketio::protocol::Args;
///
/// let args = Args::from_serialize(&("not a number",)).unwrap();
/// let err = args.deserialize::<u32>().unwrap_err();
/// assert!(err.as_json().is_some_and(|e| e.is_data()));
/// println!("{err}"); // invalid type: string "not a number", expected u32 ...
/// ```
pub struct DataError(DataErrorKind);

enum DataErrorKind {
    Json(serde_json::Error),
    MsgPack(rmp_serde::decode::Error),
    Message(String),
}

impl DataError {
    /// The serde_json error, when the data was JSON.
    pub fn as_json(&self) -> Option<&serde_json::Error> {
        match &self.0 {
            DataErrorKind::Json(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the data was JSON (the default parser).
    pub fn is_json(&self) -> bool {
        matches!(self.0, DataErrorKind::Json(_))
    }

    /// Whether the data was MessagePack (the MessagePack parser).
    pub fn is_msgpack(&self) -> bool {
        matches!(self.0, DataErrorKind::MsgPack(_))
    }

    pub(crate) fn msgpack(e: rmp_serde::decode::Error) -> Self {
        DataError(DataErrorKind::MsgPack(e))
    }

    pub(crate) fn message(msg: impl fmt::Display) -> Self {
        DataError(DataErrorKind::Message(msg.to_string()))
    }
}

impl fmt::Debug for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DataErrorKind::Json(e) => f.debug_tuple("DataError::Json").field(e).finish(),
            DataErrorKind::MsgPack(e) => f.debug_tuple("DataError::MsgPack").field(e).finish(),
            DataErrorKind::Message(m) => f.debug_tuple("DataError").field(m).finish(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            DataErrorKind::Json(e) => e.fmt(f),
            DataErrorKind::MsgPack(e) => e.fmt(f),
            DataErrorKind::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            DataErrorKind::Json(e) => Some(e),
            DataErrorKind::MsgPack(e) => Some(e),
            DataErrorKind::Message(_) => None,
        }
    }
}

impl From<serde_json::Error> for DataError {
    fn from(e: serde_json::Error) -> Self {
        DataError(DataErrorKind::Json(e))
    }
}

impl From<crate::msgpack::Error> for DataError {
    fn from(e: crate::msgpack::Error) -> Self {
        DataError::message(e)
    }
}

impl serde::de::Error for DataError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DataError::message(msg)
    }
}

impl serde::ser::Error for DataError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DataError::message(msg)
    }
}

/// A value could not be encoded into a packet (its `Serialize` implementation failed).
#[derive(Debug)]
pub struct EncodeError(pub(crate) DataError);

impl EncodeError {
    /// The underlying serialization error.
    pub fn inner(&self) -> &DataError {
        &self.0
    }

    pub(crate) fn custom(msg: impl fmt::Display) -> Self {
        EncodeError(DataError::message(msg))
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode packet data: {}", self.0)
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<serde_json::Error> for EncodeError {
    fn from(e: serde_json::Error) -> Self {
        EncodeError(DataError::from(e))
    }
}

impl From<DataError> for EncodeError {
    fn from(e: DataError) -> Self {
        EncodeError(e)
    }
}

impl From<crate::msgpack::Error> for EncodeError {
    fn from(e: crate::msgpack::Error) -> Self {
        EncodeError(DataError::from(e))
    }
}
