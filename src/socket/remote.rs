//! A socket as `fetch_sockets` returns it, wherever it is in the cluster, and what an
//! adapter sees of a socket of this server ([`LocalSocket`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{EmitError, Handshake, Socket};
use crate::ack::AckWaiter;
use crate::adapter::{LocalSocket, Room};
use crate::engine::{SendError, Sid};
use crate::ns::Namespace;
use crate::operators::BroadcastOperators;
use crate::protocol::BroadcastPacket;
use crate::rooms::IntoRooms;
use crate::util::lock;

/// A socket as `fetch_sockets` returns it: on this server or another one of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: Sid,
    /// Its handshake.
    pub handshake: Handshake,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its data (see [`Socket::set_data`]).
    pub data: serde_json::Value,
    #[serde(skip)]
    pub(crate) ns: Option<Namespace>,
}

impl RemoteSocket {
    /// A socket as an adapter read it from another server (cluster adapters make them).
    /// The core binds it to its namespace when it hands it out from `fetch_sockets`.
    pub fn new(id: Sid, handshake: Handshake, rooms: Vec<Room>, data: serde_json::Value) -> Self {
        RemoteSocket {
            id,
            handshake,
            rooms,
            data,
            ns: None,
        }
    }

    /// Binds a fetched socket to its namespace (unless it already is).
    pub(crate) fn bind(&mut self, ns: &Namespace) {
        if self.ns.is_none() {
            self.ns = Some(ns.clone());
        }
    }

    fn target(&self) -> Option<BroadcastOperators> {
        self.ns.as_ref().map(|ns| ns.to(self.id))
    }

    /// Emits an event to this socket, wherever it is.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        match self.target() {
            Some(op) => op.emit(event, data).await,
            None => Err(EmitError::Send(SendError::Closed)),
        }
    }

    /// Makes this socket join rooms, wherever it is.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.join(rooms).await,
            None => Ok(()),
        }
    }

    /// Makes this socket leave rooms, wherever it is.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.leave(rooms).await,
            None => Ok(()),
        }
    }

    /// Disconnects this socket, wherever it is; `close` closes its whole connection.
    pub async fn disconnect(&self, close: bool) -> Result<(), crate::adapter::AdapterError> {
        match self.target() {
            Some(op) => op.disconnect(close).await,
            None => Ok(()),
        }
    }
}

impl Socket {
    pub(crate) fn to_remote(&self) -> RemoteSocket {
        RemoteSocket {
            id: self.id,
            handshake: self.handshake(),
            rooms: self.rooms(),
            data: lock(&self.data).clone().unwrap_or(serde_json::Value::Null),
            ns: Some(self.ns.clone()),
        }
    }

    /// The socket as other servers of the cluster are told it (a fetch reply): `data` is
    /// `{}` when none was set, as Node's default (Node's Admin UI reads it as an object),
    /// and when the server is instrumented in development mode it carries the socket's
    /// client id and transport under `_admin`, where Node's instrumented servers put them.
    /// [`Socket::data`] and this server's own `fetch_sockets` never see either.
    pub(crate) fn to_remote_for_peer(&self) -> RemoteSocket {
        let mut remote = self.to_remote();
        if remote.data.is_null() {
            remote.data = serde_json::Value::Object(serde_json::Map::new());
        }
        #[cfg(feature = "admin-ui")]
        if let (Some(_), serde_json::Value::Object(map)) = (self.events(), &mut remote.data) {
            use crate::observe::{ADMIN_DATA_KEY, client_id};
            let sid = self.conn.id().to_string();
            map.insert(
                ADMIN_DATA_KEY.to_owned(),
                serde_json::json!({
                    "clientId": client_id(&sid),
                    "transport": self.conn.transport().as_str(),
                }),
            );
        }
        remote
    }
}

/// What the namespace's adapter sees of a socket.
impl LocalSocket for Socket {
    fn id(&self) -> Sid {
        self.id
    }

    fn send_broadcast(&self, packet: &BroadcastPacket, volatile: bool) -> bool {
        Socket::send_broadcast(self, packet, volatile)
    }

    fn register_ack(&self, ack_id: u64, waiter: AckWaiter) {
        Socket::register_ack(self, ack_id, waiter);
    }

    fn unregister_ack(&self, ack_id: u64) {
        Socket::unregister_ack(self, ack_id);
    }

    fn remote(&self) -> RemoteSocket {
        self.to_remote()
    }

    fn remote_for_peer(&self) -> RemoteSocket {
        self.to_remote_for_peer()
    }

    fn disconnect(self: Arc<Self>, close: bool) {
        self.disconnect_with(close);
    }
}
