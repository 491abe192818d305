//! The benchmark server (see `docs/benchmarks.md`): the handlers every server of the
//! side-by-side benchmark has, on axum.
//!
//! `cargo run --release --example bench_server`, with `PORT` (default 3000), `WORKERS`
//! (tokio worker threads, default 1), `PARSER` (`msgpack` for the MessagePack parser,
//! JSON otherwise) and `RECOVERY` (`1`: connection state recovery on, with its defaults)
//! from the environment. Namespace `/`:
//! - `message` → `message-back` with the same arguments;
//! - `message-with-ack` → acknowledged with the same arguments;
//! - `join` (room) → joins it, and acknowledges when asked;
//! - `room-broadcast` (room, data) → `room-msg` with `data` to everyone in the room.
//!
//! With `ADAPTER` set (`pubsub`, `streams`, `sharded`; built with the `redis`,
//! `redis-streams` or `redis-cluster` feature) the server joins a cluster through the Redis
//! at `REDIS_URL` (for `sharded`, a Redis Cluster node), for the cluster benchmark
//! (`sio-bench cluster`).
//!
//! Built with the `admin-ui` feature, `ADMIN_UI=development` or `ADMIN_UI=production`
//! instruments the server for the Admin UI in that mode (no authentication, no admin
//! connected: what instrumentation costs the server itself).

use axum::serve::ListenerExt as _;
use tower_socketio::extract::{AckSender, Data};
use tower_socketio::protocol::{Args, Value};
use tower_socketio::{ConnectionStateRecovery, Parser, SocketIo, SocketRef};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let port = env_num("PORT", 3000) as u16;
    let workers = env_num("WORKERS", 1).max(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve(port))
}

async fn serve(port: u16) -> std::io::Result<()> {
    let parser = match std::env::var("PARSER").as_deref() {
        Ok("msgpack") => Parser::MsgPack,
        _ => Parser::Json,
    };
    let mut builder = instrument(builder().parser(parser));
    if env_num("RECOVERY", 0) == 1 {
        builder = builder.connection_state_recovery(ConnectionStateRecovery::new());
    }
    let (layer, io) = builder.build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("message", async |socket: SocketRef, args: Args| {
            socket.emit("message-back", &args).ok();
        });
        socket.on("message-with-ack", async |args: Args, ack: AckSender| {
            ack.send(&args).ok();
        });
        socket.on(
            "join",
            async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                ack.send(&()).ok();
            },
        );
        socket.on(
            "room-broadcast",
            async |socket: SocketRef, Data((room, data)): Data<(String, Value)>| {
                socket
                    .namespace()
                    .to(room)
                    .emit("room-msg", &data)
                    .await
                    .ok();
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        // Realtime traffic: no Nagle delay on small frames.
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await
}

/// The server's builder: in memory, or joined to a cluster by the adapter `ADAPTER` names.
fn builder() -> tower_socketio::SocketIoBuilder {
    let builder = SocketIo::builder();
    let Ok(adapter) = std::env::var("ADAPTER") else {
        return builder;
    };
    #[allow(unused_variables)]
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    match adapter.as_str() {
        #[cfg(feature = "redis")]
        "pubsub" => {
            use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
            builder.adapter(
                RedisAdapterFactory::new(RedisAdapterConfig::new(url)).expect("the Redis adapter"),
            )
        }
        #[cfg(feature = "redis-streams")]
        "streams" => {
            use tower_socketio::adapter::redis::streams::{
                StreamsAdapterConfig, StreamsAdapterFactory,
            };
            builder.adapter(
                StreamsAdapterFactory::new(StreamsAdapterConfig::new(url))
                    .expect("the Streams adapter"),
            )
        }
        #[cfg(feature = "redis-cluster")]
        "sharded" => {
            use tower_socketio::adapter::redis::sharded::{
                ShardedAdapterConfig, ShardedAdapterFactory,
            };
            builder.adapter(
                ShardedAdapterFactory::new(ShardedAdapterConfig::cluster([url]))
                    .expect("the sharded adapter"),
            )
        }
        other => panic!("ADAPTER={other}: not an adapter of this build"),
    }
}

#[cfg(feature = "admin-ui")]
fn instrument(builder: tower_socketio::SocketIoBuilder) -> tower_socketio::SocketIoBuilder {
    use tower_socketio::admin::{AdminUi, Auth, Mode};
    let mode = match std::env::var("ADMIN_UI").as_deref() {
        Ok("development") => Mode::Development,
        Ok("production") => Mode::Production,
        _ => return builder,
    };
    builder.instrument(AdminUi::new(Auth::none()).mode(mode))
}

#[cfg(not(feature = "admin-ui"))]
fn instrument(builder: tower_socketio::SocketIoBuilder) -> tower_socketio::SocketIoBuilder {
    builder
}
