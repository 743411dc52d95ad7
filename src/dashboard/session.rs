//! Dashboard sessions and CSRF: the cookie carries only a random id, the token the
//! session acts with stays in SQLite, and every form carries a per-session CSRF
//! token compared in constant time.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie (random id; HttpOnly, SameSite=Strict, path /dashboard).
pub(crate) const SESSION_COOKIE: &str = "onestack_session";
/// The pre-login CSRF cookie the login form is checked against (double submit),
/// since there is no session yet to hold the token.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "onestack_login_csrf";

/// What a logged-in browser acts as. `token` never leaves the server.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id_hash: String,
    pub csrf: String,
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub domain_name: String,
    pub project_id: String,
    pub project_name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// 256 random bits, hex: session ids and CSRF tokens.
pub(crate) fn random_secret() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The database key of a session id: its SHA-256, so the table alone opens nothing.
pub(crate) fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Constant-time equality of a submitted CSRF token with the expected one; an empty
/// expected or submitted value never matches.
pub(crate) fn csrf_matches(expected: &str, submitted: &str) -> bool {
    if expected.is_empty() || submitted.is_empty() || expected.len() != submitted.len() {
        return false;
    }
    expected
        .bytes()
        .zip(submitted.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The value of cookie `name` in the request, if sent (the last one wins, as a
/// later, more specific cookie would).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .rfind(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A `Set-Cookie` value for a dashboard cookie; `max_age` 0 deletes it.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secrets_are_random_and_long() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(id_hash(&a), a, "the key is not the id itself");
        assert_eq!(id_hash(&a), id_hash(&a));
    }

    #[test]
    fn csrf_needs_an_exact_non_empty_match() {
        let t = random_secret();
        assert!(csrf_matches(&t, &t.clone()));
        assert!(!csrf_matches(&t, ""));
        assert!(!csrf_matches("", ""));
        assert!(!csrf_matches(&t, &t[1..]));
        let mut other = t.clone().into_bytes();
        other[10] = if other[10] == b'a' { b'b' } else { b'a' };
        assert!(!csrf_matches(&t, &String::from_utf8(other).expect("utf8")));
    }

    #[test]
    fn cookies_are_found_among_others_and_junk_is_refused() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; onestack_session=abc123; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc123"));
        assert_eq!(cookie(&h, LOGIN_CSRF_COOKIE), None);
        let mut bad = HeaderMap::new();
        bad.append(COOKIE, HeaderValue::from_static("onestack_session=a%20b"));
        assert_eq!(cookie(&bad, SESSION_COOKIE), None);
    }

    #[test]
    fn cookies_are_httponly_and_strict() {
        let c = set_cookie(SESSION_COOKIE, "x", 60);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/dashboard"));
    }
}
