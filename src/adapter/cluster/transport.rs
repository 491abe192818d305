//! What the cluster-adapter protocol needs of a backend (Redis Streams, sharded pub/sub):
//! where a message goes, how many servers share it, and which room changes it hears about.

use std::future::Future;
use std::pin::Pin;

use super::Message;
use crate::adapter::{AdapterError, AdapterFuture, PersistedSession, Room};
use crate::engine::Sid;
use crate::protocol::BroadcastPacket;

/// What [`Transport::publish`] resolves to: the message's offset when the backend gave it one
/// (a stream entry id), `None` for a message that has no place in a log.
pub(crate) type Published =
    Pin<Box<dyn Future<Output = Result<Option<String>, AdapterError>> + Send + 'static>>;

/// Delivers a stored broadcast to this server's sockets without its offset, when the
/// backend cannot give it one now (see [`Transport::publish_stored`]).
pub(crate) type Early = Box<dyn FnOnce() + Send + Sync>;

/// Where the messages of one namespace go, and how many servers share it.
pub(crate) trait Transport: Send + Sync + Clone + 'static {
    /// Queues `msg` for the other servers at once (in call order) and returns a future of
    /// its outcome, which callers may drop.
    fn publish(&self, msg: Message) -> Published;

    /// Publishes a broadcast that connection state recovery stores. The transport gives it
    /// its offset and delivers it to this server's sockets itself, in offset order (through
    /// [`ClusterAdapter::deliver_stored`]); if it cannot do that soon, it calls `early`,
    /// which delivers it at once without an offset. Default: `early` now, then
    /// [`publish`](Self::publish).
    fn publish_stored(&self, msg: Message, early: Early) -> Published {
        early();
        self.publish(msg)
    }

    /// Sends a response to the server `requester` only.
    fn publish_response(&self, requester: &str, msg: Message);

    /// How many servers share the namespace, this one included.
    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>>;

    /// Rooms got their first local member (for [`RoomEvents`] other than `None`).
    fn rooms_created(&self, rooms: &[Room]) {
        let _ = rooms;
    }

    /// Rooms lost their last local member.
    fn rooms_deleted(&self, rooms: &[Room]) {
        let _ = rooms;
    }

    /// Whether the backend works.
    fn is_healthy(&self) -> bool;

    /// The namespace is closing.
    fn close(&self) -> AdapterFuture<'_, ()>;

    /// [`Adapter::persist_session`]. Default: not supported.
    fn persist_session(
        &self,
        session: PersistedSession,
    ) -> AdapterFuture<'_, Result<(), AdapterError>> {
        let _ = session;
        Box::pin(async { Err(AdapterError::Unsupported("connection state recovery")) })
    }

    /// [`Adapter::restore_session`]. Default: nothing to restore.
    fn restore_session<'a>(
        &'a self,
        pid: Sid,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<PersistedSession>, AdapterError>> {
        let _ = (pid, offset);
        Box::pin(async { Ok(None) })
    }

    /// [`Adapter::missed_packets`] of the namespace `nsp`. Default: not supported.
    fn missed_packets<'a>(
        &'a self,
        session: &'a PersistedSession,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<Vec<BroadcastPacket>>, AdapterError>> {
        let _ = (session, offset);
        Box::pin(async { Err(AdapterError::Unsupported("connection state recovery")) })
    }
}

/// Which room changes the transport hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoomEvents {
    /// None.
    None,
    /// Named rooms only (not a local socket's own room).
    Public,
    /// Every room, sockets' own rooms included.
    All,
}
