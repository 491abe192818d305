//! The whole benchmark in one run: every server, every scenario, interleaved, each server
//! pinned to core 0 and the load generator to core 1, then a markdown table of medians
//! with min-max and our ratio to each peer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Flags;

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Ours,
    /// Another build of our bench server (`--extra-ours label=path`), e.g. an older commit.
    OursAt(String, PathBuf),
    Socketioxide,
    Node,
    WsEcho,
}

#[derive(Clone)]
struct Server {
    kind: Kind,
    workers: usize,
    label: String,
    /// Connection state recovery on (`RECOVERY=1`); such servers run the `unstable`
    /// scenario only.
    recovery: bool,
}

impl Server {
    fn with_recovery(kind: Kind, workers: usize) -> Self {
        let mut s = Server::new(kind, workers);
        s.recovery = true;
        s.label.push_str(" +recovery");
        s
    }

    fn new(kind: Kind, workers: usize) -> Self {
        let name = match &kind {
            Kind::Ours => "tower-socketio",
            Kind::OursAt(label, _) => label.as_str(),
            Kind::Socketioxide => "socketioxide",
            Kind::Node => "node socket.io",
            Kind::WsEcho => "ws echo",
        };
        let label = match kind {
            Kind::Node => name.to_owned(),
            _ => format!("{name} {workers}w"),
        };
        let kind = kind.clone();
        Server {
            kind,
            workers,
            label,
            recovery: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Better {
    Higher,
    Lower,
}

struct Metric {
    key: &'static str,
    label: &'static str,
    better: Better,
}

struct Scenario {
    name: &'static str,
    title: String,
    load: &'static str,
    args: Vec<String>,
    /// The bare WebSocket echo server takes part.
    floor: bool,
    /// Clients and servers speak the MessagePack parser (ours and socketioxide only).
    msgpack: bool,
    /// The unstable-network scenario: one worker thread, and the servers with connection
    /// state recovery (ours and Node's) beside ours and socketioxide without; run only
    /// when asked for by name.
    unstable: bool,
    metrics: Vec<Metric>,
}

impl Scenario {
    /// Whether server `s` takes part.
    fn runs(&self, s: &Server) -> bool {
        if self.unstable {
            return s.workers == 1
                && match s.kind {
                    Kind::Ours | Kind::OursAt(..) | Kind::Socketioxide => true,
                    Kind::Node => s.recovery,
                    Kind::WsEcho => false,
                };
        }
        !s.recovery
            && match s.kind {
                Kind::WsEcho => self.floor,
                Kind::Node => !self.msgpack,
                _ => true,
            }
    }
}

fn m(key: &'static str, label: &'static str, better: Better) -> Metric {
    Metric { key, label, better }
}

fn scenarios(quick: bool) -> Vec<Scenario> {
    let mut v = json_scenarios(quick);
    let (b1k, timed) = if quick {
        ("50", ["--duration", "1", "--warmup", "0.5"])
    } else {
        ("200", ["--duration", "3", "--warmup", "1"])
    };
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    use Better::*;
    let at = v
        .iter()
        .position(|s| s.name == "ack")
        .map_or(v.len(), |i| i + 1);
    v.insert(
        at,
        Scenario {
            name: "echo-mp",
            title: "echo over WebSocket with the MessagePack parser (100 clients, 4 in flight)"
                .into(),
            load: "echo",
            args: strings(&[&timed[..], &["--clients", "100", "--inflight", "4"]].concat()),
            floor: false,
            msgpack: true,
            unstable: false,
            metrics: vec![
                m("msgs_per_s", "messages/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per message", Lower),
            ],
        },
    );
    let at = v
        .iter()
        .position(|s| s.name == "bcast1k-w4")
        .map_or(v.len(), |i| i + 1);
    v.insert(
        at,
        Scenario {
            name: "bcast1k-mp",
            title: format!(
                "broadcast to a room of 1 000 with the MessagePack parser ({b1k} broadcasts, one at a time)"
            ),
            load: "broadcast",
            args: strings(&["--members", "1000", "--broadcasts", b1k]),
            floor: false,
            msgpack: true,
            unstable: false,
            metrics: vec![
                m("deliveries_per_s", "deliveries/s", Higher),
                m("p50_ms", "p50 emit→receipt ms", Lower),
                m("p99_ms", "p99 emit→receipt ms", Lower),
                m(
                    "cpu_us_per_delivery",
                    "server CPU µs per delivery (= CPU-s per 1M)",
                    Lower,
                ),
            ],
        },
    );
    v
}

fn json_scenarios(quick: bool) -> Vec<Scenario> {
    let (dur, warm) = if quick { ("1", "0.5") } else { ("3", "1") };
    let timed = |extra: &[&str]| {
        let mut v: Vec<String> = vec![
            "--duration".into(),
            dur.into(),
            "--warmup".into(),
            warm.into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (b1k, b10k) = if quick { ("50", "10") } else { ("200", "50") };
    use Better::*;
    vec![
        Scenario {
            name: "conn",
            title: "connections/s (WebSocket handshake + namespace connect, 32 in parallel)".into(),
            load: "conn",
            args: timed(&["--clients", "32"]),
            floor: true,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("conn_per_s", "connections/s", Higher),
                m("cpu_us_per_conn", "server CPU µs per connection", Lower),
            ],
        },
        Scenario {
            name: "echo",
            title: "echo over WebSocket (100 clients, 4 messages in flight each)".into(),
            load: "echo",
            args: timed(&["--clients", "100", "--inflight", "4"]),
            floor: true,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("msgs_per_s", "messages/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per message", Lower),
            ],
        },
        Scenario {
            name: "ack",
            title: "echo as acknowledgements (100 clients, 4 in flight)".into(),
            load: "ack",
            args: timed(&["--clients", "100", "--inflight", "4"]),
            floor: false,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("msgs_per_s", "acks/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per ack", Lower),
            ],
        },
        Scenario {
            name: "bcast1k",
            title: format!("broadcast to a room of 1 000 ({b1k} broadcasts, one at a time)"),
            load: "broadcast",
            args: args(&["--members", "1000", "--broadcasts", b1k]),
            floor: false,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("deliveries_per_s", "deliveries/s", Higher),
                m("p50_ms", "p50 emit→receipt ms", Lower),
                m("p99_ms", "p99 emit→receipt ms", Lower),
                m(
                    "cpu_us_per_delivery",
                    "server CPU µs per delivery (= CPU-s per 1M)",
                    Lower,
                ),
            ],
        },
        Scenario {
            name: "bcast1k-w4",
            title: format!(
                "broadcast to a room of 1 000 ({b1k} broadcasts, 4 on their way at once)"
            ),
            load: "broadcast",
            args: args(&["--members", "1000", "--broadcasts", b1k, "--window", "4"]),
            floor: false,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("deliveries_per_s", "deliveries/s", Higher),
                m("p50_ms", "p50 emit→receipt ms", Lower),
                m("p99_ms", "p99 emit→receipt ms", Lower),
                m(
                    "cpu_us_per_delivery",
                    "server CPU µs per delivery (= CPU-s per 1M)",
                    Lower,
                ),
            ],
        },
        Scenario {
            name: "bcast10k",
            title: format!("broadcast to a room of 10 000 ({b10k} broadcasts, one at a time)"),
            load: "broadcast",
            args: args(&["--members", "10000", "--broadcasts", b10k]),
            floor: false,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("deliveries_per_s", "deliveries/s", Higher),
                m("p50_ms", "p50 emit→receipt ms", Lower),
                m("p99_ms", "p99 emit→receipt ms", Lower),
                m(
                    "cpu_us_per_delivery",
                    "server CPU µs per delivery (= CPU-s per 1M)",
                    Lower,
                ),
            ],
        },
        Scenario {
            name: "idle",
            title: "10 000 idle WebSocket clients".into(),
            load: "idle",
            args: args(&["--clients", "10000"]),
            floor: true,
            msgpack: false,
            unstable: false,
            metrics: vec![m(
                "rss_kib_per_conn",
                "server RSS KiB per connection",
                Lower,
            )],
        },
        Scenario {
            name: "unstable",
            title: format!(
                "unstable network (1 000 members of one room, each connection cut every 5-15 s; \
                 {rate} broadcasts/s for {secs} s)",
                rate = 20,
                secs = if quick { 20 } else { 60 }
            ),
            load: "unstable",
            args: args(&[
                "--clients",
                "1000",
                "--rate",
                "20",
                "--duration",
                if quick { "20" } else { "60" },
            ]),
            floor: false,
            msgpack: false,
            unstable: true,
            metrics: vec![
                m(
                    "delivered_pct",
                    "messages delivered, % (mean of members)",
                    Higher,
                ),
                m(
                    "worst_member_pct",
                    "messages delivered, % (worst member)",
                    Higher,
                ),
                m("duplicates", "duplicates (all members)", Lower),
                m("p50_ms", "p50 publish→receipt ms", Lower),
                m("p99_ms", "p99 publish→receipt ms", Lower),
                m("recovered", "reconnections recovered", Higher),
                m("not_recovered", "reconnections not recovered", Lower),
                m("cpu_s", "server CPU s", Lower),
            ],
        },
        Scenario {
            name: "polling",
            title: "echo over long-polling (100 clients, up to 4 in flight)".into(),
            load: "polling",
            args: timed(&["--clients", "100", "--inflight", "4"]),
            floor: false,
            msgpack: false,
            unstable: false,
            metrics: vec![
                m("msgs_per_s", "messages/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per message", Lower),
            ],
        },
    ]
}

/// The bench crate's directory (bench/), from the build.
fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(3999)
}

pub(crate) fn wait_port(port: u16, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

fn start_server(
    s: &Server,
    port: u16,
    exe_dir: &Path,
    log: &Path,
    msgpack: bool,
) -> std::io::Result<Child> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg("0");
    match &s.kind {
        Kind::Ours => {
            cmd.arg(exe_dir.join("examples").join("bench_server"));
        }
        Kind::OursAt(_, path) => {
            cmd.arg(path);
        }
        Kind::Socketioxide => {
            cmd.arg(exe_dir.join("sio-bench"))
                .args(["serve", "socketioxide"]);
        }
        Kind::WsEcho => {
            cmd.arg(exe_dir.join("sio-bench"))
                .args(["serve", "ws-echo"]);
        }
        Kind::Node => {
            cmd.arg("node")
                .arg(bench_dir().join("node").join("server.mjs"));
        }
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    cmd.env("PORT", port.to_string())
        .env("WORKERS", s.workers.to_string())
        .env("RECOVERY", if s.recovery { "1" } else { "0" })
        .env("RUST_LOG", "error")
        .env("PARSER", if msgpack { "msgpack" } else { "json" })
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}

fn run_load(
    exe_dir: &Path,
    sc: &Scenario,
    s: &Server,
    port: u16,
    pid: u32,
    limit: Duration,
) -> Result<Value, String> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"])
        .arg(exe_dir.join("sio-bench"))
        .args([
            "load",
            sc.load,
            "--port",
            &port.to_string(),
            "--pid",
            &pid.to_string(),
        ])
        .args(&sc.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if s.kind == Kind::WsEcho {
        cmd.arg("--raw");
    }
    if sc.msgpack {
        cmd.arg("--msgpack");
    }
    let mut child = cmd.spawn().map_err(|e| format!("load generator: {e}"))?;
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the load generator timed out".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("load output: {e}"))
}

pub(crate) fn median_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

pub(crate) fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 100_000.0 {
        let s = format!("{:.0}", x);
        // Thousands separated by a thin space.
        let bytes = s.as_bytes();
        let mut out = String::new();
        for (i, c) in bytes.iter().enumerate() {
            if i > 0 && (bytes.len() - i) % 3 == 0 {
                out.push(' ');
            }
            out.push(*c as char);
        }
        out
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if x == x.trunc() {
        // Counts (duplicates, reconnections): no decimals to suggest a fraction.
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn versions() -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let pkg_version = |name: &str| {
        std::fs::read_to_string(
            bench_dir()
                .join("node/node_modules")
                .join(name)
                .join("package.json"),
        )
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
    };
    let lock_version = |name: &str| {
        let lock = std::fs::read_to_string(bench_dir().join("../Cargo.lock")).unwrap_or_default();
        let key = format!("name = \"{name}\"\nversion = \"");
        lock.find(&key)
            .map(|i| {
                let rest = &lock[i + key.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_owned()
            })
            .unwrap_or_else(|| "?".into())
    };
    vec![
        (
            "machine".into(),
            format!("{cpu}, {cores} cores, {}", sh("uname", &["-sr"])),
        ),
        ("rustc".into(), sh("rustc", &["-V"])),
        ("node".into(), sh("node", &["-v"])),
        (
            "tower-socketio".into(),
            format!(
                "{} (this tree, {})",
                lock_version("tower-socketio"),
                sh(
                    "git",
                    &[
                        "-C",
                        &bench_dir().to_string_lossy(),
                        "rev-parse",
                        "--short",
                        "HEAD"
                    ]
                )
            ),
        ),
        ("socketioxide".into(), lock_version("socketioxide")),
        (
            "tokio-tungstenite".into(),
            lock_version("tokio-tungstenite"),
        ),
        ("socket.io (Node)".into(), pkg_version("socket.io")),
        (
            "ws / bufferutil".into(),
            format!("{} / {}", pkg_version("ws"), pkg_version("bufferutil")),
        ),
    ]
}

pub fn main(f: Flags) -> i32 {
    let quick = f.has("--quick");
    let runs: usize = f.num("--runs", if quick { 1 } else { 5 });
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let out_dir = exe_dir.join("bench");
    let _ = std::fs::create_dir_all(&out_dir);
    let out_file = f
        .value("--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| out_dir.join("latest.md"));
    let log = out_dir.join("servers.log");
    let _ = std::fs::write(&log, "");

    let worker_counts: &[usize] = if quick { &[1] } else { &[1, 2] };
    let mut servers = Vec::new();
    for &w in worker_counts {
        servers.push(Server::new(Kind::Ours, w));
    }
    for &w in worker_counts {
        servers.push(Server::new(Kind::Socketioxide, w));
    }
    servers.push(Server::new(Kind::Node, 1));
    for &w in worker_counts {
        servers.push(Server::new(Kind::WsEcho, w));
    }
    servers.insert(1, Server::with_recovery(Kind::Ours, 1));
    servers.push(Server::with_recovery(Kind::Node, 1));
    if let Some(only) = f.value("--servers") {
        let wanted: Vec<&str> = only.split(',').collect();
        servers.retain(|s| {
            wanted.iter().any(|w| {
                let name = match &s.kind {
                    Kind::Ours => "ours",
                    Kind::OursAt(label, _) => label.as_str(),
                    Kind::Socketioxide => "socketioxide",
                    Kind::Node => "node",
                    Kind::WsEcho => "ws-echo",
                };
                let name = if s.recovery {
                    format!("{name}+recovery")
                } else {
                    name.to_owned()
                };
                *w == name || *w == format!("{name}-{}w", s.workers)
            })
        });
    }
    if let Some(extra) = f.value("--extra-ours") {
        for item in extra.split(',') {
            let Some((label, path)) = item.split_once('=') else {
                eprintln!("--extra-ours wants label=path[,label=path]");
                return 2;
            };
            for &w in worker_counts {
                servers.insert(
                    0,
                    Server::new(Kind::OursAt(label.to_owned(), PathBuf::from(path)), w),
                );
            }
        }
    }
    let mut scs = scenarios(quick);
    match f.value("--scenarios") {
        Some(only) => {
            let wanted: Vec<&str> = only.split(',').collect();
            scs.retain(|s| wanted.contains(&s.name));
        }
        // The unstable network takes minutes: only when named.
        None => scs.retain(|s| !s.unstable),
    }

    let started = Instant::now();
    let load_before = loadavg();
    // (scenario, server label, metric) -> samples
    let mut samples: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for run in 0..runs {
        for sc in &scs {
            for s in &servers {
                if !sc.runs(s) {
                    continue;
                }
                let port = free_port();
                let mut child = match start_server(s, port, &exe_dir, &log, sc.msgpack) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("cannot start {}: {e}", s.label);
                        return 1;
                    }
                };
                let pid = child.id();
                let result = if wait_port(port, Duration::from_secs(20)) {
                    std::thread::sleep(Duration::from_millis(100));
                    run_load(&exe_dir, sc, s, port, pid, Duration::from_secs(180))
                } else {
                    Err("the server did not listen".into())
                };
                let _ = child.kill();
                let _ = child.wait();
                match result {
                    Ok(v) => {
                        eprintln!("run {}/{runs} {:<9} {:<22} {v}", run + 1, sc.name, s.label);
                        for metric in &sc.metrics {
                            if let Some(x) = v[metric.key].as_f64() {
                                samples
                                    .entry((sc.name.into(), s.label.clone(), metric.key.into()))
                                    .or_default()
                                    .push(x);
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!(
                            "run {}/{runs} {:<9} {:<22} FAILED: {e}",
                            run + 1,
                            sc.name,
                            s.label
                        );
                        failures.push(format!("{} / {}: {e}", sc.name, s.label));
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Mode: {}, {runs} run(s) per server and scenario, servers interleaved; server on core 0, \
         load generator on core 1 (`taskset`). Wall time {:.0} s; load average before {}, after {}.\n",
        if quick { "`--quick`" } else { "full" },
        started.elapsed().as_secs_f64(),
        load_before,
        loadavg()
    );
    let _ = writeln!(md, "| | |\n| --- | --- |");
    for (k, v) in versions() {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nCells: median (min–max) over the runs. `Nw`: tokio worker threads, all on the one core.\n"
    );
    for sc in &scs {
        let present: Vec<&Server> = servers.iter().filter(|s| sc.runs(s)).collect();
        let _ = writeln!(md, "### {}\n", sc.title);
        let _ = write!(md, "| metric |");
        for s in &present {
            let _ = write!(md, " {} |", s.label);
        }
        let _ = write!(md, "\n| --- |");
        for _ in &present {
            let _ = write!(md, " --- |");
        }
        md.push('\n');
        for metric in &sc.metrics {
            let _ = write!(md, "| {} |", metric.label);
            for s in &present {
                match samples.get(&(sc.name.into(), s.label.clone(), metric.key.into())) {
                    Some(v) if !v.is_empty() => {
                        let (med, lo, hi) = median_min_max(v);
                        if v.len() > 1 {
                            let _ =
                                write!(md, " {} ({}–{}) |", fmt_num(med), fmt_num(lo), fmt_num(hi));
                        } else {
                            let _ = write!(md, " {} |", fmt_num(med));
                        }
                    }
                    _ => md.push_str(" — |"),
                }
            }
            md.push('\n');
        }
        md.push('\n');
    }

    // Our ratio to each peer at the same worker count: above 1 means we are better
    // (throughput ours/peer; costs peer/ours). Not for the unstable network alone: its
    // servers differ in what they do (recovery on or off), so it has no such rows.
    let ratio_scenarios = scs.iter().filter(|sc| !sc.unstable).count();
    if ratio_scenarios > 0 {
        let _ = writeln!(
            md,
            "### Our advantage over each peer (×; above 1 = tower-socketio is better: throughput ours ÷ peer, costs peer ÷ ours)\n"
        );
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for &w in worker_counts {
        let ours = format!("tower-socketio {w}w");
        for s in &servers {
            if s.kind == Kind::Ours
                || s.recovery
                || (s.kind != Kind::Node && s.workers != w)
                || (s.kind == Kind::Node && w != 1)
            {
                continue;
            }
            if servers.iter().any(|x| x.label == ours) {
                pairs.push((ours.clone(), s.label.clone()));
            }
        }
    }
    if ratio_scenarios > 0 {
        let _ = write!(md, "| scenario | metric |");
        for (o, p) in &pairs {
            let _ = write!(md, " {o} vs {p} |");
        }
        let _ = write!(md, "\n| --- | --- |");
        for _ in &pairs {
            let _ = write!(md, " --- |");
        }
        md.push('\n');
    }
    for sc in scs.iter().filter(|sc| !sc.unstable) {
        for metric in &sc.metrics {
            let _ = write!(md, "| {} | {} |", sc.name, metric.label);
            for (o, p) in &pairs {
                let get = |label: &str| {
                    samples
                        .get(&(sc.name.into(), label.to_owned(), metric.key.into()))
                        .filter(|v| !v.is_empty())
                        .map(|v| median_min_max(v).0)
                };
                match (get(o), get(p)) {
                    (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                        let r = match metric.better {
                            Better::Higher => a / b,
                            Better::Lower => b / a,
                        };
                        let _ = write!(md, " ×{r:.2} |");
                    }
                    _ => md.push_str(" — |"),
                }
            }
            md.push('\n');
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(md, "\nFailed runs:\n");
        for f in &failures {
            let _ = writeln!(md, "- {f}");
        }
    }
    println!("{md}");
    if let Err(e) = std::fs::write(&out_file, &md) {
        eprintln!("cannot write {}: {e}", out_file.display());
    } else {
        eprintln!("table written to {}", out_file.display());
    }
    let raw: BTreeMap<String, Vec<f64>> = samples
        .into_iter()
        .map(|((a, b, c), v)| (format!("{a}/{b}/{c}"), v))
        .collect();
    let _ = std::fs::write(
        out_dir.join("samples.json"),
        serde_json::to_string_pretty(&raw).unwrap_or_default(),
    );
    i32::from(!failures.is_empty())
}
