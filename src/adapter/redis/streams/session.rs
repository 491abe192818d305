//! Connection state recovery in Redis, as Node's streams adapter 0.3.1 keeps it: the session
//! of a socket that left under `session_key_prefix<pid>` (the standard base64 of the
//! MessagePack map `{sid, pid, rooms, data}`, `SET ... PX max_disconnection_duration`), taken
//! once with `MULTI GET DEL EXEC`, and the missed broadcasts read back from the stream with
//! `XRANGE` after the client's offset (a stream entry id).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use redis::Value;

use super::Shared;
use super::entries::{Entry, EntryId, range_entries};
use crate::adapter::cluster::message::msgpack_value;
use crate::adapter::redis::wire;
use crate::adapter::{AdapterError, Room};
use crate::engine::Sid;
use crate::msgpack::{self, write};
use crate::protocol::Value as ProtoValue;

/// A session as Redis keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSession {
    pub(crate) sid: Sid,
    pub(crate) pid: Sid,
    pub(crate) rooms: Vec<Room>,
    pub(crate) data: serde_json::Value,
}

impl StoredSession {
    /// The value of the session key: base64 of the MessagePack map `{sid, pid, rooms, data}`
    /// (Node's key order).
    pub(crate) fn encode(&self) -> String {
        let mut out = Vec::with_capacity(96);
        write::map_len(&mut out, 4);
        write::str(&mut out, "sid");
        write::str(&mut out, &self.sid.to_string());
        write::str(&mut out, "pid");
        write::str(&mut out, &self.pid.to_string());
        write::str(&mut out, "rooms");
        write::array_len(&mut out, write::count(self.rooms.len()));
        for r in &self.rooms {
            write::str(&mut out, r);
        }
        write::str(&mut out, "data");
        if msgpack::ser::write_value(&mut out, &self.data).is_err() {
            write::nil(&mut out);
        }
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Reads the value of a session key (Node's or ours).
    pub(crate) fn decode(text: &[u8]) -> Result<Self, String> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("the session is not base64: {e}"))?;
        let v = msgpack_value(&Bytes::from(raw))?;
        let id = |k: &str| -> Result<Sid, String> {
            v.get(k)
                .and_then(ProtoValue::as_str)
                .and_then(|s| s.parse::<Sid>().ok())
                .ok_or_else(|| format!("the session's {k} is not a socket id"))
        };
        Ok(StoredSession {
            sid: id("sid")?,
            pid: id("pid")?,
            rooms: wire::rooms_of(v.get("rooms")),
            data: v
                .get("data")
                .and_then(|d| serde_json::to_value(d).ok())
                .unwrap_or(serde_json::Value::Null),
        })
    }
}

fn backend(what: &str, e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Backend(format!("{what} failed: {e}"))
}

/// How many entries one `XRANGE` of a restore reads (Node reads without a bound).
const RESTORE_PAGE: usize = 500;

/// The most entries a restore reads: past that the stream grows faster than it is read
/// (Node stops after 100 unbounded reads).
const RESTORE_MAX_ENTRIES: usize = 100_000;

impl Shared {
    fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.config.session_key_prefix)
    }

    /// `SET <prefix><pid> <session> PX <ttl>`.
    pub(crate) async fn persist(
        &self,
        session: &StoredSession,
        ttl: Duration,
    ) -> Result<(), AdapterError> {
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let cmd = redis::cmd("SET")
            .arg(self.session_key(&session.pid.to_string()))
            .arg(session.encode())
            .arg("PX")
            .arg(ms)
            .to_owned();
        self.conn
            .query::<Value>(&cmd, self.config.command_timeout)
            .await
            .map(drop)
            .map_err(|e| backend("SET (the session)", e))
    }

    /// Takes the session of `pid` (deleted either way, as in Node) if `offset` is still an
    /// entry of `stream`.
    pub(crate) async fn take_session(
        &self,
        stream: &str,
        pid: &str,
        offset: &str,
    ) -> Result<Option<StoredSession>, AdapterError> {
        let Some(at) = EntryId::parse(offset) else {
            return Ok(None);
        };
        let key = self.session_key(pid);
        let mut getdel = redis::pipe();
        getdel
            .atomic()
            .cmd("GET")
            .arg(&key)
            .cmd("DEL")
            .arg(&key)
            .ignore();
        let exists = redis::cmd("XRANGE")
            .arg(stream)
            .arg(at.to_string())
            .arg(at.to_string())
            .arg("COUNT")
            .arg(1)
            .to_owned();
        let timeout = self.config.command_timeout;
        let mut c = self
            .conn
            .get()
            .await
            .map_err(|e| backend("restoring a session", e))?;
        let mut c2 = c.clone();
        let (session, entry) = tokio::join!(
            tokio::time::timeout(timeout, getdel.query_async::<(Option<Vec<u8>>,)>(&mut c)),
            tokio::time::timeout(timeout, exists.query_async::<Value>(&mut c2)),
        );
        let session = session
            .map_err(|_| backend("GET/DEL (the session)", "timed out"))?
            .map_err(|e| backend("GET/DEL (the session)", e))?
            .0;
        let entry = entry
            .map_err(|_| backend("XRANGE", "timed out"))?
            .map_err(|e| backend("XRANGE", e))?;
        let (Some(session), false) = (session, range_entries(entry).is_empty()) else {
            return Ok(None);
        };
        match StoredSession::decode(&session) {
            Ok(s) if s.pid.to_string() == pid => Ok(Some(s)),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::debug!(error = %e, "redis streams adapter: an unreadable session");
                Ok(None)
            }
        }
    }

    /// The entries of `stream` after `offset` that a socket which just rejoined its rooms
    /// here missed, in order; `None` when `offset` itself is no longer there (trimmed).
    ///
    /// The socket is back in its rooms (held): every entry this server's reader delivers
    /// from now on reaches it live. So the list stops where the reader is (waiting for it
    /// to get at least to `offset`, which the client saw elsewhere): what comes after, the
    /// reader delivers, and nothing is both listed and delivered after the hold (an entry
    /// delivered during it is dropped by the core, by its offset).
    pub(crate) async fn entries_after(
        &self,
        stream: &str,
        offset: &str,
    ) -> Result<Option<Vec<Entry>>, AdapterError> {
        let Some(mut at) = EntryId::parse(offset) else {
            return Ok(None);
        };
        let upto = self
            .readers
            .delivered_up_to(stream, at, self.config.command_timeout)
            .await;
        if upto.is_none() {
            tracing::debug!(
                stream,
                "redis streams adapter: the stream reader is behind the restored offset; replaying to the end"
            );
        }
        let mut out = Vec::new();
        let mut first = true;
        loop {
            // The first read starts at the offset itself, to see that it is still there.
            let from = if first { at } else { at.next() };
            let end = upto.map_or_else(|| "+".to_owned(), |u| u.to_string());
            let cmd = redis::cmd("XRANGE")
                .arg(stream)
                .arg(from.to_string())
                .arg(end)
                .arg("COUNT")
                .arg(RESTORE_PAGE)
                .to_owned();
            let v: Value = self
                .conn
                .query(&cmd, self.config.command_timeout)
                .await
                .map_err(|e| backend("XRANGE", e))?;
            let mut entries = range_entries(v);
            let n = entries.len();
            if first {
                if entries.first().map(|e| e.id) != Some(at) {
                    return Ok(None);
                }
                entries.remove(0);
                first = false;
            }
            if let Some(last) = entries.last() {
                at = last.id;
            }
            out.extend(entries);
            if n < RESTORE_PAGE || out.len() >= RESTORE_MAX_ENTRIES {
                return Ok(Some(out));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_sessions_read_and_ours_round_trip() {
        // Captured from Node (SET sio:session:zJLDRe4eEgmzhJcKAAAB ... PX 10000).
        let node = b"hKNzaWS0aDRRQlMxRnJxdVJ0WFJSc0FBQUGjcGlktHpKTERSZTRlRWdtemhKY0tBQUFCpXJvb21zkrRoNFFCUzFGcnF1UnRYUlJzQUFBQaVyb29tMaRkYXRhgaF1AQ==";
        let s = StoredSession::decode(node).unwrap();
        assert_eq!(s.sid.to_string(), "h4QBS1FrquRtXRRsAAAA");
        assert_eq!(s.pid.to_string(), "zJLDRe4eEgmzhJcKAAAB");
        assert_eq!(
            s.rooms,
            vec![Room::from("h4QBS1FrquRtXRRsAAAA"), Room::from("room1")]
        );
        assert_eq!(s.data, serde_json::json!({"u": 1}));
        assert_eq!(s.encode().as_bytes(), node);
        assert_eq!(StoredSession::decode(s.encode().as_bytes()).unwrap(), s);
        for bad in [&b"!"[..], b"kA==", b"gaNzaWQB"] {
            assert!(StoredSession::decode(bad).is_err(), "{bad:?}");
        }
    }
}
