//! Dashboard sessions: after `POST /login` with an API key or a user name and
//! password, the browser holds a signed cookie
//! `dd_session={subject}.{expiry, unix seconds}.{HMAC-SHA256 hex}`, the subject
//! being a key id or `u:{user id}:{password change time}` ([`Subject`]).
//! The signature proves the server issued it; every request still looks the key
//! or user up, so revoking the key, disabling the user or changing their
//! password ends its sessions at once. The cookie is `HttpOnly`
//! and `SameSite=Strict` (another site cannot make the browser send it).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "dd_session";

/// How long a session lasts.
pub const LIFETIME_SECS: i64 = 12 * 3600;

type HmacSha256 = Hmac<Sha256>;

/// Whom a session is for.
#[derive(Debug, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An API key, by id.
    Key(&'a str),
    /// A user account, by id, signed in with the password set at this time.
    User { id: &'a str, password_changed_ms: i64 },
}

impl<'a> Subject<'a> {
    /// The subject a cookie names (a malformed user subject names no key either).
    pub fn parse(s: &'a str) -> Subject<'a> {
        match s.strip_prefix("u:") {
            Some(rest) => match rest.split_once(':') {
                Some((id, t)) => Subject::User {
                    id,
                    password_changed_ms: t.parse().unwrap_or(i64::MIN),
                },
                None => Subject::User {
                    id: rest,
                    password_changed_ms: i64::MIN,
                },
            },
            None => Subject::Key(s),
        }
    }

    /// The text a cookie holds.
    pub fn encode(&self) -> String {
        match self {
            Subject::Key(id) => (*id).to_string(),
            Subject::User {
                id,
                password_changed_ms,
            } => format!("u:{id}:{password_changed_ms}"),
        }
    }
}

fn signature(secret: &[u8], key_id: &str, expires: i64) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(key_id.as_bytes());
    mac.update(b".");
    mac.update(expires.to_string().as_bytes());
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// A cookie value for `key_id`, valid until `now + LIFETIME_SECS`.
pub fn issue(secret: &[u8], key_id: &str, now: i64) -> Option<String> {
    let expires = now + LIFETIME_SECS;
    Some(format!("{key_id}.{expires}.{}", signature(secret, key_id, expires)?))
}

/// The key id of a valid, unexpired cookie value.
pub fn verify(secret: &[u8], value: &str, now: i64) -> Option<String> {
    let mut parts = value.rsplitn(3, '.');
    let sig = parts.next()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let key_id = parts.next()?;
    if expires < now || key_id.is_empty() {
        return None;
    }
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(key_id.as_bytes());
    mac.update(b".");
    mac.update(expires.to_string().as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&hex::decode(sig).ok()?).ok()?;
    Some(key_id.to_string())
}

/// The `dd_session` value among a request's `Cookie` headers.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a new session (or, with `None`, one that clears it).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!("{COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={LIFETIME_SECS}{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_cookie_verifies_until_it_expires() {
        let c = issue(SECRET, "key-1", 1000).unwrap();
        assert_eq!(verify(SECRET, &c, 1000).as_deref(), Some("key-1"));
        assert_eq!(verify(SECRET, &c, 1000 + LIFETIME_SECS).as_deref(), Some("key-1"));
        assert_eq!(verify(SECRET, &c, 1001 + LIFETIME_SECS), None);
    }

    #[test]
    fn a_forged_or_altered_cookie_is_refused() {
        let c = issue(SECRET, "key-1", 1000).unwrap();
        assert_eq!(verify(b"another secret of thirty-two b..", &c, 1000), None);
        let other = c.replacen("key-1", "key-2", 1);
        assert_eq!(verify(SECRET, &other, 1000), None);
        let (head, _) = c.rsplit_once('.').unwrap();
        let longer = head.replace(&(1000 + LIFETIME_SECS).to_string(), "99999999999");
        assert_eq!(verify(SECRET, &format!("{longer}.{}", &c[c.len() - 64..]), 1000), None);
        for bad in ["", "x", "a.b", "a.1.zz", ".1.00"] {
            assert_eq!(verify(SECRET, bad, 1000), None, "{bad}");
        }
    }

    #[test]
    fn a_user_subject_round_trips_and_a_key_id_stays_a_key() {
        let user = Subject::User {
            id: "0b7c",
            password_changed_ms: 1_700_000_000_123,
        };
        assert_eq!(Subject::parse(&user.encode()), user);
        assert_eq!(Subject::parse("5f1d-key"), Subject::Key("5f1d-key"));
        let c = issue(SECRET, &user.encode(), 1000).unwrap();
        assert_eq!(verify(SECRET, &c, 1000).as_deref(), Some("u:0b7c:1700000000123"));
        assert!(matches!(
            Subject::parse("u:0b7c:zz"),
            Subject::User {
                password_changed_ms: i64::MIN,
                ..
            }
        ));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.append(axum::http::header::COOKIE, "a=1; dd_session=abc.2.ff".parse().unwrap());
        assert_eq!(from_headers(&h).as_deref(), Some("abc.2.ff"));
        assert!(set_cookie(Some("v"), false).contains("HttpOnly; SameSite=Strict"));
    }
}
