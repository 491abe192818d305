//! Why a socket left its namespace.

use crate::engine;

/// Why a socket left its namespace. The strings are Node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection.
    TransportClose,
    /// The connection failed.
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent a packet that could not be decoded or broke the protocol.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server made the socket leave (`socket.disconnect()` on the server).
    ServerNamespaceDisconnect,
    /// The server closed the connection.
    ForcedClose,
}

impl DisconnectReason {
    /// The reason as Node's server names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ForcedClose => "forced close",
        }
    }
}

impl DisconnectReason {
    /// Whether a socket that left for this reason can be recovered (connection state
    /// recovery): Node 4.8's list, `transport close`, `transport error`, `ping timeout`,
    /// `server shutting down` and `forced close`. A socket that left on purpose (its own
    /// or the server's `disconnect()`) or broke the protocol (`parse error`) is not.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClose
                | DisconnectReason::TransportError
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedClose
        )
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<engine::DisconnectReason> for DisconnectReason {
    fn from(r: engine::DisconnectReason) -> Self {
        use engine::DisconnectReason as E;
        match r {
            E::TransportClose => DisconnectReason::TransportClose,
            E::TransportError => DisconnectReason::TransportError,
            E::HeartbeatTimeout => DisconnectReason::PingTimeout,
            E::PacketParsingError => DisconnectReason::ParseError,
            E::ClosingServer => DisconnectReason::ServerShuttingDown,
            _ => DisconnectReason::ForcedClose,
        }
    }
}
