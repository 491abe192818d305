//! The results of a run: samples per scenario, server and metric; the markdown tables
//! (medians with min–max, our ratio to each peer) and what the run met.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

use crate::scenarios::{Better, Kind, Scenario, Server};

/// Samples of one run, keyed by (scenario, server label, metric key).
#[derive(Default)]
pub struct Results {
    pub samples: BTreeMap<(String, String, String), Vec<f64>>,
    /// (scenario, server label, what happened): where a server stopped or a run failed.
    pub notes: Vec<(String, String, String)>,
    /// The title of each scenario as it ran (its size may depend on the machine).
    pub titles: BTreeMap<String, String>,
}

impl Results {
    pub fn add(&mut self, sc: &str, label: &str, key: &str, x: f64) {
        self.samples
            .entry((sc.into(), label.into(), key.into()))
            .or_default()
            .push(x);
    }

    pub fn get(&self, sc: &str, label: &str, key: &str) -> Option<&[f64]> {
        self.samples
            .get(&(sc.into(), label.into(), key.into()))
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    pub fn median(&self, sc: &str, label: &str, key: &str) -> Option<f64> {
        self.get(sc, label, key).map(|v| median_min_max(v).0)
    }

    /// The flat form written to `samples.json`: `"scenario/server/metric": [..]`, and
    /// `"notes"`.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for ((a, b, c), v) in &self.samples {
            map.insert(format!("{a}/{b}/{c}"), serde_json::json!(v));
        }
        let notes: Vec<Value> = self
            .notes
            .iter()
            .map(|(a, b, c)| serde_json::json!([a, b, c]))
            .collect();
        map.insert("notes".into(), Value::Array(notes));
        map.insert("titles".into(), serde_json::json!(self.titles));
        Value::Object(map)
    }

    pub fn from_json(v: &Value) -> Results {
        let mut r = Results::default();
        let Some(map) = v.as_object() else { return r };
        for (k, v) in map {
            if k == "titles" {
                for (name, t) in v.as_object().into_iter().flatten() {
                    r.titles
                        .insert(name.clone(), t.as_str().unwrap_or("").to_owned());
                }
                continue;
            }
            if k == "notes" {
                for n in v.as_array().into_iter().flatten() {
                    let f = |i: usize| n[i].as_str().unwrap_or("").to_owned();
                    r.notes.push((f(0), f(1), f(2)));
                }
                continue;
            }
            let mut parts = k.splitn(3, '/');
            let (Some(a), Some(b), Some(c)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            for x in v.as_array().into_iter().flatten().filter_map(Value::as_f64) {
                r.add(a, b, c, x);
            }
        }
        r
    }

    /// The server labels that have samples in scenario `sc`, in first-seen order of
    /// `order` (then any others).
    pub fn labels(&self, sc: &str, order: &[String]) -> Vec<String> {
        let mut present: Vec<String> = Vec::new();
        for (a, b, _) in self.samples.keys() {
            if a == sc && !present.contains(b) {
                present.push(b.clone());
            }
        }
        for (a, b, _) in &self.notes {
            if a == sc && !present.contains(b) {
                present.push(b.clone());
            }
        }
        let mut out: Vec<String> = order
            .iter()
            .filter(|l| present.contains(l))
            .cloned()
            .collect();
        present.sort();
        out.extend(present.into_iter().filter(|l| !order.contains(l)));
        out
    }
}

pub fn median_min_max(v: &[f64]) -> (f64, f64, f64) {
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

pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 100_000.0 {
        let s = format!("{:.0}", x);
        // Thousands separated by a space.
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

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The machine and the versions of every server, for the report.
pub fn versions(bench_dir: &std::path::Path) -> Vec<(String, String)> {
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
            bench_dir
                .join("node/node_modules")
                .join(name)
                .join("package.json"),
        )
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
    };
    let lock = std::fs::read_to_string(bench_dir.join("../Cargo.lock")).unwrap_or_default();
    let lock_version = |name: &str| {
        let key = format!("name = \"{name}\"\nversion = \"");
        lock.find(&key)
            .map(|i| {
                let rest = &lock[i + key.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_owned()
            })
            .unwrap_or_else(|| "?".into())
    };
    let dir = bench_dir.to_string_lossy();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| format!(", {:.0} GiB", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_default();
    vec![
        (
            "machine".into(),
            format!("{cpu}, {cores} cores{memory}, {}", sh("uname", &["-sr"])),
        ),
        ("rustc".into(), sh("rustc", &["-V"])),
        ("node".into(), sh("node", &["-v"])),
        (
            "tower-socketio".into(),
            format!(
                "{} (this tree, {})",
                lock_version("tower-socketio"),
                sh("git", &["-C", &dir, "rev-parse", "--short", "HEAD"])
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

/// One table per scenario (median (min–max) per server and metric), then our ratio to
/// each peer at the same worker count.
pub fn tables(md: &mut String, r: &Results, scs: &[Scenario], servers: &[Server]) {
    let order: Vec<String> = servers.iter().map(|s| s.label.clone()).collect();
    for sc in scs {
        let present = r.labels(sc.name, &order);
        if present.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {}\n", sc.title);
        let _ = write!(md, "| metric |");
        for s in &present {
            let _ = write!(md, " {s} |");
        }
        let _ = write!(md, "\n| --- |");
        for _ in &present {
            let _ = write!(md, " --- |");
        }
        md.push('\n');
        for metric in &sc.metrics {
            let _ = write!(md, "| {} |", metric.label);
            for s in &present {
                match r.get(sc.name, s, metric.key) {
                    Some(v) => {
                        let (med, lo, hi) = median_min_max(v);
                        if v.len() > 1 && lo != hi {
                            let _ =
                                write!(md, " {} ({}–{}) |", fmt_num(med), fmt_num(lo), fmt_num(hi));
                        } else {
                            let _ = write!(md, " {} |", fmt_num(med));
                        }
                    }
                    None => md.push_str(" — |"),
                }
            }
            md.push('\n');
        }
        let notes: Vec<_> = r.notes.iter().filter(|(a, _, _)| a == sc.name).collect();
        if !notes.is_empty() {
            md.push('\n');
            for (_, label, what) in notes {
                let _ = writeln!(md, "- {label}: {what}");
            }
        }
        md.push('\n');
    }

    let pairs = ratio_pairs(servers);
    // Not for the unstable network: its servers differ in what they do (recovery on or
    // off), so it has no such rows.
    if pairs.is_empty() || scs.iter().all(|sc| sc.unstable) {
        return;
    }
    let _ = writeln!(
        md,
        "### Our advantage over each peer (×; above 1 = tower-socketio is better: throughput ours ÷ peer, costs peer ÷ ours)\n"
    );
    let _ = write!(md, "| scenario | metric |");
    for (o, p) in &pairs {
        let _ = write!(md, " {o} vs {p} |");
    }
    let _ = write!(md, "\n| --- | --- |");
    for _ in &pairs {
        let _ = write!(md, " --- |");
    }
    md.push('\n');
    for sc in scs.iter().filter(|sc| !sc.unstable) {
        for metric in &sc.metrics {
            if metric.key.starts_with("held") {
                continue;
            }
            let cells: Vec<Option<f64>> = pairs
                .iter()
                .map(|(o, p)| ratio(r, sc.name, metric.key, metric.better, o, p))
                .collect();
            if cells.iter().all(Option::is_none) {
                continue;
            }
            let _ = write!(md, "| {} | {} |", sc.name, metric.label);
            for c in cells {
                match c {
                    Some(x) => {
                        let _ = write!(md, " ×{x:.2} |");
                    }
                    None => md.push_str(" — |"),
                }
            }
            md.push('\n');
        }
    }
}

/// Ours against each peer at the same worker count (Node against the 1-worker build).
pub fn ratio_pairs(servers: &[Server]) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for ours in servers
        .iter()
        .filter(|s| s.kind == Kind::Ours && !s.recovery)
    {
        for s in servers {
            if s.recovery || matches!(s.kind, Kind::Ours | Kind::OursAt(..)) {
                continue;
            }
            let same = if s.kind == Kind::Node {
                ours.workers == 1
            } else {
                s.workers == ours.workers
            };
            if same {
                pairs.push((ours.label.clone(), s.label.clone()));
            }
        }
    }
    pairs
}

/// Above 1: ours is better (throughput ours ÷ peer, costs peer ÷ ours).
pub fn ratio(
    r: &Results,
    sc: &str,
    key: &str,
    better: Better,
    ours: &str,
    peer: &str,
) -> Option<f64> {
    let a = r.median(sc, ours, key)?;
    let b = r.median(sc, peer, key)?;
    if a <= 0.0 || b <= 0.0 {
        return None;
    }
    Some(match better {
        Better::Higher => a / b,
        Better::Lower => b / a,
    })
}
