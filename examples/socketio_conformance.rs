//! The Socket.IO 5 conformance server (see `CONFORMANCE.md` of the project's shared docs).
//!
//! Listens on `127.0.0.1:$PORT` (default 3000) under `/socket.io/`: pingInterval 300 ms,
//! pingTimeout 200 ms, maxPayload 1 000 000, connectTimeout 1000 ms, any origin; Socket.IO 2
//! clients (`EIO=3`) too.
//! Namespaces `/` and `/custom`; on connect each emits `auth` with the CONNECT payload;
//! on `/`, `message` comes back as `message-back` with the same arguments and
//! `message-with-ack` is acknowledged with the same arguments (binary included).
//!
//! `PARSER=msgpack` in the environment makes it speak the MessagePack parser
//! (`socket.io-msgpack-parser` clients), with the same handlers; JSON otherwise.
//!
//! `cargo run --release --example socketio_conformance`
//! `PARSER=msgpack cargo run --release --example socketio_conformance`

use std::time::Duration;

use tower_socketio::extract::{AckSender, Data};
use tower_socketio::protocol::{Args, Value};
use tower_socketio::{AllowOrigin, Parser, SocketIo, SocketIoBuilder, SocketRef};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let parser = parser_from_env();
    let (svc, io) = builder().parser(parser).build_svc();
    handlers(&io);

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(
        ?parser,
        "socketio_conformance listening on {}",
        listener.local_addr()?
    );
    tower_socketio::serve(listener, svc).await
}

/// `PARSER=msgpack` (or `messagepack`) selects the MessagePack parser; anything else, or
/// nothing, JSON.
pub fn parser_from_env() -> Parser {
    match std::env::var("PARSER").as_deref() {
        Ok("msgpack" | "messagepack") => Parser::MsgPack,
        _ => Parser::Json,
    }
}

/// The conformance settings: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1 000 000,
/// connectTimeout 1000 ms, any origin, and Socket.IO 2 clients (Engine.IO 3) served beside
/// the others, as Node's reference server with `allowEIO3`.
pub fn builder() -> SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .allow_origin(AllowOrigin::any())
        .allow_eio3(true)
}

/// The conformance handlers on `/` and `/custom` (the same for either parser: the payload
/// and the arguments go back as they came, binary included).
pub fn handlers(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef, Data(auth): Data<Value>| {
        socket.emit("auth", &auth).ok();
        socket.on("message", async |socket: SocketRef, args: Args| {
            socket.emit("message-back", &args).ok();
        });
        socket.on("message-with-ack", async |args: Args, ack: AckSender| {
            ack.send(&args).ok();
        });
    });
    io.ns(
        "/custom",
        async |socket: SocketRef, Data(auth): Data<Value>| {
            socket.emit("auth", &auth).ok();
        },
    );
}
