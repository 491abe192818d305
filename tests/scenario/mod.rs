//! The Rust scenario server: the behaviour of `tests/js/scenarios/SPEC.md`, written with the
//! crate's public API. The official clients' suites run against it (tests/socketio_api.rs).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tower_socketio::extract::{AckSender, Data, Event, State};
use tower_socketio::protocol::{Args, Spread, Value as Any};
use tower_socketio::{AckError, ConnectError, DisconnectReason, NsPattern, SocketIo, SocketRef};

const ASK_TIMEOUT: Duration = Duration::from_millis(1000);
const RECORD_TTL: Duration = Duration::from_secs(60);

/// Records that forget entries older than a minute.
#[derive(Default)]
pub struct Records(Mutex<HashMap<String, (Instant, Value)>>);

impl Records {
    fn set(&self, key: String, value: Value) {
        let mut m = self.0.lock().unwrap();
        m.retain(|_, (at, _)| at.elapsed() < RECORD_TTL);
        m.insert(key, (Instant::now(), value));
    }
    fn get(&self, key: &str) -> Value {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }
}

/// State shared by every socket of `/`.
#[derive(Default)]
pub struct Shared {
    reasons: Records,
    outcomes: Records,
}

#[derive(Clone, Default)]
struct PerSocket {
    seen: Arc<Mutex<Vec<String>>>,
    seen_out: Arc<Mutex<Vec<String>>>,
    rooms_at_disconnecting: Arc<Mutex<Vec<String>>>,
}

/// A room name or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Rooms {
    One(String),
    Many(Vec<String>),
}

impl Rooms {
    fn list(self) -> Vec<String> {
        match self {
            Rooms::One(r) => vec![r],
            Rooms::Many(v) => v,
        }
    }
}

fn sorted_rooms(socket: &SocketRef) -> Vec<String> {
    let mut r: Vec<String> = socket.rooms().into_iter().map(|r| r.into_owned()).collect();
    r.sort();
    r
}

fn common_listeners(socket: &SocketRef) {
    socket.on(
        "echo",
        async |socket: SocketRef, args: Args, ack: AckSender| {
            socket.emit("echo-back", &args).ok();
            ack.send(&args).ok();
        },
    );
    socket.on("conn", async |socket: SocketRef, ack: AckSender| {
        let conn = socket.conn();
        ack.send(&json!({ "id": conn.id(), "transport": conn.transport().as_str() }))
            .ok();
    });
}

fn auth_of(socket: &SocketRef) -> Value {
    socket.handshake().auth
}

/// Registers every namespace of the spec on `io`.
pub fn setup(io: &SocketIo) {
    // The first middleware as Node's `io.use`, the second on the namespace, in that order.
    io.use_(
        async |Data(auth): Data<Value>| -> Result<(), ConnectError> {
            if auth["token"] == "bad" {
                return Err(ConnectError::new("unauthorized").with_data(&json!({ "code": 401 })));
            }
            Ok(())
        },
    );
    io.ns("/", on_root_connection).use_(
        async |Data(auth): Data<Value>| -> Result<(), &'static str> {
            if auth["token"] == "bad" || auth["token"] == "late" {
                return Err("late refusal");
            }
            Ok(())
        },
    );

    io.ns(
        "/custom",
        async |socket: SocketRef, Data(auth): Data<Value>| {
            common_listeners(&socket);
            socket.emit("auth", &auth).ok();
        },
    );

    io.dyn_ns(
        NsPattern::predicate(|name| {
            name.strip_prefix("/dyn-")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        }),
        async |socket: SocketRef| {
            common_listeners(&socket);
            socket.emit("dyn", &json!({ "ns": socket.ns() })).ok();
        },
    );
}

async fn on_root_connection(socket: SocketRef, Data(auth): Data<Value>) {
    let per = PerSocket::default();
    socket.insert_extension(per.clone());
    socket
        .set_data(&json!({ "nick": auth.get("nick").cloned().unwrap_or(Value::Null) }))
        .ok();

    socket.on_any(async |socket: SocketRef, Event(event): Event, args: Args| {
        let per: PerSocket = socket.extension().unwrap();
        per.seen.lock().unwrap().push(event.clone());
        if event.starts_with("any:") {
            let mut list: Vec<tower_socketio::protocol::Value> =
                args.deserialize_all().unwrap_or_default();
            list.insert(0, tower_socketio::protocol::Value::String(event));
            socket.emit("any-got", &Spread(list)).ok();
        }
    });
    let seen_out = per.seen_out.clone();
    socket.on_any_outgoing(move |event, _args| {
        seen_out.lock().unwrap().push(event.to_owned());
    });

    socket.use_(|_socket, event| {
        if event.event == "forbidden" {
            return Err("forbidden event".to_owned());
        }
        if event.event == "rewrite" {
            event.set_args(&("rewritten",)).map_err(|e| e.to_string())?;
        }
        Ok(())
    });

    socket.on_disconnecting(async |socket: SocketRef| {
        let per: PerSocket = socket.extension().unwrap();
        *per.rooms_at_disconnecting.lock().unwrap() = sorted_rooms(&socket);
    });
    socket.on_disconnect(
        async |socket: SocketRef, reason: DisconnectReason, State(shared): State<Arc<Shared>>| {
            let per: PerSocket = socket.extension().unwrap();
            let rooms = per.rooms_at_disconnecting.lock().unwrap().clone();
            shared.reasons.set(
                socket.id().to_string(),
                json!({ "reason": reason.as_str(), "rooms": rooms }),
            );
        },
    );

    common_listeners(&socket);
    socket.on(
        "message",
        async |socket: SocketRef, args: Args, ack: AckSender| {
            socket.send(&args).ok();
            ack.send(&args).ok();
        },
    );
    socket.on(
        "join",
        async |socket: SocketRef, Data(rooms): Data<Rooms>, ack: AckSender| {
            socket.join(rooms.list());
            ack.send(&sorted_rooms(&socket)).ok();
        },
    );
    socket.on(
        "leave",
        async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
            socket.leave(room);
            ack.send(&sorted_rooms(&socket)).ok();
        },
    );
    socket.on(
        "to-room",
        async |socket: SocketRef, Data((rooms, data)): Data<(Rooms, Any)>, ack: AckSender| {
            socket.to(rooms.list()).emit("room-msg", &data).await.ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "in-room",
        async |io: SocketIo, Data((rooms, data)): Data<(Rooms, Any)>, ack: AckSender| {
            io.in_(rooms.list()).emit("room-msg", &data).await.ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "except",
        async |io: SocketIo, Data((rooms, data)): Data<(Rooms, Any)>, ack: AckSender| {
            io.except(rooms.list()).emit("except-msg", &data).await.ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "broadcast",
        async |socket: SocketRef, Data(data): Data<Any>, ack: AckSender| {
            socket.broadcast().emit("broadcast", &data).await.ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "to-all",
        async |io: SocketIo, Data(data): Data<Any>, ack: AckSender| {
            io.emit("all-msg", &data).await.ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "ask",
        async |socket: SocketRef, Data(data): Data<Any>, ack: AckSender| {
            let replies: Vec<Result<Args, AckError>> = socket
                .timeout(ASK_TIMEOUT)
                .emit_with_ack("question", &data)
                .await
                .await;
            // Built from `Any` values, not `json!`, so binary in the reply stays binary.
            let mut answer = std::collections::BTreeMap::new();
            match replies.into_iter().next() {
                Some(Ok(args)) => {
                    let reply: Vec<Any> = args.deserialize_all().unwrap_or_default();
                    answer.insert("reply", Any::Array(reply));
                }
                _ => {
                    answer.insert("error", Any::String("timeout".into()));
                }
            }
            ack.send(&answer).ok();
        },
    );
    socket.on(
        "ask-room",
        async |io: SocketIo, Data(rooms): Data<Rooms>, ack: AckSender| {
            let replies: Vec<Result<String, AckError>> = io
                .to(rooms.list())
                .timeout(ASK_TIMEOUT)
                .emit_with_ack("question", &"all")
                .await
                .await;
            let timed_out = replies.iter().any(Result::is_err);
            let mut ok: Vec<String> = replies.into_iter().filter_map(Result::ok).collect();
            ok.sort();
            ack.send(&json!({ "replies": ok, "timedOut": timed_out }))
                .ok();
        },
    );
    socket.on(
        "volatile",
        async |socket: SocketRef, Data(n): Data<Value>, ack: AckSender| {
            let count = n.as_i64().unwrap_or(0).clamp(0, 1000);
            for i in 0..count {
                socket.volatile().emit("vol", &i).await.ok();
            }
            socket.emit("vol-done", &count).ok();
            ack.send(&true).ok();
        },
    );
    socket.on(
        "fetch",
        async |io: SocketIo, Data(rooms): Data<Option<Rooms>>, ack: AckSender| {
            let found = match rooms {
                Some(r) => io.in_(r.list()).fetch_sockets().await,
                None => io.fetch_sockets().await,
            };
            let mut list: Vec<Value> = found
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let mut rooms: Vec<String> = s.rooms.iter().map(|r| r.to_string()).collect();
                    rooms.sort();
                    json!({ "id": s.id, "rooms": rooms, "data": s.data, "auth": s.handshake.auth })
                })
                .collect();
            list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
            ack.send(&list).ok();
        },
    );
    socket.on("nulls", async |socket: SocketRef, ack: AckSender| {
        // Each is one `null` argument: a JSON null and an absent option.
        socket.emit("nulls-back", &Value::Null).ok();
        socket.emit("nulls-back", &None::<Any>).ok();
        ack.send(&Any::Null).ok();
    });
    socket.on(
        "has-socket",
        async |io: SocketIo, Data(sid): Data<String>, ack: AckSender| {
            let has = sid
                .parse()
                .ok()
                .and_then(|sid| io.sockets().get_socket(sid))
                .is_some();
            ack.send(&has).ok();
        },
    );
    socket.on(
        "emit-reserved",
        async |socket: SocketRef, io: SocketIo, Data(name): Data<String>, ack: AckSender| {
            let by_socket = socket.emit(&name, &"x").is_err();
            let by_broadcast = io.in_(socket.id()).emit(&name, &"x").await.is_err();
            ack.send(&json!({ "socket": by_socket, "broadcast": by_broadcast }))
                .ok();
        },
    );
    socket.on("handshake", async |socket: SocketRef, ack: AckSender| {
        let hs = socket.handshake();
        ack.send(&json!({
            "query": hs.query,
            "auth": hs.auth,
            "url": hs.url,
            "issued": hs.issued,
            "time": hs.time,
            "address": hs.address,
            "secure": hs.secure,
            "xdomain": hs.xdomain,
            "headers": { "x-test": hs.headers.get("x-test") },
        }))
        .ok();
    });
    socket.once("once-ev", async |socket: SocketRef| {
        socket.emit("once-got", &()).ok();
    });
    socket.on("offable", async |socket: SocketRef| {
        socket.emit("offable-got", &()).ok();
    });
    socket.on(
        "off",
        async |socket: SocketRef, Data(name): Data<String>, ack: AckSender| {
            let had = socket.event_names().contains(&name);
            socket.off(&name);
            let has = socket.event_names().contains(&name);
            ack.send(&json!({ "had": had, "has": has })).ok();
        },
    );
    socket.on("forbidden", async |socket: SocketRef| {
        socket.emit("forbidden-got", &()).ok();
    });
    socket.on("rewrite", async |socket: SocketRef, args: Args| {
        socket.emit("rewrite-got", &args).ok();
    });
    socket.on("seen", async |socket: SocketRef, ack: AckSender| {
        let per: PerSocket = socket.extension().unwrap();
        let seen: Vec<String> = per
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| *e != "seen")
            .cloned()
            .collect();
        ack.send(&seen).ok();
    });
    socket.on("seen-out", async |socket: SocketRef, ack: AckSender| {
        let per: PerSocket = socket.extension().unwrap();
        let out = per.seen_out.lock().unwrap().clone();
        ack.send(&out).ok();
    });
    socket.on(
        "disconnect-me",
        async |socket: SocketRef, Data(close): Data<Value>| {
            socket.disconnect_with(close == Value::Bool(true));
        },
    );
    socket.on(
        "last-reason",
        async |Data(sid): Data<String>, ack: AckSender, State(shared): State<Arc<Shared>>| {
            ack.send(&(shared.reasons.get(&sid),)).ok();
        },
    );
    socket.on(
        "ask-then-leave",
        async |socket: SocketRef, ack: AckSender, State(shared): State<Arc<Shared>>| {
            let sid = socket.id().to_string();
            let wait = socket
                .timeout(ASK_TIMEOUT)
                .emit_with_ack::<Args>("question", &"leave");
            ack.send(&true).ok();
            let replies = wait.await.await;
            let outcome = match replies.into_iter().next() {
                Some(Ok(args)) => {
                    let reply: Vec<tower_socketio::protocol::Value> =
                        args.deserialize_all().unwrap_or_default();
                    json!({ "reply": reply })
                }
                Some(Err(AckError::Disconnected)) => json!({ "error": "disconnected" }),
                _ => json!({ "error": "timeout" }),
            };
            shared.outcomes.set(sid, outcome);
        },
    );
    socket.on(
        "ack-outcome",
        async |Data(sid): Data<String>, ack: AckSender, State(shared): State<Arc<Shared>>| {
            ack.send(&(shared.outcomes.get(&sid),)).ok();
        },
    );

    socket
        .emit(
            "welcome",
            &json!({ "id": socket.id(), "auth": auth_of(&socket) }),
        )
        .ok();
}
