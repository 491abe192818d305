//! Engine.IO 4: the transport layer under Socket.IO.
//!
//! This module knows nothing of Socket.IO. It answers the handshake, runs the
//! long-polling and WebSocket transports, upgrades polling to WebSocket, sends
//! heartbeats and closes dead sessions. A user of the engine alone implements
//! [`EngineHandler`] and mounts [`EngineLayer`] (or [`EngineService`]).
//!
//! Version-specific parts (payload framing, who pings, binary framing) live in
//! one private module (`version`) so that Engine.IO 3 is an addition, not a rewrite.
//!
//! ```no_run
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use tower_socketio::engine::{
//!     DisconnectReason, EngineConfig, EngineHandler, EngineIo, EngineService, Message, Socket, Str,
//! };
//!
//! /// Sends every message back.
//! struct Echo;
//!
//! impl EngineHandler for Echo {
//!     type Data = ();
//!     fn on_connect(&self, _socket: Arc<Socket<()>>) {}
//!     fn on_disconnect(&self, _socket: Arc<Socket<()>>, _reason: DisconnectReason) {}
//!     fn on_message(&self, msg: Str, socket: &Arc<Socket<()>>) {
//!         let _ = socket.send(Message::Text(msg));
//!     }
//!     fn on_binary(&self, data: Bytes, socket: &Arc<Socket<()>>) {
//!         let _ = socket.send(Message::Binary(data));
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let engine = EngineIo::new(Echo, EngineConfig::default());
//! // Standalone: `/engine.io/` is served, every other path gets 404. To sit beside
//! // other routes, use `EngineLayer` (e.g. `axum::Router::layer`).
//! let service = EngineService::new(engine.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let service = hyper_util::service::TowerToHyperService::new(service.clone());
//!     tokio::spawn(async move {
//!         let io = hyper_util::rt::TokioIo::new(stream);
//!         let _ = hyper::server::conn::http1::Builder::new()
//!             .serve_connection(io, service)
//!             .with_upgrades() // WebSocket needs the connection upgrades
//!             .await;
//!     });
//! }
//! # }
//! ```
//!
//! Under axum's `Router::nest_service("/engine.io", ...)`, axum strips the prefix
//! before the engine sees the request: configure the engine with `.path("/")` then.

mod body;
mod compress;
mod config;
pub mod cors;
mod driver;
mod error;
mod head;
pub(crate) mod packet;
mod polling;
pub(crate) mod query;
mod queue;
mod server;
mod service;
mod sid;
mod socket;
pub(crate) mod version;
mod writer;
mod ws;

pub use crate::message::{Message, Str};
pub use body::EngineBody;
pub use config::{
    AllowRequest, AllowRequestFuture, CookieConfig, EngineConfig, EngineConfigBuilder,
    RequestRefusal, SameSite, Transports,
};
pub use cors::AllowOrigin;
pub use server::EngineIo;
pub use service::{BoxError, EngineLayer, EngineService, NotFound, ResponseFuture};
pub use sid::{InvalidSid, Sid};
pub use socket::Socket;

use std::sync::Arc;

use bytes::Bytes;

/// Why an Engine.IO session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the transport (WebSocket close, or a `1` close packet).
    TransportClose,
    /// The transport failed (I/O error, a frame over the limit, a second concurrent poll).
    TransportError,
    /// No pong arrived within `ping_timeout`.
    HeartbeatTimeout,
    /// The client sent a packet that could not be decoded.
    PacketParsingError,
    /// The server closed the session (the upper layer asked for it).
    ServerClose,
    /// The server is shutting down.
    ClosingServer,
}

impl DisconnectReason {
    /// The reason string that Node's server uses for this reason.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::HeartbeatTimeout => "ping timeout",
            DisconnectReason::PacketParsingError => "parse error",
            DisconnectReason::ServerClose => "forced close",
            DisconnectReason::ClosingServer => "server shutting down",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport a session currently uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportType {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

impl TransportType {
    /// The name used in the `transport` query parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            TransportType::Polling => "polling",
            TransportType::Websocket => "websocket",
        }
    }
}

/// The Engine.IO protocol revision a client speaks (the `EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// Engine.IO 3 (Socket.IO 2 clients).
    V3 = 3,
    /// Engine.IO 4 (Socket.IO 3 and 4 clients).
    V4 = 4,
}

/// An error from queueing a message on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session's outgoing queue is full (the peer reads too slowly).
    Full,
    /// The session is closed.
    Closed,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Full => f.write_str("the outgoing queue is full"),
            SendError::Closed => f.write_str("the session is closed"),
        }
    }
}

impl std::error::Error for SendError {}

/// What the layer above the engine implements to receive sessions and their messages.
///
/// Every method is called synchronously, in order, from the task that reads the
/// session's transport: messages of one session arrive in the order the client sent
/// them. Implementations must not block; work that waits belongs in a task of its own.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session data the handler keeps on each [`Socket`].
    type Data: Default + Send + Sync + 'static;

    /// A session completed its handshake.
    fn on_connect(&self, socket: Arc<Socket<Self::Data>>);
    /// A session ended. Called exactly once per session, after which the socket
    /// refuses new messages.
    fn on_disconnect(&self, socket: Arc<Socket<Self::Data>>, reason: DisconnectReason);
    /// A text message arrived.
    fn on_message(&self, msg: Str, socket: &Arc<Socket<Self::Data>>);
    /// A binary message arrived.
    fn on_binary(&self, data: Bytes, socket: &Arc<Socket<Self::Data>>);
    /// The session moved from long-polling to WebSocket.
    fn on_upgrade(&self, socket: &Arc<Socket<Self::Data>>) {
        let _ = socket;
    }
}
