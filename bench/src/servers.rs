//! The peers written in Rust: socketioxide with the bench handlers, and a plain
//! tokio-tungstenite echo server (the transport floor).

use std::net::SocketAddr;

use axum::serve::ListenerExt as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::{ParserConfig, SocketIo};
use tokio::net::TcpListener;

/// The bench handlers (see `examples/bench_server.rs`) on socketioxide, under axum; its
/// MessagePack parser with `PARSER=msgpack`.
pub async fn socketioxide(port: u16) -> std::io::Result<()> {
    let builder = SocketIo::builder();
    let builder = if std::env::var("PARSER").as_deref() == Ok("msgpack") {
        builder.with_parser(ParserConfig::msgpack())
    } else {
        builder
    };
    let (layer, io) = builder.build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on(
            "message",
            async |socket: SocketRef, Data(data): Data<Value>| {
                socket.emit("message-back", &data).ok();
            },
        );
        socket.on(
            "message-with-ack",
            async |Data(data): Data<Value>, ack: AckSender| {
                ack.send(&data).ok();
            },
        );
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
                socket.within(room).emit("room-msg", &data).await.ok();
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    // As for our server: no Nagle delay on small frames.
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await
}

/// Every WebSocket message comes back as it is: read, send, flush, one at a time.
pub async fn ws_echo(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
