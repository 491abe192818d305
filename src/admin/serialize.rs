//! Sockets as the Admin UI reads them (`all_sockets`, `socket_connected`): Node's
//! `SerializedSocket`.

use serde_json::{Map, Value, json};

use crate::engine::TransportType;
use crate::socket::{Handshake, RemoteSocket, Socket};

use crate::observe::{ADMIN_DATA_KEY as ADMIN_KEY, client_id};

/// The transport as Node names it.
pub(crate) fn transport_name(t: TransportType) -> &'static str {
    t.as_str()
}

/// The socket's data as the UI shows it: `{}` when none was set.
pub(crate) fn local_data(socket: &Socket) -> Value {
    socket
        .data::<Value>()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| Value::Object(Map::new()))
}

/// A socket of this server.
pub(crate) fn local(socket: &Socket) -> Value {
    let conn = socket.conn();
    let sid = conn.id().to_string();
    let rooms: Vec<String> = socket.rooms().into_iter().map(|r| r.into_owned()).collect();
    json!({
        "id": socket.id().to_string(),
        "clientId": client_id(&sid),
        "transport": transport_name(conn.transport()),
        "nsp": socket.ns(),
        "data": local_data(socket),
        "handshake": handshake(&socket.handshake()),
        "rooms": rooms,
    })
}

/// A socket another server described (a `fetch_sockets` answer): Node's servers, and ours,
/// put its client id and transport in `data._admin`, which the UI does not see as data.
pub(crate) fn remote(socket: &RemoteSocket, nsp: &str) -> Value {
    let mut data = socket.data.clone();
    let admin = match &mut data {
        Value::Object(map) => map.remove(ADMIN_KEY),
        Value::Null => {
            data = Value::Object(Map::new());
            None
        }
        _ => None,
    };
    let field = |name: &str| {
        admin
            .as_ref()
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let rooms: Vec<&str> = socket.rooms.iter().map(|r| r.as_ref()).collect();
    json!({
        "id": socket.id.to_string(),
        "clientId": field("clientId"),
        "transport": field("transport"),
        "nsp": nsp,
        "data": data,
        "handshake": handshake(&socket.handshake),
        "rooms": rooms,
    })
}

/// The handshake fields the UI shows, never `auth` (the clients' credentials).
fn handshake(h: &Handshake) -> Value {
    let address = h
        .headers
        .get("cf-connecting-ip")
        .or_else(|| h.headers.get("x-forwarded-for"))
        .unwrap_or(&h.address);
    json!({
        "address": address,
        "headers": h.headers,
        "query": h.query,
        "issued": h.issued,
        "secure": h.secure,
        "time": h.time,
        "url": h.url,
        "xdomain": h.xdomain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn hs() -> Handshake {
        let mut headers = BTreeMap::new();
        headers.insert("host".to_owned(), "localhost".to_owned());
        headers.insert("x-forwarded-for".to_owned(), "10.0.0.1".to_owned());
        Handshake {
            headers,
            time: "t".into(),
            address: "127.0.0.1".into(),
            xdomain: false,
            secure: false,
            issued: 5,
            url: "/socket.io/?EIO=4".into(),
            query: BTreeMap::new(),
            auth: json!({ "token": "secret" }),
        }
    }

    #[test]
    fn remote_sockets_lose_admin_and_auth() {
        let s = RemoteSocket::new(
            "AAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
            hs(),
            vec!["AAAAAAAAAAAAAAAAAAAA".into(), "room".into()],
            json!({ "nick": "bob", "_admin": { "clientId": "abcdefabcdef", "transport": "websocket" } }),
        );
        let v = remote(&s, "/");
        assert_eq!(v["clientId"], "abcdefabcdef");
        assert_eq!(v["transport"], "websocket");
        assert_eq!(v["data"], json!({ "nick": "bob" }));
        assert_eq!(v["handshake"]["address"], "10.0.0.1");
        assert!(v["handshake"].get("auth").is_none());
        assert_eq!(v["rooms"], json!(["AAAAAAAAAAAAAAAAAAAA", "room"]));

        let bare = RemoteSocket::new(
            "AAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
            hs(),
            vec![],
            Value::Null,
        );
        assert_eq!(remote(&bare, "/")["data"], json!({}));
    }
}
