//! Extractors: the typed arguments of handlers, in the style of axum.
//!
//! | extractor | connect | event | disconnect |
//! | --- | --- | --- | --- |
//! | [`SocketRef`] | yes | yes | yes |
//! | [`Data<T>`] / [`TryData<T>`] | the CONNECT payload (`auth`) | the event's arguments | no |
//! | [`Args`] | no | every argument, untyped (binary included) | no |
//! | [`AckSender`] | no | yes | no |
//! | [`Event`] | no | yes | no |
//! | [`State<T>`] | yes | yes | yes |
//! | [`Extension<T>`] | yes | yes | yes |
//! | [`Handshake`] | yes | yes | yes |
//! | [`DisconnectReason`] | no | no | yes |
//! | [`Recovered`] | yes | yes | yes |
//! | [`SocketIo`] | yes | yes | yes |
//!
//! How event arguments map onto `T` in [`Data<T>`]: when `T` is a tuple, it takes the
//! arguments in order (`Data<(String, u32)>` for `emit("ev", "a", 1)`); otherwise `T` is the
//! first argument. Binary (`bytes::Bytes`) may sit anywhere inside `T`. [`Args`] keeps the
//! arguments as they came: read them later with [`Args::deserialize`], or re-emit them as
//! they are (`socket.emit("ev", &args)`, without parsing them again). The type lives with
//! the packets in [`protocol`](crate::protocol) (also `tower_socketio::protocol::Args`).

use serde::de::DeserializeOwned;

use crate::SocketIo;
pub use crate::ack::AckSender;
use crate::handler::{ConnectParts, DisconnectParts, HandlerParts, MessageParts};
pub use crate::protocol::{Args, DataError};
pub use crate::socket::{DisconnectReason, Handshake, SocketRef};

/// Takes a value of a handler's argument from the handler's parts.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument here",
    label = "not an extractor for this kind of handler",
    note = "see the table in the `tower_socketio::extract` docs: e.g. `AckSender` only in event handlers, `DisconnectReason` only in disconnect handlers, `Data<T>` needs `T: DeserializeOwned`"
)]
pub trait FromParts<P>: Sized {
    /// Why extraction failed.
    type Rejection: std::fmt::Display + Send + 'static;
    /// Extracts the value.
    fn from_parts(parts: &mut P) -> Result<Self, Self::Rejection>;
}

/// A rejection that cannot happen.
#[derive(Debug, Clone, Copy)]
pub enum Infallible {}

impl std::fmt::Display for Infallible {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl<P: HandlerParts> FromParts<P> for SocketRef {
    type Rejection = Infallible;
    fn from_parts(parts: &mut P) -> Result<Self, Infallible> {
        Ok(parts.socket().clone())
    }
}

/// The deserialized payload: the CONNECT `auth` object in a connect handler, the event's
/// arguments in an event handler, with either parser. A payload that does not fit `T` is
/// logged with the event name and the [`DataError`], and the handler is not called.
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

/// Like [`Data`] but never refuses: the handler gets the deserialization result.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, DataError>);

/// The CONNECT payload as `T` (an empty object when the client sent none).
fn connect_payload<T: DeserializeOwned>(parts: &ConnectParts) -> Result<T, DataError> {
    if let Some(auth) = &parts.auth {
        if let Some(value) = auth.deserialize_payload()? {
            return Ok(value);
        }
    }
    Ok(serde_json::from_str("{}")?)
}

impl<T: DeserializeOwned> FromParts<ConnectParts> for Data<T> {
    type Rejection = DataError;
    fn from_parts(parts: &mut ConnectParts) -> Result<Self, Self::Rejection> {
        connect_payload(parts).map(Data)
    }
}

impl<T: DeserializeOwned> FromParts<ConnectParts> for TryData<T> {
    type Rejection = Infallible;
    fn from_parts(parts: &mut ConnectParts) -> Result<Self, Infallible> {
        Ok(TryData(connect_payload(parts)))
    }
}

fn event_payload<T: DeserializeOwned>(parts: &mut MessageParts) -> Result<T, DataError> {
    match parts.args.take() {
        Some(args) => args.deserialize(),
        None => Err(serde::de::Error::custom(
            "the event's arguments were already taken by another `Data` extractor",
        )),
    }
}

impl<T: DeserializeOwned> FromParts<MessageParts> for Data<T> {
    type Rejection = DataError;
    fn from_parts(parts: &mut MessageParts) -> Result<Self, Self::Rejection> {
        event_payload(parts).map(Data)
    }
}

impl<T: DeserializeOwned> FromParts<MessageParts> for TryData<T> {
    type Rejection = Infallible;
    fn from_parts(parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(TryData(event_payload(parts)))
    }
}

impl FromParts<MessageParts> for AckSender {
    type Rejection = Infallible;
    fn from_parts(parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(AckSender::new(parts.socket.clone(), parts.ack.take()))
    }
}

/// The name of the incoming event (useful in catch-all handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

impl FromParts<MessageParts> for Event {
    type Rejection = Infallible;
    fn from_parts(parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(Event(parts.event.to_string()))
    }
}

impl FromParts<DisconnectParts> for DisconnectReason {
    type Rejection = Infallible;
    fn from_parts(parts: &mut DisconnectParts) -> Result<Self, Infallible> {
        Ok(parts.reason)
    }
}

/// Typed application state given to [`SocketIoBuilder::with_state`](crate::SocketIoBuilder::with_state).
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

/// The state of type `T` was never given to the builder.
#[derive(Debug, Clone, Copy)]
pub struct MissingState(&'static str);

impl std::fmt::Display for MissingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no state of type `{}`: add it with `SocketIoBuilder::with_state`",
            self.0
        )
    }
}

impl<P: HandlerParts, T: Clone + Send + Sync + 'static> FromParts<P> for State<T> {
    type Rejection = MissingState;
    fn from_parts(parts: &mut P) -> Result<Self, MissingState> {
        parts
            .socket()
            .io()
            .state::<T>()
            .map(State)
            .ok_or(MissingState(std::any::type_name::<T>()))
    }
}

/// A value a tower layer in front put in the handshake request's extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

/// The handshake request carried no extension of that type.
#[derive(Debug, Clone, Copy)]
pub struct MissingExtension(&'static str);

impl std::fmt::Display for MissingExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the handshake request has no extension of type `{}`",
            self.0
        )
    }
}

impl<P: HandlerParts, T: Clone + Send + Sync + 'static> FromParts<P> for Extension<T> {
    type Rejection = MissingExtension;
    fn from_parts(parts: &mut P) -> Result<Self, MissingExtension> {
        parts
            .socket()
            .req_parts()
            .extensions
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or(MissingExtension(std::any::type_name::<T>()))
    }
}

impl<P: HandlerParts> FromParts<P> for Handshake {
    type Rejection = Infallible;
    fn from_parts(parts: &mut P) -> Result<Self, Infallible> {
        Ok(parts.socket().handshake())
    }
}

impl<P: HandlerParts> FromParts<P> for SocketIo {
    type Rejection = Infallible;
    fn from_parts(parts: &mut P) -> Result<Self, Infallible> {
        Ok(parts.socket().io())
    }
}

/// Every argument of the event, untyped (binary included): re-emit it as it came with
/// `socket.emit("ev", &args)`, or read parts of it with [`Args::deserialize`].
impl FromParts<MessageParts> for Args {
    type Rejection = Infallible;
    fn from_parts(parts: &mut MessageParts) -> Result<Self, Infallible> {
        Ok(parts.args.take().unwrap_or_default())
    }
}

/// Whether the socket was brought back by connection state recovery
/// ([`Socket::recovered`](crate::Socket::recovered)): in a connection handler, whether to
/// set the socket up (rooms, data) or find it as it was.
///
/// ```no_run
/// # use tower_socketio::{SocketIo, SocketRef, extract::Recovered};
/// # fn f(io: SocketIo) {
/// io.ns("/", async |socket: SocketRef, Recovered(recovered): Recovered| {
///     if !recovered {
///         socket.join("lobby");
///     }
/// });
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered(pub bool);

impl<P: HandlerParts> FromParts<P> for Recovered {
    type Rejection = Infallible;
    fn from_parts(parts: &mut P) -> Result<Self, Infallible> {
        Ok(Recovered(parts.socket().recovered()))
    }
}
