//! API keys: the key a service is configured with (from a Secret) and the middleware that admits only
//! requests presenting it, as `Authorization: Bearer <key>` or `X-Api-Key: <key>`. Keys are compared in
//! constant time (over their SHA-256 digests, so neither content nor length leaks through timing) and never
//! logged. Issuing keys is the auth service's job, not this module's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api_error::ApiError;

/// The shortest key a service accepts at start-up.
pub const MIN_KEY_LENGTH: usize = 16;

/// A configured API key; only its digest is kept.
#[derive(Clone)]
pub struct ApiKey(Arc<[u8; 32]>);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// Accepts a key of at least [`MIN_KEY_LENGTH`] characters; the error says why not, without the key.
    pub fn new(key: &str) -> Result<ApiKey, String> {
        if key.trim().len() < MIN_KEY_LENGTH {
            return Err(format!("the API key must have at least {MIN_KEY_LENGTH} characters"));
        }
        Ok(ApiKey(Arc::new(Sha256::digest(key.as_bytes()).into())))
    }

    /// Whether a presented key is this one, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(self.0.as_slice()).into()
    }
}

/// The key a request presents: `Authorization: Bearer <key>`, else `X-Api-Key: <key>`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer.or_else(|| headers.get("x-api-key").and_then(|value| value.to_str().ok())).map(str::trim)
}

/// Middleware (`axum::middleware::from_fn_with_state(key, require_api_key)`): 401 unless the request
/// presents the key.
pub async fn require_api_key(State(key): State<ApiKey>, request: Request, next: Next) -> Result<Response, ApiError> {
    match presented_key(request.headers()) {
        Some(presented) if key.matches(presented) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "the API key is not valid")
            .field("Authorization")
            .fix("send the service's API key")),
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "no API key")
            .field("Authorization")
            .fix("send `Authorization: Bearer <key>` or `X-Api-Key: <key>`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_themselves() {
        let key = ApiKey::new("0123456789abcdef-admin").unwrap();
        let cases = [
            ("same_key", "0123456789abcdef-admin", true),
            ("prefix", "0123456789abcdef", false),
            ("longer", "0123456789abcdef-admin!", false),
            ("other", "fedcba9876543210-admin", false),
            ("empty", "", false),
        ];
        for (case, presented, expected) in cases {
            assert_eq!(key.matches(presented), expected, "{case}");
        }
    }

    #[test]
    fn short_keys_are_refused_and_never_shown() {
        let error = ApiKey::new("short-secret").unwrap_err();
        assert!(!error.contains("short-secret"));
        assert!(!format!("{:?}", ApiKey::new("0123456789abcdef-admin").unwrap()).contains("0123"));
    }

    #[test]
    fn presented_key_reads_bearer_then_x_api_key() {
        type Case = (&'static str, &'static [(&'static str, &'static str)], Option<&'static str>);
        let cases: [Case; 4] = [
            ("bearer", &[("authorization", "Bearer k1")], Some("k1")),
            ("x_api_key", &[("x-api-key", "k2")], Some("k2")),
            ("bearer_wins", &[("authorization", "Bearer k1"), ("x-api-key", "k2")], Some("k1")),
            ("basic_is_not_a_key", &[("authorization", "Basic abc")], None),
        ];
        for (case, headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().unwrap());
            }
            assert_eq!(presented_key(&map), expected, "{case}");
        }
    }
}
