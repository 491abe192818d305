//! The limits of our `serve` on each HTTP connection, as Node's http server has them:
//! request heads over `max_http_header_size` (16 KiB) are answered 431, and a connection
//! that does not finish a head within `header_read_timeout` (half-sent, or idle between
//! keep-alive requests) is closed. And the server's own limit on heads to its path
//! (`SocketIoBuilder::max_http_header_size`), under plain `axum::serve`, with raw requests
//! and with socket.io-client's `extraHeaders`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tower_socketio::{ServeOptions, SocketIo};

async fn start(options: ServeOptions) -> SocketAddr {
    let (svc, _io) = SocketIo::builder().build_svc();
    start_svc(svc, options).await
}

async fn start_svc(svc: tower_socketio::SocketIoService, options: ServeOptions) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve_with(
        listener,
        svc,
        options,
        std::future::pending(),
    ));
    addr
}

/// A handshake whose head carries one header of `size` bytes.
fn handshake(size: usize) -> Vec<u8> {
    format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(size)
    )
    .into_bytes()
}

/// Sends `bytes` and reads until the server closes or has answered one head.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything.
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn heads_over_16_kib_get_431_by_default() {
    let addr = start(ServeOptions::new()).await;
    let ok = exchange(addr, &handshake(15 * 1024)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let big = exchange(addr, &handshake(17 * 1024)).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    // 300 KB is refused as well, not buffered and kept.
    let huge = exchange(addr, &handshake(300 * 1024)).await;
    assert!(huge.starts_with("HTTP/1.1 431"), "{huge}");
}

#[tokio::test]
async fn the_head_limit_is_an_option() {
    // Larger heads need both limits raised: hyper's (ServeOptions) and the server's own.
    let (svc, _io) = SocketIo::builder()
        .max_http_header_size(64 * 1024)
        .build_svc();
    let addr = start_svc(svc, ServeOptions::new().max_http_header_size(64 * 1024)).await;
    let ok = exchange(addr, &handshake(40 * 1024)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let big = exchange(addr, &handshake(70 * 1024)).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    // Only hyper's raised: the server's 16 KiB still refuses.
    let addr = start(ServeOptions::new().max_http_header_size(64 * 1024)).await;
    let refused = exchange(addr, &handshake(40 * 1024)).await;
    assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
}

/// Behind plain `axum::serve` (hyper's own limit is some 400 KB there), the server itself
/// answers heads over 16 KiB with 431, on both transports, before a session is made.
#[tokio::test]
async fn the_server_refuses_large_heads_under_axum_serve_too() {
    let (layer, _io) = SocketIo::builder().build_layer();
    let router = axum::Router::<()>::new().layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let ok = exchange(addr, &handshake(15 * 1024)).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    for size in [17 * 1024, 300 * 1024] {
        let big = exchange(addr, &handshake(size)).await;
        assert!(big.starts_with("HTTP/1.1 431"), "{size}: {big}");
    }
    let upgrade = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\n\
         upgrade: websocket\r\nsec-websocket-version: 13\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let ws = exchange(addr, upgrade.as_bytes()).await;
    assert!(ws.starts_with("HTTP/1.1 431"), "{ws}");
}

/// Waits (at most 5 s) for the server to close `stream`; returns what it sent.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    out
}

#[tokio::test]
async fn half_sent_and_idle_connections_are_closed_after_header_read_timeout() {
    let addr = start(ServeOptions::new().header_read_timeout(Duration::from_millis(300))).await;
    // Half a head, never finished.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost")
        .await
        .unwrap();
    closed_by_server(&mut half).await;
    // A keep-alive connection left idle after one request.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&handshake(10)).await.unwrap();
    let answer = closed_by_server(&mut idle).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// The official client with a large `extraHeaders` entry, behind plain `axum::serve`: up to
/// the limit it connects over either transport; past it the server's 431 reaches it as a
/// `connect_error`.
#[tokio::test]
async fn socket_io_client_with_large_headers_under_axum_serve() {
    if common::require_peer(common::Peer::NodeModules).is_none() {
        return;
    }
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async |_: tower_socketio::SocketRef| {});
    let router = axum::Router::<()>::new().layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/");
    for transport in ["polling", "websocket"] {
        let ok =
            common::node_driver_ok("large_headers.mjs", &[&url, "8192", transport, "connects"])
                .await;
        eprintln!("{ok}");
        let refused =
            common::node_driver_ok("large_headers.mjs", &[&url, "20480", transport, "refused"])
                .await;
        eprintln!("{refused}");
    }
}
