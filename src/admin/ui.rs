//! The Admin UI's own files, served under the path given to
//! [`SocketIoBuilder::serve_admin_ui`](crate::SocketIoBuilder::serve_admin_ui).
//!
//! They are the built UI of the npm package `@socket.io/admin-ui` ([`UI_VERSION`], its
//! `ui/dist` without the source maps), embedded at build time by the crate's build script
//! like the browser client (see [`client_files`](crate::client_files)), with a gzip and a
//! brotli copy of each:
//!
//! | path under the UI's base | `Content-Type` | `Cache-Control` |
//! | --- | --- | --- |
//! | `/` and `/index.html` | `text/html; charset=utf-8` | `no-cache` |
//! | `/favicon.png` | `image/png` | `no-cache` |
//! | `/css/*.css` (names carry a content hash) | `text/css; charset=utf-8` | `public, max-age=31536000, immutable` |
//! | `/js/*.js` (hashed) | `application/javascript; charset=utf-8` | same |
//! | `/img/*.svg` (hashed) | `image/svg+xml` | same |
//!
//! Every answer carries `ETag: "admin-ui-<version>"` (a matching `If-None-Match` gets `304
//! Not Modified`), `Vary: Accept-Encoding`, `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer`, and `Content-Security-Policy: frame-ancestors 'none'` (the
//! page's buttons disconnect clients: no other site may frame it). The base path itself
//! (`/admin`) answers `308 Permanent Redirect` to `admin/`, because the page loads its files
//! relative to its own URL. Only `GET` and `HEAD` are answered; other methods and other
//! paths under the base go on to the wrapped service.
//!
//! The page asks for two stylesheets from public hosts (the Roboto font and the Material
//! Design icon font); without Internet access the page works, with a fallback font and blank
//! icons on its buttons.
//!
//! ```
//! use tower_socketio::admin::ui;
//!
//! assert_eq!(ui::UI_VERSION, "0.5.1");
//! if ui::is_embedded() {
//!     let html = ui::get("index.html").unwrap();
//!     assert!(html.starts_with(b"<!DOCTYPE html>"));
//! }
//! ```

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::client_files::{Encoding, if_none_match_tag, pick_encoding};

/// The version of `@socket.io/admin-ui` whose UI this build serves.
pub const UI_VERSION: &str = env!("TSIO_ADMIN_UI_VERSION");

/// The files of the UI, relative to its base path.
pub const FILE_NAMES: [&str; 8] = [
    "index.html",
    "favicon.png",
    "css/app.6e3b9661.css",
    "css/chunk-vendors.9f55d012.css",
    "img/logo-dark.3727fec5.svg",
    "img/logo-light.73342c25.svg",
    "js/app.0d7d7845.js",
    "js/chunk-vendors.934c03ff.js",
];

#[cfg_attr(tsio_no_admin_ui_bundle, allow(dead_code))]
const HTML: &str = "text/html; charset=utf-8";
#[cfg_attr(tsio_no_admin_ui_bundle, allow(dead_code))]
const PNG: &str = "image/png";
#[cfg_attr(tsio_no_admin_ui_bundle, allow(dead_code))]
const CSS: &str = "text/css; charset=utf-8";
#[cfg_attr(tsio_no_admin_ui_bundle, allow(dead_code))]
const SVG: &str = "image/svg+xml";
#[cfg_attr(tsio_no_admin_ui_bundle, allow(dead_code))]
const JS: &str = "application/javascript; charset=utf-8";
const REVALIDATE: &str = "no-cache";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file and its compressed copies.
struct UiFile {
    name: &'static str,
    content_type: &'static str,
    /// Whether its name carries a content hash (cached for a year).
    hashed: bool,
    raw: &'static [u8],
    gzip: &'static [u8],
    br: &'static [u8],
}

#[cfg(not(tsio_no_admin_ui_bundle))]
macro_rules! ui_file {
    ($name:literal, $content_type:expr, $hashed:expr) => {
        UiFile {
            name: $name,
            content_type: $content_type,
            hashed: $hashed,
            raw: include_bytes!(concat!(env!("OUT_DIR"), "/admin-ui/", $name)),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/admin-ui/", $name, ".gz")),
            br: include_bytes!(concat!(env!("OUT_DIR"), "/admin-ui/", $name, ".br")),
        }
    };
}

#[cfg(not(tsio_no_admin_ui_bundle))]
static FILES: &[UiFile] = &[
    ui_file!("index.html", HTML, false),
    ui_file!("favicon.png", PNG, false),
    ui_file!("css/app.6e3b9661.css", CSS, true),
    ui_file!("css/chunk-vendors.9f55d012.css", CSS, true),
    ui_file!("img/logo-dark.3727fec5.svg", SVG, true),
    ui_file!("img/logo-light.73342c25.svg", SVG, true),
    ui_file!("js/app.0d7d7845.js", JS, true),
    ui_file!("js/chunk-vendors.934c03ff.js", JS, true),
];

#[cfg(tsio_no_admin_ui_bundle)]
static FILES: &[UiFile] = &[];

/// Why the UI is missing, as the build script found it.
#[cfg(tsio_no_admin_ui_bundle)]
const MISSING: &str = env!("TSIO_ADMIN_UI_MISSING");

/// Whether this build embeds the UI. When false, its URLs answer 404.
pub fn is_embedded() -> bool {
    !FILES.is_empty()
}

/// The bytes of an embedded file (one of [`FILE_NAMES`]) as published in the npm package;
/// `None` for another name or when the build has no UI.
pub fn get(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|f| f.name == name).map(|f| f.raw)
}

/// Logs, once per server built with `serve_admin_ui`, that the UI is missing.
pub(crate) fn warn_if_missing(base: &str) {
    #[cfg(tsio_no_admin_ui_bundle)]
    tracing::warn!(
        "serve_admin_ui({base:?}) is on but this build of tower-socketio has no Admin UI \
         ({MISSING}); its URLs will answer 404. Rebuild with npm on PATH, or with \
         TOWER_SOCKETIO_ADMIN_UI_BUNDLE set to a socket.io-admin-ui-{UI_VERSION}.tgz"
    );
    #[cfg(not(tsio_no_admin_ui_bundle))]
    let _ = base;
}

/// What a request path is to the UI served under `base` (no trailing slash; empty for `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UiPath {
    /// The base itself, without its slash: redirect to it with the slash.
    Redirect,
    /// One of the files.
    File(&'static str),
}

/// The UI's answer for `path`, if it is one of its URLs.
pub(crate) fn match_path(base: &str, path: &str) -> Option<UiPath> {
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(UiPath::Redirect);
    }
    let name = rest.strip_prefix('/')?;
    let name = if name.is_empty() { "index.html" } else { name };
    FILE_NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .map(UiPath::File)
}

/// Normalizes the base path given to `serve_admin_ui`: a leading slash, no trailing one.
pub(crate) fn normalize_base(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
}

/// The answer to a `GET` or `HEAD` the UI matched; `query` is the request's query string.
pub(crate) fn respond(
    what: UiPath,
    path: &str,
    query: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Bytes> {
    let name = match what {
        UiPath::Redirect => return redirect(path, query),
        UiPath::File(name) => name,
    };
    let Some(file) = FILES.iter().find(|f| f.name == name) else {
        let mut response = Response::new(Bytes::from_static(
            b"this server was built without the Socket.IO Admin UI\n",
        ));
        *response.status_mut() = StatusCode::NOT_FOUND;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    };
    let tag = format!("admin-ui-{UI_VERSION}");
    let mut response = Response::new(Bytes::new());
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{tag}\"")) {
        h.insert(ETAG, etag);
    }
    let cache = if file.hashed { IMMUTABLE } else { REVALIDATE };
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    security_headers(h);
    if if_none_match_tag(headers, &tag) {
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

/// `308` to the base path with its slash, relative to the request (`/admin` → `admin/`), so
/// that it still holds behind a proxy that mounts the server under a prefix.
fn redirect(path: &str, query: Option<&str>) -> Response<Bytes> {
    let last = path.rsplit('/').next().unwrap_or("");
    let location = match query {
        Some(q) => format!("{last}/?{q}"),
        None => format!("{last}/"),
    };
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        h.insert(LOCATION, location);
    }
    h.insert(CONTENT_LENGTH, HeaderValue::from(0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(match_path("/admin", "/admin"), Some(UiPath::Redirect));
        assert_eq!(
            match_path("/admin", "/admin/"),
            Some(UiPath::File("index.html"))
        );
        assert_eq!(
            match_path("/admin", "/admin/index.html"),
            Some(UiPath::File("index.html"))
        );
        assert_eq!(
            match_path("/admin", "/admin/js/app.0d7d7845.js"),
            Some(UiPath::File("js/app.0d7d7845.js"))
        );
        assert_eq!(match_path("/admin", "/admin/js/app.0d7d7845.js.map"), None);
        assert_eq!(match_path("/admin", "/admin/../index.html"), None);
        assert_eq!(match_path("/admin", "/administrator"), None);
        assert_eq!(match_path("/admin", "/other/index.html"), None);
        assert_eq!(match_path("", "/"), Some(UiPath::File("index.html")));
        assert_eq!(
            match_path("/a/b", "/a/b/favicon.png"),
            Some(UiPath::File("favicon.png"))
        );
    }

    #[test]
    fn bases() {
        assert_eq!(normalize_base("/admin"), "/admin");
        assert_eq!(normalize_base("/admin/"), "/admin");
        assert_eq!(normalize_base("admin"), "/admin");
        assert_eq!(normalize_base("/"), "");
        assert_eq!(normalize_base(""), "");
    }

    #[test]
    fn redirects_relative_to_the_request() {
        let r = redirect("/admin", None);
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(r.headers()[LOCATION], "admin/");
        let r = redirect("/x/dash", Some("a=1"));
        assert_eq!(r.headers()[LOCATION], "dash/?a=1");
    }
}
