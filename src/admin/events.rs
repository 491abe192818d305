//! Development mode: every socket's life reported to the admin namespace as it happens
//! (`socket_connected`, `socket_updated`, `socket_disconnected`, `room_joined`,
//! `room_left`, `event_received`, `event_sent`).
//!
//! The core calls [`SocketEvents`] synchronously where things happen; this side only
//! builds the message and queues it (bounded: when the admin namespace cannot keep up, new
//! messages are dropped and counted). One task emits them in order, each a broadcast in the
//! admin namespace, so that every admin socket of the cluster gets them.

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::serialize;
use crate::SocketIo;
use crate::adapter::Room;
use crate::engine::{Sid, Str};
use crate::io::IoInner;
use crate::observe::SocketEvents;
use crate::protocol::{Args, Spread, Value as Any};
use crate::socket::{DisconnectReason, Socket, SocketRef};

/// How many admin messages may wait to be sent.
const QUEUE: usize = 8192;

/// One admin message.
pub(crate) enum AdminEvent {
    /// Arguments already built (JSON).
    Plain(&'static str, Vec<Value>),
    /// `event_received` / `event_sent`: the event's arguments (binary included) are only
    /// read by the sending task.
    Event {
        kind: &'static str,
        nsp: Str,
        sid: Sid,
        event: String,
        args: Args,
        at: String,
    },
}

/// The development-mode observer.
pub(crate) struct AdminEvents {
    namespace: String,
    tx: mpsc::Sender<AdminEvent>,
    dropped: AtomicU64,
}

impl AdminEvents {
    /// The observer and the receiving end of its queue (for [`run`]).
    pub(crate) fn new(namespace: String) -> (Self, mpsc::Receiver<AdminEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let me = Self {
            namespace,
            tx,
            dropped: AtomicU64::new(0),
        };
        (me, rx)
    }

    fn queue(&self, ev: AdminEvent) {
        if self.tx.try_send(ev).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n + 1,
                    "admin: the admin namespace cannot keep up; development-mode events dropped \
                     (production mode reports counts only)"
                );
            }
        }
    }

    fn plain(&self, name: &'static str, args: Vec<Value>) {
        self.queue(AdminEvent::Plain(name, args));
    }

    fn is_admin(&self, ns: &str) -> bool {
        ns == self.namespace
    }

    fn event(&self, kind: &'static str, socket: &Socket, event: &str, args: &Args) {
        if self.is_admin(socket.ns()) {
            return;
        }
        self.queue(AdminEvent::Event {
            kind,
            nsp: socket.namespace().name_str().clone(),
            sid: socket.id(),
            event: event.to_owned(),
            args: args.clone(),
            at: super::timestamp(),
        });
    }
}

impl SocketEvents for AdminEvents {
    fn socket_connected(&self, socket: &SocketRef) {
        let (id, nsp) = (socket.id().to_string(), socket.ns().to_owned());
        let at = super::timestamp();
        // Node reports the socket's own room first.
        self.plain(
            "room_joined",
            vec![json!(nsp), json!(id), json!(id), json!(at)],
        );
        self.plain(
            "socket_connected",
            vec![serialize::local(socket), json!(at)],
        );
    }

    fn data_updated(&self, socket: &Socket) {
        self.plain(
            "socket_updated",
            vec![json!({
                "id": socket.id().to_string(),
                "nsp": socket.ns(),
                "data": serialize::local_data(socket),
            })],
        );
    }

    fn transport_upgraded(&self, socket: &Socket) {
        self.plain(
            "socket_updated",
            vec![json!({
                "id": socket.id().to_string(),
                "nsp": socket.ns(),
                "transport": serialize::transport_name(socket.transport()),
            })],
        );
    }

    fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        let (id, nsp) = (socket.id().to_string(), socket.ns().to_owned());
        let at = super::timestamp();
        self.plain(
            "socket_disconnected",
            vec![json!(nsp), json!(id), json!(reason.as_str()), json!(at)],
        );
        self.plain(
            "room_left",
            vec![json!(nsp), json!(id), json!(id), json!(at)],
        );
    }

    fn room_joined(&self, ns: &Str, room: &Room, sid: Sid) {
        self.plain(
            "room_joined",
            vec![
                json!(ns.as_str()),
                json!(room.as_ref()),
                json!(sid.to_string()),
                json!(super::timestamp()),
            ],
        );
    }

    fn room_left(&self, ns: &Str, room: &Room, sid: Sid) {
        self.plain(
            "room_left",
            vec![
                json!(ns.as_str()),
                json!(room.as_ref()),
                json!(sid.to_string()),
                json!(super::timestamp()),
            ],
        );
    }

    fn event_received(&self, socket: &Socket, event: &Str, args: &Args) {
        self.event("event_received", socket, event.as_str(), args);
    }

    fn event_sent(&self, socket: &Socket, event: &str, args: &Args) {
        self.event("event_sent", socket, event, args);
    }
}

/// Sends the queued messages to the admin namespace, in order, until the server is gone.
pub(crate) async fn run(io: Weak<IoInner>, namespace: String, mut rx: mpsc::Receiver<AdminEvent>) {
    while let Some(ev) = rx.recv().await {
        let Some(io) = io.upgrade().map(SocketIo::from_inner) else {
            return;
        };
        if io.is_closed() {
            return;
        }
        let Some(admin) = io.get_ns(&namespace) else {
            continue;
        };
        let sent = match ev {
            AdminEvent::Plain(name, args) => admin.emit(name, &Spread(args)).await,
            AdminEvent::Event {
                kind,
                nsp,
                sid,
                event,
                args,
                at,
            } => {
                let mut list = vec![Any::String(event)];
                match args.deserialize_all::<Vec<Any>>() {
                    Ok(values) => list.extend(values),
                    Err(e) => tracing::debug!(error = %e, "admin: event arguments unreadable"),
                }
                admin
                    .emit(kind, &(nsp.as_str(), sid.to_string(), list, at))
                    .await
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "admin: a development-mode event was not sent");
        }
    }
}
