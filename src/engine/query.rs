//! The engine's query parameters (`EIO`, `transport`, `sid`, and Engine.IO 3's `b64` and
//! `j`), read without allocating.

/// One query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param<'a> {
    /// Not in the query.
    Missing,
    /// Given once, with this raw (not percent-decoded) value.
    One(&'a str),
    /// Given more than once: never valid.
    Many,
}

impl<'a> Param<'a> {
    fn push(&mut self, value: &'a str) {
        *self = match self {
            Param::Missing => Param::One(value),
            _ => Param::Many,
        };
    }

    /// The value, when given exactly once.
    pub(crate) fn one(self) -> Option<&'a str> {
        match self {
            Param::One(v) => Some(v),
            _ => None,
        }
    }
}

/// The parameters the engine reads; `t` and any others are ignored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    pub(crate) eio: Param<'a>,
    pub(crate) transport: Param<'a>,
    pub(crate) sid: Param<'a>,
    /// Engine.IO 3: binary data as base64 (any non-empty value).
    pub(crate) b64: Param<'a>,
    /// Engine.IO 3: JSONP polling, with the client's callback index.
    pub(crate) j: Param<'a>,
}

impl<'a> Query<'a> {
    /// Reads a query string (without the `?`).
    pub(crate) fn parse(query: &'a str) -> Self {
        let mut q = Query {
            eio: Param::Missing,
            transport: Param::Missing,
            sid: Param::Missing,
            b64: Param::Missing,
            j: Param::Missing,
        };
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "EIO" => q.eio.push(value),
                "transport" => q.transport.push(value),
                "sid" => q.sid.push(value),
                "b64" => q.b64.push(value),
                "j" => q.j.push(value),
                _ => {}
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_parameters() {
        let q = Query::parse("EIO=4&transport=polling&t=abc&sid=xyz");
        assert_eq!(q.eio, Param::One("4"));
        assert_eq!(q.transport, Param::One("polling"));
        assert_eq!(q.sid, Param::One("xyz"));
        let q = Query::parse("");
        assert_eq!(q.eio, Param::Missing);
        let q = Query::parse("EIO=4&EIO=3&transport");
        assert_eq!(q.eio, Param::Many);
        assert_eq!(q.transport, Param::One(""));
        assert_eq!(q.sid.one(), None);
        let q = Query::parse("EIO=3&b64=1&j=4");
        assert_eq!(q.b64, Param::One("1"));
        assert_eq!(q.j, Param::One("4"));
    }
}
