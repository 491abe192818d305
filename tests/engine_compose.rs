//! The engine composed with other services: an axum router (with tower-http layers
//! in front), `nest_service`, and plain hyper through `TowerToHyperService`.

mod engine_support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use engine_support::*;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::add_extension::AddExtensionLayer;
use tower_http::trace::TraceLayer;
use tower_socketio::engine::{EngineConfig, EngineLayer, EngineService, TransportType};

async fn axum_serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// Copies axum's `ConnectInfo` into a plain `SocketAddr` extension, as the
/// `Socket::remote_addr` documentation shows.
async fn remote_addr_middleware(
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<SocketAddr>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    req.extensions_mut().insert(addr);
    next.run(req).await
}

async fn exercise_both_transports(server: &TestServer) {
    // Polling.
    let sid = server.open_polling().await;
    assert_eq!(server.push(sid, "4poll").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4poll");
    // Upgrade.
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4upgraded").await;
    assert_eq!(recv_text(&mut ws).await, "4upgraded");
    // WebSocket from the start.
    let (mut ws, _sid) = server.open_ws().await;
    send_text(&mut ws, "4ws").await;
    assert_eq!(recv_text(&mut ws).await, "4ws");
}

#[tokio::test]
async fn as_an_axum_router_layer_beside_routes_with_tower_http_in_front() {
    let server = start_with(quiet_config(), |engine| async move {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "home" }))
            .route(
                "/echo",
                axum::routing::post(|body: String| async move { body }),
            )
            .layer(EngineLayer::new(engine))
            .layer(axum::middleware::from_fn(remote_addr_middleware))
            .layer(TraceLayer::new_for_http())
            .layer(AddExtensionLayer::new(Tag("front")));
        axum_serve(app).await
    })
    .await;

    // Ordinary routes are untouched.
    let r = http(server.addr, Method::GET, "/", &[], Bytes::new()).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "home"));
    let r = http(server.addr, Method::POST, "/echo", &[], Bytes::from("abc")).await;
    assert_eq!(r.text(), "abc");
    let r = http(server.addr, Method::GET, "/nothing", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = http(
        server.addr,
        Method::GET,
        "/engine.io-x/?EIO=4&transport=polling",
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    exercise_both_transports(&server).await;

    // The extension set in front reaches the session, with the client address.
    for expected in [TransportType::Polling, TransportType::Websocket] {
        match server
            .wait_event(|e| matches!(e, Event::Connect { .. }))
            .await
        {
            Event::Connect {
                transport,
                tag,
                remote,
                ..
            } => {
                assert_eq!(transport, expected);
                assert_eq!(tag, Some(Tag("front")));
                assert!(remote.is_some_and(|a| a.ip().is_loopback()));
            }
            _ => unreachable!(),
        }
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn reads_axum_connect_info_with_the_axum_feature() {
    let server = start_with(quiet_config(), |engine| async move {
        axum_serve(axum::Router::new().layer(EngineLayer::new(engine))).await
    })
    .await;
    server.open_polling().await;
    match server
        .wait_event(|e| matches!(e, Event::Connect { .. }))
        .await
    {
        Event::Connect { remote, .. } => assert!(remote.is_some()),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn under_axum_nest_service() {
    // axum strips the prefix, so the engine answers at its root.
    let config = EngineConfig::builder()
        .path("/")
        .ping_interval(std::time::Duration::from_secs(30))
        .build();
    let mut server = start_with(config, |engine| async move {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "home" }))
            .nest_service("/engine.io", EngineService::new(engine));
        axum_serve(app).await
    })
    .await;
    server.path = "/engine.io".to_owned();
    let r = http(server.addr, Method::GET, "/", &[], Bytes::new()).await;
    assert_eq!(r.text(), "home");
    exercise_both_transports(&server).await;
}

#[tokio::test]
async fn with_plain_hyper_through_tower_to_hyper_service() {
    let server = start_with(quiet_config(), |engine| async move {
        let inner = tower::service_fn(|_req: Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
        });
        let service = EngineService::with_inner(engine, inner);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        addr
    })
    .await;
    let r = http(server.addr, Method::GET, "/other", &[], Bytes::new()).await;
    assert_eq!(r.text(), "inner");
    exercise_both_transports(&server).await;
}
