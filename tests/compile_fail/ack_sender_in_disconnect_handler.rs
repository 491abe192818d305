use tower_socketio::extract::AckSender;
use tower_socketio::{SocketIo, SocketRef};

fn main() {
    let (_layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        // `AckSender` is only for event handlers.
        socket.on_disconnect(async |ack: AckSender| {
            let _ = ack;
        });
    });
}
