//! The server the Socket.IO 2 client tests run against (socket.io-client 2 from Node and in
//! Chromium, python-socketio 4), beside Socket.IO 3+ clients: the conformance settings with
//! Engine.IO 3 on, and the handlers described in tests/js/sio2_client.mjs.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use bytes::Bytes;
use tower_socketio::extract::{AckSender, Data, TryData};
use tower_socketio::protocol::{Args, Value};
use tower_socketio::{ConnectError, DisconnectReason, SocketIo, SocketIoBuilder, SocketRef};

#[path = "../../examples/socketio_conformance.rs"]
#[allow(dead_code)]
mod example;

/// The conformance settings, which serve Engine.IO 3 clients as well, with a ping timeout
/// of 1.5 s instead of 200 ms: a Socket.IO 2 client pings every 300 ms (several heartbeats
/// in a short test), and a busy machine (CI, several test binaries at once) may delay a ping
/// by more than 200 ms.
pub fn builder() -> SocketIoBuilder {
    example::builder().ping_timeout(std::time::Duration::from_millis(1500))
}

/// What every namespace does: emit `auth` with the socket's auth, answer `whoami` and `dm`.
fn common(socket: &SocketRef, auth: Result<serde_json::Value, tower_socketio::DataError>) {
    socket
        .emit("auth", &auth.unwrap_or(serde_json::Value::Null))
        .ok();
    socket.on("whoami", async |socket: SocketRef, ack: AckSender| {
        ack.send(&socket.client_id()).ok();
    });
    // `to` a room named by the client: its own id, as it computes it.
    socket.on(
        "dm",
        async |socket: SocketRef, Data((to, text)): Data<(String, String)>| {
            socket.namespace().to(to).emit("dm", &text).await.ok();
        },
    );
}

/// The handlers of tests/js/sio2_client.mjs on `/`, `/custom`, `/refuse`, `/refusedata`.
pub fn handlers(io: &SocketIo) {
    io.ns(
        "/",
        async |socket: SocketRef, TryData(auth): TryData<serde_json::Value>| {
            common(&socket, auth);
            socket.on("message", async |socket: SocketRef, args: Args| {
                socket.emit("message-back", &args).ok();
            });
            socket.on("message-with-ack", async |args: Args, ack: AckSender| {
                ack.send(&args).ok();
            });
            // The server asks with an ack (binary included) and sends back the reply.
            socket.on("ask", async |socket: SocketRef| {
                let reply = socket
                    .emit_with_ack::<Args>("question", &("q?", Bytes::from_static(&[1, 2])))
                    .await;
                match reply {
                    Ok(args) => socket.emit("answer", &args).ok(),
                    Err(e) => socket.emit("answer", &format!("no reply: {e}")).ok(),
                };
            });
            socket.on(
                "join",
                async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                    socket.join(room.clone());
                    ack.send(&room).ok();
                },
            );
            // `shout(room, a, b, c)`: `bc` with `a, b, c` to the room (the sender included).
            socket.on(
                "shout",
                async |socket: SocketRef,
                       Data((room, a, b, c)): Data<(String, Value, Value, Value)>| {
                    socket.io().to(room).emit("bc", &(a, b, c)).await.ok();
                },
            );
        },
    );
    io.ns(
        "/custom",
        async |socket: SocketRef, TryData(auth): TryData<serde_json::Value>| {
            common(&socket, auth);
            // The `/` socket of the same connection hears of this one's disconnect.
            socket.on_disconnect(async |socket: SocketRef, reason: DisconnectReason| {
                let root = socket.conn().id();
                socket
                    .io()
                    .to(root)
                    .emit("custom-gone", &reason.to_string())
                    .await
                    .ok();
            });
        },
    );
    let refuse = io.ns("/refuse", async |_: SocketRef| {});
    refuse.use_(async || Err::<(), _>("not authorized"));
    let refuse_data = io.ns("/refusedata", async |_: SocketRef| {});
    refuse_data.use_(async || {
        Err::<(), _>(
            ConnectError::new("refused")
                .with_data(&serde_json::json!({"code": 42, "why": "bad token"})),
        )
    });
}

/// The Socket.IO 2 test server on a free loopback port.
pub async fn server() -> (SocketAddr, SocketIo) {
    let (svc, io) = builder().build_svc();
    handlers(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tower_socketio::serve(listener, svc));
    (addr, io)
}
