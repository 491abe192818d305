//! WebSocket: the handshake of a new session, and the upgrade of a polling session
//! (probe, `5`, hand-over to the session's task).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tracing::Instrument as _;

use super::error::HttpError;
use super::packet::{Outgoing, Packet};
use super::socket::{Phase, Socket, WsStream};
use super::version::Protocol;
use super::{EngineHandler, EngineIo, Sid, TransportType, driver};

/// How long a closing WebSocket waits for the client's close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The `101 Switching Protocols` answer to a WebSocket handshake.
fn switching_protocols<B>(req: &Request<B>) -> Result<Response<Bytes>, HttpError> {
    let key = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(HttpError::BadRequest)?;
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| HttpError::BadRequest)?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

/// Waits for hyper to hand over the connection, then wraps it as a WebSocket.
async fn accept<H: EngineHandler>(
    engine: &EngineIo<H>,
    on_upgrade: OnUpgrade,
    deadline: Instant,
) -> Option<WsStream> {
    match tokio::time::timeout_at(deadline.into(), on_upgrade).await {
        Ok(Ok(upgraded)) => Some(
            WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(engine.ws_config()),
            )
            .await,
        ),
        Ok(Err(error)) => {
            tracing::debug!(%error, "WebSocket upgrade failed");
            None
        }
        Err(_) => {
            tracing::debug!("WebSocket upgrade timed out");
            None
        }
    }
}

/// Closes a WebSocket: sends the close frame and waits (briefly) for the client's.
pub(crate) async fn close(ws: &mut WsStream, frame: Option<CloseFrame>) {
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        if ws.close(frame).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// A new session over WebSocket.
pub(crate) fn handshake<H, B>(
    engine: &Arc<EngineIo<H>>,
    protocol: Protocol,
    mut req: Request<B>,
) -> Response<Bytes>
where
    H: EngineHandler,
    B: Send + 'static,
{
    let mut response = match switching_protocols(&req) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, _body) = req.into_parts();
    let sid = Sid::new();
    engine.add_cookie(response.headers_mut(), sid);

    let engine = engine.clone();
    tokio::spawn(async move {
        let deadline = Instant::now() + engine.config().upgrade_timeout();
        let span = tracing::debug_span!("engineio_handshake", sid = %sid, transport = "websocket");
        let Some(mut ws) = accept(&engine, on_upgrade, deadline).instrument(span).await else {
            return;
        };
        let now = Instant::now();
        let Some((socket, upgrade_rx)) =
            engine.create_session(Some(sid), protocol, parts, Phase::Websocket, now)
        else {
            close(&mut ws, None).await;
            return;
        };
        // A WebSocket session never upgrades: its channel goes now.
        drop((upgrade_rx, socket.take_upgrade_tx()));
        let span = socket.session.span.clone();
        async {
            if protocol.open_after_ws_ping() && !ping_first(&mut ws).await {
                engine.unregister(&socket);
                socket.request_close(super::DisconnectReason::TransportError);
                socket.mark_finalized();
                close(&mut ws, None).await;
                return;
            }
            let open = {
                let json = engine.open_payload(protocol, sid, TransportType::Websocket);
                protocol.ws_frame(Outgoing::Open(&json))
            };
            let sent = tokio::time::timeout(engine.config().ping_timeout(), ws.send(open)).await;
            if !matches!(sent, Ok(Ok(()))) {
                // Never connected for the handler: unregister quietly.
                engine.unregister(&socket);
                socket.request_close(super::DisconnectReason::TransportError);
                socket.mark_finalized();
                return;
            }
            socket.dispatch(|| engine.handler().on_connect(socket.clone()));
            // The session's own task, so that this one (the upgrade, the open packet:
            // several KiB of future) ends here instead of living as long as the session.
            engine.spawn_driver(socket, driver::Start::Websocket(Box::new(ws)));
        }
        .instrument(span)
        .await;
    });
    response
}

/// How long the open packet waits for the answer to [`ping_first`]'s ping.
const PING_FIRST_WAIT: Duration = Duration::from_millis(10);

/// Sends a WebSocket ping and waits (at most [`PING_FIRST_WAIT`]) for its pong, so that
/// the open packet reaches a client that has read the handshake's answer: a client that
/// starts to listen for messages once its WebSocket is open (Node's `ws` runs the data
/// that came with the `101` before the code that waits for `open`) would otherwise miss
/// it. Whatever the client sends first, other than a pong or a ping, is a protocol
/// violation (it must wait for the open packet): false then.
async fn ping_first(ws: &mut WsStream) -> bool {
    if ws.send(WsMessage::Ping(Bytes::new())).await.is_err() {
        return false;
    }
    let wait = tokio::time::sleep(PING_FIRST_WAIT);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            _ = &mut wait => return true,
            frame = ws.next() => match frame {
                Some(Ok(WsMessage::Pong(_))) => return true,
                Some(Ok(WsMessage::Ping(_))) => {}
                _ => return false,
            },
        }
    }
}

/// An upgrade of a polling session to WebSocket.
///
/// `protocol` is how the WebSocket writes: the session's version, with the framing its own
/// request asks for.
pub(crate) fn upgrade<H, B>(
    engine: &Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    mut req: Request<B>,
    protocol: Protocol,
) -> Result<Response<Bytes>, HttpError>
where
    H: EngineHandler,
{
    let response = switching_protocols(&req)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Only one upgrade, and only from polling: any other WebSocket with this id is
    // accepted and closed at once.
    let accepted = socket.switch_phase(Phase::Polling, Phase::ProbeWait);
    let engine = engine.clone();
    let span = socket.session.span.clone();
    tokio::spawn(
        async move {
            let deadline = Instant::now() + engine.config().upgrade_timeout();
            let Some(mut ws) = accept(&engine, on_upgrade, deadline).await else {
                if accepted {
                    socket.switch_phase(Phase::ProbeWait, Phase::Polling);
                }
                return;
            };
            if !accepted {
                tracing::debug!("WebSocket for a session that is not polling: closed");
                close(&mut ws, None).await;
                return;
            }
            probe(&socket, ws, protocol, deadline).await;
        }
        .instrument(span),
    );
    Ok(response)
}

enum ProbeEnd {
    Upgraded,
    Failed(&'static str),
}

/// Runs the probe exchange on a new WebSocket, then hands it to the session's task.
async fn probe<D>(
    socket: &Arc<Socket<D>>,
    mut ws: WsStream,
    protocol: Protocol,
    deadline: Instant,
) {
    let mut probed = false;
    let end = loop {
        let closing = socket.closing();
        tokio::select! {
            _ = closing => break ProbeEnd::Failed("the session closed"),
            _ = tokio::time::sleep_until(deadline.into()) => break ProbeEnd::Failed("no upgrade within upgrade_timeout"),
            frame = ws.next() => {
                let packet = match frame {
                    Some(Ok(WsMessage::Text(text))) => protocol.decode_ws_text(Bytes::from(text)),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    _ => break ProbeEnd::Failed("the WebSocket failed or sent something else"),
                };
                match packet {
                    Ok(Packet::Ping { probe: true }) if !probed => {
                        // An Engine.IO 3 client's probe is a ping too: its heartbeat
                        // starts again (a slow upgrade must not time the session out).
                        socket.heartbeat().on_client_ping(Instant::now());
                        let sent = tokio::time::timeout_at(
                            deadline.into(),
                            ws.send(protocol.ws_frame(Outgoing::PongProbe)),
                        )
                        .await;
                        if !matches!(sent, Ok(Ok(()))) {
                            break ProbeEnd::Failed("could not answer the probe");
                        }
                        probed = true;
                        // A client that sent `5` right behind the probe (without waiting
                        // for the answer) has upgraded already: a polling request racing
                        // it must not be answered as if polling went on.
                        match ws.next().now_or_never() {
                            None | Some(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => {}
                            Some(Some(Ok(WsMessage::Text(text)))) => {
                                match protocol.decode_ws_text(Bytes::from(text)) {
                                    Ok(Packet::Upgrade) => break ProbeEnd::Upgraded,
                                    _ => break ProbeEnd::Failed("unexpected packet during the upgrade"),
                                }
                            }
                            Some(_) => break ProbeEnd::Failed("the WebSocket failed or sent something else"),
                        }
                        socket.switch_phase(Phase::ProbeWait, Phase::Upgrading);
                        // The pending GET (if any) ends with a noop.
                        socket.session.wake_poll.notify_one();
                    }
                    Ok(Packet::Upgrade) if probed => break ProbeEnd::Upgraded,
                    _ => break ProbeEnd::Failed("unexpected packet during the upgrade"),
                }
            }
        }
    };
    match end {
        ProbeEnd::Upgraded => {
            let Some(tx) = socket.take_upgrade_tx() else {
                close(&mut ws, None).await;
                return;
            };
            match tx.send((ws, protocol)) {
                Ok(()) => {
                    socket.set_phase(Phase::Websocket);
                    socket.session.wake_poll.notify_one();
                    tracing::debug!("upgraded to WebSocket");
                }
                Err((mut ws, _)) => close(&mut ws, None).await,
            }
        }
        ProbeEnd::Failed(why) => {
            tracing::debug!(why, "upgrade failed");
            if !socket.switch_phase(Phase::ProbeWait, Phase::Polling) {
                socket.switch_phase(Phase::Upgrading, Phase::Polling);
            }
            socket.session.wake_poll.notify_one();
            close(&mut ws, None).await;
        }
    }
}
