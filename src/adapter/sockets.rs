//! What an adapter sees of the server: its namespace and the sockets of this server in it.
//!
//! The adapter module defines these traits and the server core implements them, so that an
//! adapter depends on nothing but this interface (and on public data types: [`Sid`],
//! [`RemoteSocket`], [`AckWaiter`], [`BroadcastPacket`], [`ServerSideAck`]). Everything
//! else of a socket (its listeners, its connection, its queue and the policy for slow
//! readers) stays in the core.

use std::sync::{Arc, Weak};

use crate::ack::AckWaiter;
use crate::engine::{Sid, Str};
use crate::protocol::BroadcastPacket;
use crate::server_side::ServerSideAck;
use crate::{ConnectionStateRecovery, RemoteSocket};

/// A socket of this server, as its namespace's adapter sees it.
pub type LocalSocketRef = Arc<dyn LocalSocket>;

/// A namespace as its adapter sees it: this server's sockets in it, and the services a
/// cluster adapter needs from it. Implemented by the server core.
pub trait LocalNamespace: Send + Sync + 'static {
    /// The namespace's name, e.g. `/chat`.
    fn name(&self) -> &str;

    /// Every socket of the namespace on this server.
    fn sockets(&self) -> Vec<LocalSocketRef>;

    /// The socket of this server with that id, if any.
    fn get_socket(&self, sid: Sid) -> Option<LocalSocketRef>;

    /// The sockets of this server among `ids`, in their order (ids of no socket here are
    /// left out): one lookup for many, such as the members of a room.
    fn get_sockets(&self, ids: &[Sid]) -> Vec<LocalSocketRef>;

    /// A new acknowledgement id, unique in the namespace (for a broadcast with
    /// acknowledgements that another server asks this one to deliver).
    fn next_ack_id(&self) -> u64;

    /// Runs the server-side listeners of an event another server sent (Node's
    /// `serverSideEmit`): `data` is the event name followed by its arguments. Needs a
    /// Tokio runtime.
    fn dispatch_server_side(&self, data: Vec<serde_json::Value>, ack: Option<ServerSideAck>);
}

/// A socket of this server, as an adapter sees it. Implemented by the server core.
pub trait LocalSocket: Send + Sync + 'static {
    /// The socket's id (also the name of its own room).
    fn id(&self) -> Sid;

    /// Queues a broadcast packet for the client, in its connection's encoding (made once
    /// per wire format and shared by every receiver). Returns whether it was delivered to
    /// the queue. A volatile packet is dropped unless the transport is writable now; for a
    /// non-volatile one the core applies its policy to a full queue (the connection of a
    /// stalled reader is closed).
    fn send_broadcast(&self, packet: &BroadcastPacket, volatile: bool) -> bool;

    /// Sends the client's acknowledgement of event `ack_id` to `waiter` (a broadcast with
    /// acknowledgements), until [`unregister_ack`](Self::unregister_ack) or the reply.
    fn register_ack(&self, ack_id: u64, waiter: AckWaiter);

    /// Forgets the acknowledgement source of `ack_id` (the packet was not delivered).
    fn unregister_ack(&self, ack_id: u64);

    /// The socket as `fetch_sockets` shows it: id, handshake, rooms and data.
    fn remote(&self) -> RemoteSocket;

    /// The socket as a fetch reply to another server of the cluster describes it: as
    /// [`remote`](Self::remote), with what Node's servers expect of `data` (an object,
    /// `{}` when unset; the core adds the Admin UI's `_admin` there when instrumented).
    fn remote_for_peer(&self) -> RemoteSocket {
        self.remote()
    }

    /// Disconnects the socket from its namespace; `close` closes its whole connection.
    fn disconnect(self: Arc<Self>, close: bool);
}

/// What an [`AdapterFactory`](super::AdapterFactory) gets for a new namespace: the
/// namespace's name and a weak handle on it (the namespace owns its adapter, so the adapter
/// must not keep it alive).
#[derive(Clone)]
pub struct NamespaceHandle {
    name: Str,
    ns: Weak<dyn LocalNamespace>,
    recovery: Option<Arc<ConnectionStateRecovery>>,
    /// Room changes of this server's sockets go there when the server is instrumented
    /// (the in-memory adapter reports them; see `crate::observe`).
    #[cfg(feature = "admin-ui")]
    pub(crate) events: Option<Arc<dyn crate::observe::SocketEvents>>,
}

impl NamespaceHandle {
    /// A handle on `ns`, named `name`.
    pub fn new(name: impl Into<Str>, ns: Weak<dyn LocalNamespace>) -> Self {
        NamespaceHandle {
            name: name.into(),
            ns,
            recovery: None,
            #[cfg(feature = "admin-ui")]
            events: None,
        }
    }

    /// The same handle, for a server with connection state recovery on.
    pub fn with_connection_state_recovery(mut self, config: ConnectionStateRecovery) -> Self {
        self.recovery = Some(Arc::new(config));
        self
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The server's connection state recovery settings, when it is on: the adapter then
    /// stores broadcasts and keeps sessions (see [`Adapter`](super::Adapter)), within these
    /// bounds.
    pub fn connection_state_recovery(&self) -> Option<&ConnectionStateRecovery> {
        self.recovery.as_deref()
    }

    /// The name as shared text.
    #[cfg(feature = "admin-ui")]
    pub(crate) fn name_str(&self) -> &Str {
        &self.name
    }

    /// The namespace, if it still exists.
    pub fn upgrade(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.ns.upgrade()
    }
}

impl std::fmt::Debug for NamespaceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceHandle")
            .field("name", &self.name)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}
