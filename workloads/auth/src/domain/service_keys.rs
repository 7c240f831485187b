//! Pre-provisioned service keys: the API keys (scope `auth:introspect` only) that the services calling the
//! introspection hold before the auth service runs — one file per key in `SERVICE_KEYS_DIR`, named after
//! the service, registered by `migrate`. What a valid key file is, and what registering one does given the
//! rows the database holds: nothing when the key is there already, else register it and revoke the older
//! keys registered under that name (a rotation); refuse a key that was revoked, that collides with another
//! key's prefix, or that exists without `auth:introspect`. The key is never part of a message.
//!
//! Pure: values in, decisions out. The files are read by `crate::service_keys`, the rows by `repository`.

use microfleet_common::scopes::AUTH_INTROSPECT;
use subtle::ConstantTimeEq;

use super::api_keys::ApiKeyInfo;
use super::secrets::{api_key_prefix, digest, Secret, API_KEY_FORMAT};

/// The `createdBy` of the keys registered from files (rotation revokes only these).
pub const CREATED_BY: &str = "service-keys";

/// The scopes of a service key.
pub fn scopes() -> Vec<String> {
    vec![AUTH_INTROSPECT.to_string()]
}

/// A key file, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceKey {
    /// The service (the file's name).
    pub name: String,
    /// The key.
    pub key: Secret,
    /// Its visible prefix.
    pub prefix: String,
}

impl ServiceKey {
    /// The digest stored for it.
    pub fn digest(&self) -> Vec<u8> {
        digest(&self.key.0)
    }
}

/// Why a key file is refused (each says how to fix it; none holds the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceKeyError {
    /// The file's name is not a service name.
    #[error("the file name must be a service name (a-z, 0-9 and '-', at most 63, e.g. ticketing): rename the file")]
    BadName,
    /// The content is not one API key.
    #[error("does not hold an API key: write one key of the form {API_KEY_FORMAT} (whitespace around it is ignored), or remove the file")]
    Malformed,
    /// The key exists and was revoked.
    #[error("holds a key that was revoked (at {0}): write a new key")]
    Revoked(jiff::Timestamp),
    /// Another key has the same prefix.
    #[error("holds a key whose prefix another key has: write a new key")]
    PrefixTaken,
    /// The key exists without `auth:introspect`.
    #[error("holds an existing key without the scope auth:introspect: write a new key, or create one with that scope")]
    MissingScope,
}

/// Parses a key file: `name` is the file's name, `content` its text.
pub fn parse(name: &str, content: &str) -> Result<ServiceKey, ServiceKeyError> {
    let valid_name = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_name {
        return Err(ServiceKeyError::BadName);
    }
    let key = content.trim();
    let prefix = api_key_prefix(key).ok_or(ServiceKeyError::Malformed)?.to_string();
    Ok(ServiceKey { name: name.to_string(), key: Secret(key.to_string()), prefix })
}

/// What registering a key does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The key is there already, usable: nothing changes.
    Present,
    /// Store it, and revoke these keys (ids) registered earlier under its name.
    Register {
        /// The older keys of that name (a rotation).
        revoke: Vec<i64>,
    },
}

/// What to do with `key`: `same_prefix` is the stored key with its prefix (and its digest), if any;
/// `registered` the keys registered from files under its name that are not revoked.
pub fn plan(
    key: &ServiceKey,
    same_prefix: Option<&(ApiKeyInfo, Vec<u8>)>,
    registered: &[ApiKeyInfo],
) -> Result<Registration, ServiceKeyError> {
    if let Some((stored, stored_digest)) = same_prefix {
        if !bool::from(key.digest().ct_eq(stored_digest)) {
            return Err(ServiceKeyError::PrefixTaken);
        }
        if let Some(at) = stored.revoked_at {
            return Err(ServiceKeyError::Revoked(at));
        }
        if !stored.scopes.iter().any(|scope| scope == AUTH_INTROSPECT) {
            return Err(ServiceKeyError::MissingScope);
        }
        return Ok(Registration::Present);
    }
    Ok(Registration::Register { revoke: registered.iter().map(|older| older.id).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    const KEY: &str = "mf_0123abcd_0000000000000000000000000000000000000000000000000000000000000001";
    const OTHER: &str = "mf_0123abcd_0000000000000000000000000000000000000000000000000000000000000002";

    fn stored(id: i64, key: &str, scopes: &[&str]) -> (ApiKeyInfo, Vec<u8>) {
        let info = ApiKeyInfo {
            id,
            prefix: api_key_prefix(key).unwrap().into(),
            name: "ticketing".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            created_by: CREATED_BY.into(),
            created_at: Timestamp::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        (info, digest(key))
    }

    #[test]
    fn key_files_hold_one_key_and_are_named_after_a_service() {
        let parsed = parse("gate-acl", &format!("  {KEY}\n")).unwrap();
        assert_eq!(
            (parsed.name.as_str(), parsed.prefix.as_str(), parsed.key.0.as_str()),
            ("gate-acl", "0123abcd", KEY)
        );
        let cases = [
            ("empty", "ticketing", "", ServiceKeyError::Malformed),
            ("two_keys", "ticketing", &*format!("{KEY}\n{KEY}"), ServiceKeyError::Malformed),
            ("not_a_key", "ticketing", "secret", ServiceKeyError::Malformed),
            ("upper_case_name", "Ticketing", KEY, ServiceKeyError::BadName),
            ("dotted_name", "ticketing.key", KEY, ServiceKeyError::BadName),
            ("empty_name", "", KEY, ServiceKeyError::BadName),
        ];
        for (case, name, content, expected) in cases {
            assert_eq!(parse(name, content), Err(expected), "{case}");
        }
        let message = parse("ticketing", "mf_nope").unwrap_err().to_string();
        assert!(message.contains(API_KEY_FORMAT) && !message.contains("mf_nope"), "{message}");
    }

    #[test]
    fn a_present_key_changes_nothing_a_new_one_revokes_the_older_ones() {
        let key = parse("ticketing", KEY).unwrap();
        let older = stored(7, OTHER.replace("0123abcd", "99999999").as_str(), &[AUTH_INTROSPECT]).0;
        let present = stored(3, KEY, &[AUTH_INTROSPECT]);
        let revoked = (ApiKeyInfo { revoked_at: Some(Timestamp::UNIX_EPOCH), ..present.0.clone() }, present.1.clone());
        let cases = [
            ("new", None, vec![], Ok(Registration::Register { revoke: vec![] })),
            ("rotated", None, vec![older.clone()], Ok(Registration::Register { revoke: vec![7] })),
            ("present", Some(present.clone()), vec![present.0.clone()], Ok(Registration::Present)),
            ("revoked", Some(revoked), vec![], Err(ServiceKeyError::Revoked(Timestamp::UNIX_EPOCH))),
            ("prefix_taken", Some(stored(4, OTHER, &[AUTH_INTROSPECT])), vec![], Err(ServiceKeyError::PrefixTaken)),
            ("no_introspection", Some(stored(5, KEY, &["gate:scan"])), vec![], Err(ServiceKeyError::MissingScope)),
        ];
        for (case, same_prefix, registered, expected) in cases {
            assert_eq!(plan(&key, same_prefix.as_ref(), &registered), expected, "{case}");
        }
    }
}
