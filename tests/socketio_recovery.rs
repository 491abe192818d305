//! Connection state recovery with the official socket.io-client 4.8.4 (tests/js/recovery)
//! against a server with recovery on behind a proxy that cuts its TCP connections
//! (tests/recovery_support): recovery over WebSocket, polling and an upgraded connection,
//! cut by the server side and by the client's engine; middleware skipped or run; the
//! window, forged and reused pids, deliberate disconnections; the MessagePack parser; the
//! byte budget under a flood while 1,000 sessions are persisted.

mod common;
mod recovery_support;

use std::time::Duration;

use common::{Peer, require_peer};
use tower_socketio::ConnectionStateRecovery;

async fn run(config: ConnectionStateRecovery, case: &str, extra: &[&str]) -> String {
    let server = recovery_support::start(config).await;
    drive(server, case, extra).await
}

async fn drive(
    (proxied, direct, _io): (
        std::net::SocketAddr,
        std::net::SocketAddr,
        tower_socketio::SocketIo,
    ),
    case: &str,
    extra: &[&str],
) -> String {
    let proxied = format!("http://{proxied}");
    let direct = format!("http://{direct}");
    let mut args = vec![proxied.as_str(), direct.as_str(), "--case", case];
    args.extend_from_slice(extra);
    let what = format!("node recovery/recover.mjs {}", args.join(" "));
    common::expect_success(
        common::run_node("recovery/recover.mjs", &args, Duration::from_secs(70)).await,
        &what,
    )
}

#[tokio::test]
async fn recovers_over_websocket() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(
        ConnectionStateRecovery::new(),
        "recover",
        &["--transports", "websocket"],
    )
    .await;
}

#[tokio::test]
async fn recovers_over_polling() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(
        ConnectionStateRecovery::new(),
        "recover",
        &["--transports", "polling"],
    )
    .await;
}

#[tokio::test]
async fn recovers_over_an_upgraded_connection() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(
        ConnectionStateRecovery::new(),
        "recover",
        &["--transports", "polling,websocket"],
    )
    .await;
}

#[tokio::test]
async fn middleware_runs_again_unless_skipped() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(
        ConnectionStateRecovery::new().skip_middlewares(false),
        "recover",
        &["--middlewares", "run"],
    )
    .await;
    // The refused recovery puts the session back: the next attempt recovers.
    run(
        ConnectionStateRecovery::new().skip_middlewares(false),
        "refused",
        &[],
    )
    .await;
}

#[tokio::test]
async fn no_recovery_after_the_window() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let config =
        ConnectionStateRecovery::new().max_disconnection_duration(Duration::from_millis(300));
    run(config, "expire", &["--hold", "700"]).await;
}

#[tokio::test]
async fn forged_foreign_and_reused_pids_do_not_recover() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(ConnectionStateRecovery::new(), "forged", &[]).await;
}

#[tokio::test]
async fn a_deliberate_disconnect_is_not_recoverable() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    run(ConnectionStateRecovery::new(), "kicked", &[]).await;
    run(
        ConnectionStateRecovery::new(),
        "left",
        &["--transports", "polling"],
    )
    .await;
}

#[tokio::test]
async fn live_broadcasts_during_a_restore_are_neither_lost_nor_doubled() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    for transports in ["websocket", "polling"] {
        // The in-memory store, then one that lists missed packets 50 ms late (as across a
        // network): the live packets of those 50 ms come both held and listed as missed.
        let fast = recovery_support::start(ConnectionStateRecovery::new()).await;
        drive(fast, "stream", &["--transports", transports]).await;
        let slow = recovery_support::start_slow(ConnectionStateRecovery::new()).await;
        drive(slow, "stream", &["--transports", transports]).await;
    }
}

#[tokio::test]
async fn recovers_with_the_msgpack_parser() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    // socket.io-msgpack-parser clients: the pid in the CONNECT reply and the offset as the
    // last argument of each stored event, in MessagePack; over each transport, and with live
    // broadcasts racing the replay.
    for transports in ["websocket", "polling", "polling,websocket"] {
        let server = recovery_support::start_msgpack(ConnectionStateRecovery::new()).await;
        drive(
            server,
            "recover",
            &["--transports", transports, "--parser", "msgpack"],
        )
        .await;
    }
    let server = recovery_support::start_msgpack(ConnectionStateRecovery::new()).await;
    drive(server, "stream", &["--parser", "msgpack"]).await;
}

#[tokio::test]
async fn socket_io_2_clients_get_no_pid_and_no_offsets() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    for transports in ["websocket", "polling"] {
        run(
            ConnectionStateRecovery::new(),
            "sio2",
            &["--transports", transports],
        )
        .await;
    }
}

#[tokio::test]
async fn emit_wait_stores_and_waits_for_room() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    // Node's pings: the short test pings could time out a client busy reading 2 MB.
    for transports in ["websocket", "polling"] {
        let server = recovery_support::start_default_pings(ConnectionStateRecovery::new()).await;
        drive(server, "chunks", &["--transports", transports]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_holds_under_a_flood_while_1000_sessions_are_persisted() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let budget = 1 << 20;
    let config = ConnectionStateRecovery::new().max_stored_bytes(budget);
    let (proxied, direct, io) = recovery_support::start_default_pings(config).await;
    let (proxied, direct) = (format!("http://{proxied}"), format!("http://{direct}"));
    let args = [
        proxied.as_str(),
        direct.as_str(),
        "--clients",
        "1000",
        "--budget",
        "1048576",
    ];
    let out = common::expect_success(
        common::run_node("recovery/flood.mjs", &args, Duration::from_secs(120)).await,
        "node recovery/flood.mjs",
    );
    eprintln!("{out}");
    let stats = io.sockets().recovery_stats().unwrap();
    assert!(stats.stored_bytes <= budget, "{stats:?}");
}

/// Node's Redis adapter cannot recover (nor can ours): the builder says so at build time
/// instead of serving a recovery that never happens.
#[cfg(feature = "redis")]
#[tokio::test]
async fn the_builder_refuses_recovery_with_the_redis_pub_sub_adapter() {
    use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
    use tower_socketio::{BuildError, SocketIo};

    let factory =
        || RedisAdapterFactory::new(RedisAdapterConfig::new("redis://127.0.0.1:1")).unwrap();
    let refused = SocketIo::builder()
        .adapter(factory())
        .connection_state_recovery(ConnectionStateRecovery::new())
        .try_build_svc();
    let Err(err) = refused else {
        panic!("recovery with the pub/sub Redis adapter was accepted")
    };
    assert!(matches!(err, BuildError::RecoveryUnsupported { .. }));
    let message = err.to_string();
    assert!(message.contains("RedisAdapterFactory"), "{message}");
    assert!(
        message.contains("cannot persist and restore sessions"),
        "{message}"
    );

    let listen = SocketIo::builder()
        .adapter(factory())
        .connection_state_recovery(ConnectionStateRecovery::new())
        .listen("127.0.0.1:0")
        .await;
    assert_eq!(listen.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        SocketIo::builder()
            .adapter(factory())
            .connection_state_recovery(ConnectionStateRecovery::new())
            .build_layer()
    }));
    assert!(
        panicked.is_err(),
        "build_layer built a server that cannot recover"
    );

    // Without recovery the same adapter is fine.
    assert!(
        SocketIo::builder()
            .adapter(factory())
            .try_build_svc()
            .is_ok()
    );
}
