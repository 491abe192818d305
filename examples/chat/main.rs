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
//!
//! With the Socket.IO Admin UI:
//!
//! ```sh
//! ADMIN_PASSWORD=changeit cargo run --example chat --features admin-ui
//! ```
//!
//! The server instruments itself (basic authentication, user `admin`, development mode)
//! and serves the UI at <http://localhost:3000/admin>: give it `http://localhost:3000` as
//! the server URL.

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
    let (router, io) = app::app_with(app::static_dir(), admin_ui);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("chat on http://localhost:{port}");

    #[cfg(feature = "admin-ui")]
    if std::env::var_os("ADMIN_PASSWORD").is_some() {
        tracing::info!("Admin UI on http://localhost:{port}/admin (user admin)");
    }

    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::signal::ctrl_c().await.ok();
            tracing::info!("shutting down");
            io.close().await;
        })
        .await
}

/// The Admin UI, when built with the `admin-ui` feature and `ADMIN_PASSWORD` is set.
#[cfg(feature = "admin-ui")]
fn admin_ui(builder: tower_socketio::SocketIoBuilder) -> tower_socketio::SocketIoBuilder {
    use tower_socketio::admin::{AdminUi, Auth, Mode};
    let Ok(password) = std::env::var("ADMIN_PASSWORD") else {
        return builder;
    };
    // The server keeps only a bcrypt hash of the password.
    let hash = match bcrypt::hash(password, bcrypt::DEFAULT_COST) {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "ADMIN_PASSWORD could not be hashed; no Admin UI");
            return builder;
        }
    };
    let auth = Auth::basic("admin", hash).expect("bcrypt makes valid hashes");
    builder
        .instrument(AdminUi::new(auth).mode(Mode::Development))
        .serve_admin_ui("/admin")
}

#[cfg(not(feature = "admin-ui"))]
fn admin_ui(builder: tower_socketio::SocketIoBuilder) -> tower_socketio::SocketIoBuilder {
    if std::env::var_os("ADMIN_PASSWORD").is_some() {
        tracing::warn!("ADMIN_PASSWORD is set, but this build has no admin-ui feature");
    }
    builder
}
