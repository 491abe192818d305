//! The load generator: one thread, one task per client, frames built before the clock
//! starts. Each scenario prints one JSON object of metrics; the server's CPU time and
//! memory are read from `/proc` for the measured window only.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::procstat::{cpu_ns, rss_bytes};
use crate::wire::{self, Conn, Handshake, Http, binary_frame, text_frame};

/// Parameters of one load run.
#[derive(Debug, Clone)]
pub struct Params {
    pub port: u16,
    pub pid: u32,
    pub handshake: Handshake,
    /// Measured time of the timed scenarios.
    pub duration: Duration,
    /// Unmeasured warm-up before it.
    pub warmup: Duration,
    pub clients: usize,
    pub inflight: usize,
    pub members: usize,
    pub broadcasts: usize,
    /// Broadcasts on their way at once, one phase per entry (`--window 1,4`: one at a
    /// time, then 4 at once, on the same members).
    pub windows: Vec<usize>,
    /// Source addresses the clients connect from (0: the default, 127.0.0.1 unbound).
    pub sources: usize,
    /// Connections being set up at once.
    pub parallel: usize,
    /// The idle window of the scale scenarios.
    pub idle: Duration,
    /// Time between the broadcasts of `polling-bcast`.
    pub interval: Duration,
    /// Where the broadcast trigger connects, when not to `port` (another server of a
    /// cluster: `sio-bench cluster`).
    pub trigger_port: Option<u16>,
}

impl Params {
    /// The source address and port of client `i` (the client's second connection, if
    /// any, takes `i + clients`): `sources` addresses of 127.0.0.0/8, cycled, each with
    /// ports from 10 000 on. The second byte of the address changes with the load
    /// generator's pid, so that a run does not meet what an earlier run left behind.
    /// An explicit port, because `bind` to port 0 searches the ephemeral range for a free
    /// port, which slows the storm down to a few hundred connections a second once
    /// thousands are bound.
    pub fn source(&self, i: usize) -> Option<SocketAddrV4> {
        if self.sources == 0 {
            return None;
        }
        let second = 1 + (std::process::id() % 250) as u8;
        let k = i % self.sources;
        let ip = std::net::Ipv4Addr::new(127, second, (k / 250) as u8, 1 + (k % 250) as u8);
        Some(SocketAddrV4::new(ip, 10_000 + (i / self.sources) as u16))
    }
}

pub(crate) fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// The echo payload: one string argument.
const ECHO_ARG: &str = "\"hello from the load generator, 48 bytes of text\"";

/// Connects `n` clients, `parallel` at a time, in order.
pub(crate) async fn connect_many(
    p: &Params,
    n: usize,
    parallel: usize,
    after: Option<Vec<u8>>,
) -> io::Result<Vec<Conn>> {
    match connect_upto(p, n, parallel, after).await {
        (conns, None) => Ok(conns),
        (_, Some(e)) => Err(e),
    }
}

/// Connects up to `n` clients, `parallel` at a time; on the first failure, the clients
/// connected so far and the error (where a server stopped taking connections).
pub(crate) async fn connect_upto(
    p: &Params,
    n: usize,
    parallel: usize,
    after: Option<Vec<u8>>,
) -> (Vec<Conn>, Option<io::Error>) {
    let upgrade = Rc::new(wire::upgrade_request(p.port, path(p.handshake)));
    let after = after.map(Rc::new);
    let mut out = Vec::with_capacity(n);
    let mut pending = std::collections::VecDeque::<JoinHandle<io::Result<Conn>>>::new();
    let mut started = 0;
    let mut failure = None;
    while out.len() + pending.len() < n || !pending.is_empty() {
        while failure.is_none() && started < n && pending.len() < parallel {
            let upgrade = upgrade.clone();
            let after = after.clone();
            let (port, hs, src) = (p.port, p.handshake, p.source(started));
            pending.push_back(tokio::task::spawn_local(async move {
                let mut c = wire::connect_from(port, src, hs, &upgrade).await?;
                if let Some(a) = after {
                    c.stream.write_all(&a).await?;
                }
                Ok(c)
            }));
            started += 1;
        }
        let Some(first) = pending.pop_front() else {
            break;
        };
        match first.await.map_err(|e| err(e.to_string())).and_then(|r| r) {
            Ok(c) => out.push(c),
            Err(e) => {
                if failure.is_none() {
                    failure = Some(e);
                }
            }
        }
    }
    (out, failure)
}

pub(crate) fn path(h: Handshake) -> &'static str {
    match h {
        Handshake::SocketIo | Handshake::MsgPack => "/socket.io/?EIO=4&transport=websocket",
        Handshake::Raw => "/",
    }
}

/// MessagePack packets as socket.io-msgpack-parser clients send them.
pub(crate) mod mp {
    /// A MessagePack string.
    pub fn str(out: &mut Vec<u8>, s: &str) {
        assert!(s.len() < 256);
        if s.len() < 32 {
            out.push(0xa0 | s.len() as u8);
        } else {
            out.extend_from_slice(&[0xd9, s.len() as u8]);
        }
        out.extend_from_slice(s.as_bytes());
    }

    /// A MessagePack unsigned integer.
    pub fn uint(out: &mut Vec<u8>, n: u64) {
        if n < 128 {
            out.push(n as u8);
        } else {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// `{type: 2, data: [event, ..args], id?, nsp: "/"}`; `args` are `n` encoded values.
    pub fn event(event: &str, args: &[u8], n: usize, id: Option<u64>) -> Vec<u8> {
        let mut out = vec![if id.is_some() { 0x84 } else { 0x83 }];
        str(&mut out, "type");
        out.push(2);
        str(&mut out, "data");
        out.push(0x91 + n as u8);
        str(&mut out, event);
        out.extend_from_slice(args);
        if let Some(id) = id {
            str(&mut out, "id");
            uint(&mut out, id);
        }
        str(&mut out, "nsp");
        str(&mut out, "/");
        out
    }

    /// The integer after `key` (a fixstr key) in a MessagePack message, if any.
    pub fn find_uint(data: &[u8], key: &str) -> Option<u64> {
        let mut k = vec![0xa0 | key.len() as u8];
        k.extend_from_slice(key.as_bytes());
        let i = data.windows(k.len()).position(|w| w == k.as_slice())? + k.len();
        let rest = &data[i..];
        let be = |n: usize| {
            rest.get(1..1 + n)
                .map(|b| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
        };
        match *rest.first()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => be(1),
            0xcd => be(2),
            0xce => be(4),
            0xcf => be(8),
            _ => None,
        }
    }

    pub fn contains(data: &[u8], needle: &[u8]) -> bool {
        data.windows(needle.len()).any(|w| w == needle)
    }
}

/// CPU and wall time of a measured window.
pub(crate) struct Window {
    t0: Instant,
    cpu0: u64,
    pid: u32,
}

impl Window {
    pub(crate) fn start(pid: u32) -> Self {
        Window {
            t0: Instant::now(),
            cpu0: cpu_ns(pid),
            pid,
        }
    }
    /// (seconds elapsed, server CPU nanoseconds).
    pub(crate) fn end(&self) -> (f64, f64) {
        let cpu = cpu_ns(self.pid).saturating_sub(self.cpu0) as f64;
        (self.t0.elapsed().as_secs_f64(), cpu)
    }
}

// ---------------------------------------------------------------------------------------
// Connections per second.

pub async fn conn_rate(p: &Params) -> io::Result<Value> {
    let count = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let failed = Rc::new(RefCell::new(None::<String>));
    let upgrade = Rc::new(wire::upgrade_request(p.port, path(p.handshake)));
    let mut tasks = Vec::new();
    for _ in 0..p.clients {
        let (count, stop, failed, upgrade) =
            (count.clone(), stop.clone(), failed.clone(), upgrade.clone());
        let (port, hs) = (p.port, p.handshake);
        tasks.push(tokio::task::spawn_local(async move {
            while !stop.get() {
                match wire::connect(port, hs, &upgrade).await {
                    Ok(c) => {
                        // Reset instead of a TIME_WAIT per connection.
                        let _ = c.stream.set_zero_linger();
                        drop(c);
                        count.set(count.get() + 1);
                    }
                    Err(e) => {
                        *failed.borrow_mut() = Some(e.to_string());
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(p.warmup).await;
    let c0 = count.get();
    let w = Window::start(p.pid);
    tokio::time::sleep(p.duration).await;
    let (secs, cpu) = w.end();
    let n = (count.get() - c0) as f64;
    stop.set(true);
    for t in tasks {
        let _ = t.await;
    }
    if let Some(e) = failed.borrow().clone() {
        return Err(err(format!("a client failed: {e}")));
    }
    Ok(json!({
        "conn_per_s": n / secs,
        "cpu_us_per_conn": cpu / 1000.0 / n.max(1.0),
    }))
}

// ---------------------------------------------------------------------------------------
// Echo over WebSocket (plain or with acknowledgements).

pub async fn echo(p: &Params, ack: bool) -> io::Result<Value> {
    let payload = if ack {
        format!("421[\"message-with-ack\",{ECHO_ARG}]")
    } else {
        format!("42[\"message\",{ECHO_ARG}]")
    };
    let answer: Vec<u8> = match (p.handshake, ack) {
        (Handshake::Raw, _) => payload.as_bytes().to_vec(),
        (Handshake::SocketIo, false) => b"42[\"message-back\",".to_vec(),
        (Handshake::SocketIo, true) => b"431[".to_vec(),
        (Handshake::MsgPack, false) => b"\xacmessage-back".to_vec(),
        (Handshake::MsgPack, true) => b"\xa4type\x03".to_vec(),
    };
    let msgpack = p.handshake == Handshake::MsgPack;
    let frame = if msgpack {
        let mut arg = Vec::new();
        mp::str(&mut arg, ECHO_ARG.trim_matches('"'));
        let event = if ack { "message-with-ack" } else { "message" };
        binary_frame(&mp::event(event, &arg, 1, ack.then_some(1)))
    } else {
        text_frame(payload.as_bytes())
    };
    let batch = Rc::new(wire::repeated(&frame, p.inflight));
    let frame_len = frame.len();
    let conns = connect_many(p, p.clients, 50, None).await?;
    let count = Rc::new(Cell::new(0u64));
    let failed = Rc::new(RefCell::new(None::<String>));
    let answer = Rc::new(answer);
    let pong = Rc::new(text_frame(b"3"));
    let mut tasks = Vec::new();
    for mut c in conns {
        let (count, failed, batch, answer, pong) = (
            count.clone(),
            failed.clone(),
            batch.clone(),
            answer.clone(),
            pong.clone(),
        );
        let eio = p.handshake.eio();
        tasks.push(tokio::task::spawn_local(async move {
            let r: io::Result<()> = async {
                c.stream.write_all(&batch).await?;
                loop {
                    if !c.fill().await? {
                        return Err(err("the server closed the connection"));
                    }
                    let mut k = 0;
                    let mut ping = false;
                    while let Some(f) = c.next_frame()? {
                        let data = c.payload(f);
                        if f.opcode == 0x8 {
                            return Err(err("the server closed the WebSocket"));
                        }
                        if data.starts_with(&answer) || (msgpack && mp::contains(data, &answer)) {
                            k += 1;
                        } else if eio && data == b"2" {
                            ping = true;
                        }
                    }
                    if k > 0 {
                        count.set(count.get() + k as u64);
                        c.stream.write_all(&batch[..k * frame_len]).await?;
                    }
                    if ping {
                        c.stream.write_all(&pong).await?;
                    }
                }
            }
            .await;
            if let Err(e) = r {
                *failed.borrow_mut() = Some(e.to_string());
            }
        }));
    }
    tokio::time::sleep(p.warmup).await;
    let c0 = count.get();
    let w = Window::start(p.pid);
    tokio::time::sleep(p.duration).await;
    let (secs, cpu) = w.end();
    let n = (count.get() - c0) as f64;
    for t in &tasks {
        t.abort();
    }
    if let Some(e) = failed.borrow().clone() {
        return Err(err(format!("a client failed: {e}")));
    }
    if n == 0.0 {
        return Err(err("no message came back"));
    }
    Ok(json!({
        "msgs_per_s": n / secs,
        "cpu_us_per_msg": cpu / 1000.0 / n,
    }))
}

// ---------------------------------------------------------------------------------------
// Idle memory.

pub async fn idle(p: &Params) -> io::Result<Value> {
    let rss0 = rss_bytes(p.pid);
    let conns = connect_many(p, p.clients, 100, None).await?;
    let failed = Rc::new(RefCell::new(None::<String>));
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let failed = failed.clone();
            let eio = p.handshake == Handshake::SocketIo;
            tokio::task::spawn_local(async move {
                // Answer pings, nothing else.
                if let Err(e) = c.read_message(eio).await {
                    *failed.borrow_mut() = Some(e.to_string());
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_bytes(p.pid);
    for t in &tasks {
        t.abort();
    }
    if let Some(e) = failed.borrow().clone() {
        return Err(err(format!("an idle client failed: {e}")));
    }
    Ok(json!({
        "rss_kib_per_conn": rss1.saturating_sub(rss0) as f64 / 1024.0 / p.clients as f64,
    }))
}

// ---------------------------------------------------------------------------------------
// Echo over long-polling.

pub async fn polling(p: &Params) -> io::Result<Value> {
    let count = Rc::new(Cell::new(0u64));
    let failed = Rc::new(RefCell::new(None::<String>));
    let mut tasks = Vec::new();
    let msg = format!("42[\"message\",{ECHO_ARG}]");
    for _ in 0..p.clients {
        let mut get = Http::open(p.port).await?;
        let mut post = Http::open(p.port).await?;
        let open = get.request(&wire::poll_get(p.port, "")).await?;
        let sid = wire::open_sid(&open).ok_or_else(|| err("no sid in the open packet"))?;
        let ok = post.request(&wire::poll_post(p.port, &sid, b"40")).await?;
        if ok != b"ok" {
            return Err(err("POST of CONNECT not ok"));
        }
        let get_req = wire::poll_get(p.port, &sid);
        let bodies: Vec<Vec<u8>> = (0..=p.inflight)
            .map(|k| {
                let mut b = Vec::new();
                for i in 0..k {
                    if i > 0 {
                        b.push(0x1e);
                    }
                    b.extend_from_slice(msg.as_bytes());
                }
                b
            })
            .collect();
        let posts: Rc<Vec<Vec<u8>>> = Rc::new(
            bodies
                .iter()
                .map(|b| wire::poll_post(p.port, &sid, b))
                .collect(),
        );
        let pong_post = wire::poll_post(p.port, &sid, b"3");
        let inflight = Rc::new(Cell::new(0usize));
        let pong_due = Rc::new(Cell::new(false));
        let wake = Rc::new(Notify::new());
        let max = p.inflight;
        {
            let (count, failed, inflight, pong_due, wake) = (
                count.clone(),
                failed.clone(),
                inflight.clone(),
                pong_due.clone(),
                wake.clone(),
            );
            tasks.push(tokio::task::spawn_local(async move {
                let r: io::Result<()> = async {
                    loop {
                        let body = get.request(&get_req).await?;
                        for packet in body.split(|&b| b == 0x1e) {
                            if packet.starts_with(b"42[\"message-back\",") {
                                count.set(count.get() + 1);
                                inflight.set(inflight.get().saturating_sub(1));
                            } else if packet == b"2" {
                                pong_due.set(true);
                            } else if packet == b"1" {
                                return Err(err("the server closed the session"));
                            }
                        }
                        wake.notify_one();
                    }
                }
                .await;
                if let Err(e) = r {
                    *failed.borrow_mut() = Some(e.to_string());
                }
            }));
        }
        {
            let failed = failed.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let r: io::Result<()> = async {
                    loop {
                        while inflight.get() >= max && !pong_due.get() {
                            wake.notified().await;
                        }
                        if pong_due.replace(false) {
                            post.request(&pong_post).await?;
                        }
                        let k = max - inflight.get().min(max);
                        if k > 0 {
                            inflight.set(inflight.get() + k);
                            let ok = post.request(&posts[k]).await?;
                            if ok != b"ok" {
                                return Err(err("POST not ok"));
                            }
                        }
                    }
                }
                .await;
                if let Err(e) = r {
                    *failed.borrow_mut() = Some(e.to_string());
                }
            }));
        }
    }
    tokio::time::sleep(p.warmup).await;
    let c0 = count.get();
    let w = Window::start(p.pid);
    tokio::time::sleep(p.duration).await;
    let (secs, cpu) = w.end();
    let n = (count.get() - c0) as f64;
    for t in &tasks {
        t.abort();
    }
    if let Some(e) = failed.borrow().clone() {
        return Err(err(format!("a polling client failed: {e}")));
    }
    if n == 0.0 {
        return Err(err("no message came back over polling"));
    }
    Ok(json!({
        "msgs_per_s": n / secs,
        "cpu_us_per_msg": cpu / 1000.0 / n,
    }))
}
