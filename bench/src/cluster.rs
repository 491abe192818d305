//! `sio-bench cluster`: broadcasts that cross servers, through each Redis adapter.
//!
//! For each adapter, a fresh Redis (one `redis-server`; a three-master Redis Cluster for
//! `sharded`), two `bench_server`s joined by it (`ADAPTER`, `REDIS_URL`), members of room
//! `bench` on server B and the broadcast trigger on server A: every delivery crosses Redis.
//! `local` is the baseline: one server in memory, the trigger on it too.
//! The `broadcast` load then runs as in `sio-bench run` (up to 4 broadcasts on their way)
//! and the table gives deliveries/s and the emit→receipt latency (server B's CPU per
//! delivery too). `bench_server` must be built with the adapters' features:
//! `cargo build --release --example bench_server --features redis-streams,redis-cluster`.
//!
//! The two cores are shared by Redis, both servers and the load generator: the figures
//! compare the adapters with each other on this machine, not with `sio-bench run`'s.
//!
//! `--scenario unstable`: the unstable network of `sio-bench run` (see `unstable.rs`) on
//! two servers joined by the Streams adapter, one fresh `redis-server` per run: the
//! publisher on server A, the members spread over A and B, each reconnection to either
//! at random, so that about half the recoveries cross servers. Once with connection
//! state recovery (`RECOVERY=1`) and once without (`--recovery on,off`), interleaved.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Flags;
use crate::report::{fmt_num, loadavg, median_min_max};
use crate::run::{free_port, wait_port};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port at most 55535 (a Redis Cluster node's limit).
fn low_port() -> u16 {
    loop {
        let p = free_port();
        if p <= 55_535 {
            return p;
        }
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn redis_server(port: u16, extra: &[String], dir: &Path) -> std::io::Result<Proc> {
    Command::new("taskset")
        .args(["-c", "0"])
        .arg("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Proc)
}

/// The Redis of one adapter: its processes and the URL the servers get.
fn start_redis(adapter: &str, dir: &Path) -> Result<(Vec<Proc>, String), String> {
    if adapter == "local" {
        return Ok((Vec::new(), String::new()));
    }
    if adapter != "sharded" {
        let port = low_port();
        let p = redis_server(port, &[], dir).map_err(|e| format!("redis-server: {e}"))?;
        if !wait_port(port, Duration::from_secs(10)) {
            return Err("redis-server did not start".into());
        }
        return Ok((vec![p], format!("redis://127.0.0.1:{port}/")));
    }
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for i in 0..3 {
        let (port, bus) = (low_port(), low_port());
        let d = dir.join(format!("node{i}"));
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        let extra: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus.to_string(),
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        procs.push(redis_server(port, &extra, &d).map_err(|e| format!("redis-server: {e}"))?);
        ports.push(port);
    }
    for p in &ports {
        if !wait_port(*p, Duration::from_secs(10)) {
            return Err("a cluster node did not start".into());
        }
    }
    let mut create = Command::new("redis-cli");
    create.args(["--cluster", "create"]);
    for p in &ports {
        create.arg(format!("127.0.0.1:{p}"));
    }
    let out = create
        .arg("--cluster-yes")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("redis-cli --cluster create: {e}"))?;
    if !String::from_utf8_lossy(&out.stdout).contains("All 16384 slots covered") {
        return Err("redis-cli --cluster create failed".into());
    }
    let end = Instant::now() + Duration::from_secs(20);
    while !ports
        .iter()
        .all(|p| redis_cli(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    {
        if Instant::now() > end {
            return Err("the cluster did not become ok".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((procs, format!("redis://127.0.0.1:{}/", ports[0])))
}

fn bench_server(
    exe: &Path,
    adapter: &str,
    url: &str,
    port: u16,
    cpu: &str,
) -> std::io::Result<Proc> {
    bench_server_with(exe, adapter, url, port, cpu, false)
}

fn bench_server_with(
    exe: &Path,
    adapter: &str,
    url: &str,
    port: u16,
    cpu: &str,
    recovery: bool,
) -> std::io::Result<Proc> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", cpu]).arg(exe);
    if adapter != "local" {
        cmd.env("ADAPTER", adapter).env("REDIS_URL", url);
    }
    cmd.env("RECOVERY", if recovery { "1" } else { "0" })
        .env("PORT", port.to_string())
        .env("WORKERS", "1")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Proc)
}

/// One measurement: members on `b`, trigger on `a`.
fn load(
    exe_dir: &Path,
    a: u16,
    b: u16,
    pid: u32,
    (members, broadcasts, window): (usize, usize, usize),
) -> Result<Value, String> {
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(exe_dir.join("sio-bench"))
        .args(["load", "broadcast"])
        .args(["--port", &b.to_string(), "--trigger-port", &a.to_string()])
        .args(["--pid", &pid.to_string()])
        .args(["--members", &members.to_string()])
        .args(["--broadcasts", &broadcasts.to_string()])
        .args(["--window", &window.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("load generator: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("load output: {e}"))
}

pub fn main(f: Flags) -> i32 {
    match f.value("--scenario").unwrap_or("broadcast") {
        "broadcast" => {}
        "unstable" => return unstable(&f),
        other => {
            eprintln!("--scenario {other}: broadcast or unstable");
            return 2;
        }
    }
    let runs: usize = f.num("--runs", 3);
    let members: usize = f.num("--members", 1000);
    let broadcasts: usize = f.num("--broadcasts", 200);
    let window: usize = f.num("--window", 4);
    let adapters: Vec<String> = f
        .value("--adapters")
        .unwrap_or("local,pubsub,streams,sharded")
        .split(',')
        .map(str::to_owned)
        .collect();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let server = exe_dir.join("examples").join("bench_server");
    let scratch = std::env::temp_dir().join(format!("sio-bench-cluster-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let load_before = loadavg();
    let started = Instant::now();
    // Runs interleaved (A B C A B C ...): the machine's load drifts less between adapters.
    let mut samples: Vec<Vec<[f64; 4]>> = vec![Vec::new(); adapters.len()];
    for run in 0..runs {
        for (ai, adapter) in adapters.iter().enumerate() {
            let dir = scratch.join(format!("{adapter}-{run}"));
            let _ = std::fs::create_dir_all(&dir);
            let (redis, url) = match start_redis(adapter, &dir) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{adapter}: {e}");
                    return 1;
                }
            };
            // `local`: one server in memory, the trigger on it too (the baseline).
            let pb = free_port();
            let pa = if adapter == "local" { pb } else { free_port() };
            let b = bench_server(&server, adapter, &url, pb, "0");
            let a = if pa == pb {
                None
            } else {
                Some(bench_server(&server, adapter, &url, pa, "0"))
            };
            let (a, b) = match (a.transpose(), b) {
                (Ok(a), Ok(b)) => (a, b),
                _ => {
                    eprintln!("{adapter}: cannot start {}", server.display());
                    return 1;
                }
            };
            if !wait_port(pa, Duration::from_secs(20)) || !wait_port(pb, Duration::from_secs(20)) {
                eprintln!("{adapter}: the servers did not listen");
                return 1;
            }
            // Let the adapters subscribe and the stream readers start.
            std::thread::sleep(Duration::from_millis(500));
            match load(&exe_dir, pa, pb, b.0.id(), (members, broadcasts, window)) {
                Ok(v) => {
                    let get = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                    samples[ai].push([
                        get("deliveries_per_s"),
                        get("p50_ms"),
                        get("p99_ms"),
                        get("cpu_us_per_delivery"),
                    ]);
                    eprintln!("{adapter} run {}: {v}", run + 1);
                }
                Err(e) => {
                    eprintln!("{adapter} run {}: {e}", run + 1);
                    return 1;
                }
            }
            drop((a, b, redis));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let mut rows = Vec::new();
    for (ai, adapter) in adapters.iter().enumerate() {
        let samples = &samples[ai];
        let col = |i: usize| {
            let v: Vec<f64> = samples.iter().map(|s| s[i]).collect();
            let (m, lo, hi) = median_min_max(&v);
            format!("{} ({}–{})", fmt_num(m), fmt_num(lo), fmt_num(hi))
        };
        rows.push(format!(
            "| {adapter} | {} | {} | {} | {} |",
            col(0),
            col(1),
            col(2),
            col(3)
        ));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "### broadcasts across two servers: {members} members on server B, trigger on server A, {broadcasts} broadcasts, {window} on their way (median of {runs}, min–max)\n"
    );
    println!(
        "| adapter | deliveries/s | p50 emit→receipt ms | p99 emit→receipt ms | server B CPU µs per delivery |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nload average before: {load_before}; after: {}; took {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    0
}

/// The unstable network's rows: (key of the load's output, label).
const UNSTABLE_ROWS: &[(&str, &str)] = &[
    ("delivered_pct", "messages delivered, % (mean of members)"),
    ("worst_member_pct", "messages delivered, % (worst member)"),
    ("duplicates", "duplicates (all members)"),
    ("p50_ms", "p50 publish→receipt ms"),
    ("p99_ms", "p99 publish→receipt ms"),
    ("recovered", "reconnections recovered"),
    ("not_recovered", "reconnections not recovered"),
    ("moved", "reconnections to the other server"),
    ("moved_recovered", "of which recovered"),
    ("errors", "failed connections"),
    ("cpu_s", "CPU s of both servers"),
    ("redis_cpu_s", "CPU s of redis-server"),
];

/// `--scenario unstable`: see the module's documentation.
fn unstable(f: &Flags) -> i32 {
    let runs: usize = f.num("--runs", 3);
    let members: usize = f.num("--members", 1000);
    let duration: f64 = f.num("--duration", 60.0);
    let rate: f64 = f.num("--rate", 20.0);
    let variants: Vec<bool> = f
        .value("--recovery")
        .unwrap_or("on,off")
        .split(',')
        .map(|v| v == "on")
        .collect();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let server = exe_dir.join("examples").join("bench_server");
    let scratch = std::env::temp_dir().join(format!("sio-bench-unstable-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let load_before = loadavg();
    let started = Instant::now();
    let mut samples: Vec<Vec<Value>> = vec![Vec::new(); variants.len()];
    for run in 0..runs {
        for (vi, &recovery) in variants.iter().enumerate() {
            let name = if recovery { "recovery" } else { "no recovery" };
            let dir = scratch.join(format!("{vi}-{run}"));
            let _ = std::fs::create_dir_all(&dir);
            let (redis, url) = match start_redis("streams", &dir) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("streams: {e}");
                    return 1;
                }
            };
            let (pa, pb) = (free_port(), free_port());
            let servers = (
                bench_server_with(&server, "streams", &url, pa, "0", recovery),
                bench_server_with(&server, "streams", &url, pb, "0", recovery),
            );
            let (a, b) = match servers {
                (Ok(a), Ok(b)) => (a, b),
                _ => {
                    eprintln!("cannot start {}", server.display());
                    return 1;
                }
            };
            if !wait_port(pa, Duration::from_secs(20)) || !wait_port(pb, Duration::from_secs(20)) {
                eprintln!("the servers did not listen");
                return 1;
            }
            std::thread::sleep(Duration::from_millis(500));
            let out = Command::new("taskset")
                .args(["-c", "1"])
                .arg(exe_dir.join("sio-bench"))
                .args(["load", "unstable"])
                .args(["--port", &pa.to_string(), "--pid", &a.0.id().to_string()])
                .args(["--member-ports", &format!("{pa},{pb}")])
                .args(["--extra-pids", &b.0.id().to_string()])
                .args(["--redis-pid", &redis[0].0.id().to_string()])
                .args(["--clients", &members.to_string()])
                .args(["--duration", &duration.to_string()])
                .args(["--rate", &rate.to_string()])
                .stdin(Stdio::null())
                .output();
            let v = match out {
                Ok(o) if o.status.success() => serde_json::from_slice::<Value>(&o.stdout)
                    .map_err(|e| format!("load output: {e}")),
                Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
                Err(e) => Err(format!("load generator: {e}")),
            };
            match v {
                Ok(v) => {
                    eprintln!("{name} run {}: {v}", run + 1);
                    samples[vi].push(v);
                }
                Err(e) => {
                    eprintln!("{name} run {}: {e}", run + 1);
                    return 1;
                }
            }
            drop((a, b, redis));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "### unstable network on two servers (Streams adapter): {members} members spread over both, \
         each reconnection to either at random, publisher on server A, {rate} broadcasts/s for {duration} s \
         (median of {runs}, min–max)\n"
    );
    let heads: Vec<&str> = variants
        .iter()
        .map(|r| {
            if *r {
                "Streams adapter, recovery"
            } else {
                "Streams adapter, no recovery"
            }
        })
        .collect();
    println!("| metric | {} |", heads.join(" | "));
    println!("| --- |{}", " --- |".repeat(heads.len()));
    for (key, label) in UNSTABLE_ROWS {
        let cells: Vec<String> = samples
            .iter()
            .map(|s| {
                let v: Vec<f64> = s.iter().map(|v| v[*key].as_f64().unwrap_or(0.0)).collect();
                let (m, lo, hi) = median_min_max(&v);
                format!("{} ({}–{})", fmt_num(m), fmt_num(lo), fmt_num(hi))
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!(
        "\nload average before: {load_before}; after: {}; took {:.0} s",
        loadavg(),
        started.elapsed().as_secs_f64()
    );
    0
}
