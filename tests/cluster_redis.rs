//! Three Rust servers joined through a real `redis-server` (started on a free loopback port),
//! driven by raw WebSocket clients: every cluster operation, request timeouts, and hostile
//! messages on the adapter's channels. The mixed Node/Rust cluster is in
//! tests/cluster_interop.rs, Redis faults in tests/cluster_faults.rs.
#![cfg(feature = "redis")]

mod cluster_support;
mod common;
mod sio_support;

use std::time::{Duration, Instant};

use cluster_support::{Client, RedisServer, RustServer, rust_server, test_config};
use serde_json::{Value, json};

const QUIET: Duration = Duration::from_millis(400);

struct Cluster {
    _redis: RedisServer,
    servers: Vec<RustServer>,
}

async fn cluster(n: usize) -> Option<Cluster> {
    let redis = RedisServer::start().await?;
    let mut servers = Vec::new();
    for i in 0..n {
        let name = ["A", "B", "C"][i];
        servers.push(rust_server(name, test_config(&redis.url())).await);
    }
    Some(Cluster {
        _redis: redis,
        servers,
    })
}

#[tokio::test]
async fn broadcasts_cross_servers_with_rooms_except_local_and_flags() {
    let Some(c) = cluster(3).await else { return };
    let mut a = Client::connect(c.servers[0].addr, "a").await;
    let mut a2 = Client::connect(c.servers[0].addr, "a2").await;
    let mut b = Client::connect(c.servers[1].addr, "b").await;
    let mut cc = Client::connect(c.servers[2].addr, "c").await;
    assert_eq!(cc.call("join", json!("r")).await, rooms(&[&cc.sid, "r"]));

    // To everyone, binary-free arguments of every JSON kind.
    let args = json!(["text", 1, 1.5, null, true, {"k": [1, {"n": null}]}]);
    assert_eq!(
        a.op(json!({"kind": "emit", "event": "all", "args": args}))
            .await,
        "ok"
    );
    for cl in [&mut a, &mut a2, &mut b, &mut cc] {
        assert_eq!(Value::from(cl.expect("all").await), args, "{}", cl.name);
    }

    // One room (its own channel), on another server.
    a.op(json!({"kind": "emit", "to": ["r"], "event": "room", "args": [1]}))
        .await;
    assert_eq!(cc.expect("room").await, vec![json!(1)]);
    // Except the room.
    b.op(json!({"kind": "emit", "except": ["r"], "event": "not-r", "args": []}))
        .await;
    for cl in [&mut a, &mut a2, &mut b] {
        cl.expect("not-r").await;
    }
    // Several rooms, one of them a socket id on another server: each socket once.
    let b_sid = b.sid.clone();
    cc.op(json!({"kind": "emit", "to": ["r", b_sid, "nobody"], "event": "multi", "args": []}))
        .await;
    b.expect("multi").await;
    cc.expect("multi").await;
    // Local only.
    a.op(json!({"kind": "emit", "local": true, "event": "local", "args": []}))
        .await;
    a.expect("local").await;
    a2.expect("local").await;
    // From a socket: everyone but the sender, on every server; volatile and uncompressed.
    a.op(json!({"kind": "emit", "broadcast": true, "volatile": true, "compress": false, "event": "bc", "args": ["x"]}))
        .await;
    for cl in [&mut a2, &mut b, &mut cc] {
        assert_eq!(cl.expect("bc").await, vec![json!("x")]);
    }

    // Nothing else leaked anywhere.
    for cl in [&mut a, &mut a2, &mut b, &mut cc] {
        for ev in ["room", "not-r", "multi", "local", "bc", "all"] {
            cl.expect_none(ev, Duration::from_millis(50)).await;
        }
    }
    cc.expect_none("local", QUIET).await;
    b.expect_none("local", Duration::ZERO).await;
    a.expect_none("bc", Duration::ZERO).await;
    cc.expect_none("not-r", Duration::ZERO).await;
}

#[tokio::test]
async fn acks_fetch_and_remote_room_operations() {
    let Some(c) = cluster(3).await else { return };
    let mut a = Client::connect(c.servers[0].addr, "a").await;
    let mut b = Client::connect(c.servers[1].addr, "b").await;
    let mut cc = Client::connect(c.servers[2].addr, "c").await;
    let mut c2 = Client::connect(c.servers[2].addr, "c2").await;

    // Broadcast with acks: every client of every server answers.
    let (res, _, _, _) = tokio::join!(
        a.op(json!({"kind": "emitWithAck", "timeout": 3000, "event": "ask", "args": []})),
        b.expect("ask"),
        cc.expect("ask"),
        c2.expect("ask"),
    );
    a.expect("ask").await;
    assert_eq!(
        res,
        json!({"ok": [{"client": "a"}, {"client": "b"}, {"client": "c"}, {"client": "c2"}], "errors": 0})
    );
    // Only some rooms, from another server.
    cc.call("join", json!("ackers")).await;
    let (res, _) = tokio::join!(
        b.op(json!({"kind": "emitWithAck", "to": ["ackers"], "event": "ask", "args": []})),
        cc.expect("ask"),
    );
    assert_eq!(res, json!({"ok": [{"client": "c"}], "errors": 0}));
    // A client that never answers times out, the others still count.
    let (res, _) = tokio::join!(
        b.op(json!({"kind": "emitWithAck", "timeout": 500, "to": ["ackers", a.sid], "event": "silent", "args": []})),
        cc.expect("silent"),
    );
    assert_eq!(res, json!({"ok": [], "errors": 2}));
    a.expect("silent").await;

    // Fetch: ids, rooms, data and handshake of every socket.
    let all = a.op(json!({"kind": "fetch"})).await;
    let all = all.as_array().expect("a list");
    assert_eq!(all.len(), 4, "{all:?}");
    let c_entry = all.iter().find(|s| s["id"] == cc.sid.as_str()).unwrap();
    assert_eq!(c_entry["data"], json!({"server": "C", "nick": "c"}));
    assert_eq!(c_entry["auth"], json!({"nick": "c"}));
    assert_eq!(c_entry["eio"], "4");
    assert_eq!(c_entry["hasHost"], true);
    assert_eq!(c_entry["rooms"], rooms(&[&cc.sid, "ackers"]));
    // Targeted and local fetches.
    let only = b.op(json!({"kind": "fetch", "to": ["ackers"]})).await;
    assert_eq!(only.as_array().unwrap().len(), 1);
    let local = cc.op(json!({"kind": "fetch", "local": true})).await;
    assert_eq!(local.as_array().unwrap().len(), 2);
    let except = b.op(json!({"kind": "fetch", "except": ["ackers"]})).await;
    assert_eq!(except.as_array().unwrap().len(), 3);

    // Remote join/leave through operators and through a fetched remote socket.
    let b_sid = b.sid.clone();
    assert_eq!(
        a.op(json!({"kind": "join", "to": [b_sid], "rooms": ["x", "y"]}))
            .await,
        "ok"
    );
    let want = rooms(&[&b.sid, "x", "y"]);
    eventually(&mut b, "rooms", want).await;
    assert_eq!(
        cc.op(json!({"kind": "remoteLeave", "id": b.sid, "rooms": ["y"]}))
            .await,
        1
    );
    let want = rooms(&[&b.sid, "x"]);
    eventually(&mut b, "rooms", want).await;
    a.op(json!({"kind": "emit", "to": ["x"], "event": "in-x", "args": []}))
        .await;
    b.expect("in-x").await;
    // Every socket of the cluster joins, then leaves.
    a.op(json!({"kind": "join", "rooms": ["everyone"]})).await;
    let want = rooms(&[&c2.sid, "everyone"]);
    eventually(&mut c2, "rooms", want).await;
    a.op(json!({"kind": "leave", "rooms": ["everyone"]})).await;
    let want = json!([c2.sid.clone()]);
    eventually(&mut c2, "rooms", want).await;

    // Emit to a fetched remote socket.
    assert_eq!(
        a.op(json!({"kind": "remoteEmit", "id": c2.sid, "event": "direct", "args": [5]}))
            .await,
        1
    );
    assert_eq!(c2.expect("direct").await, vec![json!(5)]);
    cc.expect_none("direct", QUIET).await;

    // Disconnect remote sockets: one through a remote socket, then a room.
    assert_eq!(
        b.op(json!({"kind": "remoteDisconnect", "id": c2.sid}))
            .await,
        1
    );
    c2.expect_disconnected().await;
    a.op(json!({"kind": "disconnect", "to": ["ackers"]})).await;
    cc.expect_disconnected().await;
    let left = a.op(json!({"kind": "fetch"})).await;
    assert_eq!(left.as_array().unwrap().len(), 2, "{left}");
}

/// A sorted room list as JSON.
fn rooms(list: &[&str]) -> Value {
    let mut v: Vec<&str> = list.to_vec();
    v.sort();
    json!(v)
}

/// Calls `event` until its answer is `want` (remote operations are asynchronous).
async fn eventually(client: &mut Client, event: &str, want: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = client.call(event, Value::Null).await;
        if got == want || Instant::now() > deadline {
            assert_eq!(got, want, "{}: {event}", client.name);
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn server_side_events_and_server_count() {
    let Some(c) = cluster(3).await else { return };
    let mut a = Client::connect(c.servers[0].addr, "a").await;
    let mut b = Client::connect(c.servers[1].addr, "b").await;
    let mut cc = Client::connect(c.servers[2].addr, "c").await;

    assert_eq!(a.op(json!({"kind": "serverCount"})).await, 3);
    assert_eq!(
        a.op(json!({"kind": "serverSideEmit", "event": "sse", "args": [1, "two"]}))
            .await,
        "ok"
    );
    for (cl, server) in [(&mut b, "B"), (&mut cc, "C")] {
        assert_eq!(
            cl.expect("sse-got").await,
            vec![json!({"server": server, "args": [1, "two"]})]
        );
    }
    a.expect_none("sse-got", QUIET).await;
    let res = b
        .op(json!({"kind": "serverSideEmitWithAck", "event": "sse-ack", "args": ["q"]}))
        .await;
    assert_eq!(
        res,
        json!({"ok": [{"server": "A", "args": ["q"]}, {"server": "C", "args": ["q"]}]})
    );
    // Reserved names are refused.
    let res = b
        .op(json!({"kind": "serverSideEmit", "event": "disconnect", "args": []}))
        .await;
    assert!(res["error"].as_str().unwrap().contains("reserved"), "{res}");

    // The API from Rust directly, with typed answers.
    let replies: Vec<Value> = c.servers[2]
        .io
        .server_side_emit_with_ack("sse-ack", &(1, 2))
        .await
        .unwrap();
    assert_eq!(replies.len(), 2);
    assert!(c.servers[0].io.is_adapter_healthy());
    assert!(c.servers[0].redis.is_healthy());
}

#[tokio::test]
async fn requests_time_out_with_a_clear_error() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let a = rust_server("A", test_config(&redis.url())).await;
    let mut ca = Client::connect(a.addr, "a").await;
    // A silent peer: subscribed to the request channel (so it counts as a server) but it
    // never answers.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut silent = client.get_async_pubsub().await.unwrap();
    silent.subscribe("socket.io-request#/#").await.unwrap();

    assert_eq!(ca.op(json!({"kind": "serverCount"})).await, 2);
    let started = Instant::now();
    let res = ca.op(json!({"kind": "fetch"})).await;
    let took = started.elapsed();
    assert_eq!(
        res,
        json!({"error": "the other servers did not answer in time"})
    );
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let res = ca
        .op(json!({"kind": "serverSideEmitWithAck", "event": "sse-ack", "args": []}))
        .await;
    assert_eq!(
        res,
        json!({"error": "the other servers did not answer in time"})
    );
    // A broadcast with acks waits for the silent server's count until its own timeout,
    // with the local answers.
    let res = ca
        .op(json!({"kind": "emitWithAck", "timeout": 600, "event": "ask", "args": []}))
        .await;
    assert_eq!(res, json!({"ok": [{"client": "a"}], "errors": 0}));
    // The typed error from Rust.
    let err = a.io.fetch_sockets().await.unwrap_err();
    assert_eq!(err, tower_socketio::adapter::AdapterError::Timeout);
    drop(silent);
}

#[tokio::test]
async fn hostile_messages_on_the_channels_are_ignored() {
    let Some(c) = cluster(2).await else { return };
    let mut a = Client::connect(c.servers[0].addr, "a").await;
    let mut b = Client::connect(c.servers[1].addr, "b").await;
    b.call("join", json!("r")).await;
    let client = redis::Client::open(c._redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"{".to_vec(),
        b"{\"type\": 5, \"requestId\": 1}".to_vec(),
        b"{\"type\": 7, \"requestId\": \"x\", \"packet\": 3}".to_vec(),
        b"{\"type\": 2, \"opts\": 1, \"rooms\": {}}".to_vec(),
        b"{\"type\": 6, \"data\": \"not a list\"}".to_vec(),
        b"{\"type\": 6, \"data\": []}".to_vec(),
        b"{\"type\": 4, \"sid\": \"../../\"}".to_vec(),
        vec![0xdd, 0xff, 0xff, 0xff, 0xff],
        vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0],
        vec![
            0x93, 0xa1, b'u', 0x81, 0xa4, b'd', b'a', b't', b'a', 0xc0, 0xc0,
        ],
        vec![0x91; 5000],
        vec![0xc1],
        // A valid-looking broadcast of another namespace and one of a reserved packet type.
        vec![
            0x93, 0xa1, b'u', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd', b'a', b't',
            b'a', 0x91, 0xa1, b'e', 0xa3, b'n', b's', b'p', 0xa2, b'/', b'x', 0x80,
        ],
        vec![
            0x93, 0xa1, b'u', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x01, 0xa4, b'd', b'a', b't',
            b'a', 0x91, 0xa1, b'e', 0xa3, b'n', b's', b'p', 0xa1, b'/', 0x80,
        ],
    ];
    let channels = [
        "socket.io#/#",
        "socket.io#/#r#",
        "socket.io-request#/#",
        "socket.io-response#/#",
    ];
    for ch in channels {
        for g in &garbage {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(ch)
                .arg(g.as_slice())
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
    // The cluster still works both ways.
    a.op(json!({"kind": "emit", "to": ["r"], "event": "after", "args": []}))
        .await;
    b.expect("after").await;
    b.op(json!({"kind": "emit", "event": "after2", "args": []}))
        .await;
    a.expect("after2").await;
    assert_eq!(
        a.op(json!({"kind": "fetch"}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    a.expect_none("e", QUIET).await;
    b.expect_none("e", Duration::ZERO).await;
}

#[tokio::test]
async fn server_side_events_without_a_cluster_reach_nobody() {
    // The in-memory adapter: nobody else, no error.
    let (_svc, io) = tower_socketio::SocketIo::new_svc();
    io.server_side_emit("x", &1).await.unwrap();
    let replies: Vec<Value> = io.server_side_emit_with_ack("x", &()).await.unwrap();
    assert!(replies.is_empty());
    assert!(io.is_adapter_healthy());
    // An adapter's dispatch reaches the listeners; the first one answers.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tx2 = tx.clone();
    io.on_server_side("ev", move |mut ev| {
        let tx = tx.clone();
        async move {
            let (a, b): (u32, String) = ev.data().unwrap();
            assert!(ev.wants_ack());
            ev.ack(&format!("{a}{b}")).unwrap();
            tx.send("first").unwrap();
        }
    });
    io.on_server_side("ev", move |ev| {
        let tx = tx2.clone();
        async move {
            assert!(!ev.wants_ack());
            assert_eq!(ev.event(), "ev");
            assert_eq!(ev.args(), &[json!(1), json!("x")]);
            tx.send("second").unwrap();
        }
    });
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    io.sockets().dispatch_server_side(
        vec![json!("ev"), json!(1), json!("x")],
        Some(tower_socketio::ServerSideAck::new(move |v| {
            let _ = ack_tx.send(v);
        })),
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), ack_rx)
            .await
            .unwrap()
            .unwrap(),
        json!("1x")
    );
    let mut got = vec![];
    for _ in 0..2 {
        got.push(
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    got.sort();
    assert_eq!(got, vec!["first", "second"]);
    // Unknown events and empty data are dropped quietly.
    io.sockets()
        .dispatch_server_side(vec![json!("nobody")], None);
    io.sockets().dispatch_server_side(vec![], None);
}
