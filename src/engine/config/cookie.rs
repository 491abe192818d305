//! The session cookie: [`CookieConfig`] and [`SameSite`].

use std::borrow::Cow;
use std::time::Duration;

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (the default).
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// The session cookie sent with the handshake, when enabled with
/// [`EngineConfigBuilder::cookie`](super::EngineConfigBuilder::cookie). It carries the session id, which lets sticky
/// load balancers route a client's requests to the same server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    name: Cow<'static, str>,
    path: Option<Cow<'static, str>>,
    http_only: bool,
    same_site: Option<SameSite>,
    secure: bool,
    domain: Option<Cow<'static, str>>,
    max_age: Option<Duration>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: Cow::Borrowed("io"),
            path: Some(Cow::Borrowed("/")),
            http_only: true,
            same_site: Some(SameSite::Lax),
            secure: false,
            domain: None,
            max_age: None,
        }
    }
}

impl CookieConfig {
    /// A cookie named `io`, with `Path=/`, `HttpOnly` and `SameSite=Lax`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the cookie name.
    ///
    /// # Panics
    /// If the name is empty or holds characters a cookie name cannot hold.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| { b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b) }),
            "invalid cookie name"
        );
        self.name = name;
        self
    }

    /// Sets the `Path` attribute (`None` leaves it out).
    ///
    /// # Panics
    /// If the path holds `;` or control characters.
    pub fn path(mut self, path: Option<impl Into<Cow<'static, str>>>) -> Self {
        let path = path.map(Into::into);
        if let Some(p) = &path {
            assert!(valid_attribute(p), "invalid cookie path");
        }
        self.path = path;
        self
    }

    /// Sets the `HttpOnly` attribute.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets the `SameSite` attribute (`None` leaves it out).
    pub fn same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets the `Secure` attribute.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets the `Domain` attribute.
    ///
    /// # Panics
    /// If the domain holds `;` or control characters.
    pub fn domain(mut self, domain: Option<impl Into<Cow<'static, str>>>) -> Self {
        let domain = domain.map(Into::into);
        if let Some(d) = &domain {
            assert!(valid_attribute(d), "invalid cookie domain");
        }
        self.domain = domain;
        self
    }

    /// Sets the `Max-Age` attribute (whole seconds).
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The cookie name.
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// The `Path` attribute.
    pub fn get_path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The `HttpOnly` attribute.
    pub fn get_http_only(&self) -> bool {
        self.http_only
    }

    /// The `SameSite` attribute.
    pub fn get_same_site(&self) -> Option<SameSite> {
        self.same_site
    }

    /// The `Secure` attribute.
    pub fn get_secure(&self) -> bool {
        self.secure
    }

    /// The `Domain` attribute.
    pub fn get_domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The `Max-Age` attribute.
    pub fn get_max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The `Set-Cookie` header value for a session id.
    pub(crate) fn header_value(&self, sid: &str) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}={}", self.name, sid);
        if let Some(path) = &self.path {
            let _ = write!(out, "; Path={path}");
        }
        if let Some(domain) = &self.domain {
            let _ = write!(out, "; Domain={domain}");
        }
        if let Some(max_age) = self.max_age {
            let _ = write!(out, "; Max-Age={}", max_age.as_secs());
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if let Some(same_site) = self.same_site {
            let _ = write!(out, "; SameSite={}", same_site.as_str());
        }
        out
    }
}

fn valid_attribute(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
}
