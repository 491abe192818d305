//! `sio-bench`: tower-socketio side by side with socketioxide, Node's socket.io and a bare
//! tokio-tungstenite echo server.
//!
//! ```text
//! sio-bench run [--quick] [--runs N] [--servers a,b] [--scenarios a,b] [--out FILE]
//!               [--charts DIR] [--extra-ours label=path,...]
//! sio-bench cluster [--runs N] [--adapters local,pubsub,streams,sharded] [--members N] [--broadcasts N] [--window N]
//! sio-bench charts SAMPLES.json DIR             (the charts again, from a run's samples)
//! sio-bench cluster --scenario unstable [--runs N] [--members N] [--duration S] [--rate R] [--recovery on,off]
//! sio-bench serve socketioxide|ws-echo|ws-floor (PORT, WORKERS from the environment)
//! sio-bench load SCENARIO --port P --pid PID [--raw|--msgpack] [--clients N] [--inflight N]
//!                [--members N] [--broadcasts N] [--window N[,N]] [--duration S]
//!                [--warmup S] [--sources N] [--parallel N] [--idle S] [--interval S]
//!                [--rate R] [--trigger-port P] [--member-ports A,B] [--extra-pids P,Q]
//!                [--redis-pid P]
//! ```
//!
//! `bench/run.sh` builds everything and calls `run`; see `docs/benchmarks.md`.

mod bcast;
mod charts;
mod cluster;
mod load;
mod procstat;
mod report;
mod run;
mod scale;
mod scenarios;
mod servers;
mod system;
mod unstable;
mod wire;

use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: sio-bench run [--quick] [--runs N] [--servers a,b] [--scenarios a,b] [--out FILE] [--charts DIR]\n\
         \x20      sio-bench cluster [--runs N] [--adapters local,pubsub,streams,sharded] [--members N] [--broadcasts N] [--window N]\n\
         \x20      sio-bench charts SAMPLES.json DIR\n\
         \x20      sio-bench cluster --scenario unstable [--runs N] [--members N] [--duration S] [--rate R] [--recovery on,off]\n\
         \x20      sio-bench serve socketioxide|ws-echo|ws-floor   (PORT, WORKERS from the environment)\n\
         \x20      sio-bench load conn|echo|ack|broadcast|idle|polling|idle-storm|polling-bcast|unstable --port P --pid PID [options]"
    );
    std::process::exit(2)
}

/// `--name value` pairs after the positional arguments.
pub struct Flags(Vec<String>);

impl Flags {
    pub fn value(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    /// A comma-separated list of numbers (empty when absent).
    pub fn list<T: std::str::FromStr>(&self, name: &str) -> Vec<T> {
        self.value(name)
            .map(|v| {
                v.split(',')
                    .map(|x| {
                        x.parse().unwrap_or_else(|_| {
                            eprintln!("{name}: not a list of numbers: {v}");
                            usage()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {v}");
                usage()
            }),
            None => default,
        }
    }
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { usage() };
    match cmd.as_str() {
        "run" => std::process::exit(run::main(Flags(args[1..].to_vec()))),
        "charts" => {
            let (Some(samples), Some(dir)) = (args.get(1), args.get(2)) else {
                usage()
            };
            match charts::from_samples_file(samples.as_ref(), dir.as_ref()) {
                Ok(n) => eprintln!("{n} charts written to {dir}"),
                Err(e) => {
                    eprintln!("charts: {e}");
                    std::process::exit(1);
                }
            }
        }
        "cluster" => std::process::exit(cluster::main(Flags(args[1..].to_vec()))),
        "serve" => {
            let port = env_num("PORT", 3000) as u16;
            let workers = env_num("WORKERS", 1).max(1);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let r = match args.get(1).map(String::as_str) {
                Some("socketioxide") => rt.block_on(servers::socketioxide(port)),
                Some("ws-echo") => rt.block_on(servers::ws_echo(port)),
                Some("ws-floor") => rt.block_on(servers::ws_floor(port)),
                _ => usage(),
            };
            if let Err(e) = r {
                eprintln!("server failed: {e}");
                std::process::exit(1);
            }
        }
        "load" => {
            let Some(scenario) = args.get(1).cloned() else {
                usage()
            };
            let f = Flags(args[2..].to_vec());
            let secs = |name: &str, default: f64| Duration::from_secs_f64(f.num(name, default));
            let p = load::Params {
                port: f.num("--port", 3000),
                pid: f.num("--pid", 0),
                handshake: if f.has("--raw") {
                    wire::Handshake::Raw
                } else if f.has("--msgpack") {
                    wire::Handshake::MsgPack
                } else {
                    wire::Handshake::SocketIo
                },
                duration: secs("--duration", 3.0),
                warmup: secs("--warmup", 1.0),
                clients: f.num("--clients", 100),
                inflight: f.num("--inflight", 4),
                members: f.num("--members", 1000),
                broadcasts: f.num("--broadcasts", 200),
                windows: f
                    .value("--window")
                    .unwrap_or("1")
                    .split(',')
                    .map(|w| {
                        w.parse().unwrap_or_else(|_| {
                            eprintln!("--window: not a number: {w}");
                            usage()
                        })
                    })
                    .collect(),
                sources: f.num("--sources", 0),
                parallel: f.num("--parallel", 100),
                idle: secs("--idle", 25.0),
                interval: secs("--interval", 1.0),
                trigger_port: f.value("--trigger-port").and_then(|v| v.parse().ok()),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            let local = tokio::task::LocalSet::new();
            let result = local.block_on(&rt, async {
                match scenario.as_str() {
                    "conn" => load::conn_rate(&p).await,
                    "echo" => load::echo(&p, false).await,
                    "ack" => load::echo(&p, true).await,
                    "broadcast" => bcast::broadcast(&p).await,
                    "idle" => load::idle(&p).await,
                    "polling" => load::polling(&p).await,
                    "idle-storm" => scale::idle_storm(&p).await,
                    "polling-bcast" => scale::polling_bcast(&p).await,
                    "unstable" => {
                        unstable::unstable(
                            &p,
                            f.num("--rate", 20.0),
                            &f.list("--member-ports"),
                            &f.list("--extra-pids"),
                            f.value("--redis-pid").and_then(|v| v.parse().ok()),
                        )
                        .await
                    }
                    _ => usage(),
                }
            });
            match result {
                Ok(v) => println!("{v}"),
                Err(e) => {
                    eprintln!("load {scenario} failed: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => usage(),
    }
}
