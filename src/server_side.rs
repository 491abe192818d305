//! Events between the servers of a cluster (Node's `serverSideEmit`).
//!
//! A server sends with [`Namespace::server_side_emit`](crate::Namespace::server_side_emit)
//! (or [`server_side_emit_with_ack`](crate::Namespace::server_side_emit_with_ack)); every
//! *other* server of the cluster runs its listeners added with
//! [`Namespace::on_server_side`](crate::Namespace::on_server_side). Arguments are JSON (as
//! in Node, binary data does not survive the trip), and an acknowledgement is one value per
//! server. Without a cluster adapter there is no other server: emits reach nobody and an
//! emit with acknowledgements gets no reply.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::protocol::{Args, Spread};

/// A boxed listener of server-side events.
pub(crate) type ServerSideListener = Arc<
    dyn Fn(ServerSideEvent) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> + Send + Sync,
>;

/// Answers a server-side event for the server that sent it (one value per server).
pub struct ServerSideAck(Box<dyn FnOnce(serde_json::Value) + Send + 'static>);

impl std::fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSideAck")
    }
}

impl ServerSideAck {
    /// An acknowledgement that calls `f` with the answer. Adapters make them; listeners
    /// answer through [`ServerSideEvent::ack`].
    pub fn new(f: impl FnOnce(serde_json::Value) + Send + 'static) -> Self {
        ServerSideAck(Box::new(f))
    }
}

/// A server-side event from another server of the cluster.
#[derive(Debug)]
pub struct ServerSideEvent {
    event: String,
    args: Vec<serde_json::Value>,
    ack: Option<ServerSideAck>,
}

impl ServerSideEvent {
    pub(crate) fn new(
        event: String,
        args: Vec<serde_json::Value>,
        ack: Option<ServerSideAck>,
    ) -> Self {
        ServerSideEvent { event, args, ack }
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The arguments, as sent.
    pub fn args(&self) -> &[serde_json::Value] {
        &self.args
    }

    /// The arguments as `T`, with the mapping of socket events: a tuple takes the
    /// arguments in order, anything else the first one.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, crate::protocol::DataError> {
        let args = Args::from_serialize(&Spread(self.args.clone()))
            .map_err(|e| crate::protocol::DataError::message(e.inner()))?;
        args.deserialize()
    }

    /// Whether the sending server waits for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answers the sending server (once; later calls and events sent without
    /// acknowledgement do nothing).
    pub fn ack<T: Serialize + ?Sized>(&mut self, data: &T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(data)?;
        if let Some(ack) = self.ack.take() {
            (ack.0)(value);
        }
        Ok(())
    }

    pub(crate) fn clone_without_ack(&self) -> Self {
        ServerSideEvent {
            event: self.event.clone(),
            args: self.args.clone(),
            ack: None,
        }
    }
}

/// The arguments of `data`, spread as for socket events, as JSON values (binary data
/// becomes arrays of byte values, as Node's JSON would make of a `Buffer`'s bytes).
pub(crate) fn json_args<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
) -> Result<Vec<serde_json::Value>, crate::protocol::EncodeError> {
    let args = Args::from_serialize(data)?;
    let values: Vec<crate::protocol::Value> = args
        .deserialize_all()
        .map_err(crate::protocol::EncodeError)?;
    let mut out = Vec::with_capacity(values.len() + 1);
    out.push(serde_json::Value::String(event.to_owned()));
    for v in values {
        out.push(serde_json::to_value(v).map_err(crate::protocol::EncodeError::from)?);
    }
    Ok(out)
}
