//! A chat in the browser: nicknames, rooms to join and leave, messages with delivery acks,
//! "is typing", how many people are online, and reconnects.
//!
//! ```sh
//! cargo run --example chat
//! ```
//!
//! Then open <http://localhost:3000> in two browser windows (`PORT` changes the port). The
//! page (`examples/chat/static/`) loads the official client from `/socket.io/socket.io.js`,
//! which tower-socketio serves itself. Stop the server with Ctrl-C: open connections are
//! closed, and pages reconnect when it comes back.

mod app;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("PORT: {e}"))
        })?,
        Err(_) => 3000,
    };
    let (router, io) = app::app(app::static_dir());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("chat on http://localhost:{port}");

    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::signal::ctrl_c().await.ok();
            tracing::info!("shutting down");
            io.close().await;
        })
        .await
}
