//! One server of a cluster joined through Redis (see `docs/cluster.md`).
//!
//! ```sh
//! redis-server --port 6379 --save '' --appendonly no &
//! PORT=3001 REDIS_URL=redis://127.0.0.1:6379/ cargo run --features redis --example cluster &
//! PORT=3002 REDIS_URL=redis://127.0.0.1:6379/ cargo run --features redis --example cluster &
//! ```
//!
//! The other adapters (all servers of a cluster must use the same one):
//!
//! ```sh
//! ADAPTER=streams PORT=3001 cargo run --features redis-streams --example cluster
//! # a Redis Cluster: the URL of any of its nodes
//! ADAPTER=sharded REDIS_URL=redis://127.0.0.1:7000/ PORT=3001 \
//!     cargo run --features redis-cluster --example cluster
//! ```
//!
//! Environment: `ADAPTER` (`pubsub`, the default; `streams`, with the `redis-streams`
//! feature; `sharded`, with the `redis-cluster` feature), `PORT` (default 3000),
//! `REDIS_URL` (default `redis://127.0.0.1:6379/`; for `sharded`, a Redis Cluster node),
//! `HOST` (default `127.0.0.1`; `0.0.0.0` behind a load balancer).
//!
//! Namespace `/`, for clients on any server of the cluster:
//! - `broadcast` (data): everyone in the cluster gets `broadcast` with the data;
//! - `join` (room, ack): joins the room, then acknowledges;
//! - `to-room` (room, data): the room's members, on every server, get `room-msg` with the data;
//! - `count` (ack): acknowledged with the number of sockets in the cluster.

use tower_socketio::adapter::redis::{RedisAdapterConfig, RedisAdapterFactory, RedisAdapterHandle};
use tower_socketio::extract::{AckSender, Data};
use tower_socketio::protocol::{Args, Value};
use tower_socketio::{SocketIo, SocketIoBuilder, SocketRef};
use tracing_subscriber::EnvFilter;

/// The handlers of the cluster example.
pub fn setup(io: &SocketIo) {
    io.ns("/", async |socket: SocketRef| {
        socket.on("broadcast", async |io: SocketIo, data: Args| {
            if let Err(e) = io.emit("broadcast", &data).await {
                tracing::warn!(error = %e, "broadcast failed");
            }
        });
        socket.on(
            "join",
            async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                ack.send(&()).ok();
            },
        );
        socket.on(
            "to-room",
            async |io: SocketIo, Data((room, data)): Data<(String, Value)>| {
                if let Err(e) = io.to(room).emit("room-msg", &data).await {
                    tracing::warn!(error = %e, "room message failed");
                }
            },
        );
        socket.on("count", async |io: SocketIo, ack: AckSender| {
            match io.sockets().clients().await {
                Ok(ids) => {
                    ack.send(&ids.len()).ok();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "count failed");
                    ack.send(&serde_json::json!({ "error": e.to_string() }))
                        .ok();
                }
            }
        });
    });
}

/// The builder with the adapter named `adapter` (`pubsub`, `streams`, `sharded`) on the
/// Redis at `redis_url`, and the adapter's health handle.
pub fn with_adapter(
    builder: SocketIoBuilder,
    adapter: &str,
    redis_url: &str,
) -> Result<(SocketIoBuilder, RedisAdapterHandle), Box<dyn std::error::Error>> {
    match adapter {
        "pubsub" => {
            let factory = RedisAdapterFactory::new(RedisAdapterConfig::new(redis_url))?;
            let handle = factory.handle();
            Ok((builder.adapter(factory), handle))
        }
        #[cfg(feature = "redis-streams")]
        "streams" => {
            use tower_socketio::adapter::redis::streams::{
                StreamsAdapterConfig, StreamsAdapterFactory,
            };
            let factory = StreamsAdapterFactory::new(StreamsAdapterConfig::new(redis_url))?;
            let handle = factory.handle();
            Ok((builder.adapter(factory), handle))
        }
        #[cfg(feature = "redis-cluster")]
        "sharded" => {
            use tower_socketio::adapter::redis::sharded::{
                ShardedAdapterConfig, ShardedAdapterFactory,
            };
            let factory = ShardedAdapterFactory::new(ShardedAdapterConfig::cluster([redis_url]))?;
            let handle = factory.handle();
            Ok((builder.adapter(factory), handle))
        }
        other => Err(format!(
            "ADAPTER={other}: expected pubsub, streams (feature redis-streams) or sharded (feature redis-cluster)"
        )
        .into()),
    }
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());

    let adapter = std::env::var("ADAPTER").unwrap_or_else(|_| "pubsub".to_owned());
    let (builder, redis) = with_adapter(SocketIo::builder(), &adapter, &redis_url)?;
    let (svc, io) = builder.build_svc();
    setup(&io);

    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    if !redis.ready(std::time::Duration::from_secs(5)).await {
        tracing::warn!(
            error = ?redis.last_error(),
            "Redis is not reachable yet: serving local clients, joining the cluster when it is"
        );
    }
    tracing::info!(
        adapter,
        "cluster example listening on {}",
        listener.local_addr()?
    );
    tower_socketio::serve(listener, svc).await?;
    Ok(())
}
