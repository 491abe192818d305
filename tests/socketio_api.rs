//! The official `socket.io-client` suite (tests/js/scenarios/api.test.mjs) and the
//! python-socketio scenario client against the Rust scenario server (tests/scenario), which
//! implements tests/js/scenarios/SPEC.md with the crate's public API. The same suite passes
//! against Node's own `socket.io` (tests/js/scenarios/run_against_reference.mjs). It runs
//! with the default parser, and again with the MessagePack parser on both sides
//! (socket.io-msgpack-parser on every client, `Parser::MsgPack` on the server).

mod common;
mod scenario;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Peer, require_peer};
use tokio::process::Command;
use tower_socketio::{Parser, SocketIo};

async fn scenario_server(parser: Parser) -> (SocketAddr, SocketIo) {
    let (svc, io) = SocketIo::builder()
        .parser(parser)
        .with_state(Arc::new(scenario::Shared::default()))
        .build_svc();
    scenario::setup(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    (addr, io)
}

async fn run_suite(mode: &str) {
    run_suite_with(mode, Parser::Json).await;
}

async fn run_suite_with(mode: &str, parser: Parser) {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let (addr, _io) = scenario_server(parser).await;
    let mut cmd = Command::new(common::node());
    cmd.arg("--test")
        .arg("--test-reporter=spec")
        .arg(common::js_dir().join("scenarios/api.test.mjs"))
        .env("TSIO_URL", format!("http://{addr}"))
        .env("TSIO_TRANSPORTS", mode)
        .env(
            "TSIO_PARSER",
            if parser == Parser::MsgPack {
                "msgpack"
            } else {
                "json"
            },
        )
        .current_dir(common::js_dir());
    let what = format!("socket.io-client suite ({mode}, {parser:?})");
    common::expect_success(
        common::run_command(cmd, &what, Duration::from_secs(120)).await,
        &what,
    );
}

#[tokio::test]
async fn official_client_suite_over_polling() {
    run_suite("polling").await;
}

#[tokio::test]
async fn official_client_suite_over_websocket() {
    run_suite("websocket").await;
}

#[tokio::test]
async fn official_client_suite_over_upgraded_connection() {
    run_suite("upgrade").await;
}

#[tokio::test]
async fn official_client_suite_with_msgpack_over_polling() {
    run_suite_with("polling", Parser::MsgPack).await;
}

#[tokio::test]
async fn official_client_suite_with_msgpack_over_websocket() {
    run_suite_with("websocket", Parser::MsgPack).await;
}

#[tokio::test]
async fn official_client_suite_with_msgpack_over_upgraded_connection() {
    run_suite_with("upgrade", Parser::MsgPack).await;
}

#[tokio::test]
async fn python_client_scenarios() {
    if require_peer(Peer::Python).is_none() {
        return;
    }
    let (addr, _io) = scenario_server(Parser::Json).await;
    let url = format!("http://{addr}");
    for transports in ["polling", "websocket", "polling,websocket"] {
        common::python_driver_ok("scenario_client.py", &[&url, "--transports", transports]).await;
    }
}
