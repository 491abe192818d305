//! The scale scenarios: a connection storm that then stays idle (`idle100k`), and
//! long-polling clients that idle and then receive one broadcast a second (`polling10k`).
//! The room broadcast to 100 000 members (`bcast100k`) is `bcast.rs` with more members.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::bcast::{self, Room};
use crate::load::{Params, Window, connect_upto, err, path};
use crate::procstat::{cpu_ns, rss_bytes};
use crate::wire::{self, Conn, Handshake, Http, text_frame};

/// Counters shared by the idle clients.
#[derive(Default)]
struct Idle {
    pings: Cell<u64>,
    closed: Cell<usize>,
    error: RefCell<Option<String>>,
}

/// An idle client: answers pings, nothing else, until the connection ends.
async fn idle_client(mut c: Conn, eio: bool, state: Rc<Idle>) {
    let pong = text_frame(b"3");
    let r: io::Result<()> = async {
        loop {
            if !c.fill().await? {
                return Err(err("the server closed the connection"));
            }
            let mut ping = false;
            while let Some(f) = c.next_frame()? {
                if f.opcode == 0x8 {
                    return Err(err("the server closed the WebSocket"));
                }
                if eio && c.payload(f) == b"2" {
                    ping = true;
                }
            }
            if ping {
                state.pings.set(state.pings.get() + 1);
                c.stream.write_all(&pong).await?;
            }
        }
    }
    .await;
    if let Err(e) = r {
        state.closed.set(state.closed.get() + 1);
        state.error.borrow_mut().get_or_insert(e.to_string());
    }
}

/// `idle100k`: `clients` WebSocket clients connect (`parallel` at a time, from
/// `sources` addresses), join the namespace and stay idle for `idle`, answering pings.
///
/// Reports the connect rate and server CPU per connection during the storm, server RSS
/// per connection 2 s after the last one connected and again at the end of the idle
/// window (after every client answered a ping, with the default 25 s interval), and the
/// server's CPU while idle (% of one core). A server that stops taking connections is
/// reported with how many it held and why it stopped.
pub async fn idle_storm(p: &Params) -> io::Result<Value> {
    let rss0 = rss_bytes(p.pid);
    let w = Window::start(p.pid);
    let (conns, failure) = connect_upto(p, p.clients, p.parallel, None).await;
    let (storm_secs, storm_cpu) = w.end();
    let held = conns.len();
    let state = Rc::new(Idle::default());
    let eio = p.handshake == Handshake::SocketIo;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::task::spawn_local(idle_client(c, eio, state.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_bytes(p.pid);
    let cpu0 = cpu_ns(p.pid);
    let t0 = Instant::now();
    tokio::time::sleep(p.idle).await;
    let idle_cpu = cpu_ns(p.pid).saturating_sub(cpu0) as f64;
    let idle_secs = t0.elapsed().as_secs_f64();
    let rss2 = rss_bytes(p.pid);
    for t in &tasks {
        t.abort();
    }
    let per_conn = |rss: u64| rss.saturating_sub(rss0) as f64 / 1024.0 / held.max(1) as f64;
    let mut out = json!({
        "held": held,
        "held_end": held - state.closed.get(),
        "conn_per_s": held as f64 / storm_secs,
        "cpu_us_per_conn": storm_cpu / 1000.0 / held.max(1) as f64,
        "rss_kib_per_conn": per_conn(rss1),
        "rss_kib_per_conn_end": per_conn(rss2),
        "rss_mib": rss2 as f64 / (1024.0 * 1024.0),
        "idle_cpu_pct": idle_cpu / 1e9 / idle_secs * 100.0,
        "pings": state.pings.get(),
    });
    let mut stopped = Vec::new();
    if let Some(e) = failure {
        stopped.push(format!("took {held} of {} connections: {e}", p.clients));
    }
    if let Some(e) = state.error.borrow().clone() {
        stopped.push(format!(
            "{} of {held} connections ended while idle: {e}",
            state.closed.get()
        ));
    }
    if !stopped.is_empty() {
        out["stopped"] = json!(stopped.join("; "));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Long-polling clients, idle, then one broadcast a second.

/// One long-polling client: handshake, namespace, `join`; then a GET always waiting.
/// It holds one connection, the GET's: a POST (the pong to each ping) goes on a
/// connection of its own, opened for it and reset after (10 000 clients with two
/// connections each would need more descriptors than the limit many machines have).
struct Poller {
    get: Http,
    get_req: Vec<u8>,
    pong: Vec<u8>,
    port: u16,
}

/// POSTs `req` on a new connection, which is reset after.
async fn post_once(port: u16, req: &[u8]) -> io::Result<()> {
    let mut c = Http::open(port).await?;
    c.reset_on_drop();
    if c.request(req).await? != b"ok" {
        return Err(err("POST not ok"));
    }
    Ok(())
}

async fn poller_open(p: &Params, i: usize) -> io::Result<Poller> {
    let mut get = Http::open_from(p.port, p.source(i)).await?;
    get.reset_on_drop();
    let open = get.request(&wire::poll_get(p.port, "")).await?;
    let sid = wire::open_sid(&open).ok_or_else(|| err("no sid in the open packet"))?;
    post_once(p.port, &wire::poll_post(p.port, &sid, b"40")).await?;
    let get_req = wire::poll_get(p.port, &sid);
    let pong = wire::poll_post(p.port, &sid, b"3");
    // The namespace's answer (a ping may come with it, or before it).
    loop {
        let reply = get.request(&get_req).await?;
        let mut connected = false;
        for packet in reply.split(|&b| b == 0x1e) {
            if packet.starts_with(b"40") {
                connected = true;
            } else if packet == b"2" {
                post_once(p.port, &pong).await?;
            } else if packet.starts_with(b"44") || packet == b"1" {
                return Err(err(format!(
                    "namespace connection refused: {}",
                    String::from_utf8_lossy(&reply)
                )));
            }
        }
        if connected {
            break;
        }
    }
    post_once(
        p.port,
        &wire::poll_post(p.port, &sid, b"42[\"join\",\"bench\"]"),
    )
    .await?;
    Ok(Poller {
        get,
        get_req,
        pong,
        port: p.port,
    })
}

async fn poller_run(mut c: Poller, room: Rc<Room>) {
    let mut first_probe = true;
    let r: io::Result<()> = async {
        loop {
            let body = c.get.request(&c.get_req).await?;
            let mut ping = false;
            for packet in body.split(|&b| b == 0x1e) {
                if packet == b"2" {
                    ping = true;
                } else if packet == b"1" {
                    return Err(err("the server closed the session"));
                } else if packet.starts_with(b"42[\"room-msg\"") {
                    let seq = bcast::parse_seq(packet)
                        .ok_or_else(|| err("a room message without seq"))?;
                    room.received(seq, &mut first_probe);
                }
            }
            if ping {
                // Answered beside the next GET, as a browser does.
                let (port, pong) = (c.port, c.pong.clone());
                tokio::task::spawn_local(async move { post_once(port, &pong).await });
            }
        }
    }
    .await;
    if let Err(e) = r {
        room.fail(e.to_string());
    }
}

/// `polling10k`: `clients` long-polling clients join room `bench` and idle for `idle`,
/// then the room gets one broadcast every `interval`, `broadcasts` times.
///
/// Reports server RSS per client and CPU while idle, then per broadcast: server CPU per
/// delivery (the whole window, pings included), p50/p99 from emit to receipt and from
/// emit to the last receipt.
pub async fn polling_bcast(p: &Params) -> io::Result<Value> {
    let n = p.clients;
    let rss0 = rss_bytes(p.pid);
    let t0 = Instant::now();
    let mut pollers = Vec::with_capacity(n);
    let mut failure = None;
    let mut next = 0;
    while next < n && failure.is_none() {
        let batch: Vec<_> = (next..(next + p.parallel).min(n))
            .map(|i| {
                let p = p.clone();
                tokio::task::spawn_local(async move { poller_open(&p, i).await })
            })
            .collect();
        next += batch.len();
        for t in batch {
            match t.await.map_err(|e| err(e.to_string())).and_then(|r| r) {
                Ok(c) => pollers.push(c),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
    }
    let held = pollers.len();
    let connect_secs = t0.elapsed().as_secs_f64();
    if let Some(e) = failure {
        return Ok(json!({
            "held": held,
            "stopped": format!("took {held} of {n} polling clients ({connect_secs:.0} s): {e}"),
        }));
    }
    let room = Room::new(n, p.broadcasts, false);
    let tasks: Vec<_> = pollers
        .into_iter()
        .map(|c| tokio::task::spawn_local(poller_run(c, room.clone())))
        .collect();
    let upgrade = wire::upgrade_request(p.port, path(Handshake::SocketIo));
    let mut trigger = wire::connect(p.port, Handshake::SocketIo, &upgrade).await?;
    let result = async {
        bcast::probe(&mut trigger, &room, n).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss1 = rss_bytes(p.pid);
        let cpu0 = cpu_ns(p.pid);
        let ti = Instant::now();
        bcast::wait_for(&mut trigger, &room, p.idle, |_| false).await?;
        let idle_cpu = cpu_ns(p.pid).saturating_sub(cpu0) as f64;
        let idle_secs = ti.elapsed().as_secs_f64();
        let m = bcast::paced(p, &mut trigger, &room, p.broadcasts as u64, p.interval).await?;
        let mut out = json!({
            "held": held,
            "conn_per_s": held as f64 / connect_secs,
            "rss_kib_per_conn": rss1.saturating_sub(rss0) as f64 / 1024.0 / held as f64,
            "idle_cpu_pct": idle_cpu / 1e9 / idle_secs * 100.0,
        });
        for (k, v) in m {
            out[k] = v;
        }
        Ok(out)
    }
    .await;
    for t in &tasks {
        t.abort();
    }
    result
}
