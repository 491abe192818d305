//! The handshake of a socket, as Node's `socket.handshake` shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Socket;
use crate::protocol::Value;

/// The handshake of a socket, with the fields of Node's `socket.handshake`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The request headers (names in lower case; repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// When the handshake happened, as text.
    pub time: String,
    /// The client's address (empty when unknown).
    pub address: String,
    /// Whether the request was cross-domain (it carried an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection was secure (TLS, as seen through `x-forwarded-proto` too).
    pub secure: bool,
    /// When the handshake happened, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// The request URL (path and query).
    pub url: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The CONNECT payload (`{}` when none), as JSON (what Node's adapters send across
    /// servers too): binary data of a MessagePack client reads as an array of byte values
    /// here; take `Data<T>` in the connect handler for the payload as it came.
    pub auth: serde_json::Value,
}

impl Socket {
    /// The handshake, with Node's fields.
    pub fn handshake(&self) -> Handshake {
        let parts = self.conn.req_parts();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let v = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|e| {
                    e.push_str(", ");
                    e.push_str(&v);
                })
                .or_insert_with(|| v.into_owned());
        }
        let query = parts
            .uri
            .query()
            .map(crate::util::parse_query)
            .unwrap_or_default();
        let issued = self.issued;
        let secure = parts.uri.scheme_str() == Some("https")
            || parts
                .headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        Handshake {
            xdomain: parts.headers.contains_key(http::header::ORIGIN),
            headers,
            time: crate::util::http_date(issued / 1000),
            address: self
                .conn
                .remote_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            secure,
            issued,
            url: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            query,
            auth: self
                .auth
                .as_ref()
                .and_then(|a| a.deserialize_payload::<Value>().ok().flatten())
                .map(serde_json::Value::from)
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        }
    }
}
