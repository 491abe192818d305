//! The Socket.IO Admin UI in a real browser: Debian's Chromium, driven by playwright-core
//! (tests/js/browser/admin.mjs), opens the UI this server serves at `/admin`, logs in to it
//! (basic auth), sees the chat example's clients, their rooms and namespaces, makes one join
//! a room, emits to one, disconnects one. Screenshots go to `target/screenshots/admin-*.png`.
#![cfg(feature = "admin-ui")]

mod common;

#[allow(dead_code)]
#[path = "../examples/chat/app.rs"]
mod chat_app;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Peer, require_peer};
use tokio::process::Command;
use tower_socketio::admin::{AdminUi, Auth, Mode, ui};

/// bcrypt("changeit"), cost 4.
const HASH: &str = "$2a$04$G3CT0fliMOqpRi.7vw7WF./AyHV25K9ppGSxEkSIpcjDW43HFOMBq";

#[tokio::test]
async fn the_admin_ui_in_chromium() {
    let Some(chromium) = require_peer(Peer::Chromium) else {
        return;
    };
    assert!(
        ui::is_embedded(),
        "this build has no Admin UI (see the build script's cargo warning)"
    );
    let (router, io) = chat_app::app_with(chat_app::static_dir(), |builder| {
        let admin = AdminUi::new(Auth::basic("admin", HASH).unwrap())
            .mode(Mode::Development)
            .server_id("rust-chat");
        builder.instrument(admin).serve_admin_ui("/admin")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let screenshots = common::repo_root().join("target").join("screenshots");
    let names = [
        "admin-dashboard.png",
        "admin-sockets.png",
        "admin-servers.png",
        "admin-socket.png",
    ];
    for name in names {
        let _ = std::fs::remove_file(screenshots.join(name));
    }
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("browser/admin.mjs"))
        .arg(format!("http://{addr}"))
        .arg("--chromium")
        .arg(&chromium)
        .arg("--screenshots")
        .arg(&screenshots)
        .current_dir(common::js_dir());
    let stdout = common::expect_success(
        common::run_command(cmd, "node browser/admin.mjs", Duration::from_secs(150)).await,
        "the Admin UI in the browser",
    );
    assert!(stdout.contains("browser-admin: ok"), "{stdout}");
    for name in names {
        let png = std::fs::read(screenshots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
        assert!(png.len() > 10_000, "{name} is only {} bytes", png.len());
    }
    io.close().await;
    server.abort();
}
