//! The in-memory store of connection state recovery (Node's `SessionAwareAdapter`): the
//! persisted sessions and the stored broadcasts of one namespace, both bounded.
//!
//! Offsets are `<prefix>.<sequence>`: a random prefix per store (so that an offset from
//! another process, or from an earlier incarnation of the namespace, never matches) and a
//! sequence number in base 36. The packets sit in a queue in sequence order, so finding the
//! client's position is arithmetic, not a search.
//!
//! What is kept, and for how long:
//! - packets: until `max_disconnection_duration` after they were stored, and while their
//!   total cost stays within `max_stored_bytes` (the oldest go first);
//! - sessions: until `max_disconnection_duration` after the disconnection, and at most
//!   `max_sessions` of them (the oldest go first); a restored session is removed.
//!
//! Expired entries are dropped on every operation and by a sweeper task (when the store
//! is made inside a Tokio runtime), so an idle namespace gives its memory back too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::ConnectionStateRecovery;
use crate::adapter::{BroadcastOptions, PersistedSession, RecoveryStats, Room};
use crate::engine::{Sid, Str};
use crate::protocol::BroadcastPacket;
use crate::util::lock;

/// What a stored packet counts against the byte budget besides the bytes it holds: its
/// entry in the queue (the packet model and its encoding slots, its options) and the
/// allocations' overhead, about half a KiB.
pub(crate) const ENTRY_COST: usize = std::mem::size_of::<StoredPacket>() + 64;

pub(crate) struct Store {
    config: ConnectionStateRecovery,
    /// The first part of every offset of this store.
    prefix: Str,
    state: Mutex<State>,
}

struct StoredPacket {
    at: Instant,
    packet: BroadcastPacket,
    opts: StoredOpts,
    cost: usize,
}

/// The rooms of a stored broadcast, as given at emit time.
struct StoredOpts {
    rooms: Vec<Room>,
    except: Vec<Room>,
}

struct KeptSession {
    at: Instant,
    /// Which entry of `order` is this one's (an older one of the same pid is stale).
    generation: u64,
    session: PersistedSession,
}

#[derive(Default)]
struct State {
    /// The sequence number of the front packet, or of the next one when there is none.
    first: u64,
    packets: VecDeque<StoredPacket>,
    bytes: usize,
    sessions: HashMap<Sid, KeptSession>,
    /// Sessions in the order they were persisted (entries of removed or replaced sessions
    /// stay until they reach the front, or the queue is compacted).
    order: VecDeque<(u64, Sid)>,
    generation: u64,
}

impl State {
    fn next_seq(&self) -> u64 {
        self.first + self.packets.len() as u64
    }

    fn pop_packet(&mut self) {
        if let Some(p) = self.packets.pop_front() {
            self.bytes = self.bytes.saturating_sub(p.cost);
            self.first += 1;
        }
    }

    fn expire(&mut self, now: Instant, keep: Duration) {
        while self
            .packets
            .front()
            .is_some_and(|p| now.saturating_duration_since(p.at) > keep)
        {
            self.pop_packet();
        }
        while let Some(&(generation, pid)) = self.order.front() {
            match self.sessions.get(&pid) {
                Some(k) if k.generation == generation => {
                    if now.saturating_duration_since(k.at) <= keep {
                        break;
                    }
                    self.sessions.remove(&pid);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Drops the oldest sessions beyond `max`, and stale entries of `order` when they
    /// outnumber the live ones.
    fn bound_sessions(&mut self, max: usize) {
        while self.sessions.len() > max {
            let Some((generation, pid)) = self.order.pop_front() else {
                break;
            };
            if self
                .sessions
                .get(&pid)
                .is_some_and(|k| k.generation == generation)
            {
                self.sessions.remove(&pid);
            }
        }
        if self.order.len() > 2 * self.sessions.len() + 64 {
            let sessions = &self.sessions;
            self.order.retain(|(generation, pid)| {
                sessions
                    .get(pid)
                    .is_some_and(|k| k.generation == *generation)
            });
        }
    }
}

impl Store {
    /// A store with these bounds; inside a Tokio runtime, with a sweeper task that ends
    /// with the store.
    pub(crate) fn new(config: ConnectionStateRecovery) -> Arc<Self> {
        let prefix = Sid::new().as_str()[..6].to_owned();
        let store = Arc::new(Store {
            config,
            prefix: Str::from(prefix),
            state: Mutex::new(State::default()),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let period = (store.config.get_max_disconnection_duration() / 2)
                .clamp(Duration::from_millis(100), Duration::from_secs(10));
            rt.spawn(sweep(Arc::downgrade(&store), period));
        }
        store
    }

    fn keep(&self) -> Duration {
        self.config.get_max_disconnection_duration()
    }

    fn offset(&self, seq: u64) -> Str {
        let mut digits = [0u8; 13];
        let mut i = digits.len();
        let mut n = seq;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
            n /= 36;
            if n == 0 {
                break;
            }
        }
        let mut s = String::with_capacity(self.prefix.len() + 1 + digits.len() - i);
        s.push_str(&self.prefix);
        s.push('.');
        s.extend(digits[i..].iter().map(|&b| char::from(b)));
        Str::from(s)
    }

    /// The sequence number of one of this store's offsets.
    fn parse(&self, offset: &str) -> Option<u64> {
        let seq = offset
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?;
        if seq.is_empty() || seq.len() > 13 || seq.starts_with('0') && seq.len() > 1 {
            return None;
        }
        u64::from_str_radix(seq, 36).ok()
    }

    /// Where the packets after `offset` start in the queue, if every one of them is still
    /// here: the offset is this store's, was given out, and nothing after it was dropped
    /// (the packet of the offset itself may be gone: a quiet namespace still recovers).
    fn resume_index(&self, state: &State, offset: &str) -> Option<usize> {
        let seq = self.parse(offset)?;
        if seq >= state.next_seq() || seq.saturating_add(1) < state.first {
            return None;
        }
        usize::try_from(seq + 1 - state.first).ok()
    }

    /// Gives a broadcast its offset, lets `deliver` send that stored copy to the local
    /// targets and keeps it, all under the store's lock: every socket receives stored
    /// packets in offset order.
    pub(crate) fn broadcast(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        deliver: impl FnOnce(&BroadcastPacket),
    ) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.expire(now, self.keep());
        let stored = packet.with_offset(self.offset(state.next_seq()));
        deliver(&stored);
        let opts = StoredOpts {
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
        };
        let rooms: usize = opts
            .rooms
            .iter()
            .chain(&opts.except)
            .map(|r| r.len() + 24)
            .sum();
        let cost = stored.held_bytes() + rooms + ENTRY_COST;
        state.bytes += cost;
        state.packets.push_back(StoredPacket {
            at: now,
            packet: stored,
            opts,
            cost,
        });
        let max = self.config.get_max_stored_bytes();
        while state.bytes > max && !state.packets.is_empty() {
            state.pop_packet();
        }
    }

    pub(crate) fn persist(&self, session: PersistedSession) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.expire(now, self.keep());
        state.generation += 1;
        let generation = state.generation;
        let pid = session.pid;
        state.order.push_back((generation, pid));
        state.sessions.insert(
            pid,
            KeptSession {
                at: now,
                generation,
                session,
            },
        );
        state.bound_sessions(self.config.get_max_sessions());
    }

    pub(crate) fn restore(&self, pid: Sid, offset: &str) -> Option<PersistedSession> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        state.expire(now, self.keep());
        state.sessions.get(&pid)?;
        self.resume_index(&state, offset)?;
        state.sessions.remove(&pid).map(|k| k.session)
    }

    pub(crate) fn missed(
        &self,
        session: &PersistedSession,
        offset: &str,
    ) -> Option<Vec<BroadcastPacket>> {
        let state = lock(&self.state);
        let from = self.resume_index(&state, offset)?;
        Some(
            state
                .packets
                .range(from..)
                .filter(|p| includes(&p.opts, &session.rooms))
                .map(|p| p.packet.clone())
                .collect(),
        )
    }

    pub(crate) fn stats(&self) -> RecoveryStats {
        let mut state = lock(&self.state);
        state.expire(Instant::now(), self.keep());
        RecoveryStats {
            sessions: state.sessions.len(),
            packets: state.packets.len(),
            stored_bytes: state.bytes,
        }
    }

    fn sweep_once(&self) {
        let mut state = lock(&self.state);
        state.expire(Instant::now(), self.keep());
        if state.packets.is_empty() && state.packets.capacity() > 64 {
            state.packets.shrink_to(16);
        }
    }
}

/// [`BroadcastOptions::includes`] over the stored rooms.
fn includes(opts: &StoredOpts, rooms: &[Room]) -> bool {
    let included = opts.rooms.is_empty() || opts.rooms.iter().any(|r| rooms.contains(r));
    included && !opts.except.iter().any(|r| rooms.contains(r))
}

async fn sweep(store: Weak<Store>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        store.sweep_once();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(config: ConnectionStateRecovery) -> Arc<Store> {
        Store::new(config)
    }

    fn session(rooms: &[&str]) -> PersistedSession {
        let sid = Sid::new();
        let mut all: Vec<Room> = vec![sid.to_string().into()];
        all.extend(rooms.iter().map(|r| Room::Owned((*r).to_owned())));
        PersistedSession::new(sid, Sid::new(), all, serde_json::Value::Null)
    }

    fn emit(store: &Store, n: u32, opts: &BroadcastOptions) -> String {
        let packet = BroadcastPacket::event("/", "n", &(n,), None).unwrap();
        let mut offset = String::new();
        store.broadcast(&packet, opts, |p| offset = p.offset().unwrap().to_owned());
        offset
    }

    fn to(rooms: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::Owned((*r).to_owned())).collect(),
            ..Default::default()
        }
    }

    fn numbers(packets: &[BroadcastPacket]) -> Vec<u32> {
        packets
            .iter()
            .map(|p| p.args().deserialize().unwrap())
            .collect()
    }

    #[test]
    fn offsets_are_unique_ordered_and_parse_back() {
        let s = store(ConnectionStateRecovery::new());
        let all = BroadcastOptions::default();
        let offsets: Vec<String> = (0..40).map(|n| emit(&s, n, &all)).collect();
        for (i, o) in offsets.iter().enumerate() {
            assert_eq!(s.parse(o), Some(i as u64));
            assert!(!o.contains('"') && !o.contains('\\'));
        }
        assert_eq!(s.parse("zz"), None);
        assert_eq!(s.parse(&format!("{}.", s.prefix)), None);
        assert_eq!(s.parse(&format!("{}.01", s.prefix)), None);
        assert_eq!(s.parse(&format!("{}.zzzzzzzzzzzzzz", s.prefix)), None);
        let other = store(ConnectionStateRecovery::new());
        assert_eq!(other.parse(&offsets[0]), None);
    }

    #[test]
    fn missed_packets_follow_rooms_and_except() {
        let s = store(ConnectionStateRecovery::new());
        let first = emit(&s, 0, &BroadcastOptions::default());
        let me = session(&["a"]);
        let my_id = me.sid.to_string();
        emit(&s, 1, &BroadcastOptions::default());
        emit(&s, 2, &to(&["a"]));
        emit(&s, 3, &to(&["b"]));
        emit(&s, 4, &to(&[my_id.as_str()]));
        let mut except_a = BroadcastOptions::default();
        except_a.except.push("a".into());
        emit(&s, 5, &except_a);
        emit(&s, 6, &to(&["b", "a"]));
        s.persist(me.clone());
        assert_eq!(s.restore(me.pid, "nope"), None);
        let back = s.restore(me.pid, &first).unwrap();
        assert_eq!(back, me);
        // Taken: a second restore finds nothing.
        assert_eq!(s.restore(me.pid, &first), None);
        assert_eq!(numbers(&s.missed(&me, &first).unwrap()), [1, 2, 4, 6]);
        // The offsets come with the packets.
        let missed = s.missed(&me, &first).unwrap();
        assert_eq!(s.parse(missed[0].offset().unwrap()), Some(1));
    }

    #[test]
    fn the_byte_budget_drops_the_oldest_packets() {
        let budget = 4096;
        let s = store(ConnectionStateRecovery::new().max_stored_bytes(budget));
        let all = BroadcastOptions::default();
        let first = emit(&s, 0, &all);
        let mut last = first.clone();
        for n in 1..200 {
            last = emit(&s, n, &all);
            assert!(s.stats().stored_bytes <= budget);
        }
        let stats = s.stats();
        assert!(stats.packets > 5 && stats.packets < 200, "{stats:?}");
        let me = session(&[]);
        s.persist(me.clone());
        // Its position was dropped: no recovery, and the session stays.
        assert_eq!(s.restore(me.pid, &first), None);
        assert_eq!(s.stats().sessions, 1);
        // The newest position still works, with nothing missed.
        assert!(s.restore(me.pid, &last).is_some());
        assert_eq!(s.missed(&me, &last).unwrap().len(), 0);
    }

    #[test]
    fn sessions_are_bounded_oldest_first_and_replaced_by_pid() {
        let s = store(ConnectionStateRecovery::new().max_sessions(3));
        let offset = emit(&s, 0, &BroadcastOptions::default());
        let sessions: Vec<PersistedSession> = (0..5).map(|_| session(&[])).collect();
        for x in &sessions {
            s.persist(x.clone());
        }
        assert_eq!(s.stats().sessions, 3);
        assert!(s.restore(sessions[0].pid, &offset).is_none());
        assert!(s.restore(sessions[1].pid, &offset).is_none());
        assert!(s.restore(sessions[4].pid, &offset).is_some());
        // Persisting again under one pid replaces the session; churn keeps `order` small.
        for _ in 0..1000 {
            s.persist(sessions[2].clone());
            let _ = s.restore(sessions[2].pid, &offset);
        }
        let state = lock(&s.state);
        assert!(state.order.len() <= 2 * state.sessions.len() + 65);
    }

    #[test]
    fn everything_expires_after_the_duration() {
        let s = store(
            ConnectionStateRecovery::new().max_disconnection_duration(Duration::from_millis(30)),
        );
        let offset = emit(&s, 0, &BroadcastOptions::default());
        let me = session(&[]);
        s.persist(me.clone());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(s.restore(me.pid, &offset), None);
        assert_eq!(s.stats(), RecoveryStats::default());
        // A quiet namespace: the last offset given out is still a valid position.
        s.persist(me.clone());
        assert!(s.restore(me.pid, &offset).is_some());
    }
}
