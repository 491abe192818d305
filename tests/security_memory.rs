//! The one security record test that measures memory (docs/security.md): alone in its test
//! binary, so that no other test's allocations blur the process's resident size.
//!
//! socketioxide's parser 0.16.1 fixed partial packets that kept a reference into the
//! transport's read buffer, which then could not be freed. Ours had the same flaw: what the
//! connection keeps from a packet (the namespace name, the CONNECT auth, a binary packet
//! waiting for its attachments, the attachments received so far) was a slice of the
//! received request body, and kept all of it alive. Here 100 polling sessions each POST
//! 900 KB at once, with those four things in it: nothing but what they keep stays.

mod engine_support;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tower_socketio::{SocketIo, SocketRef};

fn resident_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux: /proc/self/statm");
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096.0 / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socketioxide_parser_common_0_16_1_kept_packets_do_not_pin_request_buffers() {
    let (svc, io) = SocketIo::builder()
        .ping_interval(Duration::from_secs(60))
        .ping_timeout(Duration::from_secs(60))
        .build_svc();
    io.ns("/", async |_: SocketRef| {});
    io.ns("/custom", async |_: SocketRef| {});
    let addr = engine_support::serve(svc).await;
    let filler = format!(r#"42["ignored","{}"]"#, "a".repeat(900_000));
    // Warm up allocator and runtime.
    let _ = engine_support::http(
        addr,
        Method::GET,
        "/socket.io/?EIO=4&transport=polling",
        &[],
        Bytes::new(),
    )
    .await;
    let before = resident_mb();
    for _ in 0..100 {
        let open = engine_support::http(
            addr,
            Method::GET,
            "/socket.io/?EIO=4&transport=polling",
            &[],
            Bytes::new(),
        )
        .await;
        let sid = engine_support::open_sid(&open.text());
        // One body: CONNECT to `/`, the filler, CONNECT to `/custom` with auth, a binary
        // event announcing two attachments, and the first of them only.
        let mut body = b"40\x1e".to_vec();
        body.extend_from_slice(filler.as_bytes());
        body.extend_from_slice(
            b"\x1e40/custom,{\"token\":\"t\"}\x1e452-[\"x\",{\"_placeholder\":true,\"num\":0},\
              {\"_placeholder\":true,\"num\":1}]\x1ebAQID",
        );
        let r = engine_support::http(
            addr,
            Method::POST,
            &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
            &[],
            Bytes::from(body),
        )
        .await;
        assert_eq!(r.text(), "ok");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(io.connections(), 101, "the warm-up session and the 100");
    assert_eq!(io.of("/custom").sockets().len(), 100);
    let grown = resident_mb() - before;
    // Each session held 900 KB before the fix (about 90 MB here); now a few KB each.
    assert!(grown < 40.0, "100 sessions keep {grown:.1} MB");
}
