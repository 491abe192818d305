//! The "unstable network" scenario: members of one room whose TCP connections are cut at
//! random, a publisher broadcasting numbered messages at a steady rate, and how much of it
//! each member got.
//!
//! Each member is a socket.io-client 4.8 as far as the server can tell (over WebSocket
//! only), and follows its connection state recovery protocol exactly:
//! - on the Engine.IO open packet it sends `40` with `{"pid","offset"}` once it has a pid
//!   (the offset only once it has one; bare `40` before it ever got a pid);
//! - events that arrive before the CONNECT reply wait in a buffer; the reply's `pid` equal
//!   to the one sent means recovered; the pid is kept from the reply; the buffered events
//!   are delivered, in order;
//! - after each delivered event whose last argument is a string, that string is the last
//!   offset (the published data is an object, so only an offset is ever a trailing
//!   string);
//! - after a non-recovered connection it joins the room again (`join` with an
//!   acknowledgement, asked again every 500 ms until answered), as an application must;
//! - after a cut it reconnects after socket.io-client's default delay: `reconnectionDelay`
//!   1000 ms, `randomizationFactor` 0.5, doubling per failed attempt up to 5000 ms.
//!
//! Every connection is cut (reset) at a random time 5-15 s after it was made. The
//! publisher (never cut) sends `room-broadcast` with `{"seq": n, "t": µs}` every
//! `1/rate` s; cuts stop when it stops, and members get a few seconds to come back and
//! drain. Reported: the share of the published messages each member received (mean and
//! worst member), the duplicates, and p50/p99 from publish to receipt.
//!
//! Across servers (`--member-ports A,B`, from `sio-bench cluster --scenario unstable`):
//! the publisher stays on `--port`, member `i` first connects to the `i % n`-th of the
//! member ports and each reconnection goes to one of them at random, so about half the
//! recoveries move from one server to another (counted as `moved` and `moved_recovered`).

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::load::Params;
use crate::procstat::cpu_ns;
use crate::wire::{self, Conn, text_frame};

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// A small xorshift generator (no dependency; the quality needed is low).
struct Rng(Cell<u64>);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(Cell::new(seed | 1))
    }
    /// Uniform in [0, 1).
    fn next(&self) -> f64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// socket.io-client's reconnection delay (its `Backoff` with the Manager's defaults:
/// min 1000 ms, max 5000 ms, factor 2, jitter 0.5) for attempt `attempts` (0 first).
fn backoff(attempts: u32, rng: &Rng) -> Duration {
    let mut ms = 1000.0 * 2f64.powi(attempts.min(16) as i32);
    let rand = rng.next();
    let deviation = (rand * 0.5 * ms).floor();
    ms = if ((rand * 10.0).floor() as u64) & 1 == 0 {
        ms - deviation
    } else {
        ms + deviation
    };
    Duration::from_millis(ms.min(5000.0) as u64)
}

/// What the whole run keeps.
struct Shared {
    start: Instant,
    /// The publisher has stopped: no more cuts.
    stop_cuts: Cell<bool>,
    /// Members stop reading.
    stop: Cell<bool>,
    published: Cell<u64>,
    latencies_us: RefCell<Vec<u32>>,
    cuts: Cell<u64>,
    recovered: Cell<u64>,
    not_recovered: Cell<u64>,
    /// Reconnections to another server than the previous connection's.
    moved: Cell<u64>,
    /// Those of them that were recovered.
    moved_recovered: Cell<u64>,
    joined: Cell<usize>,
    /// Connections that failed (refused, or closed by the server) rather than being cut.
    errors: Cell<u64>,
}

/// One member's view.
struct Member {
    /// Which sequence numbers arrived.
    got: Vec<bool>,
    duplicates: u64,
    pid: Option<String>,
    last_offset: Option<String>,
}

const MAX_SEQ: usize = 1 << 20;

impl Member {
    /// Delivers an event to the "application": counts it, then takes a trailing string
    /// argument as the last offset (the client's rule, after the listeners ran).
    fn deliver(&mut self, shared: &Shared, args: &[&RawValue]) {
        if let Some(seq_t) = room_msg(args) {
            self.count(shared, seq_t);
        }
        if self.pid.is_some()
            && let Some(Ok(s)) = args.last().map(|a| serde_json::from_str::<String>(a.get()))
        {
            self.last_offset = Some(s);
        }
    }

    fn count(&mut self, shared: &Shared, (seq, t): (u64, u64)) {
        let Some(got) = self.got.get_mut(seq as usize) else {
            return;
        };
        if *got {
            self.duplicates += 1;
            return;
        }
        *got = true;
        let now = shared.start.elapsed().as_micros() as u64;
        shared
            .latencies_us
            .borrow_mut()
            .push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
    }
}

/// The `(seq, t)` of a `room-msg` event.
fn room_msg(args: &[&RawValue]) -> Option<(u64, u64)> {
    if args.first()?.get() != "\"room-msg\"" {
        return None;
    }
    let v: Value = serde_json::from_str(args.get(1)?.get()).ok()?;
    Some((v["seq"].as_u64()?, v["t"].as_u64()?))
}

/// The CONNECT payload the client sends: `{"pid","offset"}` once it has a pid.
fn connect_frame(m: &Member) -> Vec<u8> {
    match &m.pid {
        None => text_frame(b"40"),
        Some(pid) => {
            let mut auth = serde_json::Map::new();
            auth.insert("pid".into(), Value::String(pid.clone()));
            if let Some(o) = &m.last_offset {
                auth.insert("offset".into(), Value::String(o.clone()));
            }
            text_frame(format!("40{}", Value::Object(auth)).as_bytes())
        }
    }
}

/// Opens the WebSocket and reads the Engine.IO open packet.
async fn open(port: u16, upgrade: &[u8]) -> io::Result<Conn> {
    let mut c = wire::connect(port, wire::Handshake::Raw, upgrade).await?;
    let open = tokio::time::timeout(wire::STEP_TIMEOUT, c.read_message(true))
        .await
        .map_err(|_| err("no open packet"))??;
    if open.first() != Some(&b'0') {
        return Err(err("no Engine.IO open packet"));
    }
    Ok(c)
}

enum Frame {
    Ping,
    Event(Vec<u8>),
    Connect(Option<String>),
    Ack,
    Other,
}

fn classify(data: &[u8]) -> Frame {
    if data == b"2" {
        return Frame::Ping;
    }
    if let Some(rest) = data.strip_prefix(b"42") {
        return Frame::Event(rest.to_vec());
    }
    if data.starts_with(b"431") {
        return Frame::Ack;
    }
    if let Some(rest) = data.strip_prefix(b"40") {
        let pid = serde_json::from_slice::<Value>(rest)
            .ok()
            .and_then(|v| v["pid"].as_str().map(str::to_owned));
        return Frame::Connect(pid);
    }
    Frame::Other
}

/// The servers' ports, for members.
struct Ports(Vec<u16>);

impl Ports {
    /// The first connection's server: members spread evenly.
    fn first(&self, member: usize) -> usize {
        member % self.0.len()
    }
    /// A reconnection's: any of them, at random (one server: no draw, so that the
    /// members' cut times are those of the one-server scenario as before).
    fn any(&self, rng: &Rng) -> usize {
        if self.0.len() == 1 {
            return 0;
        }
        ((rng.next() * self.0.len() as f64) as usize).min(self.0.len() - 1)
    }
}

async fn member(ports: Rc<Ports>, index: usize, shared: Rc<Shared>, seed: u64) -> Member {
    let rng = Rng::new(seed);
    let upgrades: Vec<Vec<u8>> = ports
        .0
        .iter()
        .map(|p| wire::upgrade_request(*p, "/socket.io/?EIO=4&transport=websocket"))
        .collect();
    let mut server = ports.first(index);
    // The server of the last connection that got its CONNECT reply.
    let mut last_server = server;
    let join = text_frame(b"421[\"join\",\"bench\"]");
    let pong = text_frame(b"3");
    let mut m = Member {
        got: vec![false; MAX_SEQ],
        duplicates: 0,
        pid: None,
        last_offset: None,
    };
    let mut attempts = 0u32;
    let mut first = true;
    while !shared.stop.get() {
        if !first {
            server = ports.any(&rng);
        }
        let mut c = match open(ports.0[server], &upgrades[server]).await {
            Ok(c) => c,
            Err(_) => {
                shared.errors.set(shared.errors.get() + 1);
                tokio::time::sleep(backoff(attempts, &rng)).await;
                attempts += 1;
                continue;
            }
        };
        let r: io::Result<()> = async {
            c.stream.write_all(&connect_frame(&m)).await?;
            // Until the CONNECT reply: events are buffered.
            let mut buffered: Vec<Vec<u8>> = Vec::new();
            let recovered = 'reply: loop {
                if !c.fill().await? {
                    return Err(err("closed before the CONNECT reply"));
                }
                let mut ping = false;
                while let Some(f) = c.next_frame()? {
                    if f.opcode == 0x8 {
                        return Err(err("closed before the CONNECT reply"));
                    }
                    match classify(c.payload(f)) {
                        Frame::Ping => ping = true,
                        Frame::Event(e) => buffered.push(e),
                        Frame::Connect(pid) => {
                            let recovered = pid.is_some() && pid == m.pid;
                            m.pid = pid;
                            if ping {
                                c.stream.write_all(&pong).await?;
                            }
                            break 'reply recovered;
                        }
                        _ => {}
                    }
                }
                if ping {
                    c.stream.write_all(&pong).await?;
                }
            };
            for e in buffered {
                if let Ok(args) = serde_json::from_slice::<Vec<&RawValue>>(&e) {
                    m.deliver(&shared, &args);
                }
            }
            attempts = 0;
            if !first {
                if recovered {
                    shared.recovered.set(shared.recovered.get() + 1);
                } else {
                    shared.not_recovered.set(shared.not_recovered.get() + 1);
                }
                if server != last_server {
                    shared.moved.set(shared.moved.get() + 1);
                    if recovered {
                        shared.moved_recovered.set(shared.moved_recovered.get() + 1);
                    }
                }
            }
            last_server = server;
            let mut in_room = recovered;
            if !recovered {
                c.stream.write_all(&join).await?;
            }
            let lifetime = Duration::from_secs_f64(5.0 + 10.0 * rng.next());
            let cut_at = tokio::time::Instant::now() + lifetime;
            let mut rejoin = tokio::time::Instant::now() + Duration::from_millis(500);
            loop {
                let deadline = if in_room { cut_at } else { cut_at.min(rejoin) };
                let filled = tokio::select! {
                    r = c.fill() => Some(r?),
                    _ = tokio::time::sleep_until(deadline) => None,
                };
                if shared.stop.get() {
                    return Ok(());
                }
                match filled {
                    Some(false) => return Err(err("the server closed a member's connection")),
                    None if !in_room && tokio::time::Instant::now() >= rejoin => {
                        c.stream.write_all(&join).await?;
                        rejoin = tokio::time::Instant::now() + Duration::from_millis(500);
                        continue;
                    }
                    None => {
                        if shared.stop_cuts.get() {
                            // Keep reading until the end of the run.
                            continue_without_cuts(&mut c, &mut m, &shared, &pong).await?;
                            return Ok(());
                        }
                        // The cut: a reset, as a dropped network.
                        let _ = c.stream.set_zero_linger();
                        shared.cuts.set(shared.cuts.get() + 1);
                        return Ok(());
                    }
                    Some(true) => {}
                }
                let mut ping = false;
                while let Some(f) = c.next_frame()? {
                    if f.opcode == 0x8 {
                        return Err(err("the server closed a member's WebSocket"));
                    }
                    match classify(c.payload(f)) {
                        Frame::Ping => ping = true,
                        Frame::Event(e) => {
                            if let Ok(args) = serde_json::from_slice::<Vec<&RawValue>>(&e) {
                                m.deliver(&shared, &args);
                            }
                        }
                        Frame::Ack if !in_room => {
                            in_room = true;
                            if first {
                                shared.joined.set(shared.joined.get() + 1);
                            }
                        }
                        _ => {}
                    }
                }
                if ping {
                    c.stream.write_all(&pong).await?;
                }
            }
        }
        .await;
        first = false;
        drop(c);
        if r.is_err() && !shared.stop.get() {
            shared.errors.set(shared.errors.get() + 1);
        }
        if shared.stop.get() {
            break;
        }
        // Cut, or the connection failed: the Manager waits, then reconnects. The attempt
        // counter was reset by a connection that got its CONNECT reply; one that failed
        // before counts as a failed attempt.
        tokio::time::sleep(backoff(attempts, &rng)).await;
        attempts += 1;
    }
    m
}

/// After the publisher stopped: read (no more cuts) until the run ends.
async fn continue_without_cuts(
    c: &mut Conn,
    m: &mut Member,
    shared: &Shared,
    pong: &[u8],
) -> io::Result<()> {
    loop {
        let filled = tokio::select! {
            r = c.fill() => r?,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if shared.stop.get() {
                    return Ok(());
                }
                continue;
            }
        };
        if !filled || shared.stop.get() {
            return Ok(());
        }
        let mut ping = false;
        while let Some(f) = c.next_frame()? {
            match classify(c.payload(f)) {
                Frame::Ping => ping = true,
                Frame::Event(e) => {
                    if let Ok(args) = serde_json::from_slice::<Vec<&RawValue>>(&e) {
                        m.deliver(shared, &args);
                    }
                }
                _ => {}
            }
        }
        if ping {
            c.stream.write_all(pong).await?;
        }
    }
}

/// The publisher: one connection, never cut, `room-broadcast` every `1/rate` s.
async fn publisher(port: u16, shared: Rc<Shared>, rate: f64, duration: Duration) -> io::Result<()> {
    let upgrade = wire::upgrade_request(port, "/socket.io/?EIO=4&transport=websocket");
    let mut c = wire::connect(port, wire::Handshake::SocketIo, &upgrade).await?;
    let pong = text_frame(b"3");
    let period = Duration::from_secs_f64(1.0 / rate);
    let t0 = tokio::time::Instant::now();
    let mut seq = 0u64;
    while t0.elapsed() < duration {
        let at = t0 + period.mul_f64(seq as f64);
        loop {
            tokio::select! {
                r = c.fill() => {
                    if !r? {
                        return Err(err("the server closed the publisher"));
                    }
                    let mut ping = false;
                    while let Some(f) = c.next_frame()? {
                        if c.payload(f) == b"2" {
                            ping = true;
                        }
                    }
                    if ping {
                        c.stream.write_all(&pong).await?;
                    }
                }
                _ = tokio::time::sleep_until(at) => break,
            }
        }
        let t = shared.start.elapsed().as_micros() as u64;
        let frame = text_frame(
            format!("42[\"room-broadcast\",\"bench\",{{\"seq\":{seq},\"t\":{t}}}]").as_bytes(),
        );
        c.stream.write_all(&frame).await?;
        seq += 1;
        shared.published.set(seq);
    }
    Ok(())
}

/// `p.clients` members spread over `member_ports` (`p.port` alone when empty), `rate`
/// messages per second for `p.duration` from a publisher on `p.port`. The CPU reported is
/// that of `p.pid` and `extra_pids` together (the servers), and of `redis_pid` apart.
pub async fn unstable(
    p: &Params,
    rate: f64,
    member_ports: &[u16],
    extra_pids: &[u32],
    redis_pid: Option<u32>,
) -> io::Result<Value> {
    let ports = Rc::new(Ports(if member_ports.is_empty() {
        vec![p.port]
    } else {
        member_ports.to_vec()
    }));
    let pids: Vec<u32> = std::iter::once(p.pid)
        .chain(extra_pids.iter().copied())
        .collect();
    let servers_cpu = || pids.iter().map(|pid| cpu_ns(*pid)).sum::<u64>();
    let shared = Rc::new(Shared {
        start: Instant::now(),
        stop_cuts: Cell::new(false),
        stop: Cell::new(false),
        published: Cell::new(0),
        latencies_us: RefCell::new(Vec::new()),
        cuts: Cell::new(0),
        recovered: Cell::new(0),
        not_recovered: Cell::new(0),
        moved: Cell::new(0),
        moved_recovered: Cell::new(0),
        joined: Cell::new(0),
        errors: Cell::new(0),
    });
    let mut members = Vec::new();
    for i in 0..p.clients {
        let seed = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1) ^ std::process::id() as u64;
        members.push(tokio::task::spawn_local(member(
            ports.clone(),
            i,
            shared.clone(),
            seed,
        )));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Everyone in the room (the first join answered) before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.joined.get() < p.clients {
        if Instant::now() > deadline {
            return Err(err(format!(
                "only {} of {} members joined",
                shared.joined.get(),
                p.clients
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu0 = servers_cpu();
    let redis0 = redis_pid.map(cpu_ns);
    let t0 = Instant::now();
    publisher(p.port, shared.clone(), rate, p.duration).await?;
    shared.stop_cuts.set(true);
    // Time to come back (the longest first reconnection delay is 1.5 s) and drain.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = servers_cpu().saturating_sub(cpu0) as f64;
    let redis_cpu = redis_pid
        .zip(redis0)
        .map(|(pid, c0)| cpu_ns(pid).saturating_sub(c0) as f64 / 1e9);
    shared.stop.set(true);
    let published = shared.published.get() as usize;
    let mut shares = Vec::new();
    let mut duplicates = 0u64;
    for t in members {
        let m = t.await.map_err(|e| err(e.to_string()))?;
        let got = m.got[..published].iter().filter(|g| **g).count();
        shares.push(got as f64 / published.max(1) as f64);
        duplicates += m.duplicates;
    }
    let mut lat = shared.latencies_us.borrow().clone();
    lat.sort_unstable();
    let pct = |q: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
        }
    };
    let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
    let worst = shares.iter().copied().fold(1.0, f64::min);
    let mut out = json!({
        "delivered_pct": mean * 100.0,
        "worst_member_pct": worst * 100.0,
        "duplicates": duplicates,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "published": published,
        "cuts": shared.cuts.get(),
        "recovered": shared.recovered.get(),
        "not_recovered": shared.not_recovered.get(),
        "errors": shared.errors.get(),
        "cpu_s": cpu / 1e9,
        "secs": secs,
    });
    if ports.0.len() > 1 {
        out["moved"] = json!(shared.moved.get());
        out["moved_recovered"] = json!(shared.moved_recovered.get());
    }
    if let Some(r) = redis_cpu {
        out["redis_cpu_s"] = json!(r);
    }
    Ok(out)
}
