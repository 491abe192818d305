//! The peers written in Rust: socketioxide with the bench handlers, a plain
//! tokio-tungstenite echo server (the transport floor of echo and idle), and a bare
//! tokio-tungstenite broadcaster (the floor of a broadcast).

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

/// The floor of a broadcast: a bare tokio-tungstenite server that writes one prebuilt
/// frame to every member's socket, one write each, from the task that read the trigger.
/// No Engine.IO, no queue, no task woken per member, no slow-reader policy (a member
/// that stops reading would stall every broadcast).
///
/// A client's text message with `"join"` in it makes it a member (its socket goes to the
/// room and is not read again); `42["room-broadcast","bench",DATA]` sends
/// `42["room-msg",DATA]` to every member. Anything else is ignored.
pub async fn ws_floor(port: u16) -> std::io::Result<()> {
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    let room: Arc<tokio::sync::Mutex<Vec<TcpStream>>> = Arc::default();
    // A small read buffer, as a lean server would have (tungstenite's default, 128 KiB,
    // is what makes the echo server's idle connections large).
    let config = WebSocketConfig::default().read_buffer_size(1024);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let room = room.clone();
        tokio::spawn(async move {
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                if text.contains("\"join\"") {
                    room.lock().await.push(ws.into_inner());
                    return;
                }
                let Some(data) = text
                    .strip_prefix("42[\"room-broadcast\",\"bench\",")
                    .and_then(|rest| rest.strip_suffix(']'))
                else {
                    continue;
                };
                let payload = format!("42[\"room-msg\",{data}]");
                let frame = server_text_frame(payload.as_bytes());
                let mut members = room.lock().await;
                let mut gone = Vec::new();
                for (i, member) in members.iter_mut().enumerate() {
                    if member.write_all(&frame).await.is_err() {
                        gone.push(i);
                    }
                }
                for i in gone.into_iter().rev() {
                    members.swap_remove(i);
                }
            }
        });
    }
}

/// An unmasked (server) WebSocket text frame.
fn server_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    let len = payload.len();
    if len < 126 {
        f.push(len as u8);
    } else if len <= u16::MAX as usize {
        f.push(126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}
