//! The core's observer seam: what the server reports about its own work to one observer,
//! the Admin UI's server side ([`crate::admin`]), set once when the server is built.
//!
//! It exists only with the `admin-ui` feature: without it the [`observe!`] call sites expand
//! to nothing, no field is added anywhere, and nothing is checked on any path. With the
//! feature, a server that is not instrumented pays one `None` check per call site.
//!
//! Two parts, so that production mode does no per-event work beyond counting:
//! - [`Counters`]: totals of Engine.IO connections, disconnections (by reason), and message
//!   packets and bytes in each direction, kept by every instrumented server (relaxed atomic
//!   additions, nothing else);
//! - [`SocketEvents`]: the per-socket events (connected, updated, disconnected, rooms,
//!   events received and sent), called only when the observer asked for them (the Admin
//!   UI's development mode).
//!
//! Where they are reported: the connection's [`Client`](crate::client) (connections,
//! disconnections, upgrades, packets in), the send helpers `client::send_packet*` (packets
//! out), the namespace's connect (socket connected), the socket (data, events, disconnect),
//! and the in-memory adapter (rooms: it alone knows when a membership really changes,
//! whichever server asked for it).

/// Runs `$body` with `$o` bound to the observer from `$source` (an `Option<&Observe>`-like
/// expression); compiles to nothing without the `admin-ui` feature.
macro_rules! observe {
    ($source:expr => |$o:ident| $body:expr) => {
        #[cfg(feature = "admin-ui")]
        {
            if let Some($o) = $source {
                $body;
            }
        }
    };
}
pub(crate) use observe;

#[cfg(feature = "admin-ui")]
pub(crate) use imp::*;

#[cfg(feature = "admin-ui")]
mod imp {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

    use crate::adapter::Room;
    use crate::engine::{DisconnectReason as EngineReason, Message, Sid, Str};
    use crate::protocol::{Args, Encoded};
    use crate::socket::{DisconnectReason, Socket, SocketRef};

    /// The key under which a socket's client id and transport travel inside its `data` to
    /// other servers (a fetch reply), as Node's instrumented servers put them there: a UI
    /// connected to any server of the cluster then groups the sockets by client.
    pub(crate) const ADMIN_DATA_KEY: &str = "_admin";

    /// How many characters of the Engine.IO session id are shown as the client id. The
    /// full id is the long-polling session's credential: it never leaves the server.
    pub(crate) const CLIENT_ID_LEN: usize = 12;

    /// The client id of an Engine.IO session id.
    pub(crate) fn client_id(engine_sid: &str) -> &str {
        engine_sid.get(..CLIENT_ID_LEN).unwrap_or(engine_sid)
    }

    /// What an instrumented server reports: counters always, per-socket events when asked.
    pub(crate) struct Observe {
        pub(crate) counters: Counters,
        pub(crate) events: Option<Arc<dyn SocketEvents>>,
    }

    impl std::fmt::Debug for Observe {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Observe")
                .field("counters", &self.counters)
                .field("events", &self.events.is_some())
                .finish()
        }
    }

    /// The per-socket events. Called synchronously where they happen (often under the
    /// connection's ordering, sometimes under a lock of the adapter): implementations only
    /// record or queue, never wait.
    pub(crate) trait SocketEvents: Send + Sync + 'static {
        /// A socket joined its namespace (its middleware passed), before its handler runs.
        fn socket_connected(&self, socket: &SocketRef);
        /// [`Socket::set_data`] changed the socket's data.
        fn data_updated(&self, socket: &Socket);
        /// The socket's connection moved to WebSocket.
        fn transport_upgraded(&self, socket: &Socket);
        /// The socket left its namespace; its named rooms are left right after (reported
        /// by the adapter), its own-id room with it.
        fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason);
        /// A socket of this server was added to a named room it was not in.
        fn room_joined(&self, ns: &Str, room: &Room, sid: Sid);
        /// A socket of this server was removed from a named room it was in.
        fn room_left(&self, ns: &Str, room: &Room, sid: Sid);
        /// An event arrived from the client (before packet middleware).
        fn event_received(&self, socket: &Socket, event: &Str, args: &Args);
        /// An event was queued to the client: a direct emit, or one delivery of a broadcast.
        fn event_sent(&self, socket: &Socket, event: &str, args: &Args);
    }

    /// The Engine.IO close reasons, in a fixed order (the index of a reason's counter).
    pub(crate) const REASONS: [EngineReason; 6] = [
        EngineReason::TransportClose,
        EngineReason::TransportError,
        EngineReason::HeartbeatTimeout,
        EngineReason::PacketParsingError,
        EngineReason::ServerClose,
        EngineReason::ClosingServer,
    ];

    fn reason_index(r: EngineReason) -> usize {
        REASONS.iter().position(|x| *x == r).unwrap_or(4)
    }

    /// Totals since the server was built. Each direction's pair on its own cache line, so
    /// that reading and writing tasks do not contend.
    #[derive(Debug, Default)]
    pub(crate) struct Counters {
        inbound: Pair,
        outbound: Pair,
        connections: AtomicU64,
        disconnections: [AtomicU64; 6],
        /// Sessions open on long-polling (not upgraded yet).
        polling: AtomicI64,
    }

    #[derive(Debug, Default)]
    #[repr(align(64))]
    struct Pair {
        packets: AtomicU64,
        bytes: AtomicU64,
    }

    /// The counters at one moment.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Snapshot {
        pub(crate) connections: u64,
        pub(crate) packets_in: u64,
        pub(crate) bytes_in: u64,
        pub(crate) packets_out: u64,
        pub(crate) bytes_out: u64,
        /// Per reason, in the order of [`REASONS`].
        pub(crate) disconnections: [u64; 6],
    }

    fn len(m: &Message) -> usize {
        match m {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    impl Counters {
        /// A message received (its payload length; empty ones are not counted, as Node).
        #[inline]
        pub(crate) fn received(&self, m: &Message) {
            let n = len(m);
            if n > 0 {
                self.inbound.packets.fetch_add(1, Relaxed);
                self.inbound.bytes.fetch_add(n as u64, Relaxed);
            }
        }

        /// A packet queued to a client: each of its messages (attachments count apart).
        #[inline]
        pub(crate) fn sent(&self, packet: &Encoded) {
            let (mut packets, mut bytes) = (0, 0);
            let mut add = |n: usize| {
                if n > 0 {
                    packets += 1;
                    bytes += n as u64;
                }
            };
            add(len(packet.first()));
            for a in packet.attachments() {
                add(a.len());
            }
            self.outbound.packets.fetch_add(packets, Relaxed);
            self.outbound.bytes.fetch_add(bytes, Relaxed);
        }

        /// A new Engine.IO session, on long-polling or not.
        pub(crate) fn connection(&self, polling: bool) {
            self.connections.fetch_add(1, Relaxed);
            if polling {
                self.polling.fetch_add(1, Relaxed);
            }
        }

        /// A session moved from long-polling to WebSocket.
        pub(crate) fn upgrade(&self) {
            self.polling.fetch_sub(1, Relaxed);
        }

        /// A session ended (`polling`: it was still on long-polling).
        pub(crate) fn disconnection(&self, reason: EngineReason, polling: bool) {
            self.disconnections[reason_index(reason)].fetch_add(1, Relaxed);
            if polling {
                self.polling.fetch_sub(1, Relaxed);
            }
        }

        /// Sessions open on long-polling now.
        pub(crate) fn polling_clients(&self) -> u64 {
            self.polling.load(Relaxed).max(0) as u64
        }

        /// The totals now.
        pub(crate) fn snapshot(&self) -> Snapshot {
            Snapshot {
                connections: self.connections.load(Relaxed),
                packets_in: self.inbound.packets.load(Relaxed),
                bytes_in: self.inbound.bytes.load(Relaxed),
                packets_out: self.outbound.packets.load(Relaxed),
                bytes_out: self.outbound.bytes.load(Relaxed),
                disconnections: std::array::from_fn(|i| self.disconnections[i].load(Relaxed)),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use bytes::Bytes;

        #[test]
        fn counts() {
            let c = Counters::default();
            c.received(&Message::Text(Str::from_static("2[\"a\"]")));
            c.received(&Message::Text(Str::from_static("")));
            c.received(&Message::Binary(Bytes::from_static(&[1, 2])));
            let packet = Encoded::new(
                Message::Text(Str::from_static("51-[\"a\",{}]")),
                vec![Bytes::from_static(&[1, 2, 3])],
            );
            c.sent(&packet);
            c.connection(true);
            c.upgrade();
            c.connection(true);
            c.disconnection(EngineReason::HeartbeatTimeout, true);
            let s = c.snapshot();
            assert_eq!((s.packets_in, s.bytes_in), (2, 8));
            assert_eq!((s.packets_out, s.bytes_out), (2, 14));
            assert_eq!(s.connections, 2);
            assert_eq!(s.disconnections[2], 1);
            assert_eq!(c.polling_clients(), 0);
        }
    }
}
