//! The adapter of one namespace: the local part through [`LocalAdapter`], the rest through
//! Redis in the formats of Node's adapter (see [`wire`](super::wire)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::RedisAdapterConfig;
use super::driver::{Driver, MessageSink};
use super::msgpack::MsgValue;
use super::wire::{self, Channels, WirePacket, kind};
use crate::ack::{AckError, AckWaiter, RawAckStream};
use crate::adapter::{Adapter, AdapterError, AdapterFuture, BroadcastOptions, LocalAdapter, Room};
use crate::engine::Sid;
use crate::ns::{Namespace, WeakNamespace};
use crate::protocol::{Args, Encoded};
use crate::server_side::ServerSideAck;
use crate::socket::{Handshake, RemoteSocket};
use crate::util::lock;

/// The longest a broadcast with acknowledgements from another server is served here.
const MAX_REMOTE_ACK_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) struct RedisAdapter {
    local: LocalAdapter,
    ns: WeakNamespace,
    nsp: String,
    uid: String,
    channels: Channels,
    driver: Arc<Driver>,
    config: Arc<RedisAdapterConfig>,
    /// Requests waiting for responses (fetch, server-side emit with ack, ...).
    requests: Mutex<HashMap<String, mpsc::UnboundedSender<MsgValue>>>,
    /// Broadcasts with acknowledgements waiting for other servers' counts and acks.
    ack_requests: Mutex<HashMap<String, AckWaiter>>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("nsp", &self.nsp)
            .field("uid", &self.uid)
            .finish_non_exhaustive()
    }
}

/// Removes a pending request when the requester stops waiting, whatever the reason.
struct PendingGuard<'a> {
    map: &'a Mutex<HashMap<String, mpsc::UnboundedSender<MsgValue>>>,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(&self.id);
    }
}

impl RedisAdapter {
    pub(crate) fn create(
        ns: WeakNamespace,
        driver: Arc<Driver>,
        config: Arc<RedisAdapterConfig>,
    ) -> Arc<Self> {
        let nsp = ns
            .upgrade()
            .map(|n| n.name().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let uid = wire::random_id(6);
        let channels = Channels::new(&config.key, &nsp, &uid);
        let adapter = Arc::new(RedisAdapter {
            local: LocalAdapter::new(ns.clone()),
            ns,
            nsp,
            uid,
            channels,
            driver,
            config,
            requests: Mutex::default(),
            ack_requests: Mutex::default(),
        });
        let weak = Arc::downgrade(&adapter);
        let sink: std::sync::Weak<dyn MessageSink> = weak;
        adapter.driver.register(
            sink,
            adapter.channels.broadcast_pattern(),
            adapter.subscribed_channels(),
        );
        adapter
    }

    fn subscribed_channels(&self) -> Vec<String> {
        vec![
            self.channels.request.clone(),
            self.channels.response.clone(),
            self.channels.own_response.clone(),
        ]
    }

    fn namespace(&self) -> Option<Namespace> {
        self.ns.upgrade()
    }

    /// Where responses to a request from `uid` go.
    fn response_channel(&self, uid: Option<&str>) -> String {
        match uid {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}{uid}#", self.channels.response)
            }
            _ => self.channels.response.clone(),
        }
    }

    fn publish_json(&self, channel: String, v: &Value) {
        self.driver.publish(channel, Bytes::from(v.to_string()));
    }

    /// The number of other servers of the namespace.
    async fn others(&self) -> Result<usize, AdapterError> {
        Ok(self
            .driver
            .numsub(&self.channels.request)
            .await?
            .saturating_sub(1))
    }

    /// Publishes a request and gathers `expected` responses, up to the requests timeout.
    async fn request(
        &self,
        what: &'static str,
        id: String,
        payload: Bytes,
        expected: usize,
    ) -> Result<Vec<MsgValue>, AdapterError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.requests).insert(id.clone(), tx);
        let _guard = PendingGuard {
            map: &self.requests,
            id,
        };
        self.driver
            .publish_wait(self.channels.request.clone(), payload)
            .await?;
        let deadline = tokio::time::Instant::now() + self.config.requests_timeout;
        let mut out = Vec::with_capacity(expected);
        while out.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(v)) => out.push(v),
                _ => {
                    tracing::warn!(
                        ns = %self.nsp,
                        request = what,
                        received = out.len(),
                        expected,
                        timeout = ?self.config.requests_timeout,
                        "redis adapter: servers did not answer in time"
                    );
                    return Err(AdapterError::Timeout);
                }
            }
        }
        Ok(out)
    }

    // ----- incoming -----

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
        match msg.packet.encode(None) {
            Ok(encoded) => self.local.apply_broadcast(&encoded, &msg.opts),
            Err(e) => tracing::debug!(error = %e, "redis adapter: broadcast packet not encodable"),
        }
    }

    fn on_request(&self, payload: &Bytes) {
        let req = match wire::parse_any(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "redis adapter: ignoring a malformed request");
                return;
            }
        };
        let uid = req.get("uid").and_then(MsgValue::as_str);
        if uid == Some(self.uid.as_str()) {
            return;
        }
        let request_id = id_text(req.get("requestId"));
        let Some(ty) = req.get("type").and_then(MsgValue::as_u64) else {
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
                        .and_then(MsgValue::as_str)
                        .and_then(|s| s.parse::<Sid>().ok()),
                    req.get("room").and_then(MsgValue::as_str),
                ) else {
                    return;
                };
                let Some(socket) = self.namespace().and_then(|ns| ns.get_socket(sid)) else {
                    return;
                };
                let room = Room::Owned(room.to_owned());
                if join {
                    socket.join(room);
                } else {
                    socket.leave(room);
                }
                if let Some(id) = request_id {
                    self.publish_json(self.response_channel(uid), &json!({ "requestId": id }));
                }
            }
            kind::REMOTE_DISCONNECT => {
                let close = req.get("close").is_some_and(MsgValue::is_true);
                if let Some(opts) = opts {
                    self.local.apply_disconnect_sockets(&opts, close);
                    return;
                }
                let Some(sid) = req
                    .get("sid")
                    .and_then(MsgValue::as_str)
                    .and_then(|s| s.parse::<Sid>().ok())
                else {
                    return;
                };
                let Some(socket) = self.namespace().and_then(|ns| ns.get_socket(sid)) else {
                    return;
                };
                socket.disconnect_with(close);
                if let Some(id) = request_id {
                    self.publish_json(self.response_channel(uid), &json!({ "requestId": id }));
                }
            }
            kind::REMOTE_FETCH => {
                let Some(id) = request_id else { return };
                let opts = opts.unwrap_or_default();
                let sockets = self.local.apply_fetch_sockets(&opts);
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
    fn serve_broadcast_with_ack(&self, req: &MsgValue, id: String, uid: Option<&str>) {
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
            .and_then(MsgValue::as_u64)
            .map(Duration::from_millis)
            .unwrap_or(self.config.requests_timeout)
            .min(MAX_REMOTE_ACK_TIMEOUT);
        let ack_id = ns.next_ack_id();
        let encoded = match packet.encode(Some(ack_id)) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "redis adapter: broadcast packet not encodable");
                return;
            }
        };
        let (waiter, mut stream) = RawAckStream::channel(timeout);
        let n = self
            .local
            .apply_broadcast_with_ack(&encoded, ack_id, &opts, &waiter);
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
                let mut entries = vec![
                    ("type", MsgValue::UInt(kind::BROADCAST_ACK)),
                    ("requestId", MsgValue::Str(id.clone())),
                ];
                // Node hands over the first argument of an acknowledgement.
                if let Some(first) = args
                    .deserialize_all::<Vec<MsgValue>>()
                    .ok()
                    .and_then(|v| v.into_iter().next())
                {
                    entries.push(("packet", first));
                }
                driver.publish(channel.clone(), wire::to_msgpack(&MsgValue::map(entries)));
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
            match res.get("type").and_then(MsgValue::as_u64) {
                Some(kind::BROADCAST_CLIENT_COUNT) => {
                    let n = res
                        .get("clientCount")
                        .and_then(MsgValue::as_u64)
                        .unwrap_or(0);
                    waiter.expect(usize::try_from(n).unwrap_or(usize::MAX));
                    waiter.close_source();
                }
                Some(kind::BROADCAST_ACK) => {
                    let args = match res.get("packet") {
                        None | Some(MsgValue::Undefined) => Ok(Args::new()),
                        Some(v) => Args::from_serialize(&(v,)),
                    };
                    match args {
                        Ok(args) => waiter.reply(Ok(args)),
                        Err(e) => waiter.reply(Err(AckError::Encode(e))),
                    }
                }
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
fn id_text(v: Option<&MsgValue>) -> Option<String> {
    match v? {
        MsgValue::Str(s) => Some(s.clone()),
        MsgValue::UInt(n) => Some(n.to_string()),
        MsgValue::Int(n) => Some(n.to_string()),
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

/// Text of a JSON value for handshake maps: strings as they are, lists joined with `, `
/// (Node keeps repeated headers and query keys as arrays).
fn text_map(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    let Some(Value::Object(m)) = v else {
        return Default::default();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => return None,
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some((k.clone(), text))
        })
        .collect()
}

fn str_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Reads a handshake as Node or this crate sends it, without failing on extra or odd fields.
pub(crate) fn handshake_of(v: Option<&Value>) -> Handshake {
    let get = |k: &str| v.and_then(|v| v.get(k));
    Handshake {
        headers: text_map(get("headers")),
        time: str_of(get("time")),
        address: str_of(get("address")),
        xdomain: get("xdomain").and_then(Value::as_bool).unwrap_or(false),
        secure: get("secure").and_then(Value::as_bool).unwrap_or(false),
        issued: get("issued")
            .and_then(|i| i.as_u64().or_else(|| i.as_f64().map(|f| f.max(0.0) as u64)))
            .unwrap_or(0),
        url: str_of(get("url")),
        query: text_map(get("query")),
        auth: get("auth")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
    }
}

/// Reads one socket of a fetch response.
pub(crate) fn remote_socket_of(v: &Value, ns: Option<&Namespace>) -> Option<RemoteSocket> {
    let id = v.get("id")?.as_str()?;
    let Ok(id) = id.parse::<Sid>() else {
        tracing::warn!(
            id,
            "redis adapter: a remote socket id is not a 20-character id; left out"
        );
        return None;
    };
    let rooms = v
        .get("rooms")
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(Room::Owned(s.clone())),
                    Value::Number(n) => Some(Room::Owned(n.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(RemoteSocket {
        id,
        handshake: handshake_of(v.get("handshake")),
        rooms,
        data: v.get("data").cloned().unwrap_or(Value::Null),
        ns: ns.cloned(),
    })
}

impl Adapter for RedisAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.local.add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, rooms: &[Room]) {
        self.local.del(sid, rooms);
    }

    fn del_all(&self, sid: Sid) {
        self.local.del_all(sid);
    }

    fn socket_rooms(&self, sid: Sid) -> Vec<Room> {
        self.local.socket_rooms(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.local.rooms()
    }

    fn broadcast<'a>(
        &'a self,
        packet: &'a Encoded,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_broadcast(packet, opts);
        let result = if opts.flags.local {
            Ok(())
        } else {
            match WirePacket::from_encoded(packet) {
                Ok(wp) => {
                    let msg = wire::encode_broadcast(&self.uid, &wp, opts);
                    self.driver
                        .publish(self.channels.broadcast_channel(opts), msg);
                    Ok(())
                }
                Err(e) => Err(AdapterError::Backend(format!(
                    "the packet could not be put on the wire: {e}"
                ))),
            }
        };
        Box::pin(async move { result })
    }

    fn broadcast_with_ack<'a>(
        &'a self,
        packet: &'a Encoded,
        ack_id: u64,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<'a, Result<RawAckStream, AdapterError>> {
        Box::pin(async move {
            let (waiter, stream) = RawAckStream::channel(timeout);
            // Local clients first: their delivery never waits for Redis.
            let n = self
                .local
                .apply_broadcast_with_ack(packet, ack_id, opts, &waiter);
            waiter.expect(n);
            if opts.flags.local {
                return Ok(stream);
            }
            let wp = WirePacket::from_encoded(packet).map_err(|e| {
                AdapterError::Backend(format!("the packet could not be put on the wire: {e}"))
            })?;
            let others = match self.others().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "redis adapter: broadcast with acks stays local");
                    waiter.reply(Err(AckError::Adapter(e)));
                    return Ok(stream);
                }
            };
            if others == 0 {
                return Ok(stream);
            }
            let id = wire::random_id(12);
            for _ in 0..others {
                waiter.open_source();
            }
            {
                let mut pending = lock(&self.ack_requests);
                pending.retain(|_, w| !w.is_closed());
                pending.insert(id.clone(), waiter.clone());
            }
            let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            let request = MsgValue::map([
                ("uid", MsgValue::Str(self.uid.clone())),
                ("requestId", MsgValue::Str(id.clone())),
                ("type", MsgValue::UInt(kind::BROADCAST)),
                ("packet", wp.to_value()),
                ("opts", wire::broadcast_opts_value(opts, Some(timeout_ms))),
            ]);
            if let Err(e) = self
                .driver
                .publish_wait(self.channels.request.clone(), wire::to_msgpack(&request))
                .await
            {
                lock(&self.ack_requests).remove(&id);
                for _ in 0..others {
                    waiter.close_source();
                }
                waiter.reply(Err(AckError::Adapter(e)));
            }
            Ok(stream)
        })
    }

    fn fetch_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<RemoteSocket>, AdapterError>> {
        Box::pin(async move {
            let mut sockets = self.local.apply_fetch_sockets(opts);
            if opts.flags.local {
                return Ok(sockets);
            }
            let others = self.others().await?;
            if others == 0 {
                return Ok(sockets);
            }
            let id = wire::random_id(12);
            let request = json!({
                "uid": self.uid,
                "requestId": id,
                "type": kind::REMOTE_FETCH,
                "opts": serde_json::to_value(wire::opts_value(opts)).unwrap_or(Value::Null),
            });
            let responses = self
                .request("fetchSockets", id, Bytes::from(request.to_string()), others)
                .await?;
            let ns = self.namespace();
            for r in responses {
                let Ok(Value::Object(r)) = serde_json::to_value(&r) else {
                    continue;
                };
                if let Some(Value::Array(list)) = r.get("sockets") {
                    sockets.extend(list.iter().filter_map(|s| remote_socket_of(s, ns.as_ref())));
                }
            }
            Ok(sockets)
        })
    }

    fn add_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_add_sockets(opts, rooms);
        if !opts.flags.local {
            self.remote_rooms(kind::REMOTE_JOIN, opts, rooms);
        }
        Box::pin(async { Ok(()) })
    }

    fn del_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_del_sockets(opts, rooms);
        if !opts.flags.local {
            self.remote_rooms(kind::REMOTE_LEAVE, opts, rooms);
        }
        Box::pin(async { Ok(()) })
    }

    fn disconnect_sockets<'a>(
        &'a self,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_disconnect_sockets(opts, close);
        if !opts.flags.local {
            let request = json!({
                "uid": self.uid,
                "type": kind::REMOTE_DISCONNECT,
                "opts": serde_json::to_value(wire::opts_value(opts)).unwrap_or(Value::Null),
                "close": close,
            });
            self.publish_json(self.channels.request.clone(), &request);
        }
        Box::pin(async { Ok(()) })
    }

    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            // This server counts even when Redis does not see its subscription yet.
            Ok(self.driver.numsub(&self.channels.request).await?.max(1))
        })
    }

    fn server_side_emit<'a>(
        &'a self,
        data: &'a [Value],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        let request = json!({
            "uid": self.uid,
            "type": kind::SERVER_SIDE_EMIT,
            "data": data,
        });
        self.publish_json(self.channels.request.clone(), &request);
        Box::pin(async { Ok(()) })
    }

    fn server_side_emit_with_ack<'a>(
        &'a self,
        data: &'a [Value],
    ) -> AdapterFuture<'a, Result<Vec<Value>, AdapterError>> {
        Box::pin(async move {
            let others = self.others().await?;
            if others == 0 {
                return Ok(Vec::new());
            }
            let id = wire::random_id(12);
            let request = json!({
                "uid": self.uid,
                "requestId": id,
                "type": kind::SERVER_SIDE_EMIT,
                "data": data,
            });
            let responses = self
                .request(
                    "serverSideEmit",
                    id,
                    Bytes::from(request.to_string()),
                    others,
                )
                .await?;
            Ok(responses
                .iter()
                .map(|r| {
                    r.get("data")
                        .and_then(|d| serde_json::to_value(d).ok())
                        .unwrap_or(Value::Null)
                })
                .collect())
        })
    }

    fn is_healthy(&self) -> bool {
        self.driver.health().is_healthy()
    }

    fn close(&self) -> AdapterFuture<'_, ()> {
        self.driver.unregister(
            self.channels.broadcast_pattern(),
            self.subscribed_channels(),
        );
        Box::pin(async {})
    }
}

impl RedisAdapter {
    fn remote_rooms(&self, ty: u64, opts: &BroadcastOptions, rooms: &[Room]) {
        let request = json!({
            "uid": self.uid,
            "type": ty,
            "opts": serde_json::to_value(wire::opts_value(opts)).unwrap_or(Value::Null),
            "rooms": rooms,
        });
        self.publish_json(self.channels.request.clone(), &request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_handshakes_are_read_leniently() {
        let v = json!({
            "headers": {"host": "x", "set-cookie": ["a=1", "b=2"], "n": 5},
            "time": "Tue",
            "address": "::1",
            "xdomain": true,
            "secure": false,
            "issued": 1_700_000_000_000.0_f64,
            "url": "/socket.io/?EIO=4",
            "query": {"EIO": "4", "k": ["1", "2"]},
            "auth": {"token": "t"},
            "extra": "ignored",
        });
        let h = handshake_of(Some(&v));
        assert_eq!(h.headers["set-cookie"], "a=1, b=2");
        assert_eq!(h.headers["n"], "5");
        assert_eq!(h.query["k"], "1, 2");
        assert_eq!(h.issued, 1_700_000_000_000);
        assert!(h.xdomain);
        assert_eq!(h.auth, json!({"token": "t"}));
        let empty = handshake_of(None);
        assert_eq!(empty.auth, json!({}));
        assert!(empty.headers.is_empty());
    }

    #[test]
    fn remote_sockets_need_a_valid_id() {
        let ok = json!({"id": "AAAAAAAAAAAAAAAAAAAA", "rooms": ["AAAAAAAAAAAAAAAAAAAA", 7], "data": {"a": 1}});
        let s = remote_socket_of(&ok, None).unwrap();
        assert_eq!(
            s.rooms,
            vec![Room::from("AAAAAAAAAAAAAAAAAAAA"), Room::from("7")]
        );
        assert_eq!(s.data, json!({"a": 1}));
        assert!(remote_socket_of(&json!({"id": "short"}), None).is_none());
        assert!(remote_socket_of(&json!({"rooms": []}), None).is_none());
        assert!(remote_socket_of(&json!([1, 2]), None).is_none());
    }
}
