//! What other servers send: broadcasts, requests (and broadcasts with acknowledgements to
//! serve here), and responses to this server's requests.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{MAX_REMOTE_ACK_TIMEOUT, RedisAdapter};
use crate::ack::{AckError, RawAckStream};
use crate::adapter::redis::driver::MessageSink;
use crate::adapter::redis::wire::{self, WirePacket, kind};
use crate::adapter::{Adapter, BroadcastOptions, Room};
use crate::engine::Sid;
use crate::protocol::Value as Msg;
use crate::server_side::ServerSideAck;
use crate::util::lock;

impl RedisAdapter {
    fn on_broadcast(&self, channel: &str, payload: &Bytes) {
        if let Some(room) = self.channels.room_of(channel) {
            if !self.local.has_room(room) {
                return;
            }
        }
        let msg = match wire::decode_broadcast(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(channel, error = %e, "redis adapter: ignoring a malformed broadcast");
                return;
            }
        };
        if msg.uid == self.uid || msg.packet.nsp != self.nsp {
            return;
        }
        self.local
            .apply_broadcast(&msg.packet.to_broadcast(None), &msg.opts);
    }

    fn on_request(&self, payload: &Bytes) {
        let req = match wire::parse_any(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "redis adapter: ignoring a malformed request");
                return;
            }
        };
        let uid = req.get("uid").and_then(Msg::as_str);
        if uid == Some(self.uid.as_str()) {
            return;
        }
        let request_id = id_text(req.get("requestId"));
        let Some(ty) = req.get("type").and_then(wire::uint) else {
            return;
        };
        let opts = req.get("opts").map(|o| wire::read_opts(Some(o)));
        match ty {
            kind::SOCKETS => {
                let Some(id) = request_id else { return };
                let opts = BroadcastOptions {
                    rooms: wire::rooms_of(req.get("rooms")),
                    ..Default::default()
                };
                let ids: Vec<String> = self
                    .local
                    .targets(&opts)
                    .iter()
                    .map(|s| s.id().to_string())
                    .collect();
                self.publish_json(
                    self.response_channel(uid),
                    &json!({ "requestId": id, "sockets": ids }),
                );
            }
            kind::ALL_ROOMS => {
                let Some(id) = request_id else { return };
                let rooms: Vec<String> = self
                    .local
                    .rooms()
                    .into_iter()
                    .map(|r| r.into_owned())
                    .collect();
                self.publish_json(
                    self.response_channel(uid),
                    &json!({ "requestId": id, "rooms": rooms }),
                );
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE => {
                let join = ty == kind::REMOTE_JOIN;
                if let Some(opts) = opts {
                    let rooms = wire::rooms_of(req.get("rooms"));
                    if join {
                        self.local.apply_add_sockets(&opts, &rooms);
                    } else {
                        self.local.apply_del_sockets(&opts, &rooms);
                    }
                    return;
                }
                // The single-socket form of older versions: answered when the socket is here.
                let (Some(sid), Some(room)) = (
                    req.get("sid")
                        .and_then(Msg::as_str)
                        .and_then(|s| s.parse::<Sid>().ok()),
                    req.get("room").and_then(Msg::as_str),
                ) else {
                    return;
                };
                let Some(socket) = self.namespace().and_then(|ns| ns.get_socket(sid)) else {
                    return;
                };
                let room = [Room::Owned(room.to_owned())];
                if join {
                    self.local.add_all(socket.id(), &room);
                } else {
                    self.local.del(socket.id(), &room);
                }
                if let Some(id) = request_id {
                    self.publish_json(self.response_channel(uid), &json!({ "requestId": id }));
                }
            }
            kind::REMOTE_DISCONNECT => {
                let close = req.get("close").is_some_and(wire::is_true);
                if let Some(opts) = opts {
                    self.local.apply_disconnect_sockets(&opts, close);
                    return;
                }
                let Some(sid) = req
                    .get("sid")
                    .and_then(Msg::as_str)
                    .and_then(|s| s.parse::<Sid>().ok())
                else {
                    return;
                };
                let Some(socket) = self.namespace().and_then(|ns| ns.get_socket(sid)) else {
                    return;
                };
                socket.disconnect(close);
                if let Some(id) = request_id {
                    self.publish_json(self.response_channel(uid), &json!({ "requestId": id }));
                }
            }
            kind::REMOTE_FETCH => {
                let Some(id) = request_id else { return };
                let opts = opts.unwrap_or_default();
                let sockets = self.local.apply_fetch_sockets_for_peer(&opts);
                self.publish_json(
                    self.response_channel(uid),
                    &json!({ "requestId": id, "sockets": sockets }),
                );
            }
            kind::SERVER_SIDE_EMIT => {
                let Some(ns) = self.namespace() else { return };
                let data: Vec<Value> = match req.get("data").map(serde_json::to_value) {
                    Some(Ok(Value::Array(items))) => items,
                    _ => return,
                };
                let ack = request_id.map(|id| {
                    // Node answers on the shared response channel.
                    let driver = self.driver.clone();
                    let channel = self.channels.response.clone();
                    ServerSideAck::new(move |value| {
                        let msg = json!({
                            "type": kind::SERVER_SIDE_EMIT,
                            "requestId": id,
                            "data": value,
                        });
                        driver.publish(channel, Bytes::from(msg.to_string()));
                    })
                });
                ns.dispatch_server_side(data, ack);
            }
            kind::BROADCAST => {
                let Some(id) = request_id else { return };
                self.serve_broadcast_with_ack(&req, id, uid);
            }
            other => tracing::debug!(
                kind = other,
                "redis adapter: ignoring an unknown request type"
            ),
        }
    }

    /// Another server's broadcast with acknowledgements: deliver here, tell how many
    /// clients were reached, then forward each client's acknowledgement.
    fn serve_broadcast_with_ack(&self, req: &Msg, id: String, uid: Option<&str>) {
        let Some(ns) = self.namespace() else { return };
        let packet = match req.get("packet").map(WirePacket::from_value) {
            Some(Ok(p)) if p.nsp == self.nsp => p,
            Some(Ok(_)) => return,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "redis adapter: ignoring a malformed broadcast request");
                return;
            }
            None => return,
        };
        let opts = wire::read_opts(req.get("opts"));
        let timeout = req
            .get("opts")
            .and_then(|o| o.get("flags"))
            .and_then(|f| f.get("timeout"))
            .and_then(wire::uint)
            .map(Duration::from_millis)
            .unwrap_or(self.config.requests_timeout)
            .min(MAX_REMOTE_ACK_TIMEOUT);
        let ack_id = ns.next_ack_id();
        let broadcast = packet.to_broadcast(Some(ack_id));
        let (waiter, mut stream) = RawAckStream::channel(timeout);
        let n = self
            .local
            .apply_broadcast_with_ack(&broadcast, ack_id, &opts, &waiter);
        waiter.expect(n);
        drop(waiter);
        let channel = self.response_channel(uid);
        self.publish_json(
            channel.clone(),
            &json!({
                "type": kind::BROADCAST_CLIENT_COUNT,
                "requestId": id,
                "clientCount": n,
            }),
        );
        if n == 0 {
            return;
        }
        let driver = self.driver.clone();
        tokio::spawn(async move {
            while let Some(reply) = stream.next().await {
                let Ok(args) = reply else { continue };
                // Node hands over the first argument of an acknowledgement.
                match wire::encode_broadcast_ack(&id, &args) {
                    Ok(msg) => driver.publish(channel.clone(), msg),
                    Err(e) => {
                        tracing::debug!(error = %e, "redis adapter: acknowledgement not encodable")
                    }
                }
            }
        });
    }

    fn on_response(&self, payload: &Bytes) {
        let res = match wire::parse_any(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "redis adapter: ignoring a malformed response");
                return;
            }
        };
        let Some(id) = id_text(res.get("requestId")) else {
            return;
        };
        let waiter = lock(&self.ack_requests).get(&id).cloned();
        if let Some(waiter) = waiter {
            match res.get("type").and_then(wire::uint) {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    let n = res.get("clientCount").and_then(wire::uint).unwrap_or(0);
                    waiter.expect(usize::try_from(n).unwrap_or(usize::MAX));
                    waiter.close_source();
                }
                Some(kind::BROADCAST_ACK) => match wire::broadcast_ack_args(res.get("packet")) {
                    Ok(args) => waiter.reply(Ok(args)),
                    Err(e) => waiter.reply(Err(AckError::Encode(e))),
                },
                _ => {}
            }
            if waiter.is_closed() {
                lock(&self.ack_requests).remove(&id);
            }
            return;
        }
        let tx = lock(&self.requests).get(&id).cloned();
        if let Some(tx) = tx {
            let _ = tx.send(res);
        }
    }
}

/// A request id as text (Node's are strings; numbers are tolerated).
fn id_text(v: Option<&Msg>) -> Option<String> {
    match v? {
        Msg::String(s) => Some(s.clone()),
        Msg::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl MessageSink for RedisAdapter {
    fn on_message(&self, channel: &str, payload: Bytes) {
        if channel == self.channels.request {
            self.on_request(&payload);
        } else if channel == self.channels.response || channel == self.channels.own_response {
            self.on_response(&payload);
        } else if channel.starts_with(self.channels.broadcast.as_str()) {
            self.on_broadcast(channel, &payload);
        }
    }
}
