//! A Socket.IO server as a tower `Layer`/`Service`.
//!
//! Mount it into an axum `Router` (or plain hyper) and program it with axum-style handlers:
//! async closures whose arguments are extractors.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_socketio::{SocketIo, SocketRef, extract::{AckSender, Data}};
//!
//! #[tokio::main]
//! async fn main() {
//!     let (layer, io) = SocketIo::new_layer();
//!     io.ns("/", async |socket: SocketRef| {
//!         socket.on("chat", async |socket: SocketRef, Data(msg): Data<String>, ack: AckSender| {
//!             socket.broadcast().emit("chat", &msg).await.ok();
//!             ack.send(&"ok").ok();
//!         });
//!     });
//!     let app = Router::new().route("/", get(|| async { "hello" })).layer(layer);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! The layers, from the bottom: [`engine`] (Engine.IO), [`protocol`] (Socket.IO packets),
//! the server core ([`SocketIo`], [`Namespace`], [`Socket`], [`BroadcastOperators`]),
//! [`adapter`] (rooms and broadcast, in memory or across a cluster), [`handler`] and
//! [`extract`] (the handler API), and the tower glue ([`SocketIoLayer`], [`SocketIoService`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __private_fuzz;
pub mod ack;
pub mod adapter;
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub mod admin;
mod client;
pub mod client_files;
pub mod engine;
pub mod extract;
pub mod handler;
mod io;
mod layer;
mod message;
mod msgpack;
mod ns;
mod observe;
mod operators;
pub mod protocol;
mod recovery;
mod rooms;
mod serve;
pub mod server_side;
mod socket;
mod util;

/// The examples of `docs/guide.md`, compiled (and the ones that do not serve, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
struct GuideExamples;

pub use ack::{AckError, AckFuture, AckStream};
pub use adapter::Room;
pub use client::Conn;
pub use engine::{AllowOrigin, CookieConfig, RequestRefusal, Sid, TransportType};
pub use io::{BuildError, DynNamespace, NsPattern, SocketIo, SocketIoBuilder};
pub use layer::{SocketIoLayer, SocketIoService};
pub use ns::{Namespace, WeakNamespace};
pub use operators::BroadcastOperators;
pub use protocol::{DataError, Parser};
pub use recovery::ConnectionStateRecovery;
pub use rooms::IntoRooms;
pub use serve::{ServeOptions, serve, serve_with, serve_with_shutdown};
pub use server_side::{ServerSideAck, ServerSideEvent};
pub use socket::{
    DisconnectReason, EmitError, Handshake, IncomingEvent, RemoteSocket, Socket, SocketRef,
};

/// Why a namespace connection was refused: sent to the client's `connect_error` with its
/// message and optional `data`.
///
/// Connect middleware may return it, or any error that implements `Display`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    message: String,
    data: Option<protocol::Value>,
    closed: bool,
}

impl ConnectError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
            closed: false,
        }
    }

    /// Adds `data`, which the client reads as `err.data` (binary stays binary with the
    /// MessagePack parser). Data that does not serialize is left out, with a warning.
    pub fn with_data<T: serde::Serialize + ?Sized>(mut self, data: &T) -> Self {
        match protocol::Value::from_serialize(data) {
            Ok(v) => self.data = Some(v),
            Err(e) => tracing::warn!(error = %e, "connect error data left out"),
        }
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&protocol::Value> {
        self.data.as_ref()
    }

    pub(crate) fn closed() -> Self {
        Self {
            message: String::new(),
            data: None,
            closed: true,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(doctest)]
#[doc = include_str!("../docs/from-node.md")]
struct FromNodeGuide;
