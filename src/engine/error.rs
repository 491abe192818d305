//! The HTTP errors of the engine: status codes and `{"code":N,"message":"..."}` bodies.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::config::RequestRefusal;

/// A request the engine refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpError {
    /// Code 0: missing, unknown or disabled transport.
    UnknownTransport,
    /// Code 1: no session has this id (or it is closed).
    UnknownSid,
    /// Code 2: a handshake that is not a GET.
    BadHandshakeMethod,
    /// Code 3: anything else the protocol does not allow.
    BadRequest,
    /// Code 4: refused origin or `allow_request` hook.
    Forbidden(RequestRefusal),
    /// Code 5: `EIO` missing or not a served version.
    UnsupportedProtocolVersion,
    /// A POST body over `max_payload` (HTTP 413, empty body).
    PayloadTooLarge,
    /// A request head over `max_http_header_size` (HTTP 431, empty body).
    HeadersTooLarge,
}

impl HttpError {
    fn code_and_message(&self) -> Option<(u8, &str)> {
        Some(match self {
            HttpError::UnknownTransport => (0, "Transport unknown"),
            HttpError::UnknownSid => (1, "Session ID unknown"),
            HttpError::BadHandshakeMethod => (2, "Bad handshake method"),
            HttpError::BadRequest => (3, "Bad request"),
            HttpError::Forbidden(refusal) => (4, refusal.message()),
            HttpError::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
            HttpError::PayloadTooLarge | HttpError::HeadersTooLarge => return None,
        })
    }

    fn status(&self) -> StatusCode {
        match self {
            HttpError::Forbidden(refusal) => refusal.status(),
            HttpError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The answer to send.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        let status = self.status();
        let mut response = match self.code_and_message() {
            Some((code, message)) => {
                let body = serde_json::json!({ "code": code, "message": message }).to_string();
                let mut r = Response::new(Bytes::from(body));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            None => Response::new(Bytes::new()),
        };
        *response.status_mut() = status;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_statuses() {
        let r = HttpError::UnknownTransport.into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body(),
            &Bytes::from_static(br#"{"code":0,"message":"Transport unknown"}"#)
        );
        let r = HttpError::Forbidden(RequestRefusal::forbidden()).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.body(),
            &Bytes::from_static(br#"{"code":4,"message":"Forbidden"}"#)
        );
        let r = HttpError::Forbidden(RequestRefusal::new(
            StatusCode::UNAUTHORIZED,
            "say \"please\"",
        ))
        .into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.body(),
            &Bytes::from_static(br#"{"code":4,"message":"say \"please\""}"#)
        );
        let r = HttpError::PayloadTooLarge.into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.body().is_empty());
    }
}
