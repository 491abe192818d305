//! The chat server: the Socket.IO handlers and the axum router that serves the page.
//!
//! Protocol between the page (`static/chat.js`) and this server:
//!
//! | direction | event | payload |
//! | --- | --- | --- |
//! | client → server | CONNECT `auth` | `{ nick, rooms }`: who, and the rooms to be in (re-sent on every reconnect) |
//! | client → server | `join` / `leave` + ack | room name → `{ ok, room, members }` or `{ ok: false, error }` |
//! | client → server | `message` + ack | `{ room, text }` → `{ ok, id, at }` (delivered) or `{ ok: false, error }` |
//! | client → server | `typing` | `{ room, typing }` |
//! | server → client | `welcome` | `{ nick, rooms, suggested }` |
//! | server → client | `message` | `{ id, room, from, text, at }` |
//! | server → client | `typing` | `{ room, nick, typing }` (volatile) |
//! | server → client | `joined` / `left` | `{ room, nick, members }` |
//! | server → client | `online` | how many people are connected |

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::services::ServeDir;
use tower_socketio::extract::{AckSender, Data};
use tower_socketio::{ConnectError, SocketIo, SocketIoBuilder, SocketRef};

/// Rooms the page offers to join.
const SUGGESTED_ROOMS: [&str; 3] = ["general", "random", "rust"];
const MAX_NICK: usize = 20;
const MAX_ROOM: usize = 24;
const MAX_TEXT: usize = 500;
const MAX_ROOMS_PER_USER: usize = 10;

/// The page's directory: `examples/chat/static` of this repository.
pub(crate) fn static_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat/static")
}

/// The app: the page and its files from `static_dir`, with Socket.IO (and its browser client
/// at `/socket.io/socket.io.js`) in front.
#[allow(dead_code)] // the browser test's; the example itself calls `app_with`
pub(crate) fn app(static_dir: impl AsRef<Path>) -> (Router, SocketIo) {
    app_with(static_dir, |builder| builder)
}

/// The app, with more settings on the Socket.IO server (e.g. the Admin UI's).
pub(crate) fn app_with(
    static_dir: impl AsRef<Path>,
    configure: impl FnOnce(SocketIoBuilder) -> SocketIoBuilder,
) -> (Router, SocketIo) {
    let (layer, io) = configure(SocketIo::builder()).build_layer();
    let root = io.ns("/", on_connect);
    root.use_(
        async |Data(auth): Data<Value>| -> Result<(), ConnectError> {
            match clean_nick(auth.get("nick")) {
                Some(_) => Ok(()),
                None => Err(ConnectError::new(format!(
                    "pick a nickname of 1 to {MAX_NICK} characters"
                ))),
            }
        },
    );
    let router = Router::new()
        .fallback_service(ServeDir::new(static_dir))
        .layer(layer);
    (router, io)
}

fn clean_nick(nick: Option<&Value>) -> Option<String> {
    let nick = nick?.as_str()?.trim();
    let ok =
        !nick.is_empty() && nick.chars().count() <= MAX_NICK && !nick.chars().any(char::is_control);
    ok.then(|| nick.to_owned())
}

fn clean_room(room: &str) -> Option<String> {
    let room = room.trim().trim_start_matches('#').to_lowercase();
    let ok = !room.is_empty()
        && room.len() <= MAX_ROOM
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then_some(room)
}

fn nick_of(socket: &SocketRef) -> String {
    socket.data::<String>().unwrap_or_default()
}

/// The chat rooms a socket is in (not its own-id room).
fn chat_rooms(socket: &SocketRef) -> Vec<String> {
    let own = socket.id().to_string();
    socket
        .rooms()
        .into_iter()
        .map(|r| r.into_owned())
        .filter(|r| *r != own)
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The nicknames in a room, leaving out `except` (a socket on its way out).
async fn members(io: &SocketIo, room: &str, except: Option<&SocketRef>) -> Vec<String> {
    let sockets = io
        .in_(room.to_owned())
        .fetch_sockets()
        .await
        .unwrap_or_default();
    let mut nicks: Vec<String> = sockets
        .into_iter()
        .filter(|s| except.is_none_or(|e| e.id() != s.id))
        .filter_map(|s| s.data.as_str().map(str::to_owned))
        .collect();
    nicks.sort();
    nicks
}

/// How many people are connected, leaving out `except`.
fn online(io: &SocketIo, except: Option<&SocketRef>) -> usize {
    io.sockets()
        .sockets()
        .iter()
        .filter(|s| except.is_none_or(|e| e.id() != s.id()))
        .count()
}

async fn on_connect(socket: SocketRef, io: SocketIo, Data(auth): Data<Value>) {
    let nick = clean_nick(auth.get("nick")).unwrap_or_default();
    socket.set_data(&nick).ok();

    // Rooms from `auth`: on a reconnect the page is put back where it was before any
    // message it buffered while offline is handled.
    let wanted: Vec<String> = auth
        .get("rooms")
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(Value::as_str)
                .filter_map(clean_room)
                .collect()
        })
        .unwrap_or_default();
    for room in wanted.into_iter().take(MAX_ROOMS_PER_USER) {
        socket.join(room.clone());
        let members = members(&io, &room, None).await;
        let event = json!({ "room": room, "nick": nick, "members": members });
        socket.to(room).emit("joined", &event).await.ok();
    }
    socket
        .emit(
            "welcome",
            &json!({ "nick": nick, "rooms": chat_rooms(&socket), "suggested": SUGGESTED_ROOMS }),
        )
        .ok();
    io.emit("online", &online(&io, None)).await.ok();

    socket.on("join", on_join);
    socket.on("leave", on_leave);
    socket.on("message", on_message);
    socket.on("typing", on_typing);
    socket.on_disconnecting(on_disconnecting);
    socket.on_disconnect(async |socket: SocketRef, io: SocketIo| {
        io.emit("online", &online(&io, Some(&socket))).await.ok();
    });
}

async fn on_join(socket: SocketRef, io: SocketIo, Data(room): Data<String>, ack: AckSender) {
    let Some(room) = clean_room(&room) else {
        ack.send(
            &json!({ "ok": false, "error": "a room name is 1 to 24 letters, digits, - or _" }),
        )
        .ok();
        return;
    };
    let rooms = chat_rooms(&socket);
    if !rooms.contains(&room) && rooms.len() >= MAX_ROOMS_PER_USER {
        ack.send(&json!({ "ok": false, "error": "you are in too many rooms" }))
            .ok();
        return;
    }
    socket.join(room.clone());
    let members = members(&io, &room, None).await;
    ack.send(&json!({ "ok": true, "room": room, "members": members }))
        .ok();
    let event = json!({ "room": room, "nick": nick_of(&socket), "members": members });
    socket.to(room).emit("joined", &event).await.ok();
}

async fn on_leave(socket: SocketRef, io: SocketIo, Data(room): Data<String>, ack: AckSender) {
    let room = clean_room(&room).unwrap_or_default();
    socket.leave(room.clone());
    ack.send(&json!({ "ok": true, "room": room })).ok();
    let members = members(&io, &room, None).await;
    let event = json!({ "room": room, "nick": nick_of(&socket), "members": members });
    io.to(room).emit("left", &event).await.ok();
}

#[derive(Deserialize)]
struct Message {
    room: String,
    text: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn on_message(socket: SocketRef, Data(msg): Data<Message>, ack: AckSender) {
    let text = msg.text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT {
        ack.send(&json!({ "ok": false, "error": "a message is 1 to 500 characters" }))
            .ok();
        return;
    }
    if !chat_rooms(&socket).contains(&msg.room) {
        ack.send(&json!({ "ok": false, "error": "join the room first" }))
            .ok();
        return;
    }
    let (id, at) = (NEXT_ID.fetch_add(1, Ordering::Relaxed), now_ms());
    let event =
        json!({ "id": id, "room": msg.room, "from": nick_of(&socket), "text": text, "at": at });
    socket.to(msg.room).emit("message", &event).await.ok();
    ack.send(&json!({ "ok": true, "id": id, "at": at })).ok();
}

#[derive(Deserialize)]
struct Typing {
    room: String,
    typing: bool,
}

async fn on_typing(socket: SocketRef, Data(t): Data<Typing>) {
    if chat_rooms(&socket).contains(&t.room) {
        let event = json!({ "room": t.room, "nick": nick_of(&socket), "typing": t.typing });
        // Volatile: a typing hint that cannot go out now is worth nothing later.
        socket
            .to(t.room)
            .volatile()
            .emit("typing", &event)
            .await
            .ok();
    }
}

async fn on_disconnecting(socket: SocketRef, io: SocketIo) {
    let nick = nick_of(&socket);
    for room in chat_rooms(&socket) {
        let members = members(&io, &room, Some(&socket)).await;
        let event = json!({ "room": room, "nick": nick, "members": members });
        socket.to(room).emit("left", &event).await.ok();
    }
}
