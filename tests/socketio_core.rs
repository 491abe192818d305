//! Behaviour of the server core that the client suites cannot see precisely: ordering,
//! isolation of slow handlers, acks pending at disconnect, shutdown, slow readers, limits,
//! and logging of payloads that do not fit a handler.

mod sio_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sio_support::{Frame, RawClient, STEP, serve};
use tower_socketio::extract::{AckSender, Data, State};
use tower_socketio::{AckError, DisconnectReason, NsPattern, SocketIo, SocketRef};

fn base() -> tower_socketio::SocketIoBuilder {
    SocketIo::builder()
}

#[tokio::test]
async fn handlers_start_in_the_order_events_arrive() {
    let order: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (addr, _io) = serve(base().with_state(order.clone()), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on(
                "n",
                async |Data(n): Data<u32>, State(order): State<Arc<Mutex<Vec<u32>>>>| {
                    order.lock().unwrap().push(n);
                    // Later events must not overtake this one's start, even when it waits.
                    tokio::time::sleep(Duration::from_millis(u64::from(n % 7))).await;
                },
            );
            socket.on("done", async |ack: AckSender| {
                ack.send(&()).ok();
            });
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
    for n in 0..500u32 {
        c.send(&format!("42[\"n\",{n}]")).await;
    }
    c.send("421[\"done\"]").await;
    assert_eq!(c.recv_text().await, "431[]");
    let got = order.lock().unwrap().clone();
    assert_eq!(got, (0..500).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_slow_handler_stalls_neither_its_socket_nor_others() {
    let (addr, _io) = serve(base(), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on("slow", async |ack: AckSender| {
                tokio::time::sleep(Duration::from_secs(3)).await;
                ack.send(&"slow").ok();
            });
            socket.on("fast", async |ack: AckSender| {
                ack.send(&"fast").ok();
            });
        });
    })
    .await;
    let mut a = RawClient::connect(addr).await;
    a.send("40").await;
    a.recv_text().await;
    let mut b = RawClient::connect(addr).await;
    b.send("40").await;
    b.recv_text().await;

    a.send("421[\"slow\"]").await;
    let start = tokio::time::Instant::now();
    a.send("422[\"fast\"]").await;
    assert_eq!(a.recv_text().await, "432[\"fast\"]");
    b.send("423[\"fast\"]").await;
    assert_eq!(b.recv_text().await, "433[\"fast\"]");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(a.recv_text().await, "431[\"slow\"]");
}

#[tokio::test]
async fn pending_ack_fails_when_the_client_leaves() {
    let outcome: Arc<Mutex<Option<String>>> = Arc::default();
    let (addr, _io) = serve(base().ack_timeout(Duration::from_secs(30)), {
        let outcome = outcome.clone();
        move |io| {
            io.ns("/", move |socket: SocketRef| {
                let outcome = outcome.clone();
                async move {
                    let fut = socket.emit_with_ack::<String>("question", &1);
                    tokio::spawn(async move {
                        let r = fut.await;
                        *outcome.lock().unwrap() = Some(match r {
                            Err(AckError::Disconnected) => "disconnected".into(),
                            other => format!("{other:?}"),
                        });
                    });
                }
            });
        }
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.recv_text().await;
    let q = c.recv_text().await;
    assert!(q.starts_with("42") && q.contains("\"question\",1"), "{q}");
    drop(c);
    let start = tokio::time::Instant::now();
    loop {
        if let Some(o) = outcome.lock().unwrap().clone() {
            assert_eq!(o, "disconnected");
            break;
        }
        assert!(start.elapsed() < STEP, "the pending ack was not resolved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn close_ends_every_client_with_server_shutting_down() {
    let reasons: Arc<Mutex<Vec<String>>> = Arc::default();
    let (addr, io) = serve(base().with_state(reasons.clone()), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on_disconnect(
                async |reason: DisconnectReason, State(r): State<Arc<Mutex<Vec<String>>>>| {
                    r.lock().unwrap().push(reason.to_string());
                },
            );
        });
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = RawClient::connect(addr).await;
        c.send("40").await;
        c.recv_text().await;
        clients.push(c);
    }
    tokio::time::timeout(STEP, io.close())
        .await
        .expect("close() returned");
    assert_eq!(io.connections(), 0);
    for c in &mut clients {
        c.expect_closed().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        reasons.lock().unwrap().clone(),
        vec!["server shutting down"; 3]
    );
    // After close, new handshakes are refused.
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503)
        }
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn attachment_limit_is_configurable() {
    let (addr, _io) = serve(base().max_attachments(2), sio_support::conformance_handlers).await;
    let mut c = RawClient::connect(addr).await;
    c.connect_main().await;
    c.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    c.send_binary(&[1]).await;
    c.send_binary(&[2]).await;
    assert!(c.recv_text().await.starts_with("452-[\"message-back\""));
    c.recv().await;
    c.recv().await;
    c.send(r#"453-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    c.expect_closed().await;
}

#[tokio::test]
async fn dynamic_namespace_from_a_path_pattern() {
    let (addr, io) = serve(base(), |io| {
        io.dyn_ns("/room/{id}", async |socket: SocketRef| {
            socket.emit("hello", &socket.ns()).ok();
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40/room/42,").await;
    assert!(c.recv_text().await.starts_with("40/room/42,{"));
    assert_eq!(c.recv_text().await, r#"42/room/42,["hello","/room/42"]"#);
    c.send("40/room/,").await;
    assert_eq!(
        c.recv_text().await,
        r#"44/room/,{"message":"Invalid namespace"}"#
    );
    assert!(io.get_ns("/room/42").is_some());
    assert!(NsPattern::path("/a/{b}").matches("/a/x"));
}

#[tokio::test]
async fn slow_reader_is_dropped_and_others_keep_receiving() {
    let (addr, io) = serve(base().max_buffered_bytes(8 * 64 * 1024), |io| {
        io.ns("/", async |_socket: SocketRef| {});
    })
    .await;
    // The slow client joins, then never reads again.
    let mut slow = RawClient::connect(addr).await;
    slow.send("40").await;
    slow.recv_text().await;
    let mut fast = RawClient::connect(addr).await;
    fast.send("40").await;
    fast.recv_text().await;

    let payload = "x".repeat(64 * 1024);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 600 {
            match fast.recv().await {
                Frame::Text(t) if t.starts_with("42[\"bulk\"") => n += 1,
                Frame::Closed => panic!("the fast client was closed after {n}"),
                _ => {}
            }
        }
        n
    });
    for _ in 0..600 {
        io.emit("bulk", &payload).await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(
        tokio::time::timeout(STEP * 2, reader)
            .await
            .unwrap()
            .unwrap(),
        600
    );
    // The slow one was closed rather than buffered without bound.
    let start = tokio::time::Instant::now();
    while io.sockets().len() != 1 {
        assert!(start.elapsed() < STEP, "the slow reader was never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(slow);
}

#[tokio::test]
async fn a_payload_that_does_not_fit_is_logged_with_event_and_error() {
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone()),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let called: Arc<Mutex<bool>> = Arc::default();
    let (addr, _io) = serve(base().with_state(called.clone()), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on(
                "typed",
                async |Data(_n): Data<u32>, State(c): State<Arc<Mutex<bool>>>| {
                    *c.lock().unwrap() = true;
                },
            );
            socket.on("done", async |ack: AckSender| {
                ack.send(&()).ok();
            });
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    c.recv_text().await;
    c.send(r#"42["typed","not a number"]"#).await;
    c.send(r#"421["done"]"#).await;
    assert_eq!(c.recv_text().await, "431[]");
    assert!(!*called.lock().unwrap(), "the handler must not run");
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("event=typed"), "{log}");
    assert!(log.contains("invalid type"), "{log}");
}

#[tokio::test]
async fn close_composes_with_axum_graceful_shutdown() {
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |_s: SocketRef| {});
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let io2 = io.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
                io2.close().await;
            })
            .await
    });
    let mut ws = RawClient::connect(addr).await;
    ws.send("40").await;
    assert!(ws.recv_text().await.starts_with("40{"));
    // A polling client too.
    let url = format!("http://{addr}/socket.io/?EIO=4&transport=polling");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(url)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(sender);

    stop_tx.send(()).unwrap();
    ws.expect_closed().await;
    tokio::time::timeout(STEP, server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert_eq!(io.connections(), 0);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port is free"
    );
}

async fn http(addr: std::net::SocketAddr, method: &str, uri: &str, body: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", addr.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .unwrap();
    let resp = tokio::time::timeout(STEP, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn conn_upgraded_resolves_when_polling_moves_to_websocket() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let (addr, _io) = serve(base(), |io| {
        io.ns("/", async |socket: SocketRef| {
            assert_eq!(socket.transport(), tower_socketio::TransportType::Polling);
            socket.conn().upgraded().await;
            socket.emit("upgraded", &socket.transport().as_str()).ok();
        });
    })
    .await;
    let (status, open) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200, "{open}");
    let sid = serde_json::from_str::<serde_json::Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(addr, "POST", &q, "40").await, (200, "ok".to_owned()));
    let (_, connected) = http(addr, "GET", &q, "").await;
    assert!(connected.starts_with("40{"), "{connected}");

    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text("2probe".into())).await.unwrap();
    let probe = tokio::time::timeout(STEP, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(probe.to_text().unwrap(), "3probe");
    ws.send(Message::Text("5".into())).await.unwrap();
    loop {
        let m = tokio::time::timeout(STEP, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let t = m.to_text().unwrap().to_owned();
        if t == "2" {
            ws.send(Message::Text("3".into())).await.unwrap();
            continue;
        }
        assert_eq!(t, r#"42["upgraded","websocket"]"#);
        break;
    }
}

#[tokio::test]
async fn disconnect_with_close_sends_a_disconnect_for_every_namespace() {
    let reasons: Arc<Mutex<Vec<String>>> = Arc::default();
    async fn record(reason: DisconnectReason, State(r): State<Arc<Mutex<Vec<String>>>>) {
        r.lock().unwrap().push(reason.to_string());
    }
    let (addr, _io) = serve(base().with_state(reasons.clone()), |io| {
        io.ns("/", async |socket: SocketRef| {
            socket.on_disconnect(record);
            socket.on("bye", async |socket: SocketRef| {
                socket.disconnect_with(true)
            });
        });
        io.ns("/other", async |socket: SocketRef| {
            socket.on_disconnect(record);
        });
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
    c.send("40/other,").await;
    assert!(c.recv_text().await.starts_with("40/other,{"));
    c.send(r#"42["bye"]"#).await;
    let mut got = vec![c.recv_text().await, c.recv_text().await];
    got.sort();
    assert_eq!(got, vec!["41", "41/other,"]);
    c.expect_closed().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        reasons.lock().unwrap().clone(),
        vec!["server namespace disconnect"; 2]
    );
}

#[tokio::test]
async fn listen_serves_alone_and_close_frees_the_port() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let io = SocketIo::builder().listen(addr).await.unwrap();
    io.ns("/", async |socket: SocketRef| {
        socket.emit("hi", &()).ok();
    });
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
    assert_eq!(c.recv_text().await, r#"42["hi"]"#);
    io.close().await;
    c.expect_closed().await;
    let start = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(start.elapsed() < STEP, "the port was not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reserved_names_are_refused_for_acks_too() {
    let outcome: Arc<Mutex<Vec<String>>> = Arc::default();
    let (addr, _io) = serve(base().with_state(outcome.clone()), |io| {
        io.ns(
            "/",
            async |socket: SocketRef, State(o): State<Arc<Mutex<Vec<String>>>>| {
                let one = socket.emit_with_ack::<()>("disconnect", &1).await;
                let many = socket
                    .broadcast()
                    .emit_with_ack::<()>("connect", &1)
                    .await
                    .await;
                o.lock().unwrap().push(format!("{one:?}"));
                o.lock().unwrap().push(format!("{many:?}"));
            },
        );
    })
    .await;
    let mut c = RawClient::connect(addr).await;
    c.send("40").await;
    assert!(c.recv_text().await.starts_with("40{"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let o = outcome.lock().unwrap().clone();
    assert_eq!(o[0], r#"Err(ReservedEvent("disconnect"))"#);
    assert_eq!(o[1], r#"[Err(ReservedEvent("connect"))]"#);
    assert_eq!(
        c.recv_within(Duration::from_millis(200)).await,
        None,
        "nothing was sent"
    );
}
