//! What other servers send: operations to run here, requests to answer, and responses to
//! this server's requests.

use std::time::Duration;

use futures_util::StreamExt;

use super::{ClusterAdapter, MAX_REMOTE_ACK_TIMEOUT, Message, Transport, kind};
use crate::ack::{AckError, RawAckStream};
use crate::adapter::Adapter;
use crate::adapter::redis::wire;
use crate::protocol::Value;
use crate::server_side::ServerSideAck;
use crate::util::lock;

impl<T: Transport> ClusterAdapter<T> {
    /// A message from another server; `offset` is its place in a log (a stream entry id).
    pub(crate) fn on_message(&self, msg: Message, offset: Option<&str>) {
        if msg.uid == self.uid || msg.nsp != self.nsp {
            return;
        }
        if msg.get("requestId").is_some() && msg.request_id().is_none() {
            tracing::debug!(
                adapter = self.settings.name,
                kind = msg.kind,
                "cluster adapter: ignoring a message with a malformed request id"
            );
            return;
        }
        match msg.kind {
            kind::BROADCAST => match msg.request_id() {
                Some(id) => self.serve_broadcast_with_ack(&msg, id),
                None => self.deliver(&msg, offset),
            },
            kind::SOCKETS_JOIN | kind::SOCKETS_LEAVE => {
                let opts = msg.opts();
                let rooms = msg.rooms();
                for s in self.local.targets(&opts) {
                    if msg.kind == kind::SOCKETS_JOIN {
                        self.add_all(s.id(), &rooms);
                    } else {
                        self.del(s.id(), &rooms);
                    }
                }
            }
            kind::DISCONNECT_SOCKETS => {
                let close = msg.get("close").is_some_and(wire::is_true);
                self.local.apply_disconnect_sockets(&msg.opts(), close);
            }
            kind::FETCH_SOCKETS => {
                let Some(id) = msg.request_id() else { return };
                let sockets = self.local.apply_fetch_sockets_for_peer(&msg.opts());
                let sockets = serde_json::to_value(&sockets)
                    .map(Value::from)
                    .unwrap_or(Value::Array(Vec::new()));
                self.transport.publish_response(
                    &msg.uid,
                    Message::fetch_sockets_response(&self.uid, &self.nsp, &id, sockets),
                );
            }
            kind::SERVER_SIDE_EMIT => {
                let Some(ns) = self.namespace() else { return };
                let data: Vec<serde_json::Value> = match msg.get("packet").map(serde_json::to_value)
                {
                    Some(Ok(serde_json::Value::Array(items))) => items,
                    _ => return,
                };
                let ack = msg.request_id().map(|id| {
                    let transport = self.transport.clone();
                    let (me, nsp, to) = (self.uid.clone(), self.nsp.clone(), msg.uid.clone());
                    ServerSideAck::new(move |value| {
                        let packet = Value::from(value);
                        transport.publish_response(
                            &to,
                            Message::response_packet(
                                kind::SERVER_SIDE_EMIT_RESPONSE,
                                &me,
                                &nsp,
                                &id,
                                packet,
                            ),
                        );
                    })
                });
                ns.dispatch_server_side(data, ack);
            }
            k if kind::is_response(k) => self.on_response(msg),
            kind::INITIAL_HEARTBEAT | kind::HEARTBEAT | kind::ADAPTER_CLOSE => {}
            other => tracing::debug!(
                adapter = self.settings.name,
                kind = other,
                "cluster adapter: ignoring an unknown message type"
            ),
        }
    }

    /// A broadcast from the log or the channel: delivered to this server's targeted
    /// sockets, with its offset when recovery stores it (Node's `addOffsetIfNecessary`).
    pub(crate) fn deliver(&self, msg: &Message, offset: Option<&str>) {
        let packet = match msg.packet() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(adapter = self.settings.name, error = %e, "cluster adapter: ignoring a malformed broadcast");
                return;
            }
        };
        let broadcast = packet.to_broadcast(None);
        let opts = msg.opts();
        match offset {
            Some(offset) if self.settings.recovery && !opts.flags.volatile => {
                self.deliver_stored(&broadcast, &opts, offset);
            }
            _ => self.local.apply_broadcast(&broadcast, &opts),
        }
    }

    /// Another server's broadcast with acknowledgements: deliver here, tell how many
    /// clients were reached, then forward each client's acknowledgement.
    fn serve_broadcast_with_ack(&self, msg: &Message, id: String) {
        let Some(ns) = self.namespace() else { return };
        let packet = match msg.packet() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(adapter = self.settings.name, error = %e, "cluster adapter: ignoring a malformed broadcast");
                return;
            }
        };
        let opts = msg.opts();
        let timeout = msg
            .ack_timeout_ms()
            .map(Duration::from_millis)
            .unwrap_or(self.settings.requests_timeout)
            .min(MAX_REMOTE_ACK_TIMEOUT);
        let ack_id = ns.next_ack_id();
        let broadcast = packet.to_broadcast(Some(ack_id));
        let (waiter, mut stream) = RawAckStream::channel(timeout);
        let n = self
            .local
            .apply_broadcast_with_ack(&broadcast, ack_id, &opts, &waiter);
        waiter.expect(n);
        drop(waiter);
        self.transport.publish_response(
            &msg.uid,
            Message::client_count(&self.uid, &self.nsp, &id, n),
        );
        if n == 0 {
            return;
        }
        let transport = self.transport.clone();
        let (me, nsp, to) = (self.uid.clone(), self.nsp.clone(), msg.uid.clone());
        tokio::spawn(async move {
            while let Some(reply) = stream.next().await {
                let Ok(args) = reply else { continue };
                // Node hands over the first argument of an acknowledgement.
                let first = args
                    .deserialize_all::<Vec<Value>>()
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .unwrap_or(Value::Null);
                transport.publish_response(
                    &to,
                    Message::response_packet(kind::BROADCAST_ACK, &me, &nsp, &id, first),
                );
            }
        });
    }

    /// A response to one of this server's requests.
    pub(crate) fn on_response(&self, msg: Message) {
        if msg.nsp != self.nsp {
            return;
        }
        let Some(id) = msg.request_id() else { return };
        match msg.kind {
            kind::BROADCAST_CLIENT_COUNT | kind::BROADCAST_ACK => {
                let Some(waiter) = lock(&self.ack_requests).get(&id).cloned() else {
                    return;
                };
                if msg.kind == kind::BROADCAST_CLIENT_COUNT {
                    let n = msg.get("clientCount").and_then(wire::uint).unwrap_or(0);
                    waiter.expect(usize::try_from(n).unwrap_or(usize::MAX));
                    waiter.close_source();
                } else {
                    match wire::broadcast_ack_args(msg.get("packet")) {
                        Ok(args) => waiter.reply(Ok(args)),
                        Err(e) => waiter.reply(Err(AckError::Encode(e))),
                    }
                }
                if waiter.is_closed() {
                    lock(&self.ack_requests).remove(&id);
                }
            }
            kind::FETCH_SOCKETS_RESPONSE | kind::SERVER_SIDE_EMIT_RESPONSE => {
                let tx = lock(&self.requests).get(&id).cloned();
                if let Some(tx) = tx {
                    let _ = tx.send(msg);
                }
            }
            _ => {}
        }
    }
}
