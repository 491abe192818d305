//! Helpers shared by the integration tests (include with `mod common;`).
//!
//! The tests drive tower-socketio with real peers: the official Node clients (tests/js), the
//! python-socketio client (tests/python) and redis-server. `scripts/test.sh` installs them and
//! exports where they are:
//!
//! | peer | env var | fallback |
//! | --- | --- | --- |
//! | node | `TSIO_NODE` | `node` on `PATH` |
//! | Node packages | `TSIO_NODE_MODULES` | `tests/js/node_modules` |
//! | Python venv | `TSIO_PYTHON` | `.venv/bin/python` |
//! | Python venv with python-socketio 4 | `TSIO_PYTHON_SIO4` | `.venv-sio4/bin/python` |
//! | redis-server | `TSIO_REDIS_SERVER` | `redis-server` on `PATH` |
//! | chromium | `TSIO_CHROMIUM` | `chromium` on `PATH` |
//!
//! A test that needs a peer starts with
//! `let Some(_) = common::require_peer(Peer::NodeModules) else { return };`:
//! under `CI=true` a missing peer fails the test loudly; elsewhere the test prints a
//! `SKIPPED:` line on stderr and returns.
//!
//! The driver scripts import their packages from `tests/js/node_modules` (ESM resolves
//! imports next to the script), so `TSIO_NODE_MODULES` only tells where to look for them.
#![allow(dead_code, unreachable_pub)]

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// A default bound for one driver run: the drivers bound themselves at 30 s.
pub const DRIVER_TIMEOUT: Duration = Duration::from_secs(40);

/// How long to wait for a finished process's output pipes to close.
const PIPE_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The repository root (the crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/js`: the Node driver scripts and their `package.json`.
pub fn js_dir() -> PathBuf {
    repo_root().join("tests").join("js")
}

/// `tests/python`: the Python driver scripts and their `requirements.txt`.
pub fn python_dir() -> PathBuf {
    repo_root().join("tests").join("python")
}

/// The value of an environment variable, when set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Finds an executable by name on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The `node` binary: `TSIO_NODE`, else `node` on `PATH`, else plain `node`.
pub fn node() -> PathBuf {
    env_path("TSIO_NODE")
        .or_else(|| which("node"))
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// The Node packages the drivers use: `TSIO_NODE_MODULES`, else `tests/js/node_modules`.
pub fn node_modules_dir() -> PathBuf {
    env_path("TSIO_NODE_MODULES").unwrap_or_else(|| js_dir().join("node_modules"))
}

/// The Python interpreter of the test venv: `TSIO_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    env_path("TSIO_PYTHON").unwrap_or_else(|| repo_root().join(".venv").join("bin").join("python"))
}

/// The Python interpreter of the venv with python-socketio 4 (a Socket.IO 2 client):
/// `TSIO_PYTHON_SIO4`, else `.venv-sio4/bin/python`.
pub fn python_sio4() -> PathBuf {
    env_path("TSIO_PYTHON_SIO4")
        .unwrap_or_else(|| repo_root().join(".venv-sio4").join("bin").join("python"))
}

/// The `redis-server` binary: `TSIO_REDIS_SERVER`, else `redis-server` on `PATH`.
pub fn redis_server() -> PathBuf {
    env_path("TSIO_REDIS_SERVER")
        .or_else(|| which("redis-server"))
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// The Chromium binary the browser tests drive: `TSIO_CHROMIUM`, else `chromium` on `PATH`.
pub fn chromium() -> PathBuf {
    env_path("TSIO_CHROMIUM")
        .or_else(|| which("chromium"))
        .unwrap_or_else(|| PathBuf::from("chromium"))
}

/// True when running under CI (`CI=true`, `CI=1` or `CI=yes`): missing peers are failures.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        .unwrap_or(false)
}

/// Something outside the crate that a test drives or needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The `node` binary.
    Node,
    /// `node` plus the npm packages of tests/js (engine.io-client, socket.io-client, ...).
    NodeModules,
    /// The Python venv with python-socketio.
    Python,
    /// The Python venv with python-socketio 4 (Socket.IO protocol 4, Engine.IO 3).
    PythonSio4,
    /// The `redis-server` binary.
    RedisServer,
    /// Chromium plus `node` and `playwright-core` in tests/js/node_modules to drive it.
    Chromium,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Node => "node",
            Peer::NodeModules => "the Node packages in tests/js/node_modules",
            Peer::Python => "the Python venv with python-socketio",
            Peer::PythonSio4 => "the Python venv with python-socketio 4",
            Peer::RedisServer => "redis-server",
            Peer::Chromium => "chromium (driven by playwright-core)",
        })
    }
}

impl Peer {
    /// Where the peer is, or why it is missing.
    pub fn locate(self) -> Result<PathBuf, String> {
        match self {
            Peer::Node => {
                let node = node();
                if node.is_absolute() && is_executable(&node) {
                    Ok(node)
                } else {
                    Err(format!(
                        "no executable `{}` (TSIO_NODE or PATH)",
                        node.display()
                    ))
                }
            }
            Peer::NodeModules => {
                Peer::Node.locate()?;
                let dir = node_modules_dir();
                for package in [
                    "engine.io-client",
                    "socket.io-client",
                    "engine.io-client-v3",
                    "socket.io-client-v2",
                ] {
                    let manifest = dir.join(package).join("package.json");
                    if !manifest.is_file() {
                        return Err(format!("{} is missing", manifest.display()));
                    }
                }
                Ok(dir)
            }
            Peer::Python | Peer::PythonSio4 => {
                let python = if self == Peer::Python {
                    python()
                } else {
                    python_sio4()
                };
                if is_executable(&python) {
                    Ok(python)
                } else {
                    Err(format!("no executable {}", python.display()))
                }
            }
            Peer::RedisServer => {
                let redis = redis_server();
                if redis.is_absolute() && is_executable(&redis) {
                    Ok(redis)
                } else {
                    Err(format!(
                        "no executable `{}` (TSIO_REDIS_SERVER or PATH)",
                        redis.display()
                    ))
                }
            }
            Peer::Chromium => {
                let modules = Peer::NodeModules.locate()?;
                let manifest = modules.join("playwright-core").join("package.json");
                if !manifest.is_file() {
                    return Err(format!("{} is missing", manifest.display()));
                }
                let chromium = chromium();
                if chromium.is_absolute() && is_executable(&chromium) {
                    Ok(chromium)
                } else {
                    Err(format!(
                        "no executable `{}` (TSIO_CHROMIUM or PATH)",
                        chromium.display()
                    ))
                }
            }
        }
    }

    /// How to install the peer by hand (scripts/test.sh does it for every peer but node).
    pub fn how_to_install(self) -> &'static str {
        match self {
            Peer::Node => "install Node.js 20+ and npm (Debian: apt-get install -y nodejs npm)",
            Peer::NodeModules => "`npm ci` in tests/js",
            Peer::Python => {
                "`python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt`"
            }
            Peer::PythonSio4 => {
                "`python3 -m venv .venv-sio4 && .venv-sio4/bin/pip install -r tests/python/requirements-v4.txt`"
            }
            Peer::RedisServer => "`apt-get update && apt-get install -y redis-server`",
            Peer::Chromium => {
                "`apt-get update && apt-get install -y chromium fonts-liberation`, and `npm ci` in tests/js"
            }
        }
    }
}

/// The name of the running test (libtest names each test's thread after it).
pub fn current_test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned()
}

/// Returns where `peer` is. When it is missing: under CI (see [`in_ci`]) this panics with
/// how to install it; elsewhere it prints `SKIPPED: <test> needs <peer>; run scripts/test.sh`
/// on stderr and returns `None`, and the test should return at once.
pub fn require_peer(peer: Peer) -> Option<PathBuf> {
    match peer.locate() {
        Ok(path) => Some(path),
        Err(why) => {
            let test = current_test_name();
            if in_ci() {
                panic!(
                    "{test} needs {peer}, which is missing: {why}.\n\
                     CI=true, so a missing peer fails the test. Install it: run scripts/test.sh, or {}",
                    peer.how_to_install()
                );
            }
            // Written to the real stderr, not through `eprintln!`, which libtest captures:
            // a skip must show in a normal `cargo test` run.
            let line = format!(
                "SKIPPED: {test} needs {peer} ({why}); run scripts/test.sh (or by hand: {})\n",
                peer.how_to_install()
            );
            let _ = io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// Reads a pipe to its end in a task.
fn drain<R: AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error ends the capture; what was read so far is kept.
            let _ = pipe.read_to_end(&mut buf).await;
        }
        buf
    })
}

/// Collects a drained pipe, giving up after [`PIPE_DRAIN_TIMEOUT`] (a grandchild may
/// still hold it open).
async fn collect(handle: JoinHandle<Vec<u8>>) -> Vec<u8> {
    let abort = handle.abort_handle();
    match tokio::time::timeout(PIPE_DRAIN_TIMEOUT, handle).await {
        Ok(Ok(buf)) => buf,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            abort.abort();
            b"<output pipe still open; not collected>".to_vec()
        }
    }
}

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured. After `timeout`
/// the process is killed and an error of kind [`io::ErrorKind::TimedOut`] is returned,
/// with whatever it printed so far in its message. `what` names the command in errors.
pub async fn run_command(mut cmd: Command, what: &str, timeout: Duration) -> io::Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("could not start {what}: {e}")))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => {
            let status = status?;
            Ok(Output {
                status,
                stdout: collect(stdout).await,
                stderr: collect(stderr).await,
            })
        }
        Err(_) => {
            // Kill and reap; the pipes close with the process.
            let _ = child.kill().await;
            let stdout = collect(stdout).await;
            let stderr = collect(stderr).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{what} timed out after {timeout:?} and was killed\n{}",
                    format_streams(&stdout, &stderr)
                ),
            ))
        }
    }
}

/// Runs `node` with raw arguments (e.g. `["-e", "..."]`) in tests/js.
pub async fn run_node_args<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> io::Result<Output> {
    let mut cmd = Command::new(node());
    cmd.args(args).current_dir(js_dir());
    run_command(cmd, "node", timeout).await
}

/// Runs a Node driver script of tests/js (`script` is relative to it, e.g.
/// `"engineio_client.mjs"`) with `args`, bounded by `timeout`.
pub async fn run_node(script: &str, args: &[&str], timeout: Duration) -> io::Result<Output> {
    let mut cmd = Command::new(node());
    cmd.arg(js_dir().join(script))
        .args(args)
        .current_dir(js_dir());
    run_command(cmd, &format!("node {script} {}", args.join(" ")), timeout).await
}

/// Runs a Python script of tests/python (`script` is relative to it) with the venv's
/// interpreter, bounded by `timeout`.
pub async fn run_python(script: &str, args: &[&str], timeout: Duration) -> io::Result<Output> {
    run_python_with(python(), script, args, timeout).await
}

/// Runs a Python driver script of tests/python with a given interpreter.
pub async fn run_python_with(
    python: PathBuf,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> io::Result<Output> {
    let mut cmd = Command::new(python);
    cmd.arg(python_dir().join(script))
        .args(args)
        .current_dir(python_dir())
        .env("PYTHONUNBUFFERED", "1");
    run_command(cmd, &format!("python {script} {}", args.join(" ")), timeout).await
}

/// Runs the venv's interpreter with raw arguments (e.g. `["-c", "..."]`).
pub async fn run_python_args<S: AsRef<OsStr>>(args: &[S], timeout: Duration) -> io::Result<Output> {
    let mut cmd = Command::new(python());
    cmd.args(args).current_dir(python_dir());
    run_command(cmd, "python", timeout).await
}

fn format_streams(stdout: &[u8], stderr: &[u8]) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(stdout).trim_end(),
        String::from_utf8_lossy(stderr).trim_end()
    )
}

/// A process's exit status and both its streams, for assertion messages.
pub fn describe_output(output: &Output) -> String {
    format!(
        "{}\n{}",
        describe_status(output.status),
        format_streams(&output.stdout, &output.stderr)
    )
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("terminated: {status}"),
    }
}

/// Panics with the streams unless the run finished with exit code 0; returns its stdout.
pub fn expect_success(result: io::Result<Output>, what: &str) -> String {
    match result {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => panic!("{what} failed: {}", describe_output(&output)),
        Err(err) => panic!("{what} did not finish: {err}"),
    }
}

/// Runs a Node driver that must pass; returns its stdout, or panics with everything it printed.
pub async fn node_driver_ok(script: &str, args: &[&str]) -> String {
    let what = format!("node {script} {}", args.join(" "));
    expect_success(run_node(script, args, DRIVER_TIMEOUT).await, &what)
}

/// Runs a Python driver that must pass; returns its stdout, or panics with everything it printed.
pub async fn python_driver_ok(script: &str, args: &[&str]) -> String {
    let what = format!("python {script} {}", args.join(" "));
    expect_success(run_python(script, args, DRIVER_TIMEOUT).await, &what)
}

/// Runs a Python driver with the python-socketio 4 venv; it must pass.
pub async fn python_sio4_driver_ok(script: &str, args: &[&str]) -> String {
    let what = format!("python (socketio 4) {script} {}", args.join(" "));
    expect_success(
        run_python_with(python_sio4(), script, args, DRIVER_TIMEOUT).await,
        &what,
    )
}
