//! The admin namespace's authentication: basic (a username and a bcrypt hash of the
//! password), with sessions, as `@socket.io/admin-ui`'s server side does it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::store::SessionStore;
use crate::ConnectError;

/// The longest username and password looked at (bcrypt reads 72 bytes of a password; longer
/// inputs are refused before any hashing).
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;
/// At most this many bcrypt checks run at once (each takes tens of milliseconds of CPU on
/// the blocking pool); the others wait up to `CHECK_WAIT`, then are refused.
const CONCURRENT_CHECKS: usize = 2;
const CHECK_WAIT: Duration = Duration::from_secs(10);

/// The message of every refusal; the UI shows it as "Invalid credentials".
pub(crate) const INVALID: &str = "invalid credentials";

/// How the admin namespace checks who connects (Node's `auth` option, which must be given).
///
/// ```
/// use tower_socketio::admin::Auth;
///
/// // The hash of "changeit" (e.g. from `htpasswd -nbBC 10 "" changeit`, or the `bcrypt`
/// // crate's `hash`).
/// let auth = Auth::basic("admin", "$2a$10$eINDLDOUFMuBgy1hDhWNFuiGhW40o0kU4stlB05CZRMcF/MtQ5VeS")
///     .unwrap();
/// assert!(Auth::basic("admin", "changeit").is_err()); // not a hash
/// let open = Auth::none(); // say it explicitly: anyone may connect
/// # let _ = (auth, open);
/// ```
#[derive(Clone)]
pub struct Auth(pub(crate) AuthKind);

#[derive(Clone)]
pub(crate) enum AuthKind {
    None,
    Basic { username: String, hash: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            AuthKind::None => f.write_str("Auth::None"),
            AuthKind::Basic { username, .. } => f
                .debug_struct("Auth::Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

/// The password given to [`Auth::basic`] is not a bcrypt hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHash(String);

impl std::fmt::Display for InvalidHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the password must be a valid bcrypt hash: {}", self.0)
    }
}

impl std::error::Error for InvalidHash {}

impl Auth {
    /// No authentication: anyone who reaches the server may open the admin namespace, see
    /// every client and act on them. Only for a server no one else can reach.
    pub fn none() -> Self {
        Auth(AuthKind::None)
    }

    /// Basic authentication: the UI's username must be `username`, and its password must
    /// match `bcrypt_hash` (`$2a$`, `$2b$`, `$2x$` or `$2y$`, as `bcrypt` and Node's
    /// `bcryptjs` write them). The hash is checked here, so that a wrong one fails at
    /// start-up, not at the first login.
    pub fn basic(
        username: impl Into<String>,
        bcrypt_hash: impl Into<String>,
    ) -> Result<Self, InvalidHash> {
        let hash = bcrypt_hash.into();
        hash.parse::<bcrypt::HashParts>()
            .map_err(|e| InvalidHash(e.to_string()))?;
        Ok(Auth(AuthKind::Basic {
            username: username.into(),
            hash,
        }))
    }
}

/// What the basic check needs, shared by every connection of the admin namespace.
pub(crate) struct BasicAuth {
    username: String,
    hash: Arc<str>,
    store: Arc<dyn SessionStore>,
    checks: Semaphore,
}

/// A session issued to a socket by its login, to be sent to it once connected.
#[derive(Clone)]
pub(crate) struct IssuedSession(pub(crate) String);

impl BasicAuth {
    pub(crate) fn new(username: String, hash: String, store: Arc<dyn SessionStore>) -> Self {
        Self {
            username,
            hash: hash.into(),
            store,
            checks: Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    /// Checks the CONNECT payload: a known `sessionId`, or the right `username` and
    /// `password`, in which case a new session is saved and returned.
    pub(crate) async fn check(&self, auth: &Value) -> Result<Option<String>, ConnectError> {
        let refuse = || ConnectError::new(INVALID);
        let str_field = |name: &str, max: usize| {
            auth.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && s.len() <= max)
        };
        if let Some(id) = str_field("sessionId", 128) {
            match self.store.exists(id).await {
                Ok(true) => return Ok(None),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "admin: the session store failed; login refused");
                    return Err(refuse());
                }
            }
        }
        let (Some(username), Some(password)) = (
            str_field("username", MAX_USERNAME),
            auth.get("password")
                .and_then(Value::as_str)
                .filter(|p| p.len() <= MAX_PASSWORD),
        ) else {
            return Err(refuse());
        };
        if !constant_time_eq(username.as_bytes(), self.username.as_bytes()) {
            return Err(refuse());
        }
        let permit = tokio::time::timeout(CHECK_WAIT, self.checks.acquire())
            .await
            .map_err(|_| {
                tracing::warn!("admin: too many logins at once; one refused");
                refuse()
            })?
            .map_err(|_| refuse())?;
        let (password, hash) = (password.to_owned(), self.hash.clone());
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .map_err(|_| refuse())?
            .unwrap_or(false);
        drop(permit);
        if !ok {
            return Err(refuse());
        }
        let Some(id) = new_session_id() else {
            tracing::warn!("admin: no randomness from the OS; no session issued");
            return Ok(None);
        };
        if let Err(e) = self.store.save(&id).await {
            tracing::warn!(error = %e, "admin: the session store failed; no session issued");
            return Ok(None);
        }
        Ok(Some(id))
    }
}

/// 16 random bytes from the OS as 32 lowercase hex characters.
fn new_session_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::InMemoryStore;

    /// bcrypt("changeit", cost 4): cheap for tests.
    fn hash() -> String {
        bcrypt::hash("changeit", 4).unwrap()
    }

    #[test]
    fn hashes_are_checked_up_front() {
        assert!(Auth::basic("admin", hash()).is_ok());
        assert!(Auth::basic("admin", "changeit").is_err());
        assert!(Auth::basic("admin", "").is_err());
        assert!(
            Auth::basic(
                "admin",
                "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhW"
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn basic_login_then_session() {
        let store: Arc<dyn SessionStore> = Arc::new(InMemoryStore::new());
        let auth = BasicAuth::new("admin".into(), hash(), store);
        let bad = [
            serde_json::json!({}),
            serde_json::json!({ "username": "admin" }),
            serde_json::json!({ "username": "admin", "password": "nope" }),
            serde_json::json!({ "username": "root", "password": "changeit" }),
            serde_json::json!({ "username": "admin", "password": 1 }),
            serde_json::json!({ "username": ["admin"], "password": "changeit" }),
            serde_json::json!({ "sessionId": "0123" }),
            serde_json::json!({ "username": "admin", "password": "x".repeat(2000) }),
            serde_json::json!("admin:changeit"),
        ];
        for a in &bad {
            let err = auth.check(a).await.unwrap_err();
            assert_eq!(err.message(), INVALID, "{a}");
        }
        let id = auth
            .check(&serde_json::json!({ "username": "admin", "password": "changeit" }))
            .await
            .unwrap()
            .expect("a session is issued");
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            auth.check(&serde_json::json!({ "sessionId": id }))
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn constant_time() {
        assert!(constant_time_eq(b"admin", b"admin"));
        assert!(!constant_time_eq(b"admin", b"admiN"));
        assert!(!constant_time_eq(b"admin", b"admin2"));
    }
}
