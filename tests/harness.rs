//! Self-tests of the test harness (tests/common): the peers are found, processes run, their
//! failures and time-outs are reported, and the driver scripts load and fail cleanly.

mod common;

use std::io;
use std::time::{Duration, Instant};

use common::{Peer, require_peer};

const SHORT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn node_runs_an_inline_script() {
    let Some(node) = require_peer(Peer::Node) else {
        return;
    };
    assert!(node.is_absolute(), "node path {node:?} should be absolute");
    let out = common::run_node_args(&["-e", "process.stdout.write(String(6 * 7))"], SHORT)
        .await
        .expect("node -e should run");
    assert!(out.status.success(), "{}", common::describe_output(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42");
}

#[tokio::test]
async fn node_failure_keeps_exit_code_and_stderr() {
    let Some(_) = require_peer(Peer::Node) else {
        return;
    };
    let out = common::run_node_args(
        &["-e", "console.error('boom from node'); process.exit(3)"],
        SHORT,
    )
    .await
    .expect("node -e should run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        common::describe_output(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("boom from node"),
        "{}",
        common::describe_output(&out)
    );
}

#[tokio::test]
async fn node_is_killed_on_timeout() {
    let Some(_) = require_peer(Peer::Node) else {
        return;
    };
    let started = Instant::now();
    let result = common::run_node_args(
        &["-e", "console.log('started'); setInterval(() => {}, 1000)"],
        Duration::from_millis(1500),
    )
    .await;
    let err = result.expect_err("a process that never ends must time out");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(
        err.to_string().contains("started"),
        "partial stdout should be kept: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the time-out took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn drivers_load_and_reject_bad_usage() {
    let Some(modules) = require_peer(Peer::NodeModules) else {
        return;
    };
    assert!(modules.join("socket.io-client").is_dir());
    // The packages are imported before the arguments are read, so exit code 2 with the
    // usage line also proves the imports resolved.
    for script in ["engineio_client.mjs", "socketio_connect.mjs"] {
        let out = common::run_node(script, &[], SHORT)
            .await
            .expect("the driver should run");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{script}: {}",
            common::describe_output(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{script}: {}",
            common::describe_output(&out)
        );
    }
    let out = common::run_node(
        "engineio_client.mjs",
        &["http://127.0.0.1:9", "carrier-pigeon"],
        SHORT,
    )
    .await
    .expect("the driver should run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        common::describe_output(&out)
    );
}

/// A server that accepts TCP connections but never answers: each driver must give up after
/// its step timeout with a clear message instead of hanging.
#[tokio::test]
async fn drivers_fail_on_a_silent_server() {
    let Some(_) = require_peer(Peer::NodeModules) else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "engineio_client.mjs",
            vec![&url, "polling", "--step-timeout", "800"],
        ),
        (
            "engineio_client.mjs",
            vec![&url, "websocket", "--step-timeout", "800"],
        ),
        ("socketio_connect.mjs", vec![&url, "--step-timeout", "800"]),
    ];
    for (script, args) in runs {
        let started = Instant::now();
        let out = common::run_node(script, &args, SHORT)
            .await
            .expect("the driver should end by itself");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{script} {args:?}: {}",
            common::describe_output(&out)
        );
        assert!(
            stderr.contains("FAIL"),
            "{script} {args:?}: {}",
            common::describe_output(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{script} {args:?} took {:?}",
            started.elapsed()
        );
    }
    drop(listener);
}

#[tokio::test]
async fn python_venv_has_the_socketio_client() {
    let Some(_) = require_peer(Peer::Python) else {
        return;
    };
    let out = common::run_python_args(
        &[
            "-c",
            "import importlib.metadata as m, socketio, engineio, requests, websocket; \
             print(m.version('python-socketio'))",
        ],
        SHORT,
    )
    .await
    .expect("python should run");
    assert!(out.status.success(), "{}", common::describe_output(&out));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.trim().starts_with("5."),
        "python-socketio version {version:?}"
    );

    let help = common::expect_success(
        common::run_python("sio_client.py", &["--help"], SHORT).await,
        "sio_client.py --help",
    );
    assert!(help.contains("usage:"), "{help}");
}

#[tokio::test]
async fn redis_server_runs() {
    let Some(redis) = require_peer(Peer::RedisServer) else {
        return;
    };
    let mut cmd = tokio::process::Command::new(&redis);
    cmd.arg("--version");
    let stdout = common::expect_success(
        common::run_command(cmd, "redis-server --version", SHORT).await,
        "redis-server --version",
    );
    assert!(stdout.contains("Redis server"), "{stdout}");
}
