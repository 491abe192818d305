//! socket.io-client 2 in a real browser: Debian's Chromium, driven by playwright-core
//! (tests/js/browser/sio2.mjs), loads a page with the 2.x bundle (`dist/socket.io.js` of the
//! npm package, read from tests/js/node_modules and served by this test, never committed)
//! and runs echo, acks both ways and binary over XHR2 polling (binary payloads both ways),
//! WebSocket, polling upgraded to WebSocket, and JSONP polling.

mod common;
mod sio2_support;

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use common::{Peer, require_peer};
use tokio::process::Command;

/// The page: the 2.x bundle, nothing else (the driver runs the scenario in it).
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Socket.IO 2 client</title>
<script src="/v2/socket.io.js"></script></head>
<body><p>socket.io-client 2 against tower-socketio</p></body></html>
"#;

#[tokio::test]
async fn socket_io_client_2_in_chromium() {
    let Some(chromium) = require_peer(Peer::Chromium) else {
        return;
    };
    let bundle_path = common::node_modules_dir()
        .join("socket.io-client-v2")
        .join("dist")
        .join("socket.io.js");
    let bundle = std::fs::read(&bundle_path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `npm ci` in tests/js)", bundle_path.display()));

    let (layer, io) = sio2_support::builder().build_layer();
    sio2_support::handlers(&io);
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/v2/socket.io.js",
            get(move || {
                let bundle = bundle.clone();
                async move {
                    ([(header::CONTENT_TYPE, "application/javascript")], bundle).into_response()
                }
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let mut cmd = Command::new(common::node());
    cmd.arg(common::js_dir().join("browser/sio2.mjs"))
        .arg(format!("http://{addr}/"))
        .arg("--chromium")
        .arg(&chromium)
        .current_dir(common::js_dir());
    let stdout = common::expect_success(
        common::run_command(cmd, "node browser/sio2.mjs", Duration::from_secs(150)).await,
        "socket.io-client 2 in Chromium",
    );
    assert!(stdout.contains("browser-sio2: ok"), "{stdout}");
    eprintln!("{}", stdout.trim());
    io.close().await;
    server.abort();
}
