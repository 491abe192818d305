//! Socket.IO 2 clients (Socket.IO protocol 4 over Engine.IO 3) served beside today's: the
//! official socket.io-client 2 (Node) and python-socketio 4 against the server of
//! `sio2_support`, on every transport; and the protocol's bytes as Node's server writes them.

mod common;
mod engine_support;
mod sio2_support;

use std::time::Duration;

use bytes::Bytes;
use common::{Peer, require_peer};
use engine_support::{Reply, http};
use http::Method;

#[tokio::test]
async fn socket_io_client_2_on_every_transport() {
    if require_peer(Peer::NodeModules).is_none() {
        return;
    }
    let (addr, _io) = sio2_support::server().await;
    let url = format!("http://{addr}");
    for (mode, heartbeats) in [("polling", "0"), ("websocket", "0"), ("upgrade", "4")] {
        common::node_driver_ok("sio2_client.mjs", &[&url, mode, "--heartbeats", heartbeats]).await;
    }
}

#[tokio::test]
async fn python_socketio_4_on_every_transport() {
    if require_peer(Peer::PythonSio4).is_none() {
        return;
    }
    let (addr, _io) = sio2_support::server().await;
    let url = format!("http://{addr}");
    for transports in ["polling", "websocket", "polling,websocket"] {
        common::python_sio4_driver_ok("sio4_client.py", &[&url, "--transports", transports]).await;
    }
}

// ---- the bytes, over polling (a text payload per answer) ----

struct Polling {
    addr: std::net::SocketAddr,
    sid: String,
}

impl Polling {
    async fn open(addr: std::net::SocketAddr) -> (Polling, String) {
        let r = get(addr, "EIO=3&transport=polling&b64=1").await;
        let body = r.text();
        let (_, open) = body.split_once(':').unwrap();
        let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
        let sid = v["sid"].as_str().unwrap().to_owned();
        (Polling { addr, sid }, body)
    }

    fn query(&self) -> String {
        format!("EIO=3&transport=polling&sid={}", self.sid)
    }

    /// The packets of the next GET, without their lengths.
    async fn poll(&self) -> Vec<String> {
        let body = get(self.addr, &self.query()).await.text();
        split(&body)
    }

    async fn send(&self, packets: &[&str]) {
        let mut body = String::new();
        for p in packets {
            body.push_str(&format!("{}:{p}", p.encode_utf16().count()));
        }
        let r = http(
            self.addr,
            Method::POST,
            &format!("/socket.io/?{}", self.query()),
            &[],
            Bytes::from(body),
        )
        .await;
        assert_eq!(r.text(), "ok");
    }

    /// Waits until the server has closed the connection: the next GET carries the close
    /// packet, or the session is gone.
    async fn expect_closed(&self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = get(self.addr, &self.query()).await;
        assert!(
            r.status == http::StatusCode::BAD_REQUEST || r.text().contains("1:1"),
            "{} {}",
            r.status,
            r.text()
        );
    }

    /// Polls until `n` packets came (pongs and noops left out).
    async fn take(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(
                self.poll()
                    .await
                    .into_iter()
                    .filter(|p| p != "3" && p != "6"),
            );
        }
        out
    }
}

async fn get(addr: std::net::SocketAddr, query: &str) -> Reply {
    http(
        addr,
        Method::GET,
        &format!("/socket.io/?{query}"),
        &[],
        Bytes::new(),
    )
    .await
}

/// The packets of a text payload.
fn split(mut body: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((len, rest)) = body.split_once(':') {
        let units: usize = len.parse().unwrap();
        let mut end = 0;
        let mut counted = 0;
        for (i, c) in rest.char_indices() {
            if counted == units {
                break;
            }
            counted += c.len_utf16();
            end = i + c.len_utf8();
        }
        out.push(rest[..end].to_owned());
        body = &rest[end..];
    }
    out
}

#[tokio::test]
async fn protocol_4_bytes_as_node_writes_them() {
    let (addr, _io) = sio2_support::server().await;
    let (c, handshake) = Polling::open(addr).await;
    // The handshake answer holds the open packet alone; `/` is joined at once.
    assert_eq!(split(&handshake).len(), 1);
    assert_eq!(c.take(2).await, ["40", r#"42["auth",{}]"#]);

    // A namespace with a query: the query is its auth; the reply has no payload.
    c.send(&["40/custom?token=abc&x=1,"]).await;
    assert_eq!(
        c.take(2).await,
        [
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc","x":"1"}]"#
        ]
    );
    // Ids: the engine id on `/`, `/custom#<it>` elsewhere.
    c.send(&["421[\"whoami\"]", "42/custom,2[\"whoami\"]"])
        .await;
    let ids = c.take(2).await;
    assert_eq!(ids[0], format!("431[\"{}\"]", c.sid));
    assert_eq!(ids[1], format!("43/custom,2[\"/custom#{}\"]", c.sid));

    // Refusals: the message as a JSON string, or the error's data.
    c.send(&["40/refuse,"]).await;
    assert_eq!(c.take(1).await, [r#"44/refuse,"not authorized""#]);
    c.send(&["40/refusedata"]).await;
    assert_eq!(
        c.take(1).await,
        [r#"44/refusedata,{"code":42,"why":"bad token"}"#]
    );

    // Events, acks and binary as in protocol 5.
    c.send(&[r#"42["message","hi",{"a":[1]}]"#]).await;
    assert_eq!(c.take(1).await, [r#"42["message-back","hi",{"a":[1]}]"#]);
    c.send(&[r#"427["message-with-ack",1,"2",{"3":[false]}]"#])
        .await;
    assert_eq!(c.take(1).await, [r#"437[1,"2",{"3":[false]}]"#]);
    c.send(&[r#"451-["message",{"_placeholder":true,"num":0}]"#, "b4AQID"])
        .await;
    assert_eq!(
        c.take(2).await,
        [
            r#"451-["message-back",{"_placeholder":true,"num":0}]"#,
            "b4AQID"
        ]
    );
    c.send(&[
        r#"451-8["message-with-ack",{"_placeholder":true,"num":0}]"#,
        "b4AQID",
    ])
    .await;
    assert_eq!(
        c.take(2).await,
        [r#"461-8[{"_placeholder":true,"num":0}]"#, "b4AQID"]
    );

    // Leaving one namespace leaves the connection up.
    c.send(&["41/custom,"]).await;
    assert_eq!(
        c.take(1).await,
        ["42[\"custom-gone\",\"client namespace disconnect\"]"]
    );
    c.send(&["429[\"whoami\"]"]).await;
    assert_eq!(c.take(1).await, [format!("439[\"{}\"]", c.sid)]);

    // A packet for a namespace not joined (any more) closes the connection.
    c.send(&["42/custom,[\"whoami\"]"]).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn a_second_connect_to_root_closes_the_connection() {
    // The client never sends CONNECT for `/`: it is joined already.
    let (addr, _io) = sio2_support::server().await;
    let (c, _) = Polling::open(addr).await;
    c.take(2).await;
    c.send(&["40"]).await;
    c.expect_closed().await;
}
