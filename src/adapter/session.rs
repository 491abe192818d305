//! What connection state recovery asks of an adapter: the persisted session of a socket,
//! which broadcasts are stored, which stored ones a restored socket missed.
//!
//! The contract itself is on the session methods of [`Adapter`](super::Adapter); this file
//! holds the data types and the rules every store applies the same way.

use serde::{Deserialize, Serialize};

use super::{BroadcastOptions, Room};
use crate::engine::Sid;
use crate::protocol::BroadcastPacket;

/// A socket that left for a recoverable reason, as an adapter keeps it until its client
/// comes back (Node's `Session`). Serializable, with Node's field names (`sid`, `pid`,
/// `rooms`, `data`), so that a cluster store may keep it outside the process.
///
/// ```
/// use tower_socketio::Sid;
/// use tower_socketio::adapter::PersistedSession;
///
/// let sid = Sid::new();
/// let session = PersistedSession::new(sid, Sid::new(), vec![sid.to_string().into(), "lobby".into()], serde_json::json!({"user": 7}));
/// let text = serde_json::to_string(&session).unwrap();
/// assert!(text.starts_with(r#"{"sid":""#));
/// assert_eq!(serde_json::from_str::<PersistedSession>(&text).unwrap(), session);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PersistedSession {
    /// The socket id, which the recovered socket gets again.
    pub sid: Sid,
    /// The private session id: the client presents it to recover. A secret: it must never
    /// reach other sockets nor logs above `debug`.
    pub pid: Sid,
    /// The rooms the socket was in when it left, its own id first.
    pub rooms: Vec<Room>,
    /// The socket's data (see [`Socket::set_data`](crate::Socket::set_data); `null` when
    /// none was set).
    pub data: serde_json::Value,
}

impl PersistedSession {
    /// A session.
    pub fn new(sid: Sid, pid: Sid, rooms: Vec<Room>, data: serde_json::Value) -> Self {
        PersistedSession {
            sid,
            pid,
            rooms,
            data,
        }
    }

    /// Whether a stored broadcast sent with `opts` reached this socket, by the rooms it was
    /// in when it left (Node's `shouldIncludePacket`): see [`BroadcastOptions::includes`].
    pub fn missed(&self, opts: &BroadcastOptions) -> bool {
        opts.includes(&self.rooms)
    }
}

impl BroadcastOptions {
    /// Whether a socket in `rooms` (its own id among them) is targeted by a broadcast with
    /// these options: the broadcast names no room or one of `rooms`, and excepts none of
    /// them. How a store picks the missed packets of a [`PersistedSession`].
    ///
    /// ```
    /// use tower_socketio::adapter::BroadcastOptions;
    ///
    /// let rooms = ["me".into(), "a".into()];
    /// assert!(BroadcastOptions::default().includes(&rooms));
    /// let to_a = BroadcastOptions { rooms: vec!["a".into()], ..Default::default() };
    /// assert!(to_a.includes(&rooms));
    /// let except_me = BroadcastOptions { except: vec!["me".into()], ..Default::default() };
    /// assert!(!except_me.includes(&rooms));
    /// ```
    pub fn includes(&self, rooms: &[Room]) -> bool {
        let included = self.rooms.is_empty() || self.rooms.iter().any(|r| rooms.contains(r));
        included && !self.except.iter().any(|r| rooms.contains(r))
    }
}

/// Whether connection state recovery stores a broadcast (and gives it an offset): an
/// EVENT that expects no acknowledgement and is not volatile, whatever its rooms, its
/// other flags and its receivers (as Node's `SessionAwareAdapter`).
pub fn is_stored(packet: &BroadcastPacket, opts: &BroadcastOptions) -> bool {
    packet.ack().is_none() && !opts.flags.volatile
}

/// What an adapter's recovery store holds now, for metrics (see
/// [`Adapter::recovery_stats`](super::Adapter::recovery_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryStats {
    /// Persisted sessions.
    pub sessions: usize,
    /// Stored packets.
    pub packets: usize,
    /// What the stored packets count against
    /// [`max_stored_bytes`](crate::ConnectionStateRecovery::max_stored_bytes).
    pub stored_bytes: usize,
}
