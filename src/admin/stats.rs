//! `server_stats` (both modes): the core's [`Counters`] (Engine.IO connections,
//! disconnections by reason, message packets and bytes in each direction) as Node's
//! per-second `aggregatedEvents` buckets.
//!
//! The hot paths only add to atomic totals. A sampler reads the totals once a second and
//! turns what changed into buckets; `server_stats` drains them every two seconds.

use serde::Serialize;

use crate::observe::{Counters, REASONS, Snapshot};

/// The bucket types of `aggregatedEvents`, in the order of [`values`].
const TYPES: [&str; 5] = [
    "rawConnection",
    "packetsIn",
    "bytesIn",
    "packetsOut",
    "bytesOut",
];

fn values(s: &Snapshot) -> [u64; 5] {
    [
        s.connections,
        s.packets_in,
        s.bytes_in,
        s.packets_out,
        s.bytes_out,
    ]
}

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

/// Turns the totals into buckets: [`sample`](Self::sample) once a second, [`drain`](Self::drain)
/// at each `server_stats`. Only the sampler task touches it.
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
        let (values, last) = (values(&now), values(&self.last));
        for (i, kind) in TYPES.iter().enumerate() {
            let count = values[i].wrapping_sub(last[i]);
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
    use crate::engine::{DisconnectReason as EngineReason, Message, Str};
    use crate::protocol::Encoded;

    #[test]
    fn buckets_per_second_and_type() {
        let c = Counters::default();
        let mut s = Sampler::default();
        c.connection(true);
        c.received(&Message::Text(Str::from_static("0123456789")));
        c.received(&Message::Text(Str::from_static("")));
        c.received(&Message::Text(Str::from_static("01234")));
        c.sent(&Encoded::new(
            Message::Text(Str::from("x".repeat(100))),
            Vec::new(),
        ));
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
