//! The upgrade from polling to WebSocket as the official clients and suite drive it:
//! packets keep flowing over polling until the client's `5`, pings too, and a polling
//! request the upgrade overtook is refused.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use http::StatusCode;

/// The official Engine.IO suite's "ignores HTTP requests with same sid after upgrade":
/// `2probe` and `5` are sent without waiting for `3probe`, then a polling GET must get
/// 400, and the WebSocket carries on. Repeated 200 times, four sessions at a time, so
/// that the GET races the server's reading of the WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_with_the_old_sid_after_upgrade_gets_400_every_time() {
    let server = std::sync::Arc::new(start(quiet_config()).await);
    let mut tasks = Vec::new();
    for lane in 0..4 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..50 {
                let sid = server.open_polling().await;
                // Without Nagle's delay, as the `ws` client of the suite: `5` leaves
                // right behind `2probe`, before the GET.
                let url = server.ws_url(&format!("EIO=4&transport=websocket&sid={sid}"));
                let (mut ws, _) = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio_tungstenite::connect_async_with_config(url, None, true),
                )
                .await
                .expect("WebSocket connect timed out")
                .expect("WebSocket connect");
                send_text(&mut ws, "2probe").await;
                send_text(&mut ws, "5").await;
                let r = server.poll(sid).await;
                assert_eq!(
                    r.status,
                    StatusCode::BAD_REQUEST,
                    "lane {lane} round {round}: the GET after the upgrade got {} {:?}",
                    r.status,
                    r.text()
                );
                send_text(&mut ws, "4hello").await;
                assert_eq!(recv_text(&mut ws).await, "3probe");
                assert_eq!(recv_text(&mut ws).await, "4hello");
                ws.close(None).await.ok();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    server.wait_no_sessions().await;
}

/// A client that answered the probe's pong but keeps polling (its `5` is late) still
/// gets the server's pings over polling, and the session outlives pingInterval +
/// pingTimeout several times over (Node keeps pinging too).
#[tokio::test]
async fn pings_go_over_polling_while_the_upgrade_waits_for_5() {
    let server = start(
        tower_socketio::engine::EngineConfig::builder()
            .ping_interval(Duration::from_millis(150))
            .ping_timeout(Duration::from_millis(150))
            .upgrade_timeout(Duration::from_secs(10))
            .build(),
    )
    .await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    let started = std::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let r = server.poll(sid).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        for packet in r.text().split('\u{1e}') {
            match packet {
                "2" => {
                    pings += 1;
                    assert_eq!(server.push(sid, "3").await.text(), "ok");
                }
                "6" => {}
                other => panic!("unexpected packet {other:?} while upgrading"),
            }
        }
    }
    assert!(pings >= 3, "only {pings} pings in 1.5 s");
    // The upgrade still completes.
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4up").await;
    assert_eq!(recv_text(&mut ws).await, "4up");
    server.wait_event(|e| *e == Event::Upgrade(sid)).await;
}

/// Messages queued after the probe was answered go out on the polling GET that is
/// pending, at once, instead of waiting for the client's `5`.
#[tokio::test]
async fn messages_flow_over_polling_until_5_arrives() {
    let server = start(quiet_config()).await;
    let sid = server.open_polling().await;
    let mut ws = server
        .ws(&format!("EIO=4&transport=websocket&sid={sid}"))
        .await;
    send_text(&mut ws, "2probe").await;
    assert_eq!(recv_text(&mut ws).await, "3probe");
    // The GET pending at the probe would have been ended with a noop; this one starts
    // after it, as the JS client's next poll does when the noop came before `3probe`.
    let pending = server.poll_task(sid);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pushed = std::time::Instant::now();
    assert_eq!(server.push(sid, "4reply").await.text(), "ok");
    let r = pending.await.unwrap();
    assert_eq!(r.text(), "4reply");
    assert!(
        pushed.elapsed() < Duration::from_millis(80),
        "the queued message waited {:?}",
        pushed.elapsed()
    );
    send_text(&mut ws, "5").await;
    send_text(&mut ws, "4after").await;
    assert_eq!(recv_text(&mut ws).await, "4after");
}
