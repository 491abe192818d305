//! The whole benchmark in one run: every server, every scenario, interleaved, each server
//! pinned to core 0 and the load generator to core 1, then a markdown table of medians
//! with min-max and our ratio to each peer.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Flags;
use crate::report::{Results, loadavg, versions};
use crate::scenarios::{Kind, Scenario, Server, scenarios};

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
        Kind::WsFloor => {
            cmd.arg(exe_dir.join("sio-bench"))
                .args(["serve", "ws-floor"]);
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
    if s.kind.raw() {
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
    // A full run's charts are the docs' (docs/benchmarks/); a quick one's stay beside
    // its table.
    let charts_dir = f.value("--charts").map(PathBuf::from).unwrap_or_else(|| {
        if quick {
            out_dir.join("charts")
        } else {
            bench_dir().join("../docs/benchmarks")
        }
    });
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
        servers.push(Server::new(Kind::WsFloor, w));
    }
    for &w in worker_counts {
        servers.push(Server::new(Kind::WsEcho, w));
    }
    // With connection state recovery: the unstable network's servers only.
    servers.insert(1, Server::with_recovery(Kind::Ours, 1));
    servers.push(Server::with_recovery(Kind::Node, 1));
    if let Some(only) = f.value("--servers") {
        let wanted: Vec<&str> = only.split(',').collect();
        servers.retain(|s| {
            let name = if s.recovery {
                format!("{}+recovery", s.kind.key())
            } else {
                s.kind.key().to_owned()
            };
            wanted
                .iter()
                .any(|w| *w == name || *w == format!("{name}-{}w", s.workers))
        });
    }
    if let Some(extra) = f.value("--extra-ours") {
        for item in extra.split(',') {
            let Some((label, path)) = item.split_once('=') else {
                eprintln!("--extra-ours wants label=path[,label=path]");
                return 2;
            };
            for &w in worker_counts.iter().rev() {
                servers.insert(
                    0,
                    Server::new(Kind::OursAt(label.to_owned(), PathBuf::from(path)), w),
                );
            }
        }
    }
    // Both the server and the load generator hold every connection; keep a margin for
    // everything else they open.
    let cap = (crate::system::open_files_limit() as usize).saturating_sub(1500);
    let mut scs = scenarios(quick, f.has("--full-size"), cap);
    match f.value("--scenarios") {
        Some(only) => {
            let wanted: Vec<&str> = only.split(',').collect();
            scs.retain(|s| wanted.contains(&s.name));
        }
        // The unstable network takes minutes: only when named.
        None => scs.retain(|s| !s.unstable),
    }

    // What the largest scenario needs of the machine.
    let most_clients = scs
        .iter()
        .filter_map(|sc| {
            let i = sc
                .args
                .iter()
                .position(|a| a == "--clients" || a == "--members")?;
            sc.args.get(i + 1)?.parse::<usize>().ok()
        })
        .max()
        .unwrap_or(0);
    let system_notes = if most_clients > 10_000 {
        let notes = crate::system::prepare(most_clients);
        for n in &notes {
            eprintln!("system: {n}");
        }
        notes
    } else {
        Vec::new()
    };

    let started = Instant::now();
    let load_before = loadavg();
    let mut results = Results::default();
    for sc in &scs {
        results.titles.insert(sc.name.into(), sc.title.clone());
    }
    for run in 0..runs {
        for sc in &scs {
            for s in servers.iter().filter(|s| sc.takes_part(s)) {
                run_one(&exe_dir, &log, sc, s, run, runs, &mut results);
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
    for (k, v) in versions(&bench_dir()) {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if most_clients > 10_000 {
        let _ = writeln!(md, "| kernel limits | {} |", crate::system::describe());
        for n in &system_notes {
            let _ = writeln!(md, "| system | {n} |");
        }
    }
    let _ = writeln!(
        md,
        "\nCells: median (min–max) over the runs. `Nw`: tokio worker threads, all on the one core.\n"
    );
    crate::report::tables(&mut md, &results, &scs, &servers);
    println!("{md}");
    if let Err(e) = std::fs::write(&out_file, &md) {
        eprintln!("cannot write {}: {e}", out_file.display());
    } else {
        eprintln!("table written to {}", out_file.display());
    }
    let _ = std::fs::write(
        out_dir.join("samples.json"),
        serde_json::to_string_pretty(&results.to_json()).unwrap_or_default(),
    );
    match crate::charts::write(&results, &scs, &servers, &charts_dir) {
        Ok(n) => eprintln!("{n} charts written to {}", charts_dir.display()),
        Err(e) => eprintln!("charts: {e}"),
    }
    let failed = results
        .notes
        .iter()
        .any(|(_, _, what)| what.starts_with("FAILED"));
    i32::from(failed)
}

/// One scenario on one server: a fresh server process, the load, the server killed.
fn run_one(
    exe_dir: &Path,
    log: &Path,
    sc: &Scenario,
    s: &Server,
    run: usize,
    runs: usize,
    results: &mut Results,
) {
    let port = free_port();
    let mut child = match start_server(s, port, exe_dir, log, sc.msgpack) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {}: {e}", s.label);
            results.notes.push((
                sc.name.into(),
                s.label.clone(),
                format!("FAILED to start: {e}"),
            ));
            return;
        }
    };
    let pid = child.id();
    let result = if wait_port(port, Duration::from_secs(20)) {
        std::thread::sleep(Duration::from_millis(100));
        run_load(
            exe_dir,
            sc,
            s,
            port,
            pid,
            Duration::from_secs(sc.limit_secs),
        )
    } else {
        Err("the server did not listen".into())
    };
    // A server that died under the load says so.
    let died = match child.try_wait() {
        Ok(Some(status)) => Some(format!("the server exited ({status})")),
        _ => None,
    };
    let _ = child.kill();
    let _ = child.wait();
    let tag = format!("run {}/{runs} {:<10} {:<22}", run + 1, sc.name, s.label);
    match result {
        Ok(v) => {
            eprintln!("{tag} {v}");
            for metric in &sc.metrics {
                if let Some(x) = v[metric.key].as_f64() {
                    results.add(sc.name, &s.label, metric.key, x);
                }
            }
            if let Some(why) = v["stopped"].as_str() {
                let mut why = format!("run {}: stopped: {why}", run + 1);
                if let Some(d) = &died {
                    let _ = write!(why, " ({d})");
                }
                results.notes.push((sc.name.into(), s.label.clone(), why));
            }
        }
        Err(e) => {
            let e = match &died {
                Some(d) => format!("{e} ({d})"),
                None => e,
            };
            eprintln!("{tag} FAILED: {e}");
            results.notes.push((
                sc.name.into(),
                s.label.clone(),
                format!("FAILED in run {}: {e}", run + 1),
            ));
        }
    }
    // Let the kernel reap the connections of a big scenario before the next server.
    let pause = if sc.limit_secs > 180 { 3000 } else { 300 };
    std::thread::sleep(Duration::from_millis(pause));
}
