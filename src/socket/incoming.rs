//! What a socket receives: events (through packet middleware to the listeners) and
//! acknowledgements of its own emits.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::{Socket, SocketRef};
use crate::ack::{AckSlot, AckWaiter};
use crate::engine::Str;
use crate::handler::{BoxedHandler, MessageParts};
use crate::protocol::{self, Args};
use crate::util::{lock, read, write};

/// A packet middleware (`socket.use`): sees every incoming event first, may change it or
/// refuse it.
pub(crate) type PacketMiddleware =
    Arc<dyn Fn(&SocketRef, &mut IncomingEvent) -> Result<(), String> + Send + Sync + 'static>;

/// An incoming event as packet middleware sees it.
#[derive(Debug)]
pub struct IncomingEvent {
    /// The event name.
    pub event: String,
    /// The arguments.
    pub args: Args,
}

impl IncomingEvent {
    /// Replaces the arguments with a new value (spread like an emit's data).
    pub fn set_args<T: Serialize + ?Sized>(
        &mut self,
        data: &T,
    ) -> Result<(), protocol::EncodeError> {
        self.args = Args::from_serialize(data)?;
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct AckMap {
    pub(super) map: HashMap<u64, AckSlot>,
    pub(super) purge_at: usize,
}

impl Socket {
    pub(crate) fn register_ack(&self, id: u64, slot: impl Into<AckSlotArg>) {
        let slot = match slot.into() {
            AckSlotArg::Slot(s) => s,
            AckSlotArg::Waiter(w) => AckSlot::Multi(w),
        };
        let mut acks = lock(&self.acks);
        if acks.map.len() >= acks.purge_at.max(16) {
            acks.map.retain(|_, s| !s.is_closed());
            acks.purge_at = acks.map.len() * 2;
        }
        acks.map.insert(id, slot);
    }

    pub(crate) fn unregister_ack(&self, id: u64) {
        lock(&self.acks).map.remove(&id);
    }

    pub(crate) fn recv_ack(&self, id: u64, args: Args) {
        let slot = lock(&self.acks).map.remove(&id);
        match slot {
            Some(slot) => slot.resolve(Ok(args)),
            None => {
                tracing::debug!(sid = %self.id, ack = id, "acknowledgement for no pending emit")
            }
        }
    }

    /// Queues an incoming event in the connection's ordered task. The listeners are looked
    /// up there too, so an event that arrives right after CONNECT finds the listeners the
    /// connection handler registers before its first `.await`.
    pub(crate) fn recv_event(self: &Arc<Self>, event: Str, args: Args, ack: Option<u64>) {
        use tracing::Instrument as _;
        crate::observe::observe!(self.events() => |e| e.event_received(self, &event, &args));
        let span = tracing::debug_span!("event", sid = %self.id, ns = %self.ns(), event = %event);
        let me = self.clone();
        let run = async move {
            let mut running = me.start_event(event, args, ack);
            match running.len() {
                0 => {}
                1 => {
                    if let Some(f) = running.pop() {
                        f.await;
                    }
                }
                _ => {
                    futures_util::future::join_all(running).await;
                }
            }
        };
        crate::client::spawn_ordered(&self.conn, Box::pin(run.instrument(span)));
    }

    /// Runs the packet middleware and starts the listeners of an event.
    fn start_event(
        self: &Arc<Self>,
        event: Str,
        args: Args,
        ack: Option<u64>,
    ) -> Vec<crate::handler::BoxFuture<()>> {
        let mut running = Vec::new();
        let middlewares = read(&self.packet_middlewares).clone();
        let (event, args) = if middlewares.is_empty() {
            (event, args)
        } else {
            let mut incoming = IncomingEvent {
                event: event.to_string(),
                args,
            };
            for m in middlewares.iter() {
                if let Err(message) = m(self, &mut incoming) {
                    tracing::debug!(sid = %self.id, event = %incoming.event, %message, "event refused by middleware");
                    if let Ok(p) = self.codec.encode_event(
                        self.ns(),
                        "error",
                        &serde_json::json!({ "message": message }),
                        None,
                    ) {
                        let _ = self.send_encoded(&p);
                    }
                    return running;
                }
            }
            (Str::from(incoming.event), incoming.args)
        };

        let mut dispatch =
            |handler: &BoxedHandler<MessageParts, ()>, args: Args, ack: Option<u64>| {
                let parts = MessageParts {
                    socket: self.clone(),
                    event: event.clone(),
                    args: Some(args),
                    ack,
                };
                if let Some(fut) = handler.call(parts) {
                    running.push(fut);
                }
            };

        let any: Vec<BoxedHandler<MessageParts, ()>> = {
            let any = read(&self.any_incoming);
            if any.is_empty() {
                Vec::new()
            } else {
                any.clone()
            }
        };
        for h in &any {
            dispatch(h, args.clone(), None);
        }

        let handlers: Vec<BoxedHandler<MessageParts, ()>> = {
            let mut listeners = write(&self.listeners);
            let name = event.as_str();
            let hs: Vec<_> = listeners
                .iter()
                .filter(|l| &*l.event == name)
                .map(|l| l.handler.clone())
                .collect();
            if !hs.is_empty() {
                listeners.retain(|l| !(l.once && &*l.event == name));
            }
            hs
        };
        if handlers.is_empty() {
            tracing::debug!(sid = %self.id, ns = %self.ns(), event = %event, "no listener for event");
            return running;
        }
        let last = handlers.len() - 1;
        let mut args = Some(args);
        for (i, h) in handlers.iter().enumerate() {
            // Only the first listener may answer the acknowledgement, as in Node.
            let a = if i == last { args.take() } else { args.clone() };
            dispatch(h, a.unwrap_or_default(), if i == 0 { ack } else { None });
        }
        running
    }
}

pub(crate) enum AckSlotArg {
    Slot(AckSlot),
    Waiter(AckWaiter),
}

impl From<AckSlot> for AckSlotArg {
    fn from(s: AckSlot) -> Self {
        AckSlotArg::Slot(s)
    }
}

impl From<AckWaiter> for AckSlotArg {
    fn from(w: AckWaiter) -> Self {
        AckSlotArg::Waiter(w)
    }
}
