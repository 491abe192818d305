//! JSONP polling of Engine.IO 3 (clients without XHR, or with `forceJSONP`).
//!
//! The handshake's `j` query value (its digits) is the index of the client's callback: a
//! GET is answered with the script `___eio[<index>]("<text payload>");`, and the client
//! POSTs a form whose field `d` is the text payload, with its newlines escaped.

use bytes::Bytes;

/// The callback index of a `j` query value: its digits (Node drops every other
/// character). `None` when there is none, or more than a `u32` holds.
pub(crate) fn callback_index(j: &str) -> Option<u32> {
    let digits: String = j.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    digits.parse().ok()
}

/// The script that hands `payload` (a text payload) to callback `index`.
///
/// The payload is written as a JSON string (what `JSON.stringify` writes: `"`, `\`,
/// and control characters escaped), with U+2028 and U+2029 escaped as well, since they
/// end a line in older JavaScript.
pub(crate) fn script(index: u32, payload: &str) -> Bytes {
    let literal = serde_json::to_string(payload).unwrap_or_else(|_| "\"\"".to_owned());
    let literal = if literal.contains(['\u{2028}', '\u{2029}']) {
        literal
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        literal
    };
    let mut out = String::with_capacity(literal.len() + 20);
    out.push_str("___eio[");
    out.push_str(&index.to_string());
    out.push_str("](");
    out.push_str(&literal);
    out.push_str(");");
    Bytes::from(out)
}

/// The text payload of a JSONP POST body (`application/x-www-form-urlencoded`, field
/// `d`). `None` when the form has no `d` or has it more than once: such a POST carries
/// nothing (Node ignores it).
///
/// Percent-decoding is lenient (a malformed `%` sequence stays as it is, invalid UTF-8
/// becomes U+FFFD), as Node's `querystring`; what follows is read as a strict payload.
pub(crate) fn form_payload(body: &[u8]) -> Option<String> {
    let mut found = None;
    for (key, value) in form_urlencoded::parse(body) {
        if key == "d" {
            if found.is_some() {
                return None;
            }
            found = Some(value);
        }
    }
    found.map(|d| unescape_newlines(&d))
}

/// Undoes the client's newline escaping. The client turns each `\n` (backslash, `n`) of
/// the payload into backslash + line feed, then every line feed into `\n`; so here every
/// `\n` not preceded by a backslash is a line feed, and every `\\n` left is `\n`.
fn unescape_newlines(d: &str) -> String {
    let b = d.as_bytes();
    // First pass: `\\n` kept as it is, `\n` becomes a line feed.
    let mut first = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"\\\\n") {
            first.extend_from_slice(b"\\\\n");
            i += 3;
        } else if b[i..].starts_with(b"\\n") {
            first.push(b'\n');
            i += 2;
        } else {
            first.push(b[i]);
            i += 1;
        }
    }
    // Second pass: every `\\n` becomes `\n`.
    let mut out = Vec::with_capacity(first.len());
    let mut i = 0;
    while i < first.len() {
        if first[i..].starts_with(b"\\\\n") {
            out.extend_from_slice(b"\\n");
            i += 3;
        } else {
            out.push(first[i]);
            i += 1;
        }
    }
    // Only ASCII sequences were replaced by ASCII: still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_indexes() {
        assert_eq!(callback_index("0"), Some(0));
        assert_eq!(callback_index("12"), Some(12));
        assert_eq!(callback_index("a1b2"), Some(12));
        assert_eq!(callback_index(""), None);
        assert_eq!(callback_index("abc"), None);
        assert_eq!(callback_index("99999999999"), None);
        assert_eq!(callback_index("4294967296"), None);
        assert_eq!(callback_index("4294967295"), Some(u32::MAX));
    }

    #[test]
    fn script_escapes_as_json_stringify_then_line_separators() {
        assert_eq!(&script(0, "6:4hello")[..], br#"___eio[0]("6:4hello");"#);
        // The message Node was observed with: a\u2028b\u2029c"d\e</script>\u0001f😀
        let payload = "23:4a\u{2028}b\u{2029}c\"d\\e</script>\u{1}f😀";
        assert_eq!(
            std::str::from_utf8(&script(12, payload)).unwrap(),
            "___eio[12](\"23:4a\\u2028b\\u2029c\\\"d\\\\e</script>\\u0001f😀\");"
        );
        assert_eq!(
            std::str::from_utf8(&script(1, "\u{8}\t\n\u{c}\r\u{1f}\u{7f}/")).unwrap(),
            "___eio[1](\"\\b\\t\\n\\f\\r\\u001f\u{7f}/\");"
        );
    }

    #[test]
    fn form_bodies() {
        assert_eq!(form_payload(b"d=6%3A4hello").as_deref(), Some("6:4hello"));
        assert_eq!(form_payload(b"d=6:4a+b+c").as_deref(), Some("6:4a b c"));
        assert_eq!(form_payload(b"x=1&d=1:6").as_deref(), Some("1:6"));
        // Without `d`, or with two: nothing.
        assert_eq!(form_payload(b"x=1"), None);
        assert_eq!(form_payload(b""), None);
        assert_eq!(form_payload(b"d=1:2&d=1:2"), None);
        // Lenient percent-decoding: the malformed sequence stays (and then fails as a
        // payload).
        assert_eq!(
            form_payload(b"d=6%3A4hello%ZZ").as_deref(),
            Some("6:4hello%ZZ")
        );
        assert_eq!(form_payload(b"d=").as_deref(), Some(""));
        assert_eq!(form_payload(b"d=%FF").as_deref(), Some("\u{fffd}"));
    }

    #[test]
    fn newlines_round_trip_the_clients_escaping() {
        // The client's escaping, as engine.io-client 3 does it.
        fn client(text: &str) -> String {
            text.replace("\\n", "\\\n").replace('\n', "\\n")
        }
        for text in ["4x\ny\\nz", "4\\\\n", "4\\", "4\n\n\\n\\\\n", "4plain"] {
            assert_eq!(unescape_newlines(&client(text)), text, "{text:?}");
        }
        // (A backslash followed by a line feed is the one text the escaping cannot carry:
        // it reads back as `\n`, with Node as here.)
        // Node's observed case: text `4x<LF>y\nz` travels as `7:4x\ny\\nz`.
        assert_eq!(unescape_newlines("7:4x\\ny\\\\nz"), "7:4x\ny\\nz");
    }
}
