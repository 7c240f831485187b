//! The rules of a browser session, pure: random session ids and CSRF tokens, the digest the database keys
//! sessions by, the cookie the browser holds (HttpOnly, SameSite=Strict, Secure when configured), when the
//! access token must be refreshed, and the constant-time CSRF check. No I/O here.

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie holding the session id.
pub const SESSION_COOKIE: &str = "mf_session";
/// The cookie holding the login form's CSRF token (before there is a session).
pub const LOGIN_CSRF_COOKIE: &str = "mf_login_csrf";

/// A random secret (256 bits, URL-safe base64): session ids and CSRF tokens.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 (hex) of a session id: what the database stores, so its rows cannot be replayed as cookies.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, this lifetime (0 clears it), Secure when `secure`.
pub fn set_cookie(name: &str, value: &str, max_age: SignedDuration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{secure}", max_age.as_secs().max(0))
}

/// Whether an access token expiring at `expires_at` must be refreshed now (it expires within `margin`).
pub fn needs_refresh(expires_at: Timestamp, now: Timestamp, margin: SignedDuration) -> bool {
    expires_at <= now + margin
}

/// Whether the token a form presented is the expected one, in constant time (an absent token never is).
pub fn csrf_matches(expected: &str, presented: Option<&str>) -> bool {
    presented
        .is_some_and(|presented| !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secrets_are_random_and_only_their_digest_is_a_key() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in unpadded base64");
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", HeaderValue::from_static("a=1; mf_session=s3cret; b=2"));
        headers.append("cookie", HeaderValue::from_static("mf_login_csrf=t0k"));
        let cases = [
            ("session", SESSION_COOKIE, Some("s3cret")),
            ("second_header", LOGIN_CSRF_COOKIE, Some("t0k")),
            ("absent", "other", None),
        ];
        for (case, name, expected) in cases {
            assert_eq!(cookie(&headers, name), expected, "{case}");
        }
        let mut empty = HeaderMap::new();
        empty.append("cookie", HeaderValue::from_static("mf_session="));
        assert_eq!(cookie(&empty, SESSION_COOKIE), None, "an empty (cleared) cookie is no session");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_asked() {
        assert_eq!(
            set_cookie("mf_session", "x", SignedDuration::from_hours(1), true),
            "mf_session=x; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            set_cookie("mf_session", "", SignedDuration::ZERO, false),
            "mf_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn a_token_is_refreshed_within_the_margin() {
        let now: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let margin = SignedDuration::from_secs(30);
        let cases =
            [("fresh", 300, false), ("at_margin", 30, true), ("inside_margin", 10, true), ("expired", -5, true)];
        for (case, seconds, expected) in cases {
            assert_eq!(needs_refresh(now + SignedDuration::from_secs(seconds), now, margin), expected, "{case}");
        }
    }

    #[test]
    fn csrf_tokens_match_only_exactly() {
        let cases = [
            ("same", Some("abc"), true),
            ("other", Some("abd"), false),
            ("prefix", Some("ab"), false),
            ("absent", None, false),
            ("empty", Some(""), false),
        ];
        for (case, presented, expected) in cases {
            assert_eq!(csrf_matches("abc", presented), expected, "{case}");
        }
        assert!(!csrf_matches("", Some("")), "no expected token accepts nothing");
    }
}
