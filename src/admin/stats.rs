//! The counters behind `server_stats` (both modes): Engine.IO connections, disconnections
//! by reason, and message packets and bytes in each direction.
//!
//! The hot paths only add to atomic totals (relaxed, no lock, no allocation). A sampler
//! reads the totals once a second and turns what changed into the per-second buckets of
//! Node's `aggregatedEvents`; `server_stats` drains them every two seconds.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use crate::engine::DisconnectReason as EngineReason;

/// The Engine.IO close reasons, in a fixed order (index of a reason's counter).
const REASONS: [EngineReason; 6] = [
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

/// Totals since the server was instrumented. Each direction's pair on its own cache line,
/// so that reading and writing tasks do not contend.
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

impl Counters {
    /// A message packet received (its payload length; empty ones are not counted, as Node).
    #[inline]
    pub(crate) fn packet_in(&self, bytes: usize) {
        if bytes > 0 {
            self.inbound.packets.fetch_add(1, Relaxed);
            self.inbound.bytes.fetch_add(bytes as u64, Relaxed);
        }
    }

    /// A message packet queued to a client.
    #[inline]
    pub(crate) fn packet_out(&self, bytes: usize) {
        if bytes > 0 {
            self.outbound.packets.fetch_add(1, Relaxed);
            self.outbound.bytes.fetch_add(bytes as u64, Relaxed);
        }
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

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            values: [
                self.connections.load(Relaxed),
                self.inbound.packets.load(Relaxed),
                self.inbound.bytes.load(Relaxed),
                self.outbound.packets.load(Relaxed),
                self.outbound.bytes.load(Relaxed),
            ],
            disconnections: std::array::from_fn(|i| self.disconnections[i].load(Relaxed)),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Snapshot {
    values: [u64; 5],
    disconnections: [u64; 6],
}

/// The bucket types of `aggregatedEvents`, in the order of [`Snapshot::values`].
const TYPES: [&str; 5] = [
    "rawConnection",
    "packetsIn",
    "bytesIn",
    "packetsOut",
    "bytesOut",
];

/// One bucket of `aggregatedEvents`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bucket {
    /// The second the counts belong to, in ms since the epoch.
    pub(crate) timestamp: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(rename = "subType", skip_serializing_if = "Option::is_none")]
    pub(crate) sub_type: Option<&'static str>,
    pub(crate) count: u64,
}

/// Turns the totals into buckets: [`sample`](Self::sample) once a second, [`drain`]
/// (Self::drain) at each `server_stats`. Only the sampler task touches it.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    last: Snapshot,
    pending: Vec<Bucket>,
}

/// At most this many buckets wait for the next `server_stats` (a stalled emitter drops the
/// oldest).
const MAX_PENDING: usize = 1024;

impl Sampler {
    /// Adds a bucket per type that changed since the previous sample, stamped with the
    /// second `second_ms` (ms since the epoch, whole seconds).
    pub(crate) fn sample(&mut self, counters: &Counters, second_ms: u64) {
        let now = counters.snapshot();
        for (i, kind) in TYPES.iter().enumerate() {
            let count = now.values[i].wrapping_sub(self.last.values[i]);
            if count > 0 {
                self.pending.push(Bucket {
                    timestamp: second_ms,
                    kind,
                    sub_type: None,
                    count,
                });
            }
        }
        for (i, reason) in REASONS.iter().enumerate() {
            let count = now.disconnections[i].wrapping_sub(self.last.disconnections[i]);
            if count > 0 {
                self.pending.push(Bucket {
                    timestamp: second_ms,
                    kind: "rawDisconnection",
                    sub_type: Some(reason.as_str()),
                    count,
                });
            }
        }
        self.last = now;
        if self.pending.len() > MAX_PENDING {
            let extra = self.pending.len() - MAX_PENDING;
            self.pending.drain(..extra);
        }
    }

    /// The buckets since the previous drain.
    pub(crate) fn drain(&mut self) -> Vec<Bucket> {
        std::mem::take(&mut self.pending)
    }
}

/// One namespace in `server_stats`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NamespaceStats {
    pub(crate) name: String,
    #[serde(rename = "socketsCount")]
    pub(crate) sockets_count: usize,
}

/// The payload of `server_stats`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerStats<'a> {
    pub(crate) server_id: &'a str,
    pub(crate) hostname: &'a str,
    pub(crate) pid: u32,
    /// Seconds since the server was instrumented.
    pub(crate) uptime: f64,
    pub(crate) clients_count: usize,
    pub(crate) polling_clients_count: u64,
    pub(crate) aggregated_events: Vec<Bucket>,
    pub(crate) namespaces: Vec<NamespaceStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_per_second_and_type() {
        let c = Counters::default();
        let mut s = Sampler::default();
        c.connection(true);
        c.packet_in(10);
        c.packet_in(0);
        c.packet_in(5);
        c.packet_out(100);
        s.sample(&c, 1000);
        c.upgrade();
        c.disconnection(EngineReason::TransportClose, false);
        c.connection(false);
        s.sample(&c, 2000);
        s.sample(&c, 3000);
        let got = s.drain();
        let view: Vec<(u64, &str, Option<&str>, u64)> = got
            .iter()
            .map(|b| (b.timestamp, b.kind, b.sub_type, b.count))
            .collect();
        assert_eq!(
            view,
            [
                (1000, "rawConnection", None, 1),
                (1000, "packetsIn", None, 2),
                (1000, "bytesIn", None, 15),
                (1000, "packetsOut", None, 1),
                (1000, "bytesOut", None, 100),
                (2000, "rawConnection", None, 1),
                (2000, "rawDisconnection", Some("transport close"), 1),
            ]
        );
        assert!(s.drain().is_empty());
        assert_eq!(c.polling_clients(), 0);
        assert_eq!(
            serde_json::to_string(&got[0]).unwrap(),
            r#"{"timestamp":1000,"type":"rawConnection","count":1}"#
        );
        assert_eq!(
            serde_json::to_string(&got[6]).unwrap(),
            r#"{"timestamp":2000,"type":"rawDisconnection","subType":"transport close","count":1}"#
        );
    }
}
