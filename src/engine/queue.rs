//! A session's outgoing queue, bounded in bytes, and its reading end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{Message, SendError};
use crate::util::lock;

/// What one queued message counts against the queue's budget besides its payload: its
/// slot and the handle to its bytes.
pub(crate) const MESSAGE_OVERHEAD: usize = 64;

pub(super) fn cost(msg: &Message) -> usize {
    msg.len().saturating_add(MESSAGE_OVERHEAD)
}

/// A session's outgoing queue: bounded in bytes, and allocated only as messages come (an
/// idle session keeps no buffer).
///
/// The policy: a batch is refused (`SendError::Full`) when it would take the queued bytes
/// over the budget, except into an empty queue, which takes any one batch (so a message
/// larger than the budget can still be sent to a reader that keeps up).
#[derive(Debug)]
pub(crate) struct Queue {
    pub(super) state: Mutex<QueueState>,
    pub(super) capacity: usize,
    /// Signalled when messages are queued or the queue closes.
    ready: Notify,
    /// Signalled (to every waiter) when messages leave the queue or it closes.
    room: Notify,
}

#[derive(Debug, Default)]
pub(super) struct QueueState {
    pub(super) items: VecDeque<Message>,
    /// The cost of `items`.
    bytes: usize,
    closed: bool,
}

impl QueueState {
    pub(super) fn pop(&mut self) -> Option<Message> {
        let msg = self.items.pop_front()?;
        self.bytes = self.bytes.saturating_sub(cost(&msg));
        Some(msg)
    }
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(QueueState::default()),
            capacity,
            ready: Notify::new(),
            room: Notify::new(),
        }
    }

    /// Queues every message or none; a refused batch is given back with the reason
    /// (`Full`), or dropped (`Closed`).
    pub(super) fn push_all<I: Iterator<Item = Message>>(
        &self,
        msgs: I,
    ) -> Result<(), (SendError, Vec<Message>)> {
        self.push_all_keeping(msgs, None)
    }

    /// [`push_all`](Self::push_all); with `Some(keep)`, only if `keep` bytes of the
    /// budget stay free afterwards (even into an empty queue).
    pub(super) fn push_all_keeping<I: Iterator<Item = Message>>(
        &self,
        msgs: I,
        keep: Option<usize>,
    ) -> Result<(), (SendError, Vec<Message>)> {
        {
            let mut state = lock(&self.state);
            if state.closed {
                return Err((SendError::Closed, Vec::new()));
            }
            let was_empty = state.items.is_empty();
            let before = state.items.len();
            let mut total = 0usize;
            for msg in msgs {
                total = total.saturating_add(cost(&msg));
                state.items.push_back(msg);
            }
            let after = state.bytes.saturating_add(total);
            let refused = match keep {
                None => !was_empty && after > self.capacity,
                Some(keep) => after.saturating_add(keep) > self.capacity,
            };
            if refused {
                let back = state.items.drain(before..).collect();
                return Err((SendError::Full, back));
            }
            state.bytes = state.bytes.saturating_add(total);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Queues every message, waiting until they fit.
    pub(super) async fn push_all_wait<I: Iterator<Item = Message>>(
        &self,
        msgs: I,
    ) -> Result<(), SendError> {
        let room = self.room.notified();
        tokio::pin!(room);
        room.as_mut().enable();
        let mut msgs = match self.push_all(msgs) {
            Ok(()) => return Ok(()),
            Err((SendError::Full, back)) => back,
            Err((error, _)) => return Err(error),
        };
        loop {
            room.as_mut().await;
            room.set(self.room.notified());
            room.as_mut().enable();
            match self.push_all(msgs.into_iter()) {
                Ok(()) => return Ok(()),
                Err((SendError::Full, back)) => msgs = back,
                Err((error, _)) => return Err(error),
            }
        }
    }

    pub(super) fn freed(&self) {
        self.room.notify_waiters();
    }
}

/// The outgoing queue's reading end, with a message taken out but not sent yet.
#[derive(Debug)]
pub(crate) struct Outbox {
    pub(super) queue: Arc<Queue>,
    pub(super) leftover: Option<Message>,
}

impl Outbox {
    /// The next message if one is ready.
    pub(crate) fn try_next(&mut self) -> Option<Message> {
        if let Some(m) = self.leftover.take() {
            return Some(m);
        }
        let msg = lock(&self.queue.state).pop();
        if msg.is_some() {
            self.queue.freed();
        }
        msg
    }

    /// Moves every ready message to `out`, in order (one lock for all of them).
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Message>) {
        out.extend(self.leftover.take());
        let mut state = lock(&self.queue.state);
        if state.items.is_empty() {
            return;
        }
        out.extend(state.items.drain(..));
        state.bytes = 0;
        // An idle session keeps no slots (a new message allocates them again: a few
        // tens of nanoseconds, against 160 bytes on every connection).
        state.items = VecDeque::new();
        drop(state);
        self.queue.freed();
    }

    /// The next message, waiting for one; `None` once the queue is closed and empty.
    pub(crate) async fn next(&mut self) -> Option<Message> {
        if let Some(m) = self.leftover.take() {
            return Some(m);
        }
        loop {
            let ready = self.queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let mut state = lock(&self.queue.state);
                if let Some(m) = state.pop() {
                    drop(state);
                    self.queue.freed();
                    return Some(m);
                }
                if state.closed {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// Waits until a message is ready (without taking it) or the queue is closed.
    pub(crate) async fn ready(&self) {
        if self.leftover.is_some() {
            return;
        }
        loop {
            let ready = self.queue.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            {
                let state = lock(&self.queue.state);
                if !state.items.is_empty() || state.closed {
                    return;
                }
            }
            ready.await;
        }
    }

    /// Puts back a message that did not fit in a response; it comes out first next time.
    pub(crate) fn put_back(&mut self, msg: Message) {
        self.leftover = Some(msg);
    }

    /// Drops every queued message and refuses new ones.
    pub(crate) fn discard(&mut self) {
        self.leftover = None;
        {
            let mut state = lock(&self.queue.state);
            state.closed = true;
            state.items = VecDeque::new();
            state.bytes = 0;
        }
        self.queue.freed();
    }
}
