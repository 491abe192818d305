//! What each kind of handler is called with; extractors take their values from these.

use crate::message::Str;
use crate::protocol::Args;
use crate::socket::{DisconnectReason, SocketRef};

/// Common behaviour of every kind of handler parts.
pub trait HandlerParts: Send + 'static {
    /// The socket the handler runs for.
    fn socket(&self) -> &SocketRef;
    /// An extractor refused: log it with the handler's context, never drop it in silence.
    fn rejected(&self, extractor: &'static str, error: &dyn std::fmt::Display);
}

/// The parts of a namespace connection: the socket and the CONNECT payload (`auth`).
pub struct ConnectParts {
    pub(crate) socket: SocketRef,
    pub(crate) auth: Option<Args>,
}

impl HandlerParts for ConnectParts {
    fn socket(&self) -> &SocketRef {
        &self.socket
    }
    fn rejected(&self, extractor: &'static str, error: &dyn std::fmt::Display) {
        tracing::warn!(
            sid = %self.socket.id(),
            ns = %self.socket.ns(),
            extractor,
            %error,
            "connect handler not called: an extractor refused the handshake"
        );
    }
}

/// The parts of an incoming event: the socket, the event name, its arguments and ack id.
pub struct MessageParts {
    pub(crate) socket: SocketRef,
    pub(crate) event: Str,
    pub(crate) args: Option<Args>,
    pub(crate) ack: Option<u64>,
}

impl MessageParts {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }
}

impl HandlerParts for MessageParts {
    fn socket(&self) -> &SocketRef {
        &self.socket
    }
    fn rejected(&self, extractor: &'static str, error: &dyn std::fmt::Display) {
        tracing::warn!(
            sid = %self.socket.id(),
            ns = %self.socket.ns(),
            event = %self.event,
            extractor,
            %error,
            "event handler not called: an extractor refused the event"
        );
    }
}

/// The parts of a disconnection: the socket and why it left.
pub struct DisconnectParts {
    pub(crate) socket: SocketRef,
    pub(crate) reason: DisconnectReason,
}

impl HandlerParts for DisconnectParts {
    fn socket(&self) -> &SocketRef {
        &self.socket
    }
    fn rejected(&self, extractor: &'static str, error: &dyn std::fmt::Display) {
        tracing::warn!(
            sid = %self.socket.id(),
            ns = %self.socket.ns(),
            reason = %self.reason,
            extractor,
            %error,
            "disconnect handler not called: an extractor refused"
        );
    }
}
