//! The Engine.IO conformance server: every message (text or binary) is sent back
//! unchanged.
//!
//! Listens on 127.0.0.1:$PORT (3000 by default) under `/engine.io/`, with
//! pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1 000 000, any origin and
//! Engine.IO 3 served beside Engine.IO 4 (as Node's reference server with `allowEIO3`),
//! as the official Engine.IO protocol test suites (v4, and branch `v3`) expect. Logs go to stderr
//! (`RUST_LOG` sets the level). Runs until killed.
//!
//! ```text
//! cargo run --release --example engineio_conformance
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tower_socketio::engine::{
    AllowOrigin, DisconnectReason, EngineConfig, EngineHandler, EngineIo, EngineLayer, Message,
    Socket, Str,
};
use tracing_subscriber::EnvFilter;

/// Sends every message back to its sender.
struct Echo;

impl EngineHandler for Echo {
    type Data = ();

    fn on_connect(&self, socket: Arc<Socket<()>>) {
        tracing::info!(sid = %socket.id(), transport = socket.transport().as_str(), "connected");
    }

    fn on_disconnect(&self, socket: Arc<Socket<()>>, reason: DisconnectReason) {
        tracing::info!(sid = %socket.id(), %reason, "disconnected");
    }

    fn on_message(&self, msg: Str, socket: &Arc<Socket<()>>) {
        if let Err(error) = socket.send(Message::Text(msg)) {
            tracing::warn!(sid = %socket.id(), %error, "echo dropped");
        }
    }

    fn on_binary(&self, data: Bytes, socket: &Arc<Socket<()>>) {
        if let Err(error) = socket.send(Message::Binary(data)) {
            tracing::warn!(sid = %socket.id(), %error, "echo dropped");
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse()?,
        Err(_) => 3000,
    };
    let config = EngineConfig::builder()
        .path("/engine.io/")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .allow_origin(AllowOrigin::any())
        .allow_eio3(true)
        .build();
    let engine = EngineIo::new(Echo, config);
    let app = axum::Router::new().layer(EngineLayer::new(engine));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!(addr = %listener.local_addr()?, "Engine.IO conformance server listening");
    axum::serve(listener, app).await?;
    Ok(())
}
