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
///
/// It serializes as Node's adapters write a socket, `{"id", "handshake", "rooms", "data"}`,
/// with the id as the client knows it (see [`client_id`](Self::client_id)).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RemoteSocketWire")]
pub struct RemoteSocket {
    /// The socket id (see [`Socket::id`]).
    pub id: Sid,
    /// Its handshake.
    pub handshake: Handshake,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its data (see [`Socket::set_data`]).
    pub data: serde_json::Value,
    /// `<nsp>#<id>`, for a Socket.IO 2 client in a namespace other than `/`.
    pub(crate) client_id: Option<String>,
    pub(crate) ns: Option<Namespace>,
}

/// A socket as JSON carries it.
#[derive(Deserialize)]
struct RemoteSocketWire {
    id: String,
    handshake: Handshake,
    #[serde(default)]
    rooms: Vec<Room>,
    #[serde(default)]
    data: serde_json::Value,
}

impl TryFrom<RemoteSocketWire> for RemoteSocket {
    type Error = crate::engine::InvalidSid;

    fn try_from(w: RemoteSocketWire) -> Result<Self, Self::Error> {
        let mut socket = RemoteSocket::from_client_id(&w.id, w.handshake, w.rooms, w.data)?;
        socket.ns = None;
        Ok(socket)
    }
}

impl Serialize for RemoteSocket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("RemoteSocket", 4)?;
        match &self.client_id {
            Some(id) => st.serialize_field("id", id)?,
            None => st.serialize_field("id", &self.id)?,
        }
        st.serialize_field("handshake", &self.handshake)?;
        st.serialize_field("rooms", &self.rooms)?;
        st.serialize_field("data", &self.data)?;
        st.end()
    }
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
            client_id: None,
            ns: None,
        }
    }

    /// A socket whose id another server wrote as its client knows it: a plain id, or
    /// `<nsp>#<id>` for a Socket.IO 2 client in a namespace other than `/` (as Node's
    /// servers write theirs).
    pub fn from_client_id(
        id: &str,
        handshake: Handshake,
        rooms: Vec<Room>,
        data: serde_json::Value,
    ) -> Result<Self, crate::engine::InvalidSid> {
        let (sid, client_id) = match id.rsplit_once('#') {
            Some((ns, sid)) if ns.starts_with('/') => (sid.parse()?, Some(id.to_owned())),
            _ => (id.parse()?, None),
        };
        let mut socket = RemoteSocket::new(sid, handshake, rooms, data);
        socket.client_id = client_id;
        Ok(socket)
    }

    /// The id as the client knows it (see [`Socket::client_id`]); also the room that
    /// reaches it on any server of the cluster.
    pub fn client_id(&self) -> String {
        match &self.client_id {
            Some(id) => id.clone(),
            None => self.id.to_string(),
        }
    }

    /// Binds a fetched socket to its namespace (unless it already is).
    pub(crate) fn bind(&mut self, ns: &Namespace) {
        if self.ns.is_none() {
            self.ns = Some(ns.clone());
        }
    }

    fn target(&self) -> Option<BroadcastOperators> {
        // The client's form of the id: the only room of a Socket.IO 2 socket that a Node
        // server knows.
        self.ns.as_ref().map(|ns| ns.to(self.client_id()))
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
            client_id: self.prefixed_id().then(|| self.client_id()),
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
