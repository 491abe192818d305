//! The adapter of one namespace: the local part through [`LocalAdapter`], the rest through
//! Redis in the formats of Node's adapter (see [`wire`](super::wire)). What other servers
//! send is handled in [`incoming`]; [`remote`] reads the sockets and handshakes they
//! describe.

mod incoming;
pub(crate) mod remote;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use remote::remote_socket_of;

use super::RedisAdapterConfig;
use super::driver::{Driver, MessageSink};
use super::wire::{self, Channels, WirePacket, kind};
use crate::RemoteSocket;
use crate::ack::{AckError, AckWaiter, RawAckStream};
use crate::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastOptions, LocalAdapter, LocalNamespace,
    NamespaceHandle, Room,
};
use crate::engine::Sid;
use crate::protocol::{BroadcastPacket, Value as Msg};
use crate::util::lock;

/// The longest a broadcast with acknowledgements from another server is served here.
const MAX_REMOTE_ACK_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) struct RedisAdapter {
    local: LocalAdapter,
    ns: NamespaceHandle,
    nsp: String,
    uid: String,
    channels: Channels,
    driver: Arc<Driver>,
    config: Arc<RedisAdapterConfig>,
    /// Requests waiting for responses (fetch, server-side emit with ack, ...).
    requests: Mutex<HashMap<String, mpsc::UnboundedSender<Msg>>>,
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
    map: &'a Mutex<HashMap<String, mpsc::UnboundedSender<Msg>>>,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(&self.id);
    }
}

impl RedisAdapter {
    pub(crate) fn create(
        ns: NamespaceHandle,
        driver: Arc<Driver>,
        config: Arc<RedisAdapterConfig>,
    ) -> Arc<Self> {
        let nsp = ns.name().to_owned();
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

    fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
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
    ) -> Result<Vec<Msg>, AdapterError> {
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
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        self.local.apply_broadcast(packet, opts);
        let result = if opts.flags.local {
            Ok(())
        } else {
            match wire::encode_broadcast(&self.uid, &WirePacket::from_broadcast(packet), opts) {
                Ok(msg) => {
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
        packet: &'a BroadcastPacket,
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
            let wp = WirePacket::from_broadcast(packet);
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
            let request = wire::encode_broadcast_request(&self.uid, &id, &wp, opts, timeout_ms)
                .map_err(|e| {
                    AdapterError::Backend(format!("the packet could not be put on the wire: {e}"))
                });
            let sent = match request {
                Ok(request) => {
                    self.driver
                        .publish_wait(self.channels.request.clone(), request)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
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
            for r in responses {
                let Ok(Value::Object(r)) = serde_json::to_value(&r) else {
                    continue;
                };
                if let Some(Value::Array(list)) = r.get("sockets") {
                    sockets.extend(list.iter().filter_map(remote_socket_of));
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
