//! The one task of each session: heartbeat, close, and (over WebSocket) reading and
//! writing the connection.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::packet::{Outgoing, Packet};
use super::socket::{Outbox, Phase, Session, Socket, UpgradedWs, WsStream};
use super::version::{Beat, ClientPing, ClientPong, Protocol};
use super::writer::{Burst, Turn};
use super::{DisconnectReason, EngineHandler, EngineIo, ws};

/// How the session starts.
pub(crate) enum Start {
    /// Over polling; a completed upgrade arrives on this channel.
    Polling(oneshot::Receiver<UpgradedWs>),
    /// Over WebSocket.
    Websocket(Box<WsStream>),
}

/// Runs a session to its end, then frees it. A panic in the handler ends the
/// session instead of leaking it.
pub(crate) async fn run<H: EngineHandler>(
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    start: Start,
) {
    let result = AssertUnwindSafe(drive(&engine, &socket, start))
        .catch_unwind()
        .await;
    if result.is_err() {
        tracing::error!("the session's task panicked; the session is dropped");
        socket.request_close(DisconnectReason::TransportError);
        engine.unregister(&socket);
        socket.mark_finalized();
    }
}

async fn drive<H: EngineHandler>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    start: Start,
) {
    // Each part is a future of its own on the heap: the task keeps only the one that
    // runs (an `async fn` awaiting them in place would be as large as all of them, and a
    // session's task lives as long as the session).
    let (ws, protocol, upgraded) = match start {
        Start::Websocket(ws) => (ws, socket.protocol_impl(), false),
        Start::Polling(upgrade_rx) => match Box::pin(polling(engine, socket, upgrade_rx)).await {
            Ok((ws, protocol)) => (Box::new(ws), protocol, true),
            Err(reason) => {
                engine.finalize(socket, reason);
                return;
            }
        },
    };
    let (reason, ws) = Box::pin(websocket(engine, socket, ws, protocol, upgraded)).await;
    engine.finalize(socket, reason);
    if let Some((mut ws, frame)) = ws {
        Box::pin(ws::close(&mut ws, frame)).await;
    }
}

/// The polling part of a session: heartbeat and close, until it ends or upgrades.
async fn polling<H: EngineHandler>(
    engine: &EngineIo<H>,
    socket: &Arc<Socket<H::Data>>,
    upgrade_rx: oneshot::Receiver<UpgradedWs>,
) -> Result<UpgradedWs, DisconnectReason> {
    let session = &socket.session;
    let mut upgrade_rx = Some(upgrade_rx);
    loop {
        let woken = session.wake_driver.notified();
        if let Some(reason) = socket.close_reason() {
            if let Some(Ok(ws)) = upgrade_rx.as_mut().map(|rx| rx.try_recv()) {
                // Upgraded just now: close over the WebSocket.
                return Ok(ws);
            }
            if socket.closing_gracefully() && socket.phase() != Phase::Websocket {
                // Let the next GET carry the queued messages and the close packet. A
                // polling client asks again right after each answer, so a short grace is
                // enough; a client that vanished must not hold a shutdown for long.
                let grace = Instant::now()
                    + engine
                        .config()
                        .ping_timeout()
                        .min(std::time::Duration::from_secs(2));
                loop {
                    let woken = session.wake_driver.notified();
                    if socket.delivered() {
                        break;
                    }
                    tokio::select! {
                        _ = woken => {}
                        _ = tokio::time::sleep_until(grace.into()) => break,
                    }
                }
            }
            return Err(reason);
        }
        let next = socket.heartbeat().next_event();
        tokio::select! {
            biased;
            _ = woken => {}
            ws = async {
                match upgrade_rx.as_mut() {
                    Some(rx) => rx.await,
                    None => std::future::pending().await,
                }
            }, if upgrade_rx.is_some() => {
                match ws {
                    Ok(ws) => return Ok(ws),
                    Err(_) => upgrade_rx = None,
                }
            }
            _ = tokio::time::sleep_until(next.into()) => {
                let beat = socket.heartbeat().poll(Instant::now());
                match beat {
                    Beat::Ping => {
                        session.ping_pending.store(true, Ordering::Release);
                        session.wake_poll.notify_one();
                    }
                    Beat::TimedOut => {
                        socket.request_close(DisconnectReason::HeartbeatTimeout);
                    }
                    Beat::Wait => {}
                }
            }
        }
    }
}

/// Why the WebSocket part ended, and the connection to close with its close frame
/// (none when the connection is already gone).
type WsEnd = (
    DisconnectReason,
    Option<(Box<WsStream>, Option<CloseFrame>)>,
);

/// How many frames already read are handled before the replies go out.
const READ_BATCH: usize = 64;

/// The WebSocket part of a session.
///
/// The WebSocket goes to the session's slot (`writer`), where senders write to it at once
/// while nothing waits. The task's turn writes what did wait (a ping, queued messages, a
/// frame the kernel did not take) with one flush, then waits for a frame, a message or
/// the heartbeat. Frames that arrived together are handled together, with the slot held,
/// so the answers to a burst are queued and go out in one write.
async fn websocket<H: EngineHandler>(
    engine: &EngineIo<H>,
    socket: &Arc<Socket<H::Data>>,
    ws: Box<WsStream>,
    protocol: Protocol,
    upgraded: bool,
) -> WsEnd {
    let session = &socket.session;
    // For an upgrade, this waits until the pending GET has answered.
    let mut outbox = session.outbox.lock().await;
    session.ws.put(ws, protocol);
    socket.set_phase(Phase::Websocket);
    if upgraded {
        tracing::debug!("now over WebSocket");
        socket.dispatch(|| engine.handler().on_upgrade(socket));
    }
    let write_timeout = engine.config().ping_interval() + engine.config().ping_timeout();
    let mut close_frame: Option<CloseFrame> = None;

    // A ping that waited for a GET.
    let mut pending_ping = session.ping_pending.swap(false, Ordering::AcqRel);
    let mut next_beat = socket.heartbeat().next_event();
    let beat = tokio::time::sleep_until(next_beat.into());
    tokio::pin!(beat);

    loop {
        let ping = std::mem::take(&mut pending_ping).then_some(Outgoing::Ping);
        let heartbeat = ping.or(socket.take_pong());
        if let Err(error) =
            write_turn(session, &mut outbox, protocol, heartbeat, write_timeout).await
        {
            tracing::debug!(%error, "WebSocket write failed");
            socket.request_close(DisconnectReason::TransportError);
            outbox.discard();
            // The connection is dropped now, not with the session.
            drop(session.ws.take());
            return (DisconnectReason::TransportError, None);
        }

        let woken = session.wake_driver.notified();
        if let Some(reason) = socket.close_reason() {
            if socket.closing_gracefully() {
                let _ = write_turn(session, &mut outbox, protocol, None, write_timeout).await;
            }
            outbox.discard();
            let frame = close_frame.or(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            return (reason, session.ws.take().map(|ws| (ws, frame)));
        }

        let due = socket.heartbeat().next_event();
        if due != next_beat {
            next_beat = due;
            beat.as_mut().reset(due.into());
        }
        // Unbiased: a client that floods cannot starve its own outgoing queue or the
        // heartbeat.
        tokio::select! {
            _ = woken => {}
            _ = &mut beat => {
                let now = Instant::now();
                let beat_now = socket.heartbeat().poll(now);
                match beat_now {
                    Beat::Ping => pending_ping = true,
                    Beat::TimedOut => {
                        socket.request_close(DisconnectReason::HeartbeatTimeout);
                    }
                    Beat::Wait => {}
                }
                next_beat = socket.heartbeat().next_event();
                beat.as_mut().reset(next_beat.into());
            }
            frame = std::future::poll_fn(|cx| session.ws.poll_next(cx)) => {
                let mut frame = frame;
                let mut handled = 0;
                // Held while the frames are handled: what the handlers send meanwhile is
                // queued, and written together after.
                let mut slot = session.ws.lock();
                // Set once the frames read together are more than one: what their
                // handlers send to other sockets is queued too (see `writer::Burst`).
                let mut burst = Burst::default();
                loop {
                    // Another frame already read? (Polled without waiting; the next
                    // turn's select registers for the rest.)
                    let next = match slot.as_mut() {
                        Some((ws, _)) if handled + 1 < READ_BATCH && !socket.is_closed() => {
                            match ws.poll_next_unpin(&mut Context::from_waker(Waker::noop())) {
                                Poll::Ready(next) => Some(next),
                                Poll::Pending => None,
                            }
                        }
                        _ => None,
                    };
                    if next.is_some() {
                        burst.start();
                    }
                    match frame {
                        Some(Ok(msg)) => on_frame(engine, socket, protocol, msg),
                        Some(Err(error)) => {
                            tracing::debug!(%error, "WebSocket read failed");
                            let (reason, frame) = read_error(&error);
                            socket.request_close(reason);
                            match frame {
                                Some(frame) => close_frame = Some(frame),
                                None => {
                                    outbox.discard();
                                    drop(slot.take());
                                    return (socket.close_reason().unwrap_or(reason), None);
                                }
                            }
                            break;
                        }
                        None => {
                            socket.request_close(DisconnectReason::TransportClose);
                            outbox.discard();
                            drop(slot.take());
                            return (socket.close_reason().unwrap_or(DisconnectReason::TransportClose), None);
                        }
                    }
                    handled += 1;
                    // A frame read ahead after the socket closed is not handled, as one
                    // left unread would not be.
                    match next {
                        Some(next) if !socket.is_closed() => frame = next,
                        _ => break,
                    }
                }
                drop(burst);
                drop(slot);
            }
            () = outbox.ready() => {}
        }
    }
}

/// One turn's write: `heartbeat` (a ping, or Engine.IO 3's pong), every queued message,
/// and whatever a sender left pending, with one flush.
///
/// The messages are taken from the queue under the slot's lock, and the write is first
/// tried there and then, without a future: the common case, a socket that takes the
/// bytes, needs nothing more. Only a write that has to wait gets a future, on the heap,
/// with the timeout's timer (so the session's task does not carry a write future's
/// state for its whole life); until it is done, senders queue.
async fn write_turn(
    session: &Session,
    outbox: &mut Outbox,
    protocol: Protocol,
    heartbeat: Option<Outgoing<'static>>,
    timeout: Duration,
) -> Result<(), WsError> {
    let mut batch: Vec<super::Message> = Vec::new();
    let mut turn = Turn::new(protocol, heartbeat);
    {
        let mut slot = session.ws.lock();
        let Some((ws, _)) = slot.as_mut() else {
            return Err(WsError::AlreadyClosed);
        };
        outbox.drain_into(&mut batch);
        if batch.is_empty() && !turn.has_heartbeat() && !session.ws.writing() {
            return Ok(());
        }
        session.ws.set_writing(true);
        let now = turn.write(
            ws,
            protocol,
            &batch,
            &mut Context::from_waker(Waker::noop()),
        );
        match now {
            Poll::Ready(Ok(())) => {
                session.ws.set_writing(false);
                return Ok(());
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => {}
        }
    }
    // The socket is full: wait for it (with the real waker from now on), at most
    // `timeout`.
    let wait = std::future::poll_fn(|cx| match session.ws.lock().as_mut() {
        Some((ws, _)) => turn.write(ws, protocol, &batch, cx),
        None => Poll::Ready(Err(WsError::AlreadyClosed)),
    });
    match Box::pin(tokio::time::timeout(timeout, wait)).await {
        Ok(Ok(())) => {
            let _slot = session.ws.lock();
            session.ws.set_writing(false);
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(WsError::Io(std::io::ErrorKind::TimedOut.into())),
    }
}

/// The reason for a read error, and the close frame to answer with (none when the
/// connection is unusable).
fn read_error(error: &WsError) -> (DisconnectReason, Option<CloseFrame>) {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => (
            DisconnectReason::TransportError,
            Some(CloseFrame {
                code: CloseCode::Size,
                reason: "message too big".into(),
            }),
        ),
        WsError::Utf8(_) => (
            DisconnectReason::PacketParsingError,
            Some(CloseFrame {
                code: CloseCode::Invalid,
                reason: "invalid UTF-8".into(),
            }),
        ),
        WsError::Protocol(_) | WsError::Capacity(_) => (
            DisconnectReason::TransportError,
            Some(CloseFrame {
                code: CloseCode::Protocol,
                reason: "".into(),
            }),
        ),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            (DisconnectReason::TransportClose, None)
        }
        _ => (DisconnectReason::TransportError, None),
    }
}

/// One frame from the client, read with the WebSocket's `protocol`.
fn on_frame<H: EngineHandler>(
    engine: &EngineIo<H>,
    socket: &Arc<Socket<H::Data>>,
    protocol: Protocol,
    msg: WsMessage,
) {
    let now = Instant::now();
    if socket.check_heartbeat(now) {
        // Dead already, whether or not the timer has fired: nothing more is read.
        return;
    }
    let packet = match msg {
        WsMessage::Text(text) => protocol.decode_ws_text(Bytes::from(text)),
        WsMessage::Binary(data) => protocol.decode_ws_binary(data),
        WsMessage::Close(_) => {
            socket.request_close(DisconnectReason::TransportClose);
            return;
        }
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => return,
    };
    match packet {
        Ok(Packet::Message(msg)) => socket.dispatch(|| engine.handler().on_message(msg, socket)),
        Ok(Packet::Binary(data)) => socket.dispatch(|| engine.handler().on_binary(data, socket)),
        Ok(Packet::Pong { probe: false }) => match protocol.on_client_pong() {
            ClientPong::Accept => {
                socket.heartbeat().on_pong(now);
            }
            ClientPong::Refuse => {
                tracing::debug!("pong from the client: closing");
                socket.request_close(DisconnectReason::TransportError);
            }
        },
        Ok(Packet::Ping { probe }) => match protocol.on_client_ping() {
            ClientPing::Refuse => {
                tracing::debug!("ping from the client: closing");
                socket.request_close(DisconnectReason::TransportError);
            }
            ClientPing::Answer => socket.on_client_ping(probe, now),
        },
        Ok(Packet::Close) => {
            socket.request_close(DisconnectReason::TransportClose);
        }
        Ok(Packet::Pong { probe: true } | Packet::Open | Packet::Upgrade | Packet::Noop) => {}
        Err(error) => {
            tracing::debug!(%error, "invalid packet: closing");
            socket.request_close(DisconnectReason::PacketParsingError);
        }
    }
}
