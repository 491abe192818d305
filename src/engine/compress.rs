//! Compression of polling responses (Node's `httpCompression`).

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// Responses smaller than this are sent as they are.
pub(crate) const THRESHOLD: usize = 1024;

/// A content coding the engine can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `gzip`.
    Gzip,
    /// `deflate` (the zlib format, as HTTP defines it).
    Deflate,
}

impl Coding {
    /// The `Content-Encoding` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// The coding to use for a client, from its `Accept-Encoding` headers: gzip if it
/// takes it, else deflate, else none. A coding with `q=0` is refused.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<Coding> {
    let mut gzip = false;
    let mut deflate = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut params = item.split(';');
            let name = params.next().unwrap_or("").trim();
            let refused = params.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            if name.eq_ignore_ascii_case("gzip") || name == "*" {
                gzip = true;
            } else if name.eq_ignore_ascii_case("deflate") {
                deflate = true;
            }
        }
    }
    if gzip {
        Some(Coding::Gzip)
    } else if deflate {
        Some(Coding::Deflate)
    } else {
        None
    }
}

/// Compresses `data` with `coding`.
pub(crate) fn compress(coding: Coding, data: &[u8]) -> std::io::Result<Bytes> {
    let out = Vec::with_capacity(data.len() / 2);
    let out = match coding {
        Coding::Gzip => {
            let mut e = GzEncoder::new(out, Compression::fast());
            e.write_all(data)?;
            e.finish()?
        }
        Coding::Deflate => {
            let mut e = ZlibEncoder::new(out, Compression::fast());
            e.write_all(data)?;
            e.finish()?
        }
    };
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), None);
        assert_eq!(negotiate(&accept("gzip, deflate, br")), Some(Coding::Gzip));
        assert_eq!(negotiate(&accept("deflate")), Some(Coding::Deflate));
        assert_eq!(
            negotiate(&accept("gzip;q=0, deflate;q=0.5")),
            Some(Coding::Deflate)
        );
        assert_eq!(negotiate(&accept("br, identity")), None);
    }

    #[test]
    fn roundtrip() {
        use std::io::Read as _;
        let data = vec![b'a'; 5000];
        let gz = compress(Coding::Gzip, &data).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let z = compress(Coding::Deflate, &data).unwrap();
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }
}
