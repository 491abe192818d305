//! Sockets and handshakes as other servers (Rust or Node) describe them.

use serde_json::Value;

use crate::adapter::Room;
use crate::{Handshake, RemoteSocket};

/// Text of a JSON value for handshake maps: strings as they are, lists joined with `, `
/// (Node keeps repeated headers and query keys as arrays).
fn text_map(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    let Some(Value::Object(m)) = v else {
        return Default::default();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => return None,
                Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some((k.clone(), text))
        })
        .collect()
}

fn str_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Reads a handshake as Node or this crate sends it, without failing on extra or odd fields.
pub(crate) fn handshake_of(v: Option<&Value>) -> Handshake {
    let get = |k: &str| v.and_then(|v| v.get(k));
    Handshake {
        headers: text_map(get("headers")),
        time: str_of(get("time")),
        address: str_of(get("address")),
        xdomain: get("xdomain").and_then(Value::as_bool).unwrap_or(false),
        secure: get("secure").and_then(Value::as_bool).unwrap_or(false),
        issued: get("issued")
            .and_then(|i| i.as_u64().or_else(|| i.as_f64().map(|f| f.max(0.0) as u64)))
            .unwrap_or(0),
        url: str_of(get("url")),
        query: text_map(get("query")),
        auth: get("auth")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default())),
    }
}

/// Reads one socket of a fetch response.
pub(crate) fn remote_socket_of(v: &Value) -> Option<RemoteSocket> {
    let id = v.get("id")?.as_str()?;
    let rooms = v
        .get("rooms")
        .and_then(Value::as_array)
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| match r {
                    Value::String(s) => Some(Room::Owned(s.clone())),
                    Value::Number(n) => Some(Room::Owned(n.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    // A Socket.IO 2 client's socket outside `/` is `<nsp>#<id>` (Node's servers write it so).
    match RemoteSocket::from_client_id(
        id,
        handshake_of(v.get("handshake")),
        rooms,
        v.get("data").cloned().unwrap_or(Value::Null),
    ) {
        Ok(socket) => Some(socket),
        Err(_) => {
            tracing::warn!(
                id,
                "redis adapter: a remote socket id is not a 20-character id; left out"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn node_handshakes_are_read_leniently() {
        let v = json!({
            "headers": {"host": "x", "set-cookie": ["a=1", "b=2"], "n": 5},
            "time": "Tue",
            "address": "::1",
            "xdomain": true,
            "secure": false,
            "issued": 1_700_000_000_000.0_f64,
            "url": "/socket.io/?EIO=4",
            "query": {"EIO": "4", "k": ["1", "2"]},
            "auth": {"token": "t"},
            "extra": "ignored",
        });
        let h = handshake_of(Some(&v));
        assert_eq!(h.headers["set-cookie"], "a=1, b=2");
        assert_eq!(h.headers["n"], "5");
        assert_eq!(h.query["k"], "1, 2");
        assert_eq!(h.issued, 1_700_000_000_000);
        assert!(h.xdomain);
        assert_eq!(h.auth, json!({"token": "t"}));
        let empty = handshake_of(None);
        assert_eq!(empty.auth, json!({}));
        assert!(empty.headers.is_empty());
    }

    #[test]
    fn remote_sockets_need_a_valid_id() {
        let ok = json!({"id": "AAAAAAAAAAAAAAAAAAAA", "rooms": ["AAAAAAAAAAAAAAAAAAAA", 7], "data": {"a": 1}});
        let s = remote_socket_of(&ok).unwrap();
        assert_eq!(
            s.rooms,
            vec![Room::from("AAAAAAAAAAAAAAAAAAAA"), Room::from("7")]
        );
        assert_eq!(s.data, json!({"a": 1}));
        assert!(remote_socket_of(&json!({"id": "short"})).is_none());
        // A Socket.IO 2 client's socket on a Node server.
        let v2 = remote_socket_of(&json!({"id": "/custom#AAAAAAAAAAAAAAAAAAAA"})).unwrap();
        assert_eq!(v2.id.as_str(), "AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(v2.client_id(), "/custom#AAAAAAAAAAAAAAAAAAAA");
        assert!(remote_socket_of(&json!({"id": "/custom#short"})).is_none());
        assert!(remote_socket_of(&json!({"rooms": []})).is_none());
        assert!(remote_socket_of(&json!([1, 2])).is_none());
    }
}
