//! The Socket.IO Admin UI's server side and page (feature `admin-ui`): the UI's protocol
//! spoken by socket.io-client to instrumented servers in development, read-only and
//! production mode (tests/js/admin/protocol.mjs), and the page's files as served.
#![cfg(feature = "admin-ui")]

mod common;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::Value;
use tower::ServiceExt;
use tower_socketio::admin::{AdminUi, Auth, Mode, ui};
use tower_socketio::extract::{AckSender, Data};
use tower_socketio::{SocketIo, SocketIoBuilder, SocketRef};

use common::{Peer, require_peer};

/// bcrypt("changeit"), cost 4 (cheap for tests), as Node's `bcryptjs` writes it.
const HASH: &str = "$2a$04$G3CT0fliMOqpRi.7vw7WF./AyHV25K9ppGSxEkSIpcjDW43HFOMBq";

/// The handlers the driver talks to on `/`.
fn handlers(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef| {
        socket.on("rooms", async |socket: SocketRef, ack: AckSender| {
            let rooms: Vec<String> = socket.rooms().into_iter().map(|r| r.into_owned()).collect();
            ack.send(&rooms).ok();
        });
        socket.on(
            "join",
            async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                ack.send(&()).ok();
            },
        );
        socket.on("set", async |socket: SocketRef, Data(data): Data<Value>| {
            socket.set_data(&data).ok();
        });
        socket.emit("welcome", &"hi").ok();
    });
}

/// An instrumented server on a free port; its URL.
async fn server(admin: AdminUi) -> (String, SocketIo) {
    let (svc, io) = SocketIo::builder().instrument(admin).build_svc();
    handlers(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    (format!("http://{addr}"), io)
}

#[tokio::test]
async fn the_admin_protocol_in_every_mode() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let basic = || Auth::basic("admin", HASH).unwrap();
    let (dev, dev_io) = server(AdminUi::new(basic()).server_id("rust-dev")).await;
    let (read_only, ro_io) = server(AdminUi::new(basic()).read_only(true)).await;
    let (production, prod_io) = server(
        AdminUi::new(Auth::none())
            .mode(Mode::Production)
            .server_id("rust-prod"),
    )
    .await;
    let out = common::expect_success(
        common::run_node(
            "admin/protocol.mjs",
            &[&dev, &read_only, &production],
            Duration::from_secs(60),
        )
        .await,
        "node admin/protocol.mjs",
    );
    assert!(out.contains("admin-protocol: ok"), "{out}");
    // The ignored actions created no namespace here either.
    assert!(dev_io.get_ns("/nowhere").is_none());
    for io in [dev_io, ro_io, prod_io] {
        io.close().await;
    }
}

#[test]
fn a_password_must_be_a_bcrypt_hash() {
    assert!(Auth::basic("admin", HASH).is_ok());
    let err = Auth::basic("admin", "changeit").unwrap_err();
    assert!(err.to_string().contains("bcrypt hash"), "{err}");
}

/// True when the UI is embedded. Under CI a build without it fails here.
fn embedded() -> bool {
    if ui::is_embedded() {
        return true;
    }
    let why = "this build has no Admin UI (see the build script's cargo warning)";
    assert!(!common::in_ci(), "{why}");
    eprintln!("SKIPPED: {why}");
    false
}

async fn request(
    builder: SocketIoBuilder,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let (svc, _io) = builder.build_svc();
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = svc
        .oneshot(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn the_page_is_served_under_its_path() {
    if !embedded() {
        return;
    }
    let b = || SocketIo::builder().serve_admin_ui("/admin");

    let (status, h, _) = request(b(), Method::GET, "/admin", &[]).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(&h, "location"), "admin/");
    let (_, h, _) = request(b(), Method::GET, "/admin?x=1", &[]).await;
    assert_eq!(header(&h, "location"), "admin/?x=1");

    for (uri, name) in [
        ("/admin/", "index.html"),
        ("/admin/index.html", "index.html"),
    ] {
        let (status, h, body) = request(b(), Method::GET, uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&h, "cache-control"), "no-cache");
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");
        assert_eq!(
            header(&h, "content-security-policy"),
            "frame-ancestors 'none'"
        );
        assert_eq!(&body[..], ui::get(name).unwrap());
    }
    for (name, content_type) in [
        ("favicon.png", "image/png"),
        ("css/app.6e3b9661.css", "text/css; charset=utf-8"),
        (
            "js/chunk-vendors.934c03ff.js",
            "application/javascript; charset=utf-8",
        ),
        ("img/logo-dark.3727fec5.svg", "image/svg+xml"),
    ] {
        let uri = format!("/admin/{name}");
        let (status, h, body) = request(b(), Method::GET, &uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(header(&h, "content-type"), content_type, "{uri}");
        let cache = if name.contains('/') {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        assert_eq!(header(&h, "cache-control"), cache, "{uri}");
        assert_eq!(&body[..], ui::get(name).unwrap(), "{uri}");
    }

    // Compressed copies, HEAD, revalidation.
    let js = "/admin/js/app.0d7d7845.js";
    let (_, h, body) = request(b(), Method::GET, js, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&h, "content-encoding"), "gzip");
    assert_eq!(header(&h, "vary"), "Accept-Encoding");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).unwrap();
    assert_eq!(plain, ui::get("js/app.0d7d7845.js").unwrap());
    let (_, h, body) = request(b(), Method::HEAD, js, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&h, "content-encoding"), "br");
    assert!(body.is_empty());
    let etag = header(&h, "etag").to_owned();
    assert_eq!(etag, format!("\"admin-ui-{}\"", ui::UI_VERSION));
    let (status, _, body) = request(b(), Method::GET, js, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // Not the UI's: source maps, other paths, other methods, and a server without it.
    for (method, uri) in [
        (Method::GET, "/admin/js/app.0d7d7845.js.map"),
        (Method::GET, "/admin/../Cargo.toml"),
        (Method::GET, "/administrator"),
        (Method::POST, "/admin/"),
    ] {
        let (status, _, _) = request(b(), method.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
    }
    let (status, _, _) = request(SocketIo::builder(), Method::GET, "/admin/", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Any base path; the Socket.IO path keeps working beside it.
    let other = || SocketIo::builder().serve_admin_ui("/ops/dashboard/");
    let (status, _, _) = request(other(), Method::GET, "/ops/dashboard/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = request(
        other(),
        Method::GET,
        "/socket.io/?EIO=4&transport=polling",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"0{"), "{body:?}");
}
