//! The chat example (examples/chat) in a real browser: Debian's Chromium, driven by
//! playwright-core (tests/js/browser/chat.mjs), opens the page in two isolated contexts that
//! log in, join a room, see each other typing and online, exchange acknowledged messages,
//! reconnect and leave. Screenshots of both pages are written to `target/screenshots/`.

mod common;

#[allow(dead_code)]
#[path = "../examples/chat/app.rs"]
mod chat_app;

use std::time::Duration;

use common::{Peer, require_peer};
use tokio::process::Command;

#[tokio::test]
async fn chat_in_two_browser_contexts() {
    let Some(chromium) = require_peer(Peer::Chromium) else {
        return;
    };
    assert!(
        tower_socketio::client_files::is_embedded(),
        "this build has no browser client, which the chat page loads (see the build script's \
         cargo warning)"
    );

    let (router, io) = chat_app::app(chat_app::static_dir());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let screenshots = common::repo_root().join("target").join("screenshots");
    for name in ["chat-alice.png", "chat-bob.png"] {
        let _ = std::fs::remove_file(screenshots.join(name));
    }
    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("browser/chat.mjs"))
        .arg(format!("http://{addr}/"))
        .arg("--chromium")
        .arg(&chromium)
        .arg("--screenshots")
        .arg(&screenshots)
        .current_dir(common::js_dir());
    let stdout = common::expect_success(
        common::run_command(cmd, "node browser/chat.mjs", Duration::from_secs(120)).await,
        "the browser chat",
    );
    assert!(stdout.contains("browser-chat: ok"), "{stdout}");

    for name in ["chat-alice.png", "chat-bob.png"] {
        let png = std::fs::read(screenshots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
        assert!(png.len() > 10_000, "{name} is only {} bytes", png.len());
    }

    io.close().await;
    server.abort();
}
