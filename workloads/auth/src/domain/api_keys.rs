//! API keys of services and gate devices as the admin sees them (name, visible prefix, scopes, expiry, last
//! use, revocation), what a valid new key is, and whether a presented key is accepted. The key itself is
//! only in the creation answer (`secrets`); nothing here holds it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::secrets::check_scopes;
use super::{check_text, DomainError};

/// `POST /v1/api-keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewApiKey {
    /// Who uses it (`ticketing-service`, `gate-north-1a`).
    pub name: String,
    /// What it may do (`ticketing:admin`, `gate:scan`, `auth:introspect`).
    pub scopes: Vec<String>,
    /// When it stops working; never when absent.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// A key's stored facts (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// Id.
    pub id: i64,
    /// The visible part of the key (`mf_<prefix>_...`).
    pub prefix: String,
    /// Who uses it.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Who created it (the admin's token subject).
    pub created_by: String,
    /// Created.
    pub created_at: Timestamp,
    /// Stops working then.
    pub expires_at: Option<Timestamp>,
    /// Last accepted.
    pub last_used_at: Option<Timestamp>,
    /// Revoked then.
    pub revoked_at: Option<Timestamp>,
}

/// Why a presented key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Not a key's shape.
    Malformed,
    /// No such key (or the secret part does not match).
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Valid, but without the scope asked for.
    MissingScope,
}

impl KeyRefusal {
    /// The label in audit rows and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRefusal::Malformed => "malformed",
            KeyRefusal::Unknown => "unknown",
            KeyRefusal::Revoked => "revoked",
            KeyRefusal::Expired => "expired",
            KeyRefusal::MissingScope => "missing_scope",
        }
    }
}

/// Checks a new key's fields at `now`.
pub fn validate_new_key(key: &NewApiKey, now: Timestamp) -> Result<(), DomainError> {
    check_text("name", &key.name, 100)?;
    check_scopes("scopes", &key.scopes)?;
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(DomainError::invalid("expiresAt", "must be in the future"));
    }
    Ok(())
}

/// Whether a found key (whose secret matched) is usable at `now`.
pub fn check_usable(key: &ApiKeyInfo, now: Timestamp) -> Result<(), KeyRefusal> {
    if key.revoked_at.is_some() {
        return Err(KeyRefusal::Revoked);
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(KeyRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn key() -> ApiKeyInfo {
        ApiKeyInfo {
            id: 1,
            prefix: "1a2b3c4d".into(),
            name: "gate-north-1a".into(),
            scopes: vec!["gate:scan".into()],
            created_by: "1".into(),
            created_at: Timestamp::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn revoked_and_expired_keys_are_refused() {
        let now = Timestamp::from_second(1_900_000_000).unwrap();
        let hour = SignedDuration::from_hours(1);
        let cases = [
            ("usable", key(), Ok(())),
            ("expires_later", ApiKeyInfo { expires_at: Some(now + hour), ..key() }, Ok(())),
            ("expired", ApiKeyInfo { expires_at: Some(now - hour), ..key() }, Err(KeyRefusal::Expired)),
            ("expires_now", ApiKeyInfo { expires_at: Some(now), ..key() }, Err(KeyRefusal::Expired)),
            ("revoked", ApiKeyInfo { revoked_at: Some(now - hour), ..key() }, Err(KeyRefusal::Revoked)),
        ];
        for (case, key, expected) in cases {
            assert_eq!(check_usable(&key, now), expected, "{case}");
        }
    }

    #[test]
    fn new_keys_need_a_name_scopes_and_a_future_expiry() {
        let now = Timestamp::from_second(1_900_000_000).unwrap();
        let new =
            || NewApiKey { name: "ticketing-service".into(), scopes: vec!["ticketing:admin".into()], expires_at: None };
        let cases = [
            ("valid", new(), None),
            ("blank_name", NewApiKey { name: "".into(), ..new() }, Some("name")),
            ("no_scopes", NewApiKey { scopes: vec![], ..new() }, Some("scopes")),
            ("past_expiry", NewApiKey { expires_at: Some(now), ..new() }, Some("expiresAt")),
        ];
        for (case, key, field) in cases {
            assert_eq!(validate_new_key(&key, now).err().map(|e| e.field), field.map(String::from), "{case}");
        }
    }
}
