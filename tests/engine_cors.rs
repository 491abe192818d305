//! Origins, CORS headers, preflights and the `allow_request` hook.

mod engine_support;

use bytes::Bytes;
use engine_support::*;
use http::{HeaderValue, Method, StatusCode};
use tower_socketio::engine::{AllowOrigin, EngineConfig, RequestRefusal};

const A: &str = "http://localhost:8080";
const B: &str = "http://127.0.0.1:5173";

fn assert_cors(r: &Reply, origin: &str) {
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(
        r.headers
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Origin")),
        "no Vary: Origin in {:?}",
        r.headers
    );
}

fn any_origin_config() -> EngineConfig {
    EngineConfig::builder()
        .ping_interval(std::time::Duration::from_secs(30))
        .ping_timeout(std::time::Duration::from_secs(30))
        .allow_origin(AllowOrigin::any())
        .build()
}

#[tokio::test]
async fn any_origin_gets_its_origin_back_with_credentials() {
    let server = start(any_origin_config()).await;
    let r = http(
        server.addr,
        Method::GET,
        &server.url("EIO=4&transport=polling"),
        &[("origin", A)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_cors(&r, A);
    let sid = open_sid(&r.text());
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    let r = http(
        server.addr,
        Method::POST,
        &url,
        &[("origin", B)],
        Bytes::from("4x"),
    )
    .await;
    assert_eq!(r.text(), "ok");
    assert_cors(&r, B);
    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("origin", B)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.text(), "4x");
    assert_cors(&r, B);
    // Errors carry the headers too, so that pages can read them.
    let r = http(
        server.addr,
        Method::GET,
        &server.url("EIO=4"),
        &[("origin", A)],
        Bytes::new(),
    )
    .await;
    r.assert_error(400, 0, "Transport unknown");
    assert_cors(&r, A);
    // Without an Origin there are no CORS headers.
    let r = server.get("EIO=4&transport=polling").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn preflight_answers_204_with_methods_headers_and_max_age() {
    let server = start(any_origin_config()).await;
    let r = http(
        server.addr,
        Method::OPTIONS,
        &server.url("EIO=4&transport=polling"),
        &[
            ("origin", A),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type, x-custom"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_cors(&r, A);
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-custom")
    );
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    assert!(r.body.is_empty());
    assert_eq!(server.engine.sessions_count(), 0);
}

#[tokio::test]
async fn refused_origin_gets_403_on_polling_preflight_and_websocket() {
    let server = start(
        EngineConfig::builder()
            .allow_origin(AllowOrigin::list([HeaderValue::from_static(A)]))
            .build(),
    )
    .await;
    // Allowed.
    let r = http(
        server.addr,
        Method::GET,
        &server.url("EIO=4&transport=polling"),
        &[("origin", A)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_cors(&r, A);
    let sid = open_sid(&r.text());
    // Refused: handshake, request on a live session, preflight, WebSocket.
    let forbidden = |r: Reply| {
        r.assert_error(403, 4, "Forbidden");
        assert_eq!(r.header("access-control-allow-origin"), None);
    };
    forbidden(
        http(
            server.addr,
            Method::GET,
            &server.url("EIO=4&transport=polling"),
            &[("origin", B)],
            Bytes::new(),
        )
        .await,
    );
    let url = server.url(&format!("EIO=4&transport=polling&sid={sid}"));
    forbidden(
        http(
            server.addr,
            Method::POST,
            &url,
            &[("origin", B)],
            Bytes::from("4x"),
        )
        .await,
    );
    forbidden(
        http(
            server.addr,
            Method::OPTIONS,
            &url,
            &[("origin", B)],
            Bytes::new(),
        )
        .await,
    );
    forbidden(
        server
            .ws_handshake_reply("EIO=4&transport=websocket", &[("origin", B)])
            .await,
    );
    forbidden(
        server
            .ws_handshake_reply(
                &format!("EIO=4&transport=websocket&sid={sid}"),
                &[("origin", B)],
            )
            .await,
    );
    // With a real WebSocket client.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        server.ws_url("EIO=4&transport=websocket"),
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", HeaderValue::from_static(B));
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
    // Requests without an Origin are not from a browser page: allowed.
    assert_eq!(
        server.get("EIO=4&transport=polling").await.status,
        StatusCode::OK
    );
    // The refused requests created nothing and harmed nothing.
    assert_eq!(server.push(sid, "4still").await.text(), "ok");
    assert_eq!(server.engine.sessions_count(), 2);
}

#[tokio::test]
async fn exact_predicate_and_async_predicate_origins() {
    let exact = start(
        EngineConfig::builder()
            .allow_origin(AllowOrigin::exact(HeaderValue::from_static(A)))
            .build(),
    )
    .await;
    let handshake = |server: &TestServer, headers: Vec<(&'static str, &'static str)>| {
        let addr = server.addr;
        let url = server.url("EIO=4&transport=polling");
        async move {
            http(addr, Method::GET, &url, &headers, Bytes::new())
                .await
                .status
        }
    };
    assert_eq!(handshake(&exact, vec![("origin", A)]).await, StatusCode::OK);
    assert_eq!(
        handshake(&exact, vec![("origin", B)]).await,
        StatusCode::FORBIDDEN
    );

    let predicate = start(
        EngineConfig::builder()
            .allow_origin(AllowOrigin::predicate(|origin, parts| {
                origin.as_bytes().starts_with(b"http://localhost")
                    && parts.headers.contains_key("x-app")
            }))
            .build(),
    )
    .await;
    assert_eq!(
        handshake(&predicate, vec![("origin", A), ("x-app", "1")]).await,
        StatusCode::OK
    );
    assert_eq!(
        handshake(&predicate, vec![("origin", A)]).await,
        StatusCode::FORBIDDEN
    );

    let async_predicate = start(
        EngineConfig::builder()
            .allow_origin(AllowOrigin::async_predicate(|origin, _parts| async move {
                tokio::task::yield_now().await;
                origin == B
            }))
            .build(),
    )
    .await;
    assert_eq!(
        handshake(&async_predicate, vec![("origin", B)]).await,
        StatusCode::OK
    );
    assert_eq!(
        handshake(&async_predicate, vec![("origin", A)]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn allow_request_refuses_handshakes_with_its_status_and_message() {
    let server = start(
        EngineConfig::builder()
            .ping_interval(std::time::Duration::from_secs(30))
            .allow_request(|parts: &http::request::Parts| {
                let token = parts.headers.get("x-token").map(|v| v.as_bytes().to_vec());
                async move {
                    match token.as_deref() {
                        Some(b"secret") => Ok(()),
                        Some(_) => Err(RequestRefusal::forbidden()),
                        None => Err(RequestRefusal::new(
                            StatusCode::UNAUTHORIZED,
                            "token required",
                        )),
                    }
                }
            })
            .build(),
    )
    .await;
    let url = server.url("EIO=4&transport=polling");
    http(server.addr, Method::GET, &url, &[], Bytes::new())
        .await
        .assert_error(401, 4, "token required");
    http(
        server.addr,
        Method::GET,
        &url,
        &[("x-token", "wrong")],
        Bytes::new(),
    )
    .await
    .assert_error(403, 4, "Forbidden");
    server
        .ws_handshake_reply("EIO=4&transport=websocket", &[])
        .await
        .assert_error(401, 4, "token required");
    assert_eq!(server.engine.sessions_count(), 0);

    let r = http(
        server.addr,
        Method::GET,
        &url,
        &[("x-token", "secret")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let sid = open_sid(&r.text());
    // The hook guards handshakes only; the session's own requests pass.
    assert_eq!(server.push(sid, "4x").await.text(), "ok");
    assert_eq!(server.poll(sid).await.text(), "4x");
    let r = server
        .ws_handshake_reply("EIO=4&transport=websocket", &[("x-token", "secret")])
        .await;
    assert_eq!(r.status, StatusCode::SWITCHING_PROTOCOLS);
}
