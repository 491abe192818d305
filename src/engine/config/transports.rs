//! [`Transports`]: which transports a server accepts.

use crate::engine::TransportType;

/// The set of transports a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transports {
    polling: bool,
    websocket: bool,
}

impl Transports {
    /// Long-polling and WebSocket (the default): clients start with polling and upgrade.
    pub const fn all() -> Self {
        Transports {
            polling: true,
            websocket: true,
        }
    }

    /// Long-polling only.
    pub const fn polling_only() -> Self {
        Transports {
            polling: true,
            websocket: false,
        }
    }

    /// WebSocket only (clients must be told to use `transports: ["websocket"]`).
    pub const fn websocket_only() -> Self {
        Transports {
            polling: false,
            websocket: true,
        }
    }

    /// Whether `transport` is accepted.
    pub const fn contains(&self, transport: TransportType) -> bool {
        match transport {
            TransportType::Polling => self.polling,
            TransportType::Websocket => self.websocket,
        }
    }

    /// Whether no transport at all is accepted.
    pub const fn is_empty(&self) -> bool {
        !self.polling && !self.websocket
    }
}

impl Default for Transports {
    fn default() -> Self {
        Self::all()
    }
}

impl FromIterator<TransportType> for Transports {
    fn from_iter<I: IntoIterator<Item = TransportType>>(iter: I) -> Self {
        let mut t = Transports {
            polling: false,
            websocket: false,
        };
        for transport in iter {
            match transport {
                TransportType::Polling => t.polling = true,
                TransportType::Websocket => t.websocket = true,
            }
        }
        t
    }
}
