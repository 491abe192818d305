//! HTTP long-polling: the handshake, GET (server to client) and POST (client to server).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Request, Response};
use http_body_util::BodyExt as _;
use tracing::Instrument as _;

use super::error::HttpError;
use super::packet::{Outgoing, Packet};
use super::service::BoxError;
use super::socket::{Outbox, Phase, Socket};
use super::version::{ClientPing, ClientPong, PayloadWriter, PollBody, Protocol};
use super::{DisconnectReason, EngineHandler, EngineIo, TransportType, compress, driver};

/// How long a GET that arrives while an upgrade is being completed, with nothing to
/// carry, waits before it is answered with a noop (Node writes a noop every 100 ms then).
const UPGRADE_POLL_HOLD: Duration = Duration::from_millis(100);

/// How long a client's close packet over polling waits for a GET sent at the same time,
/// so that the GET gets its noop rather than finding the session gone.
const CLOSE_WAITS_FOR_POLL: Duration = Duration::from_millis(50);

/// Opens a polling session and answers with the open packet.
pub(crate) fn handshake<H: EngineHandler>(
    engine: &Arc<EngineIo<H>>,
    protocol: Protocol,
    parts: Parts,
) -> Response<Bytes> {
    let now = Instant::now();
    let Some((socket, upgrade_rx)) =
        engine.create_session(None, protocol, parts, Phase::Polling, now)
    else {
        // Only a given id can be taken; a fresh one never is.
        return HttpError::BadRequest.into_response();
    };
    let sid = socket.id();
    let json = engine.open_payload(protocol, sid, TransportType::Polling);
    let mut body = protocol.payload_writer(usize::MAX);
    body.push_always(Outgoing::Open(&json));

    engine.spawn_driver(socket.clone(), driver::Start::Polling(upgrade_rx));
    let span = socket.session.span.clone();
    span.in_scope(|| {
        socket.dispatch(|| engine.handler().on_connect(socket.clone()));
    });

    let mut response = payload_response(body.finish());
    engine.add_cookie(response.headers_mut(), sid);
    response
}

fn payload_response(payload: PollBody) -> Response<Bytes> {
    let mut response = Response::new(payload.body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(payload.content_type),
    );
    response
}

/// Marks the session's pending GET as gone when the request is dropped before it
/// was answered (the client went away): the session then closes, as Node's does.
struct PollGuard<'a, D> {
    socket: &'a Socket<D>,
    armed: bool,
}

impl<D> Drop for PollGuard<'_, D> {
    fn drop(&mut self) {
        self.socket
            .session
            .poll_waiting
            .store(false, Ordering::Release);
        if self.armed {
            tracing::debug!(parent: &self.socket.session.span, "polling request dropped before its answer");
            self.socket.request_close(DisconnectReason::TransportError);
        }
    }
}

/// Answers a polling GET with what the session has to send, waiting for it.
pub(crate) async fn get<H: EngineHandler>(
    engine: &Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    request_headers: &HeaderMap,
) -> Result<Response<Bytes>, HttpError> {
    let span = socket.session.span.clone();
    async {
        let Ok(mut outbox) = socket.session.outbox.try_lock() else {
            if socket.phase() == Phase::Websocket {
                return Err(HttpError::BadRequest);
            }
            tracing::debug!("a second polling GET while one is pending: closing");
            socket.request_close(DisconnectReason::TransportError);
            return Err(HttpError::BadRequest);
        };
        if socket.is_closed() && !socket.closing_gracefully() {
            return Err(HttpError::UnknownSid);
        }
        let protocol = socket.protocol_impl();
        let max = engine.config().max_payload();
        let started_in = socket.phase();
        socket.session.poll_waiting.store(true, Ordering::Release);
        let mut guard = PollGuard {
            socket: &socket,
            armed: true,
        };
        let mut body = protocol.payload_writer(max);
        let hold_until = Instant::now() + UPGRADE_POLL_HOLD;

        loop {
            let notified = socket.session.wake_poll.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            if let Some(reason) = socket.close_reason() {
                if socket.closing_gracefully() && !socket.is_finalized() {
                    fill(&mut outbox, &mut body);
                    match outbox.try_next() {
                        Some(m) => outbox.put_back(m),
                        None => {
                            body.push_always(Outgoing::Close);
                            socket.mark_delivered();
                        }
                    }
                } else {
                    outbox.discard();
                    let packet = if reason == DisconnectReason::TransportClose {
                        Outgoing::Noop
                    } else {
                        Outgoing::Close
                    };
                    body.push_always(packet);
                }
                break;
            }

            let phase = socket.phase();
            if phase == Phase::Websocket {
                // The upgrade completed while this request waited (a client that follows
                // the protocol has none open when it sends `5`): refused, as every
                // polling request with this id is from now on.
                guard.armed = false;
                return Err(HttpError::BadRequest);
            }
            // Until the client's `5`, polling is the session's transport: pings, pongs and
            // queued messages go out on it at once, whatever the upgrade's state (the
            // JS client sends `5` only once its pending GET has returned).
            if socket.session.ping_pending.swap(false, Ordering::AcqRel) {
                body.push_always(Outgoing::Ping);
            }
            if let Some(pong) = socket.take_pong() {
                body.push_always(pong);
            }
            fill(&mut outbox, &mut body);
            if !body.is_empty() {
                break;
            }
            match phase {
                Phase::Upgrading if started_in != Phase::Upgrading => {
                    // The probe was answered: end this request so the client can send `5`.
                    body.push_always(Outgoing::Noop);
                    break;
                }
                Phase::Upgrading => {
                    // Asked again before the client saw the probe's answer: held a little
                    // (as Node's 100 ms noop cycle does) so that a client that keeps
                    // polling does not spin.
                    tokio::select! {
                        _ = &mut notified => {}
                        msg = outbox.next() => {
                            if let Some(msg) = msg {
                                outbox.put_back(msg);
                            }
                        }
                        _ = tokio::time::sleep_until(hold_until.into()) => {
                            body.push_always(Outgoing::Noop);
                            break;
                        }
                    }
                }
                _ => {
                    tokio::select! {
                        _ = &mut notified => {}
                        msg = outbox.next() => {
                            if let Some(msg) = msg {
                                outbox.put_back(msg);
                            }
                        }
                    }
                }
            }
        }
        guard.armed = false;
        drop(guard);
        drop(outbox);

        let payload = body.finish();
        let body = payload.body.clone();
        let mut response = payload_response(payload);
        if engine.config().http_compression() && body.len() >= compress::THRESHOLD {
            if let Some(coding) = compress::negotiate(request_headers) {
                if let Ok(compressed) = compress::compress(coding, &body) {
                    *response.body_mut() = compressed;
                    response.headers_mut().insert(
                        header::CONTENT_ENCODING,
                        HeaderValue::from_static(coding.as_str()),
                    );
                }
            }
        }
        Ok(response)
    }
    .instrument(span)
    .await
}

/// Appends queued messages to a payload while it stays within its limit (the first
/// message always goes, whatever its size).
fn fill(outbox: &mut Outbox, body: &mut PayloadWriter) {
    while let Some(msg) = outbox.try_next() {
        if !body.push(Outgoing::Message(&msg)) {
            outbox.put_back(msg);
            return;
        }
    }
}

/// Clears the session's "POST in progress" flag when the request ends.
struct PostGuard<'a>(&'a AtomicBool);

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

enum ReadError {
    TooLarge,
    Body,
}

/// Reads a request body, refusing more than `limit` bytes. A body that arrives in one
/// chunk is kept as it is, without a copy.
async fn read_body<B>(mut body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Body)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        total = total.saturating_add(data.len());
        if total > limit {
            return Err(ReadError::TooLarge);
        }
        match (&mut first, &mut joined) {
            (_, Some(buf)) => buf.extend_from_slice(&data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + data.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                joined = Some(buf);
                first = None;
            }
            (None, None) => first = Some(data),
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// Takes a polling POST: decodes its packets and hands them to the handler in order.
pub(crate) async fn post<H, B>(
    engine: &Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    req: Request<B>,
) -> Result<Response<Bytes>, HttpError>
where
    H: EngineHandler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let span = socket.session.span.clone();
    async {
        if socket.session.posting.swap(true, Ordering::AcqRel) {
            tracing::debug!("a second concurrent polling POST: closing");
            socket.request_close(DisconnectReason::TransportError);
            return Err(HttpError::BadRequest);
        }
        let _posting = PostGuard(&socket.session.posting);
        if socket.is_closed() && !socket.closing_gracefully() {
            return Err(HttpError::UnknownSid);
        }
        let max = engine.config().max_payload();
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            tracing::debug!("polling POST over max_payload: closing");
            socket.request_close(DisconnectReason::TransportError);
            return Err(HttpError::PayloadTooLarge);
        }

        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let body = Box::pin(req.into_body());
        let read = tokio::select! {
            read = read_body(body, max) => read,
            _ = socket.closing() => {
                // The session ended (e.g. heartbeat timeout) while the body stalled.
                return Err(HttpError::UnknownSid);
            }
        };
        let body = match read {
            Ok(body) => body,
            Err(ReadError::TooLarge) => {
                tracing::debug!("polling POST over max_payload: closing");
                socket.request_close(DisconnectReason::TransportError);
                return Err(HttpError::PayloadTooLarge);
            }
            Err(ReadError::Body) => {
                socket.request_close(DisconnectReason::TransportError);
                return Err(HttpError::BadRequest);
            }
        };
        if socket.is_closed() {
            // A graceful close is under way: what the client sends now is dropped.
            return Ok(ok_response());
        }

        let protocol = socket.protocol_impl();
        let packets = match protocol.decode_post(body, content_type.as_ref(), max) {
            Ok(p) => p,
            Err(error) => {
                tracing::debug!(%error, "invalid polling payload: closing");
                socket.request_close(DisconnectReason::PacketParsingError);
                return Err(HttpError::BadRequest);
            }
        };
        for packet in packets {
            match packet {
                Ok(Packet::Close) => {
                    // A client may send its GET together with this POST: that GET gets
                    // its noop when it comes a little after.
                    let until = Instant::now() + CLOSE_WAITS_FOR_POLL;
                    while !socket.session.poll_waiting.load(Ordering::Acquire)
                        && Instant::now() < until
                        && !socket.is_closed()
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    socket.request_close(DisconnectReason::TransportClose);
                    break;
                }
                Ok(packet) => {
                    on_packet(engine, &socket, packet)?;
                    if socket.is_closed() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "invalid polling payload: closing");
                    socket.request_close(DisconnectReason::PacketParsingError);
                    return Err(HttpError::BadRequest);
                }
            }
        }
        Ok(ok_response())
    }
    .instrument(span)
    .await
}

fn ok_response() -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(b"ok"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    response
}

/// One packet from a polling POST.
fn on_packet<H: EngineHandler>(
    engine: &EngineIo<H>,
    socket: &Arc<Socket<H::Data>>,
    packet: Packet,
) -> Result<(), HttpError> {
    match packet {
        Packet::Message(msg) => socket.dispatch(|| engine.handler().on_message(msg, socket)),
        Packet::Binary(data) => socket.dispatch(|| engine.handler().on_binary(data, socket)),
        Packet::Pong { probe: false } => match socket.protocol_impl().on_client_pong() {
            ClientPong::Accept => {
                socket.heartbeat().on_pong(Instant::now());
            }
            ClientPong::Refuse => {
                tracing::debug!("pong from the client: closing");
                socket.request_close(DisconnectReason::TransportError);
                return Err(HttpError::BadRequest);
            }
        },
        Packet::Ping { probe } => match socket.protocol_impl().on_client_ping() {
            ClientPing::Refuse => {
                tracing::debug!("ping from the client: closing");
                socket.request_close(DisconnectReason::TransportError);
                return Err(HttpError::BadRequest);
            }
            ClientPing::Answer => socket.on_client_ping(probe, Instant::now()),
        },
        Packet::Close => {
            socket.request_close(DisconnectReason::TransportClose);
        }
        Packet::Pong { probe: true } | Packet::Open | Packet::Upgrade | Packet::Noop => {}
    }
    Ok(())
}
