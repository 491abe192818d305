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
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A value could not be encoded into a packet (its `Serialize` implementation failed).
#[derive(Debug)]
pub struct EncodeError(pub(crate) serde_json::Error);

impl EncodeError {
    /// The underlying serialization error.
    pub fn inner(&self) -> &serde_json::Error {
        &self.0
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
        EncodeError(e)
    }
}
