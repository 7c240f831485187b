//! The secrets the service hands out and how it stores them: random refresh tokens (`mfr_<43 base64url>`)
//! and API keys (`mf_<8 hex prefix>_<64 hex secret>`, their one format in `microfleet_common::api_key`: the
//! prefix visible and stored, the whole key stored as SHA-256 only), the checks of API-key scopes, and random
//! ids. A secret is never logged; its `Debug` says
//! `<redacted>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::DomainError;

/// The prefix of every refresh token.
pub const REFRESH_PREFIX: &str = "mfr_";
/// The longest scope list of a key.
pub const MAX_SCOPES: usize = 32;

pub use microfleet_common::api_key::{api_key_prefix, random_bytes, RandomError, API_KEY_FORMAT, API_KEY_PREFIX};

/// A random id (jti, refresh family): 16 bytes, unpadded base64url.
pub fn random_id() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// The SHA-256 of a secret, as stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A secret shown once to its owner.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A new refresh token.
pub fn new_refresh_token() -> Result<Secret, RandomError> {
    Ok(Secret(format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))))
}

/// A new API key (the one format, `microfleet_common::api_key`) and its visible prefix.
pub fn new_api_key() -> Result<(Secret, String), RandomError> {
    let (key, prefix) = microfleet_common::api_key::new_api_key()?;
    Ok((Secret(key), prefix))
}

/// Checks a scope list: 1 to [`MAX_SCOPES`] scopes, each `service:action` of lowercase letters, digits, `-`.
pub fn check_scopes(field: &str, scopes: &[String]) -> Result<(), DomainError> {
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return Err(DomainError::invalid(field, format!("must list 1 to {MAX_SCOPES} scopes")));
    }
    for (index, scope) in scopes.iter().enumerate() {
        let part_ok = |part: &str| {
            !part.is_empty()
                && part.len() <= 32
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let ok = scope.split_once(':').is_some_and(|(service, action)| part_ok(service) && part_ok(action));
        if !ok {
            return Err(DomainError::invalid(format!("{field}[{index}]"), "must be `service:action`")
                .fix("e.g. ticketing:admin or gate:scan"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_api_keys_parse_and_are_never_printed() {
        let (key, prefix) = new_api_key().unwrap();
        assert_eq!(api_key_prefix(&key.0), Some(prefix.as_str()));
        assert!(!format!("{key:?}").contains(&key.0[3..]));
        assert_eq!(api_key_prefix(&new_refresh_token().unwrap().0), None);
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(new_refresh_token().unwrap(), new_refresh_token().unwrap());
        assert_ne!(new_api_key().unwrap().0, new_api_key().unwrap().0);
        assert_ne!(random_id().unwrap(), random_id().unwrap());
    }

    #[test]
    fn scopes_are_service_colon_action() {
        let list = |scopes: &[&str]| scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            ("ok", list(&["ticketing:admin", "gate:scan"]), None),
            ("empty", list(&[]), Some("scopes")),
            ("no_colon", list(&["gate:scan", "admin"]), Some("scopes[1]")),
            ("upper", list(&["Gate:scan"]), Some("scopes[0]")),
            ("empty_action", list(&["gate:"]), Some("scopes[0]")),
            ("too_many", vec!["a:b".to_string(); MAX_SCOPES + 1], Some("scopes")),
        ];
        for (case, scopes, field) in cases {
            assert_eq!(check_scopes("scopes", &scopes).err().map(|e| e.field), field.map(String::from), "{case}");
        }
    }
}
