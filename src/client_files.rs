//! The official browser client, served under the Socket.IO path as Node's `serveClient` does.
//!
//! With the default path, a page loads it with `<script src="/socket.io/socket.io.js">` and
//! then calls `io()`. The files are those of the npm package `socket.io-client`
//! ([`CLIENT_VERSION`]), embedded at build time by the crate's build script, byte for byte,
//! with a gzip and a brotli copy of each made once at build time:
//!
//! | file | `Content-Type` |
//! | --- | --- |
//! | `socket.io.js`, `socket.io.min.js` | `application/javascript; charset=utf-8` |
//! | `socket.io.esm.min.js` (an ES module) | `application/javascript; charset=utf-8` |
//! | `socket.io.msgpack.min.js` (MessagePack parser) | `application/javascript; charset=utf-8` |
//! | each of the above + `.map` | `application/json; charset=utf-8` |
//!
//! Answers carry `ETag: "<client version>"` (a matching `If-None-Match` gets `304 Not
//! Modified`), `Cache-Control: public, max-age=0`, `Vary: Accept-Encoding`, and the brotli or
//! gzip copy when the request's `Accept-Encoding` takes it. Only `GET` and `HEAD` are
//! answered; any other method goes on to the engine, as every other request does.
//!
//! Serving is on by default; [`SocketIoBuilder::serve_client(false)`] turns it off, and
//! these URLs then reach the wrapped service (or 404 standalone).
//!
//! The bundle is never committed to the repository: the build script gets it with
//! `npm pack socket.io-client@<version>`, or from a tarball or unpacked package named by
//! the `TOWER_SOCKETIO_CLIENT_BUNDLE` environment variable, and checks it against the
//! package's published sha512 integrity. A build without it (no npm, offline, docs.rs)
//! still succeeds: [`is_embedded`] is then false, the client URLs answer 404 and the server
//! logs why once when it is built.
//!
//! ```
//! use tower_socketio::client_files;
//!
//! assert_eq!(client_files::CLIENT_VERSION, "4.8.4");
//! assert!(client_files::FILE_NAMES.contains(&"socket.io.min.js"));
//! if client_files::is_embedded() {
//!     let js = client_files::get("socket.io.min.js").unwrap();
//!     assert!(js.starts_with(b"/*!"));
//! }
//! ```
//!
//! [`SocketIoBuilder::serve_client(false)`]: crate::SocketIoBuilder::serve_client

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

/// The version of the npm package `socket.io-client` whose files this build serves; the
/// `ETag` of every answer is this version in quotes.
pub const CLIENT_VERSION: &str = env!("TSIO_CLIENT_VERSION");

/// The names of the files served under the path (`/socket.io/<name>` by default).
pub const FILE_NAMES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

#[cfg_attr(tsio_no_client_bundle, allow(dead_code))]
const JS: &str = "application/javascript; charset=utf-8";
#[cfg_attr(tsio_no_client_bundle, allow(dead_code))]
const JSON: &str = "application/json; charset=utf-8";
const CACHE: &str = "public, max-age=0";

/// One embedded file and its compressed copies.
struct ClientFile {
    name: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
    gzip: &'static [u8],
    br: &'static [u8],
}

#[cfg(not(tsio_no_client_bundle))]
macro_rules! client_file {
    ($name:literal, $content_type:expr) => {
        ClientFile {
            name: $name,
            content_type: $content_type,
            raw: include_bytes!(concat!(env!("OUT_DIR"), "/socket.io-client/", $name)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/socket.io-client/", $name, ".gz")),
            br: include_bytes!(concat!(env!("OUT_DIR"), "/socket.io-client/", $name, ".br")),
        }
    };
}

#[cfg(not(tsio_no_client_bundle))]
static FILES: &[ClientFile] = &[
    client_file!("socket.io.js", JS),
    client_file!("socket.io.js.map", JSON),
    client_file!("socket.io.min.js", JS),
    client_file!("socket.io.min.js.map", JSON),
    client_file!("socket.io.esm.min.js", JS),
    client_file!("socket.io.esm.min.js.map", JSON),
    client_file!("socket.io.msgpack.min.js", JS),
    client_file!("socket.io.msgpack.min.js.map", JSON),
];

#[cfg(tsio_no_client_bundle)]
static FILES: &[ClientFile] = &[];

/// Why the bundle is missing, as the build script found it.
#[cfg(tsio_no_client_bundle)]
const MISSING: &str = env!("TSIO_CLIENT_MISSING");

/// Whether this build embeds the client files. When false, the client URLs answer 404.
pub fn is_embedded() -> bool {
    !FILES.is_empty()
}

/// The bytes of an embedded file, by name (one of [`FILE_NAMES`]), as published in the
/// npm package; `None` for another name or when the build has no bundle.
pub fn get(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|f| f.name == name).map(|f| f.raw)
}

/// Logs, once per server built with `serve_client` on, that the bundle is missing.
pub(crate) fn warn_if_missing(path: &str) {
    #[cfg(tsio_no_client_bundle)]
    tracing::warn!(
        "serve_client is on but this build of tower-socketio has no browser client \
         ({MISSING}); {path}/socket.io.js and the other client files will answer 404. \
         Rebuild with npm on PATH, or with TOWER_SOCKETIO_CLIENT_BUNDLE set to a \
         socket.io-client-{CLIENT_VERSION}.tgz, or turn serve_client off"
    );
    #[cfg(not(tsio_no_client_bundle))]
    let _ = path;
}

/// The file a request path names: `<base>/<one of FILE_NAMES>`, with `base` the server's
/// path without its trailing slash (empty for the root).
pub(crate) fn match_path(base: &str, path: &str) -> Option<&'static str> {
    let name = path.strip_prefix(base)?.strip_prefix('/')?;
    FILE_NAMES.iter().copied().find(|n| *n == name)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Br,
}

/// The answer to a `GET` or `HEAD` for the file `name` (from [`match_path`]).
pub(crate) fn respond(name: &str, method: &Method, headers: &HeaderMap) -> Response<Bytes> {
    let Some(file) = FILES.iter().find(|f| f.name == name) else {
        let mut response = Response::new(Bytes::from_static(
            b"this server was built without the Socket.IO browser client\n",
        ));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    };
    let etag = HeaderValue::from_str(&format!("\"{CLIENT_VERSION}\""))
        .unwrap_or(HeaderValue::from_static("\"\""));
    let mut response = Response::new(Bytes::new());
    let h = response.headers_mut();
    h.insert(ETAG, etag);
    h.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if if_none_match(headers) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    let (body, encoding) = match pick_encoding(headers) {
        Encoding::Br => (file.br, Some("br")),
        Encoding::Gzip => (file.gzip, Some("gzip")),
        Encoding::Identity => (file.raw, None),
    };
    h.insert(CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    if let Some(encoding) = encoding {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    if method != Method::HEAD {
        *response.body_mut() = Bytes::from_static(body);
    }
    response
}

/// Whether `If-None-Match` names the client's version (weakly: `W/` is ignored) or is `*`.
fn if_none_match(headers: &HeaderMap) -> bool {
    if_none_match_tag(headers, CLIENT_VERSION)
}

/// Whether `If-None-Match` names the entity tag `tag` (weakly: `W/` is ignored) or is `*`.
pub(crate) fn if_none_match_tag(headers: &HeaderMap, tag_value: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*"
                || tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .is_some_and(|t| t == tag_value)
        })
}

/// The best encoding `Accept-Encoding` takes: brotli, then gzip, by their `q` values
/// (brotli when equal), else none.
pub(crate) fn pick_encoding(headers: &HeaderMap) -> Encoding {
    let (mut br, mut gzip, mut any) = (None, None, None);
    for item in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite())
            .unwrap_or(1.0);
        let slot = if coding.eq_ignore_ascii_case("br") {
            &mut br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    if br > 0.0 && br >= gzip {
        Encoding::Br
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn encodings_by_preference() {
        assert_eq!(pick_encoding(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(pick_encoding(&accept("gzip, deflate, br")), Encoding::Br);
        assert_eq!(pick_encoding(&accept("gzip")), Encoding::Gzip);
        assert_eq!(pick_encoding(&accept("br;q=0.5, gzip")), Encoding::Gzip);
        assert_eq!(
            pick_encoding(&accept("br;q=0, gzip;q=0")),
            Encoding::Identity
        );
        assert_eq!(pick_encoding(&accept("*")), Encoding::Br);
        assert_eq!(pick_encoding(&accept("*;q=0.1, br;q=0")), Encoding::Gzip);
        assert_eq!(
            pick_encoding(&accept("identity, deflate")),
            Encoding::Identity
        );
        assert_eq!(pick_encoding(&accept("BR;Q=0.9,GZIP;q=0.8")), Encoding::Br);
        assert_eq!(pick_encoding(&accept("br;q=nan, gzip;q=x")), Encoding::Br);
    }

    #[test]
    fn paths() {
        assert_eq!(
            match_path("/socket.io", "/socket.io/socket.io.js"),
            Some("socket.io.js")
        );
        assert_eq!(
            match_path("", "/socket.io.min.js.map"),
            Some("socket.io.min.js.map")
        );
        assert_eq!(match_path("/socket.io", "/socket.io/"), None);
        assert_eq!(match_path("/socket.io", "/socket.io/x/socket.io.js"), None);
        assert_eq!(match_path("/socket.io", "/socket.iosocket.io.js"), None);
        assert_eq!(match_path("/socket.io", "/other/socket.io.js"), None);
    }

    #[test]
    fn etags() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h));
        for (value, hit) in [
            ("\"4.8.4\"", true),
            ("W/\"4.8.4\"", true),
            ("\"1\", \"4.8.4\"", true),
            ("*", true),
            ("\"4.8.3\"", false),
            ("4.8.4", false),
        ] {
            h.insert(IF_NONE_MATCH, HeaderValue::from_static(value));
            assert_eq!(if_none_match(&h), hit, "{value}");
        }
    }
}
