//! What the UI asks the server to do: `emit`, `join`, `leave` and `_disconnect`, on any
//! sockets of the cluster (through the namespace's adapter, as Node's broadcast operators).
//!
//! Every argument is checked, even from an authenticated UI: a malformed action is ignored
//! and logged at debug level. No action answers.

use crate::SocketIo;
use crate::operators::BroadcastOperators;
use crate::protocol::{Args, Spread, Value};

/// The names of the action events.
pub(crate) const EMIT: &str = "emit";
pub(crate) const JOIN: &str = "join";
pub(crate) const LEAVE: &str = "leave";
pub(crate) const DISCONNECT: &str = "_disconnect";

/// Event names an emit may not use: Node's reserved ones (its broadcast throws on them).
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The longest namespace, room or event name an action may carry.
const MAX_NAME: usize = 1024;

/// A checked action.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    Emit {
        nsp: String,
        filter: Option<String>,
        event: String,
        args: Vec<Value>,
    },
    Join {
        nsp: String,
        rooms: Vec<String>,
        filter: Option<String>,
    },
    Leave {
        nsp: String,
        rooms: Vec<String>,
        filter: Option<String>,
    },
    Disconnect {
        nsp: String,
        close: bool,
        filter: Option<String>,
    },
}

fn name(v: Option<&Value>, what: &str) -> Result<String, String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_NAME => Ok(s.clone()),
        Some(Value::String(s)) if !s.is_empty() => Err(format!("{what} is too long")),
        _ => Err(format!("{what} is not a non-empty string")),
    }
}

/// A filter: absent, null, `false` or `""` mean every socket of the namespace (Node tests
/// truthiness); otherwise a room name (a socket id is a room).
fn filter(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_NAME => Ok(Some(s.clone())),
        _ => Err("the filter is not a room name".into()),
    }
}

/// A room or a list of rooms (Node accepts both).
fn rooms(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= 64 => {
            list.iter().map(|r| name(Some(r), "a room")).collect()
        }
        other => name(other, "the room").map(|r| vec![r]),
    }
}

/// Node tests `close` for truthiness.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Reads the arguments of action `event`.
pub(crate) fn parse(event: &str, args: &Args) -> Result<Action, String> {
    let mut v: Vec<Value> = args
        .deserialize_all()
        .map_err(|e| format!("unreadable arguments: {e}"))?;
    let nsp = name(v.first(), "the namespace")?;
    match event {
        EMIT => {
            let filter = filter(v.get(1))?;
            let event = name(v.get(2), "the event name")?;
            if RESERVED.contains(&event.as_str()) {
                return Err(format!("\"{event}\" is a reserved event name"));
            }
            let args = if v.len() > 3 {
                v.split_off(3)
            } else {
                Vec::new()
            };
            Ok(Action::Emit {
                nsp,
                filter,
                event,
                args,
            })
        }
        JOIN | LEAVE => {
            let rooms = rooms(v.get(1))?;
            let filter = filter(v.get(2))?;
            Ok(if event == JOIN {
                Action::Join { nsp, rooms, filter }
            } else {
                Action::Leave { nsp, rooms, filter }
            })
        }
        DISCONNECT => Ok(Action::Disconnect {
            nsp,
            close: truthy(v.get(1)),
            filter: filter(v.get(2))?,
        }),
        _ => Err(format!("unknown action {event}")),
    }
}

impl Action {
    fn nsp(&self) -> &str {
        match self {
            Action::Emit { nsp, .. }
            | Action::Join { nsp, .. }
            | Action::Leave { nsp, .. }
            | Action::Disconnect { nsp, .. } => nsp,
        }
    }

    fn filter(&self) -> Option<&str> {
        match self {
            Action::Emit { filter, .. }
            | Action::Join { filter, .. }
            | Action::Leave { filter, .. }
            | Action::Disconnect { filter, .. } => filter.as_deref(),
        }
    }

    /// Applies the action through the namespace's adapter (so on every server). A namespace
    /// this server does not have is left alone (not created).
    pub(crate) async fn run(self, io: &SocketIo) {
        let Some(ns) = io.get_ns(self.nsp()) else {
            tracing::debug!(
                nsp = self.nsp(),
                "admin: action on an unknown namespace ignored"
            );
            return;
        };
        let ops: BroadcastOperators = match self.filter() {
            Some(room) => ns.to(room.to_owned()),
            None => BroadcastOperators::from_ns(ns.clone()),
        };
        let result = match self {
            Action::Emit { event, args, .. } => ops
                .emit(&event, &Spread(args))
                .await
                .map_err(|e| e.to_string()),
            Action::Join { rooms, .. } => ops.join(rooms).await.map_err(|e| e.to_string()),
            Action::Leave { rooms, .. } => ops.leave(rooms).await.map_err(|e| e.to_string()),
            Action::Disconnect { close, .. } => {
                ops.disconnect(close).await.map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "admin: an action failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(json: serde_json::Value) -> Args {
        let list: Vec<serde_json::Value> = serde_json::from_value(json).unwrap();
        Args::from_serialize(&Spread(list)).unwrap()
    }

    #[test]
    fn actions_are_read_and_checked() {
        assert_eq!(
            parse(
                EMIT,
                &args(serde_json::json!(["/", "sid", "hello", "a", 1]))
            ),
            Ok(Action::Emit {
                nsp: "/".into(),
                filter: Some("sid".into()),
                event: "hello".into(),
                args: vec![Value::String("a".into()), Value::Number(1.into())],
            })
        );
        assert_eq!(
            parse(EMIT, &args(serde_json::json!(["/", null, "hello"]))),
            Ok(Action::Emit {
                nsp: "/".into(),
                filter: None,
                event: "hello".into(),
                args: vec![],
            })
        );
        assert_eq!(
            parse(JOIN, &args(serde_json::json!(["/chat", ["a", "b"], "sid"]))),
            Ok(Action::Join {
                nsp: "/chat".into(),
                rooms: vec!["a".into(), "b".into()],
                filter: Some("sid".into()),
            })
        );
        assert_eq!(
            parse(LEAVE, &args(serde_json::json!(["/", "room"]))),
            Ok(Action::Leave {
                nsp: "/".into(),
                rooms: vec!["room".into()],
                filter: None,
            })
        );
        assert_eq!(
            parse(DISCONNECT, &args(serde_json::json!(["/", true, "sid"]))),
            Ok(Action::Disconnect {
                nsp: "/".into(),
                close: true,
                filter: Some("sid".into()),
            })
        );
        assert_eq!(
            parse(DISCONNECT, &args(serde_json::json!(["/", 0]))),
            Ok(Action::Disconnect {
                nsp: "/".into(),
                close: false,
                filter: None,
            })
        );
        for (event, bad) in [
            (EMIT, serde_json::json!([])),
            (EMIT, serde_json::json!([1, "sid", "hello"])),
            (EMIT, serde_json::json!(["/", "sid"])),
            (EMIT, serde_json::json!(["/", "sid", "disconnect"])),
            (EMIT, serde_json::json!(["/", {"a": 1}, "hello"])),
            (EMIT, serde_json::json!(["/", "sid", "x".repeat(2000)])),
            (JOIN, serde_json::json!(["/"])),
            (JOIN, serde_json::json!(["/", []])),
            (JOIN, serde_json::json!(["/", [1]])),
            (LEAVE, serde_json::json!(["/", ""])),
            (DISCONNECT, serde_json::json!([""])),
            ("other", serde_json::json!(["/"])),
        ] {
            assert!(parse(event, &args(bad.clone())).is_err(), "{event} {bad}");
        }
    }
}
