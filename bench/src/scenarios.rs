//! The servers and scenarios of a run, and the metrics each scenario reports.

use std::path::PathBuf;

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Kind {
    Ours,
    /// Another build of our bench server (`--extra-ours label=path`), e.g. an older commit.
    OursAt(String, PathBuf),
    Socketioxide,
    Node,
    /// tokio-tungstenite echoing every message (the floor of echo and idle).
    WsEcho,
    /// tokio-tungstenite writing one prebuilt frame to every member (the floor of a
    /// broadcast).
    WsFloor,
}

impl Kind {
    /// The name `--servers` knows it by.
    pub fn key(&self) -> &str {
        match self {
            Kind::Ours => "ours",
            Kind::OursAt(label, _) => label.as_str(),
            Kind::Socketioxide => "socketioxide",
            Kind::Node => "node",
            Kind::WsEcho => "ws-echo",
            Kind::WsFloor => "ws-floor",
        }
    }

    /// A bare WebSocket server (no Engine.IO handshake).
    pub fn raw(&self) -> bool {
        matches!(self, Kind::WsEcho | Kind::WsFloor)
    }
}

#[derive(Clone, Debug)]
pub struct Server {
    pub kind: Kind,
    pub workers: usize,
    pub label: String,
    /// Connection state recovery on (`RECOVERY=1`); such servers run the `unstable`
    /// scenario only.
    pub recovery: bool,
}

impl Server {
    pub fn with_recovery(kind: Kind, workers: usize) -> Self {
        let mut s = Server::new(kind, workers);
        s.recovery = true;
        s.label.push_str(" +recovery");
        s
    }

    pub fn new(kind: Kind, workers: usize) -> Self {
        let name = match &kind {
            Kind::Ours => "tower-socketio",
            Kind::OursAt(label, _) => label.as_str(),
            Kind::Socketioxide => "socketioxide",
            Kind::Node => "node socket.io",
            Kind::WsEcho => "ws echo",
            Kind::WsFloor => "ws floor",
        };
        let label = match kind {
            Kind::Node => name.to_owned(),
            _ => format!("{name} {workers}w"),
        };
        Server {
            kind,
            workers,
            label,
            recovery: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Debug)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub better: Better,
}

#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub title: String,
    pub load: &'static str,
    pub args: Vec<String>,
    /// The bare WebSocket server that takes part, if any.
    pub raw: Option<Kind>,
    /// Only one worker thread per Rust server (the scale scenarios: a second run of each
    /// at 2 workers would double a long run and show nothing the small scenarios do not).
    pub one_worker: bool,
    /// How long the load generator may take.
    pub limit_secs: u64,
    /// Clients and servers speak the MessagePack parser (ours and socketioxide only).
    pub msgpack: bool,
    /// The unstable-network scenario: one worker thread, and the servers with connection
    /// state recovery (ours and Node's) beside ours and socketioxide without; run only
    /// when asked for by name.
    pub unstable: bool,
    pub metrics: Vec<Metric>,
}

impl Scenario {
    /// A scenario of all servers but the bare WebSocket ones, on any worker count, within
    /// 180 s, with the JSON parser (what differs is named where a scenario is made).
    fn new(
        name: &'static str,
        title: String,
        load: &'static str,
        args: Vec<String>,
        metrics: Vec<Metric>,
    ) -> Self {
        Scenario {
            name,
            title,
            load,
            args,
            raw: None,
            one_worker: false,
            limit_secs: 180,
            msgpack: false,
            unstable: false,
            metrics,
        }
    }

    pub fn takes_part(&self, s: &Server) -> bool {
        if self.unstable {
            return s.workers == 1
                && match s.kind {
                    Kind::Ours | Kind::OursAt(..) | Kind::Socketioxide => true,
                    Kind::Node => s.recovery,
                    Kind::WsEcho | Kind::WsFloor => false,
                };
        }
        if s.recovery || (self.msgpack && s.kind == Kind::Node) {
            return false;
        }
        if self.one_worker && s.workers > 1 && s.kind != Kind::Node {
            return false;
        }
        if s.kind.raw() {
            return self.raw.as_ref() == Some(&s.kind);
        }
        true
    }
}

fn m(key: &'static str, label: &'static str, better: Better) -> Metric {
    Metric { key, label, better }
}

/// What a broadcast scenario with one phase reports.
fn broadcast_metrics() -> Vec<Metric> {
    use Better::*;
    vec![
        m("deliveries_per_s", "deliveries/s", Higher),
        m("p50_ms", "p50 emit→receipt ms", Lower),
        m("p99_ms", "p99 emit→receipt ms", Lower),
        m(
            "cpu_us_per_delivery",
            "server CPU µs per delivery (= CPU-s per 1M)",
            Lower,
        ),
    ]
}

/// What the second phase of `bcast100k` (4 broadcasts on their way) reports.
fn pipelined_metrics() -> Vec<Metric> {
    use Better::*;
    vec![
        m(
            "w4_deliveries_per_s",
            "4 on their way: deliveries/s",
            Higher,
        ),
        m(
            "w4_last_p50_ms",
            "4 on their way: p50 emit→last receipt ms",
            Lower,
        ),
        m(
            "w4_last_p99_ms",
            "4 on their way: p99 emit→last receipt ms",
            Lower,
        ),
        m(
            "w4_cpu_us_per_delivery",
            "4 on their way: server CPU µs per delivery",
            Lower,
        ),
    ]
}

/// A count with a space between thousands, as the titles write it.
fn spaced(n: usize) -> String {
    if n >= 10_000 {
        format!("{} {:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

/// The size of a scale scenario: `want` clients, or fewer when one process may not
/// have that many connections open (`cap`, from the open-files limit); then the title
/// says so.
fn scale_size(want: usize, cap: usize) -> (String, String) {
    if want <= cap {
        (want.to_string(), spaced(want))
    } else {
        let n = cap / 1000 * 1000;
        (
            n.to_string(),
            format!(
                "{} (not {}: the open-files limit allows no more)",
                spaced(n),
                spaced(want)
            ),
        )
    }
}

/// Every scenario. `quick` shortens the timed ones and makes the scale scenarios small
/// (10 000 WebSocket and 2 000 polling clients) unless `full_size`. `cap` is the most
/// connections one process may hold (the open-files limit less a margin).
pub fn scenarios(quick: bool, full_size: bool, cap: usize) -> Vec<Scenario> {
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
    let small = quick && !full_size;
    let (big, big_text) = scale_size(if small { 10_000 } else { 100_000 }, cap);
    let (polls, polls_text) = scale_size(if small { 2_000 } else { 10_000 }, cap);
    let (big, polls) = (big.as_str(), polls.as_str());
    let (idle_s, b100k, poll_idle, poll_b) = if quick {
        ("5", "5", "3", "3")
    } else {
        ("25", "20", "10", "10")
    };
    use Better::*;
    let bcast = |name, title: String, extra: &[&str]| Scenario {
        raw: Some(Kind::WsFloor),
        ..Scenario::new(name, title, "broadcast", args(extra), broadcast_metrics())
    };
    let mut bcast100k_metrics = vec![m("held", "members connected", Higher)];
    bcast100k_metrics.extend([
        m("deliveries_per_s", "one at a time: deliveries/s", Higher),
        m(
            "last_p50_ms",
            "one at a time: p50 emit→last receipt ms",
            Lower,
        ),
        m(
            "last_p99_ms",
            "one at a time: p99 emit→last receipt ms",
            Lower,
        ),
        m(
            "cpu_us_per_delivery",
            "one at a time: server CPU µs per delivery",
            Lower,
        ),
    ]);
    bcast100k_metrics.extend(pipelined_metrics());
    vec![
        Scenario {
            raw: Some(Kind::WsEcho),
            ..Scenario::new(
                "conn",
                "connections/s (WebSocket handshake + namespace connect, 32 in parallel)".into(),
                "conn",
                timed(&["--clients", "32"]),
                vec![
                    m("conn_per_s", "connections/s", Higher),
                    m("cpu_us_per_conn", "server CPU µs per connection", Lower),
                ],
            )
        },
        Scenario {
            raw: Some(Kind::WsEcho),
            ..Scenario::new(
                "echo",
                "echo over WebSocket (100 clients, 4 messages in flight each)".into(),
                "echo",
                timed(&["--clients", "100", "--inflight", "4"]),
                vec![
                    m("msgs_per_s", "messages/s", Higher),
                    m("cpu_us_per_msg", "server CPU µs per message", Lower),
                ],
            )
        },
        Scenario::new(
            "ack",
            "echo as acknowledgements (100 clients, 4 in flight)".into(),
            "ack",
            timed(&["--clients", "100", "--inflight", "4"]),
            vec![
                m("msgs_per_s", "acks/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per ack", Lower),
            ],
        ),
        Scenario {
            msgpack: true,
            ..Scenario::new(
                "echo-mp",
                "echo over WebSocket with the MessagePack parser (100 clients, 4 in flight)".into(),
                "echo",
                timed(&["--clients", "100", "--inflight", "4"]),
                vec![
                    m("msgs_per_s", "messages/s", Higher),
                    m("cpu_us_per_msg", "server CPU µs per message", Lower),
                ],
            )
        },
        bcast(
            "bcast1k",
            format!("broadcast to a room of 1 000 ({b1k} broadcasts, one at a time)"),
            &["--members", "1000", "--broadcasts", b1k],
        ),
        bcast(
            "bcast1k-w4",
            format!("broadcast to a room of 1 000 ({b1k} broadcasts, 4 on their way at once)"),
            &["--members", "1000", "--broadcasts", b1k, "--window", "4"],
        ),
        Scenario {
            name: "bcast1k-mp",
            title: format!(
                "broadcast to a room of 1 000 with the MessagePack parser ({b1k} broadcasts, one at a time)"
            ),
            raw: None,
            msgpack: true,
            ..bcast(
                "bcast1k-mp",
                String::new(),
                &["--members", "1000", "--broadcasts", b1k],
            )
        },
        bcast(
            "bcast10k",
            format!("broadcast to a room of 10 000 ({b10k} broadcasts, one at a time)"),
            &["--members", "10000", "--broadcasts", b10k],
        ),
        Scenario {
            raw: Some(Kind::WsEcho),
            ..Scenario::new(
                "idle",
                "10 000 idle WebSocket clients".into(),
                "idle",
                args(&["--clients", "10000"]),
                vec![m(
                    "rss_kib_per_conn",
                    "server RSS KiB per connection",
                    Lower,
                )],
            )
        },
        Scenario {
            one_worker: true,
            limit_secs: 300,
            unstable: true,
            ..Scenario::new(
                "unstable",
                format!(
                    "unstable network (1 000 members of one room, each connection cut every 5-15 s; \
                     {rate} broadcasts/s for {secs} s)",
                    rate = 20,
                    secs = if quick { 20 } else { 60 }
                ),
                "unstable",
                args(&[
                    "--clients",
                    "1000",
                    "--rate",
                    "20",
                    "--duration",
                    if quick { "20" } else { "60" },
                ]),
                vec![
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
            )
        },
        Scenario::new(
            "polling",
            "echo over long-polling (100 clients, up to 4 in flight)".into(),
            "polling",
            timed(&["--clients", "100", "--inflight", "4"]),
            vec![
                m("msgs_per_s", "messages/s", Higher),
                m("cpu_us_per_msg", "server CPU µs per message", Lower),
            ],
        ),
        Scenario {
            raw: Some(Kind::WsFloor),
            one_worker: true,
            limit_secs: 900,
            ..Scenario::new(
                "idle100k",
                format!(
                    "{big_text} WebSocket clients: connection storm, then idle ({idle_s} s, answering pings)"
                ),
                "idle-storm",
                args(&[
                    "--clients",
                    big,
                    "--sources",
                    "16",
                    "--parallel",
                    "64",
                    "--idle",
                    idle_s,
                ]),
                vec![
                    m("held", "connections held", Higher),
                    m("held_end", "connections held after the idle time", Higher),
                    m("conn_per_s", "connections/s during the storm", Higher),
                    m("cpu_us_per_conn", "server CPU µs per connection", Lower),
                    m(
                        "rss_kib_per_conn",
                        "server RSS KiB per connection (2 s after the storm)",
                        Lower,
                    ),
                    m(
                        "rss_kib_per_conn_end",
                        "server RSS KiB per connection (after the idle time)",
                        Lower,
                    ),
                    m("idle_cpu_pct", "server CPU while idle, % of a core", Lower),
                ],
            )
        },
        Scenario {
            raw: Some(Kind::WsFloor),
            one_worker: true,
            limit_secs: 1200,
            ..Scenario::new(
                "bcast100k",
                format!(
                    "broadcast to a room of {big_text} ({b100k} broadcasts one at a time, then {b100k} with 4 on their way)"
                ),
                "broadcast",
                args(&[
                    "--members",
                    big,
                    "--broadcasts",
                    b100k,
                    "--window",
                    "1,4",
                    "--sources",
                    "16",
                    "--parallel",
                    "64",
                ]),
                bcast100k_metrics,
            )
        },
        Scenario {
            one_worker: true,
            limit_secs: 600,
            ..Scenario::new(
                "polling10k",
                format!(
                    "{polls_text} long-polling clients: idle ({poll_idle} s), then one broadcast a second ({poll_b})"
                ),
                "polling-bcast",
                args(&[
                    "--clients",
                    polls,
                    "--sources",
                    "4",
                    "--parallel",
                    "64",
                    "--idle",
                    poll_idle,
                    "--broadcasts",
                    poll_b,
                    "--interval",
                    "1",
                ]),
                vec![
                    m("held", "clients connected", Higher),
                    m("rss_kib_per_conn", "server RSS KiB per client", Lower),
                    m("idle_cpu_pct", "server CPU while idle, % of a core", Lower),
                    m("p50_ms", "p50 emit→receipt ms", Lower),
                    m("p99_ms", "p99 emit→receipt ms", Lower),
                    m("last_p99_ms", "p99 emit→last receipt ms", Lower),
                    m("cpu_us_per_delivery", "server CPU µs per delivery", Lower),
                ],
            )
        },
    ]
}
