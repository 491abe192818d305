use tower_socketio::{DisconnectReason, SocketIo, SocketRef};

fn main() {
    let (_layer, io) = SocketIo::new_layer();
    // `DisconnectReason` is only for disconnect handlers.
    io.ns("/", async |socket: SocketRef, reason: DisconnectReason| {
        let _ = (socket, reason);
    });
}
