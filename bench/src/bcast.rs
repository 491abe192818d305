//! Broadcast to a room: members join, a trigger client emits `room-broadcast`, each
//! member counts what reaches it. One phase per broadcast window (one at a time, or
//! several on their way at once), on the same members.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::load::{Params, Window, connect_upto, err, mp, path};
use crate::wire::{self, Conn, Handshake, binary_frame, text_frame};

/// Sequence numbers of the probes that check that every member joined.
const WARM_SEQ: u64 = 1 << 40;

pub(crate) struct Room {
    members: usize,
    /// The members and the trigger speak the MessagePack parser.
    msgpack: bool,
    /// When each broadcast was emitted.
    sent_at: RefCell<Vec<Instant>>,
    delivered: RefCell<Vec<u32>>,
    /// Emit → last receipt of each broadcast, µs.
    last_us: RefCell<Vec<u32>>,
    completed: Cell<u64>,
    /// Emit → receipt of every delivery, µs.
    latencies_us: RefCell<Vec<u32>>,
    warmed: Cell<usize>,
    done: Notify,
    failed: RefCell<Option<String>>,
}

impl Room {
    pub(crate) fn new(members: usize, broadcasts: usize, msgpack: bool) -> Rc<Room> {
        Rc::new(Room {
            members,
            msgpack,
            sent_at: RefCell::new(vec![Instant::now(); broadcasts]),
            delivered: RefCell::new(vec![0; broadcasts]),
            last_us: RefCell::new(vec![0; broadcasts]),
            completed: Cell::new(0),
            latencies_us: RefCell::new(Vec::with_capacity(members * broadcasts)),
            warmed: Cell::new(0),
            done: Notify::new(),
            failed: RefCell::new(None),
        })
    }

    /// A member received `room-msg` number `seq` (a probe from `WARM_SEQ` on); `first`
    /// says whether it is this member's first probe.
    pub(crate) fn received(&self, seq: u64, first_probe: &mut bool) {
        if seq >= WARM_SEQ {
            if *first_probe {
                *first_probe = false;
                self.warmed.set(self.warmed.get() + 1);
                self.done.notify_one();
            }
            return;
        }
        let i = seq as usize;
        let us = |t: Instant| t.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let sent = self.sent_at.borrow()[i];
        self.latencies_us.borrow_mut().push(us(sent));
        let mut d = self.delivered.borrow_mut();
        d[i] += 1;
        if d[i] as usize == self.members {
            self.last_us.borrow_mut()[i] = us(sent);
            self.completed.set(self.completed.get() + 1);
            self.done.notify_one();
        }
    }

    pub(crate) fn fail(&self, e: String) {
        *self.failed.borrow_mut() = Some(e);
        self.done.notify_one();
    }
}

pub(crate) fn parse_seq(data: &[u8]) -> Option<u64> {
    let key = b"\"seq\":";
    let i = data.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = data[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&data[i..i + digits]).ok()?.parse().ok()
}

fn broadcast_frame(seq: u64, msgpack: bool) -> Vec<u8> {
    if msgpack {
        let mut args = Vec::new();
        mp::str(&mut args, "bench");
        args.push(0x82);
        mp::str(&mut args, "seq");
        mp::uint(&mut args, seq);
        mp::str(&mut args, "text");
        mp::str(&mut args, "a broadcast to every member");
        return binary_frame(&mp::event("room-broadcast", &args, 2, None));
    }
    text_frame(
        format!(
            "42[\"room-broadcast\",\"bench\",{{\"seq\":{seq},\"text\":\"a broadcast to every member\"}}]"
        )
        .as_bytes(),
    )
}

/// How long a member waits for its first probe before it sends `join` again.
fn rejoin_after(members: usize) -> Duration {
    Duration::from_millis(500).max(Duration::from_micros(20 * members as u64))
}

async fn member(mut c: Conn, room: Rc<Room>, join: Rc<Vec<u8>>) {
    let pong = text_frame(b"3");
    let mut first_probe = true;
    let rejoin = rejoin_after(room.members);
    let r: io::Result<()> = async {
        loop {
            // A server may miss a `join` sent right after the namespace connection (its
            // listeners not set yet): ask again until a probe arrives.
            let filled = if !first_probe {
                c.fill().await?
            } else {
                tokio::select! {
                    r = c.fill() => r?,
                    _ = tokio::time::sleep(rejoin) => {
                        c.stream.write_all(&join).await?;
                        continue;
                    }
                }
            };
            if !filled {
                return Err(err("the server closed a member's connection"));
            }
            let mut ping = false;
            while let Some(f) = c.next_frame()? {
                if f.opcode == 0x8 {
                    return Err(err("the server closed a member's WebSocket"));
                }
                let data = c.payload(f);
                if data == b"2" {
                    ping = true;
                    continue;
                }
                let (is_msg, seq) = if room.msgpack {
                    (
                        mp::contains(data, b"\xa8room-msg"),
                        mp::find_uint(data, "seq"),
                    )
                } else {
                    (data.starts_with(b"42[\"room-msg\""), parse_seq(data))
                };
                if !is_msg {
                    continue;
                }
                let Some(seq) = seq else {
                    return Err(err("a room message without seq"));
                };
                room.received(seq, &mut first_probe);
            }
            if ping {
                c.stream.write_all(&pong).await?;
            }
        }
    }
    .await;
    if let Err(e) = r {
        room.fail(e.to_string());
    }
}

/// Waits until `cond` holds, reading the trigger's socket (pings) meanwhile.
pub(crate) async fn wait_for(
    trigger: &mut Conn,
    room: &Room,
    limit: Duration,
    cond: impl Fn(&Room) -> bool,
) -> io::Result<bool> {
    let deadline = tokio::time::Instant::now() + limit;
    let pong = text_frame(b"3");
    loop {
        if let Some(e) = room.failed.borrow().clone() {
            return Err(err(e));
        }
        if cond(room) {
            return Ok(true);
        }
        tokio::select! {
            _ = room.done.notified() => {}
            r = trigger.fill() => {
                if !r? {
                    return Err(err("the server closed the trigger's connection"));
                }
                let mut ping = false;
                while let Some(f) = trigger.next_frame()? {
                    if trigger.payload(f) == b"2" {
                        ping = true;
                    }
                }
                if ping {
                    trigger.stream.write_all(&pong).await?;
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(false),
        }
    }
}

/// Sends probes until every member has received one (so has joined).
pub(crate) async fn probe(trigger: &mut Conn, room: &Room, n: usize) -> io::Result<()> {
    let limit = Duration::from_secs(1) + Duration::from_micros(30 * n as u64);
    let mut probes = 0;
    loop {
        trigger
            .stream
            .write_all(&broadcast_frame(WARM_SEQ + probes, room.msgpack))
            .await?;
        probes += 1;
        if wait_for(trigger, room, limit, |r| r.warmed.get() == n).await? {
            return Ok(());
        }
        if probes > 30 {
            return Err(err(format!(
                "only {} of {n} members received the probes",
                room.warmed.get()
            )));
        }
    }
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

/// One phase: `count` broadcasts from number `first` on, up to `window` on their way.
async fn phase(
    p: &Params,
    trigger: &mut Conn,
    room: &Room,
    first: u64,
    count: u64,
    window: u64,
) -> io::Result<Map<String, Value>> {
    let n = room.members;
    let lat_start = room.latencies_us.borrow().len();
    let w = Window::start(p.pid);
    let end = first + count;
    for seq in first..=end {
        let target = if seq == end {
            end
        } else {
            (seq + 1).saturating_sub(window)
        };
        let limit = wire::STEP_TIMEOUT + Duration::from_micros(50 * n as u64);
        let ok = wait_for(trigger, room, limit, |r| r.completed.get() >= target).await?;
        if !ok {
            return Err(err(format!(
                "broadcast {} did not reach every member",
                room.completed.get()
            )));
        }
        if seq == end {
            break;
        }
        room.sent_at.borrow_mut()[seq as usize] = Instant::now();
        trigger
            .stream
            .write_all(&broadcast_frame(seq, room.msgpack))
            .await?;
    }
    let (secs, cpu) = w.end();
    let deliveries = (n as u64 * count) as f64;
    let lat = room.latencies_us.borrow()[lat_start..].to_vec();
    let last = room.last_us.borrow()[first as usize..end as usize].to_vec();
    let mut m = phase_figures(lat, last, cpu, deliveries);
    m.insert("deliveries_per_s".into(), json!(deliveries / secs));
    Ok(m)
}

/// A phase's latencies (`lat`: every receipt; `last`: each broadcast's last receipt, both
/// in µs, sorted here) and its server CPU per delivery.
fn phase_figures(
    mut lat: Vec<u32>,
    mut last: Vec<u32>,
    cpu: f64,
    deliveries: f64,
) -> Map<String, Value> {
    lat.sort_unstable();
    last.sort_unstable();
    let mut m = Map::new();
    m.insert("p50_ms".into(), json!(percentile(&lat, 0.50)));
    m.insert("p99_ms".into(), json!(percentile(&lat, 0.99)));
    m.insert("last_p50_ms".into(), json!(percentile(&last, 0.50)));
    m.insert("last_p99_ms".into(), json!(percentile(&last, 0.99)));
    m.insert(
        "cpu_us_per_delivery".into(),
        json!(cpu / 1000.0 / deliveries),
    );
    m
}

/// The broadcast scenario: `members` join room `bench`, then one phase of `broadcasts`
/// per entry of `windows`. The first phase's metrics have plain names, a later phase's
/// are prefixed with `w<window>_`. A server that cannot take every member is reported
/// with `held` (how many it took) and `stopped` (why), and no broadcast runs.
pub async fn broadcast(p: &Params) -> io::Result<Value> {
    let n = p.members;
    let msgpack = p.handshake == Handshake::MsgPack;
    let join = if msgpack {
        let mut arg = Vec::new();
        mp::str(&mut arg, "bench");
        binary_frame(&mp::event("join", &arg, 1, None))
    } else {
        text_frame(b"42[\"join\",\"bench\"]")
    };
    let t0 = Instant::now();
    let (conns, failure) = connect_upto(p, n, p.parallel, Some(join.clone())).await;
    if let Some(e) = failure {
        return Ok(json!({
            "held": conns.len(),
            "stopped": format!("after {} of {n} members ({:.0} s): {e}", conns.len(), t0.elapsed().as_secs_f64()),
        }));
    }
    let join = Rc::new(join);
    let total: usize = p.broadcasts * p.windows.len().max(1);
    let room = Room::new(n, total, msgpack);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::task::spawn_local(member(c, room.clone(), join.clone())))
        .collect();
    // The trigger may sit on another server of a cluster (`sio-bench cluster`).
    let trigger_port = p.trigger_port.unwrap_or(p.port);
    let upgrade = wire::upgrade_request(trigger_port, path(p.handshake));
    let mut trigger = wire::connect(trigger_port, p.handshake, &upgrade).await?;
    let result = async {
        probe(&mut trigger, &room, n).await?;
        let mut out = Map::new();
        out.insert("held".into(), json!(n));
        let windows = if p.windows.is_empty() {
            vec![1]
        } else {
            p.windows.clone()
        };
        for (k, &window) in windows.iter().enumerate() {
            let first = (k * p.broadcasts) as u64;
            let m = phase(
                p,
                &mut trigger,
                &room,
                first,
                p.broadcasts as u64,
                window.max(1) as u64,
            )
            .await?;
            for (key, v) in m {
                let key = if k == 0 {
                    key
                } else {
                    format!("w{window}_{key}")
                };
                out.insert(key, v);
            }
        }
        Ok(Value::Object(out))
    }
    .await;
    for t in &tasks {
        t.abort();
    }
    result
}

/// `count` broadcasts, one every `interval` whatever the previous one did, then a wait
/// until every member has them all. Metrics as [`phase`]'s, the CPU over the whole
/// window (whatever else the server did meanwhile, such as heartbeats, included).
pub(crate) async fn paced(
    p: &Params,
    trigger: &mut Conn,
    room: &Room,
    count: u64,
    interval: Duration,
) -> io::Result<Map<String, Value>> {
    let n = room.members;
    let lat_start = room.latencies_us.borrow().len();
    let w = Window::start(p.pid);
    let start = tokio::time::Instant::now();
    for seq in 0..count {
        let at = start + interval * seq as u32;
        wait_for(trigger, room, at - tokio::time::Instant::now(), |_| false).await?;
        room.sent_at.borrow_mut()[seq as usize] = Instant::now();
        trigger
            .stream
            .write_all(&broadcast_frame(seq, room.msgpack))
            .await?;
    }
    let limit = wire::STEP_TIMEOUT + Duration::from_micros(50 * n as u64);
    if !wait_for(trigger, room, limit, |r| r.completed.get() >= count).await? {
        return Err(err(format!(
            "{} of {count} broadcasts reached every member",
            room.completed.get()
        )));
    }
    let (_, cpu) = w.end();
    let deliveries = (n as u64 * count) as f64;
    let lat = room.latencies_us.borrow()[lat_start..].to_vec();
    let last = room.last_us.borrow()[..count as usize].to_vec();
    Ok(phase_figures(lat, last, cpu, deliveries))
}
