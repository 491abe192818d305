//! The handshake request's head as a session keeps it.

use std::sync::Mutex;

use crate::util::lock;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;

/// The handshake request's head, kept compact until someone asks for it.
///
/// hyper parses the URI and the header values as slices of its connection read buffer
/// (8 KiB and more), so keeping them as they are for the life of a session would keep
/// that whole buffer allocated too; and a `HeaderMap` of copies costs about 1 KiB per
/// connection (buckets for its capacity, an allocation per value). The head is kept as
/// text instead (the URI, and one buffer of `name:value` lines), and the `Parts` are
/// built from it on the first [`Socket::req_parts`] (most sessions never ask).
pub(super) struct Head {
    method: http::Method,
    version: http::Version,
    uri: Box<str>,
    /// axum's `OriginalUri` (the URI before any nesting), taken out of the extensions.
    #[cfg(feature = "axum")]
    original_uri: Option<Box<str>>,
    /// `name:value\n` per header, in order (a name has no `:`, a value no `\n`).
    headers: Box<[u8]>,
    /// Every bit is `is_sensitive` of the header with that index (the first 64).
    sensitive: u64,
    /// The extensions (those of tower layers in front of the engine), until the `Parts`
    /// are built.
    extensions: Mutex<Option<http::Extensions>>,
}

impl Head {
    pub(super) fn new(mut parts: Parts) -> Head {
        let mut headers = Vec::new();
        let mut sensitive = 0u64;
        for (i, (name, value)) in parts.headers.iter().enumerate() {
            headers.extend_from_slice(name.as_str().as_bytes());
            headers.push(b':');
            headers.extend_from_slice(value.as_bytes());
            headers.push(b'\n');
            if value.is_sensitive() && i < 64 {
                sensitive |= 1 << i;
            }
        }
        // axum's router keeps a clone of the URI (so a slice of the same buffer) for
        // `OriginalUri`.
        #[cfg(feature = "axum")]
        let original_uri = parts
            .extensions
            .remove::<axum::extract::OriginalUri>()
            .map(|o| o.0.to_string().into_boxed_str());
        Head {
            method: parts.method,
            version: parts.version,
            uri: parts.uri.to_string().into_boxed_str(),
            #[cfg(feature = "axum")]
            original_uri,
            headers: headers.into_boxed_slice(),
            sensitive,
            extensions: Mutex::new(Some(std::mem::take(&mut parts.extensions))),
        }
    }

    /// The head as `Parts`, every value with bytes of its own. The extensions move into
    /// them (this is called once).
    pub(super) fn parts(&self) -> Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.version = self.version;
        parts.uri = self.uri.parse().unwrap_or_default();
        let lines = self.headers.split(|&b| b == b'\n');
        for (i, line) in lines.filter(|l| !l.is_empty()).enumerate() {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (Ok(name), Ok(mut value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(&line[colon + 1..]),
            ) else {
                continue;
            };
            value.set_sensitive(i < 64 && self.sensitive & (1 << i) != 0);
            parts.headers.append(name, value);
        }
        parts.extensions = lock(&self.extensions).take().unwrap_or_default();
        #[cfg(feature = "axum")]
        if let Some(uri) = self.original_uri.as_deref().and_then(|u| u.parse().ok()) {
            parts.extensions.insert(axum::extract::OriginalUri(uri));
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Uri;
    use http::header::{HeaderName, HeaderValue};

    /// Whether `part` lies inside `buf`'s memory.
    fn inside(buf: &[u8], part: &[u8]) -> bool {
        let start = buf.as_ptr() as usize;
        let p = part.as_ptr() as usize;
        p >= start && p < start + buf.len()
    }

    #[test]
    fn kept_head_has_its_values_but_not_the_buffer() {
        // Values made the way hyper makes them: slices of one shared read buffer.
        let buffer =
            bytes::Bytes::from(b"/socket.io/?EIO=4&transport=websocket|abc|X-Custom".to_vec());
        let uri = Uri::from_maybe_shared(buffer.slice(0..37)).unwrap();
        let value = HeaderValue::from_maybe_shared(buffer.slice(38..41)).unwrap();
        let name = HeaderName::from_bytes(&buffer[42..]).unwrap();
        let mut secret = HeaderValue::from_static("a=b");
        secret.set_sensitive(true);
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = http::Method::POST;
        parts.uri = uri.clone();
        parts.headers.append(name.clone(), value.clone());
        parts.headers.append(http::header::COOKIE, value.clone());
        parts.headers.append(http::header::COOKIE, secret.clone());
        parts.extensions.insert(7u32);
        #[cfg(feature = "axum")]
        parts
            .extensions
            .insert(axum::extract::OriginalUri(uri.clone()));
        assert!(inside(&buffer, parts.uri.path().as_bytes()));

        let head = Head::new(parts);
        let parts = head.parts();
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri, uri);
        assert_eq!(parts.headers.get(&name), Some(&value));
        let cookies: Vec<_> = parts.headers.get_all(http::header::COOKIE).iter().collect();
        assert_eq!(cookies, [&value, &secret]);
        assert!(!cookies[0].is_sensitive() && cookies[1].is_sensitive());
        assert_eq!(parts.headers.len(), 3);
        assert_eq!(parts.extensions.get::<u32>(), Some(&7));
        assert!(!inside(&buffer, parts.uri.path().as_bytes()));
        assert!(!inside(&buffer, parts.uri.query().unwrap_or("").as_bytes()));
        for v in parts.headers.values() {
            assert!(!inside(&buffer, v.as_bytes()));
        }
        #[cfg(feature = "axum")]
        {
            let original = parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .unwrap();
            assert_eq!(original.0, uri);
            assert!(!inside(&buffer, original.0.path().as_bytes()));
        }
    }
}
