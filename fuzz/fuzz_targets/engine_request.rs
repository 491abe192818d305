//! HTTP requests of any shape into the server's tower service: routing by path, method and
//! query, CORS preflights and origins, cookies, compression negotiation, WebSocket upgrade
//! requests (without a connection to upgrade), the served client files.
//!
//! The input: the first byte picks the server's settings (restricted origins, a cookie,
//! compression off, WebSocket only, no client files, Engine.IO 3 off) and the method; then a line with the
//! request target (path and query); then header lines `name: value` up to an empty line;
//! the rest is the body. A second request may follow the first's body after `\n\n\n`
//! (with its own settings byte), so that a session opened by one can be used by the next.
//!
//! Checks: the service answers every request (it never fails, never panics) with a status
//! the engine uses; a polling handshake that succeeds answers an open packet with a sid
//! and the settings; the server then shuts down.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use tower::ServiceExt as _;
use tower_socketio::engine::TransportType;
use tower_socketio::{AllowOrigin, CookieConfig, SocketIo, SocketIoService};

const METHODS: [&str; 8] = [
    "GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "TRACE",
];

fn server(settings: u8) -> (SocketIoService, SocketIo) {
    let mut builder = SocketIo::builder();
    if settings & 1 != 0 {
        builder = builder.allow_origin(AllowOrigin::list([http::HeaderValue::from_static(
            "https://ok.example",
        )]));
    }
    if settings & 2 != 0 {
        builder = builder.cookie(Some(CookieConfig::default()));
    }
    if settings & 4 != 0 {
        builder = builder.http_compression(false);
    }
    if settings & 8 != 0 {
        builder = builder.transports([TransportType::Websocket]);
    }
    if settings & 16 != 0 {
        builder = builder.serve_client(false);
    }
    if settings & 32 == 0 {
        // Socket.IO 2 clients (Engine.IO 3, JSONP included) are served unless bit 5 is set.
        builder = builder.allow_eio3(true);
    }
    let (svc, io) = builder.build_svc();
    io.ns("/", async |_: tower_socketio::SocketRef| {});
    (svc, io)
}

/// Lets every task that can make progress run; nothing here waits on a timer.
async fn settle() {
    for _ in 0..48 {
        tokio::task::yield_now().await;
    }
}

/// One request from its text; `None` when the text is no valid HTTP request.
fn parse(method: &str, text: &[u8]) -> Option<Request<Full<Bytes>>> {
    let mut lines = text.splitn(2, |&b| b == b'\n');
    let target = std::str::from_utf8(lines.next()?).ok()?;
    let mut rest = lines.next().unwrap_or_default();
    let mut builder = Request::builder().method(method).uri(target);
    loop {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let name = http::HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        let value = http::HeaderValue::from_bytes(value).ok()?;
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::copy_from_slice(rest))).ok()
}

/// The session id of an open packet, in any framing (Engine.IO 4 `0{...}`, Engine.IO 3
/// `<length>:0{...}`, or inside a JSONP script with its quotes escaped).
fn open_sid(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("sid")? + 3;
    let rest = text[at..].trim_start_matches(['\\', '"', ':']);
    let sid: String = rest.chars().take(20).collect();
    (sid.len() == 20
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(sid)
}

fn check(status: StatusCode, method: &str, target: &str, body: &[u8]) {
    assert!(
        matches!(
            status.as_u16(),
            101 | 200 | 204 | 206 | 304 | 400 | 403 | 404 | 405 | 413 | 416 | 431 | 500 | 503
        ),
        "{method} {target} answered {status}"
    );
    let handshake = method == "GET"
        && target.contains("transport=polling")
        && !target.contains("sid=")
        && target.starts_with("/socket.io/?")
        && status == StatusCode::OK;
    if handshake {
        assert!(
            open_sid(body).is_some(),
            "a handshake without a sid: {body:?}"
        );
    }
}

/// The entry point, also replayed on every corpus file by `tests/fuzz_corpus.rs`.
pub(crate) fn run(data: &[u8]) {
    let Some((&settings, _)) = data.split_first() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let (svc, io) = server(settings);
        let mut requests = Vec::new();
        let mut rest = data;
        while let Some((&first, text)) = rest.split_first() {
            let end = text
                .windows(3)
                .position(|w| w == b"\n\n\n")
                .unwrap_or(text.len());
            requests.push((first, &text[..end]));
            rest = text.get(end + 3..).unwrap_or_default();
            if requests.len() == 4 {
                break;
            }
        }
        let mut sid: Option<String> = None;
        let mut sids = Vec::new();
        for (first, text) in requests {
            let method = METHODS[usize::from(first >> 5)];
            // `{sid}` in the target stands for the session a handshake opened.
            let text = match &sid {
                Some(sid) => String::from_utf8_lossy(text)
                    .replace("{sid}", sid)
                    .into_bytes(),
                None => text.to_vec(),
            };
            let Some(req) = parse(method, &text) else {
                continue;
            };
            let target = req.uri().to_string();
            let query = req.uri().query().unwrap_or_default().to_owned();
            let answer = svc.clone().oneshot(req);
            tokio::pin!(answer);
            let res = tokio::select! {
                biased;
                res = &mut answer => res.expect("the service is infallible"),
                // A GET with nothing to send waits for the heartbeat: let it go (the
                // session then closes, as when a client goes away).
                () = settle() => continue,
            };
            let status = res.status();
            let body = res
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            check(status, method, &target, &body);
            if status == StatusCode::OK && !query.contains("sid=") {
                if let Some(new) = open_sid(&body) {
                    sid = Some(new.clone());
                    sids.push((new, query.clone()));
                }
            }
        }
        // The server closes; then each session's client polls, as a live client does, and
        // takes what was queued and the close packet (a session nobody polls waits its
        // grace for that).
        let closing =
            tokio::spawn(
                async move { tokio::time::timeout(Duration::from_secs(10), io.close()).await },
            );
        settle().await;
        for (sid, query) in sids {
            let uri = format!("/socket.io/?{query}&sid={sid}");
            let req = Request::get(uri)
                .body(Full::new(Bytes::new()))
                .expect("a request");
            let answer = svc.clone().oneshot(req);
            tokio::pin!(answer);
            tokio::select! {
                biased;
                _ = &mut answer => {}
                () = settle() => {}
            }
        }
        let closed = closing.await.expect("the close task");
        assert!(closed.is_ok(), "SocketIo::close did not finish");
    });
}
