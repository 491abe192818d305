//! The browser client served under the Socket.IO path (Node's `serveClient`): every file with
//! its `Content-Type`, `ETag`, `304`, `Cache-Control`, gzip and brotli copies, `HEAD`, the
//! switch to turn it off, custom paths, axum, and the bytes against the npm package.

mod common;

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_socketio::{SocketIo, SocketIoBuilder, client_files};

const JS: &str = "application/javascript; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// True when the bundle is embedded. Under CI a build without it fails here; elsewhere the
/// caller skips with a `SKIPPED:` line.
fn bundle() -> bool {
    if client_files::is_embedded() {
        return true;
    }
    let test = common::current_test_name();
    let why = "this build has no browser client (the build script could not run `npm pack`; \
               see its cargo warning)";
    if common::in_ci() {
        panic!("{test}: {why}");
    }
    skipped(&format!("SKIPPED: {test}: {why}; run scripts/test.sh\n"));
    false
}

/// Written to the real stderr: libtest captures `eprintln!`, and a skip must show.
fn skipped(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".map") { JSON } else { JS }
}

/// Sends one request to a standalone service built from `builder`; returns status, headers
/// and the whole body.
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
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

async fn get_file(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    request(SocketIo::builder(), Method::GET, uri, headers).await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn every_file_is_served_with_its_headers() {
    if !bundle() {
        return;
    }
    assert_eq!(client_files::CLIENT_VERSION, "4.8.4");
    for name in client_files::FILE_NAMES {
        let (status, h, body) = get_file(&format!("/socket.io/{name}"), &[]).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(
            header(&h, "content-type"),
            Some(content_type(name)),
            "{name}"
        );
        assert_eq!(header(&h, "etag"), Some("\"4.8.4\""), "{name}");
        assert_eq!(header(&h, "cache-control"), Some("public, max-age=0"));
        assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
        assert_eq!(header(&h, "content-encoding"), None, "{name}");
        assert_eq!(header(&h, "content-length"), Some(&*body.len().to_string()));
        assert_eq!(&body[..], client_files::get(name).unwrap(), "{name}");
        assert!(body.len() > 10_000, "{name} is only {} bytes", body.len());
    }
    let (_, _, js) = get_file("/socket.io/socket.io.js", &[]).await;
    assert!(js.starts_with(b"/*!\n * Socket.IO v4.8.4"));
    let (_, _, map) = get_file("/socket.io/socket.io.min.js.map", &[]).await;
    let map: serde_json::Value = serde_json::from_slice(&map).unwrap();
    assert_eq!(map["version"], 3);
}

#[tokio::test]
async fn bytes_equal_the_npm_package() {
    if !bundle() {
        return;
    }
    let dist = common::node_modules_dir()
        .join("socket.io-client")
        .join("dist");
    let manifest = dist.parent().unwrap().join("package.json");
    if !manifest.is_file() {
        let why = format!("{} is missing (npm ci in tests/js)", manifest.display());
        assert!(!common::in_ci(), "{why}");
        skipped(&format!(
            "SKIPPED: bytes_equal_the_npm_package: {why}; run scripts/test.sh\n"
        ));
        return;
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(manifest["version"], client_files::CLIENT_VERSION);
    for name in client_files::FILE_NAMES {
        let expected = std::fs::read(dist.join(name)).unwrap();
        let (status, _, body) = get_file(&format!("/socket.io/{name}"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body[..] == expected[..],
            "{name} differs from the npm package's"
        );
    }
}

#[tokio::test]
async fn gzip_and_brotli_decode_to_the_same_bytes() {
    if !bundle() {
        return;
    }
    for name in client_files::FILE_NAMES {
        let raw = client_files::get(name).unwrap();
        let uri = format!("/socket.io/{name}");

        let (status, h, gz) = get_file(&uri, &[("accept-encoding", "gzip")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-encoding"), Some("gzip"), "{name}");
        assert_eq!(header(&h, "content-type"), Some(content_type(name)));
        assert_eq!(header(&h, "content-length"), Some(&*gz.len().to_string()));
        assert!(
            gz.len() < raw.len() / 2,
            "{name}: gzip {} of {}",
            gz.len(),
            raw.len()
        );
        assert!(gunzip(&gz) == raw, "{name}: gzip copy differs");

        let (status, h, br) =
            get_file(&uri, &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-encoding"), Some("br"), "{name}");
        assert_eq!(header(&h, "etag"), Some("\"4.8.4\""));
        assert!(
            br.len() < gz.len(),
            "{name}: br {} >= gzip {}",
            br.len(),
            gz.len()
        );
        assert!(unbrotli(&br) == raw, "{name}: brotli copy differs");
    }
    // q-values are honoured; refused codings fall back to the plain file.
    let uri = "/socket.io/socket.io.min.js";
    let (_, h, _) = get_file(uri, &[("accept-encoding", "br;q=0.1, gzip;q=0.9")]).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let (_, h, body) = get_file(uri, &[("accept-encoding", "br;q=0, gzip;q=0")]).await;
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(&body[..], client_files::get("socket.io.min.js").unwrap());
    let (_, h, _) = get_file(uri, &[("accept-encoding", "identity, deflate")]).await;
    assert_eq!(header(&h, "content-encoding"), None);
}

#[tokio::test]
async fn if_none_match_gets_304() {
    if !bundle() {
        return;
    }
    let uri = "/socket.io/socket.io.min.js";
    for tag in ["\"4.8.4\"", "W/\"4.8.4\"", "\"0.0.1\", \"4.8.4\""] {
        let (status, h, body) = get_file(uri, &[("if-none-match", tag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{tag}");
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), Some("\"4.8.4\""));
        assert_eq!(header(&h, "cache-control"), Some("public, max-age=0"));
    }
    for tag in ["\"4.8.3\"", "\"4.8.4-x\"", "4.8.4"] {
        let (status, _, body) = get_file(uri, &[("if-none-match", tag)]).await;
        assert_eq!(status, StatusCode::OK, "{tag}");
        assert_eq!(&body[..], client_files::get("socket.io.min.js").unwrap());
    }
}

#[tokio::test]
async fn head_sends_the_headers_only() {
    if !bundle() {
        return;
    }
    let (status, h, body) = request(
        SocketIo::builder(),
        Method::HEAD,
        "/socket.io/socket.io.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header(&h, "content-type"), Some(JS));
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let (_, _, gz) = get_file("/socket.io/socket.io.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&h, "content-length"), Some(&*gz.len().to_string()));

    // Over the wire, hyper keeps the length of what GET would send.
    let (svc, _io) = SocketIo::builder().build_svc();
    let addr = spawn(svc).await;
    let response = send(addr, Method::HEAD, "/socket.io/socket.io.min.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    let len = client_files::get("socket.io.min.js").unwrap().len();
    assert_eq!(
        header(response.headers(), "content-length"),
        Some(&*len.to_string())
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
}

#[tokio::test]
async fn other_methods_and_names_are_not_client_files() {
    if !bundle() {
        return;
    }
    for (method, uri) in [
        (Method::POST, "/socket.io/socket.io.js"),
        (Method::DELETE, "/socket.io/socket.io.min.js"),
        (Method::GET, "/socket.io/client.js"),
        (Method::GET, "/socket.io/dist/socket.io.js"),
        (Method::GET, "/socket.io.js"),
        (Method::GET, "/other/socket.io.js"),
    ] {
        let (status, h, _) = request(SocketIo::builder(), method.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(header(&h, "etag"), None);
    }
    // The query string plays no part, and the engine still answers its own requests.
    let (status, h, _) = get_file("/socket.io/socket.io.js?v=1", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), Some(JS));
    let (status, _, body) = get_file("/socket.io/?EIO=4&transport=polling", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"0{\"sid\":"), "{body:?}");
}

#[tokio::test]
async fn serve_client_false_passes_through() {
    let off = || SocketIo::builder().serve_client(false);
    let (svc, io) = off().build_svc();
    drop(svc);
    assert!(!io.serve_client());
    assert!(SocketIo::builder().build_svc().1.serve_client());
    for name in client_files::FILE_NAMES {
        let (status, h, _) = request(off(), Method::GET, &format!("/socket.io/{name}"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(header(&h, "etag"), None);
    }
    // Behind a router, the router's own route answers.
    let (layer, _io) = off().build_layer();
    let app = Router::new()
        .route("/socket.io/socket.io.js", get(|| async { "my own client" }))
        .layer(layer);
    let response = app
        .oneshot(
            Request::get("/socket.io/socket.io.js")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"my own client");
}

#[tokio::test]
async fn client_urls_answer_by_build() {
    // With the bundle the file is served; a build without it answers 404 with a reason.
    let (status, h, body) = get_file("/socket.io/socket.io.js", &[]).await;
    if client_files::is_embedded() {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), Some(JS));
    } else {
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&body).contains("without the Socket.IO browser client"));
        assert_eq!(client_files::get("socket.io.js"), None);
    }
}

#[tokio::test]
async fn custom_path_and_axum_over_the_wire() {
    if !bundle() {
        return;
    }
    let (layer, _io) = SocketIo::builder().path("/rt/").build_layer();
    let app = Router::new()
        .route("/", get(|| async { "home" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let response = send(addr, Method::GET, "/rt/socket.io.esm.min.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), Some(JS));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        client_files::get("socket.io.esm.min.js").unwrap()
    );

    let response = send(addr, Method::GET, "/socket.io/socket.io.js").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = send(addr, Method::GET, "/").await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn spawn<S>(svc: S) -> SocketAddr
where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = Response<tower_socketio::engine::EngineBody<Empty<Bytes>>>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    addr
}

/// One HTTP/1.1 request over a fresh connection, bounded in time.
async fn send(addr: SocketAddr, method: Method, uri: &str) -> Response<hyper::body::Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), sender.send_request(req))
        .await
        .expect("the server answers within 5 s")
        .unwrap()
}
