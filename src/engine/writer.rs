//! The WebSocket a session writes to, shared by the session's task and its senders.
//!
//! A message for a session whose socket has nothing waiting is written by the sender
//! itself, at once: the frame goes to the kernel from the task that emitted it (for a
//! broadcast, the one that loops over the room), with no queue, no wake-up of the
//! session's task and no turn of its loop. Only a socket with a backlog (the kernel did
//! not take everything, or messages are queued) needs the session's task, which then
//! writes in order, with the write timeout that cuts a stalled reader.
//!
//! The order of messages holds because every write happens under the slot's lock, and a
//! sender writes only when the queue is empty and nothing is pending (`writing` clear):
//! the task sets `writing` under the lock before it lets go of messages it took from the
//! queue and not yet written, and clears it under the lock once they are all out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll};

use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::Error as WsError;

use super::Message;
use super::packet::Outgoing;
use super::socket::WsStream;
use super::version::Protocol;
use crate::util::lock;

thread_local! {
    /// Set while a session's task handles a burst of frames read together (see [`Burst`]).
    static BURST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While alive and started, senders on this thread queue instead of writing at once.
///
/// A session's task that has read several frames at once (a client sending faster than
/// the server handles its frames, such as a publisher with several broadcasts on their
/// way) handles them with this set: each receiver's frames from the whole burst are
/// queued and go out in one write of the receiver's task, instead of one system call
/// per frame and receiver. A lone frame's sends are written at once.
#[derive(Default)]
pub(crate) struct Burst {
    started: bool,
}

impl Burst {
    pub(crate) fn start(&mut self) {
        if !self.started {
            self.started = true;
            BURST.with(|b| b.set(true));
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        if self.started {
            BURST.with(|b| b.set(false));
        }
    }
}

/// Whether this thread is handling a burst (senders queue).
pub(crate) fn in_burst() -> bool {
    BURST.with(|b| b.get())
}

/// A session's WebSocket, once its task has one.
#[derive(Default)]
pub(crate) struct WsSlot {
    ws: Mutex<Option<(Box<WsStream>, Protocol)>>,
    /// Frames are pending: taken from the queue and not all written, or not flushed.
    writing: AtomicBool,
}

/// What a sender's attempt did.
pub(crate) enum Direct<I> {
    /// Written (or handed to the kernel's buffer and the socket's, with the task woken
    /// to flush the rest: `backlog`).
    Written { backlog: bool },
    /// Not now: the messages go to the queue.
    Queue(I),
    /// The connection failed; the messages are lost with it.
    Failed(WsError),
}

impl WsSlot {
    /// Puts the task's WebSocket in the slot. Senders wait (use the queue) until the
    /// task's first turn has written what the queue already holds.
    pub(crate) fn put(&self, ws: Box<WsStream>, protocol: Protocol) {
        let mut slot = lock(&self.ws);
        self.writing.store(true, Ordering::Release);
        *slot = Some((ws, protocol));
    }

    /// Takes the WebSocket out (the session ends): senders use the queue again.
    pub(crate) fn take(&self) -> Option<Box<WsStream>> {
        lock(&self.ws).take().map(|(ws, _)| ws)
    }

    /// The session's task's access.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<(Box<WsStream>, Protocol)>> {
        lock(&self.ws)
    }

    pub(crate) fn writing(&self) -> bool {
        self.writing.load(Ordering::Acquire)
    }

    /// Only under the lock (see the module's note).
    pub(crate) fn set_writing(&self, on: bool) {
        self.writing.store(on, Ordering::Release);
    }

    /// Polls the WebSocket for the next frame (`None` once it is gone).
    pub(crate) fn poll_next(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<WsMessage, WsError>>> {
        match lock(&self.ws).as_mut() {
            Some((ws, _)) => ws.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }

    /// A sender's attempt to write `msgs` at once. It happens only if nobody holds the
    /// slot, nothing is pending and `queue_empty` says the queue is empty (asked under
    /// the slot's lock); otherwise the messages come back, for the queue.
    pub(crate) fn try_send<I: Iterator<Item = Message>>(
        &self,
        queue_empty: impl FnOnce() -> bool,
        msgs: I,
    ) -> Direct<I> {
        if self.writing() {
            return Direct::Queue(msgs);
        }
        let mut slot = match self.ws.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Direct::Queue(msgs),
        };
        let Some((ws, protocol)) = slot.as_mut() else {
            return Direct::Queue(msgs);
        };
        if self.writing() || !queue_empty() {
            return Direct::Queue(msgs);
        }
        // Outside tokio's cooperative budget: a broadcast loop writes to thousands of
        // sockets within one poll of the emitting task, and once its budget (128 I/O
        // polls) is spent every further write would be refused as if the socket were
        // full, sending all but the first 128 members through their tasks after all.
        // The loop is bounded by the room, as the queue pushes it replaces were.
        let mut msgs = Some(msgs);
        let attempt = std::future::poll_fn(|cx| match msgs.take() {
            Some(msgs) => Poll::Ready(self.write_now(ws, *protocol, msgs, cx)),
            None => Poll::Ready(Direct::Written { backlog: true }),
        });
        // Ready at the first poll (the closure never returns `Pending`).
        tokio::task::unconstrained(attempt)
            .now_or_never()
            .unwrap_or(Direct::Written { backlog: true })
    }

    /// [`try_send`](Self::try_send)'s write, under the slot's lock.
    fn write_now<I: Iterator<Item = Message>>(
        &self,
        ws: &mut WsStream,
        protocol: Protocol,
        msgs: I,
        cx: &mut Context<'_>,
    ) -> Direct<I> {
        // Nothing pending: the sink is ready (its last flush completed).
        match ws.poll_ready_unpin(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Direct::Failed(e),
            Poll::Pending => {
                self.set_writing(true);
                return Direct::Queue(msgs);
            }
        }
        for msg in msgs {
            // The sink takes every frame (a full socket leaves it in the sink's buffer,
            // which the flush below or the task writes out).
            if let Err(e) = ws.start_send_unpin(protocol.ws_frame(Outgoing::Message(&msg))) {
                return Direct::Failed(e);
            }
        }
        match ws.poll_flush_unpin(cx) {
            Poll::Ready(Ok(())) => Direct::Written { backlog: false },
            Poll::Ready(Err(e)) => Direct::Failed(e),
            Poll::Pending => {
                self.set_writing(true);
                Direct::Written { backlog: true }
            }
        }
    }
}

/// The frames of one turn of the session's task: a heartbeat packet first, then the
/// messages of a batch, from `next` on, and one the socket did not take yet (`held`).
pub(crate) struct Turn {
    heartbeat: Option<WsMessage>,
    next: usize,
    held: Option<WsMessage>,
}

impl Turn {
    pub(crate) fn new(protocol: Protocol, heartbeat: Option<Outgoing<'static>>) -> Turn {
        Turn {
            heartbeat: heartbeat.map(|p| protocol.ws_frame(p)),
            next: 0,
            held: None,
        }
    }

    pub(crate) fn has_heartbeat(&self) -> bool {
        self.heartbeat.is_some()
    }

    /// Feeds the frames to the WebSocket, then flushes. Pending (with the frame that did
    /// not fit kept) while the socket cannot take more.
    pub(crate) fn write(
        &mut self,
        ws: &mut WsStream,
        protocol: Protocol,
        batch: &[Message],
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), WsError>> {
        loop {
            let frame = match self.held.take().or_else(|| self.heartbeat.take()) {
                Some(frame) => frame,
                None => match batch.get(self.next) {
                    Some(msg) => {
                        self.next += 1;
                        protocol.ws_frame(Outgoing::Message(msg))
                    }
                    None => break,
                },
            };
            match ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => ws.start_send_unpin(frame)?,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.held = Some(frame);
                    return Poll::Pending;
                }
            }
        }
        ws.poll_flush_unpin(cx)
    }
}
