//! The wire types of the auth service's introspection, shared by the service (which answers) and
//! `auth_client` (which asks): `POST /v1/introspect` with `{"token": ...}` answers whether the API key or
//! access token is active and what it grants (RFC 7662's shape). Types only.

use serde::{Deserialize, Serialize};

/// `POST /v1/introspect`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectRequest {
    /// An API key or an access token.
    pub token: String,
}

/// Whether a key or token is active, and what it grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Introspection {
    /// Whether it is active.
    pub active: bool,
    /// `api_key` or `access_token` (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A user id, or `key:<prefix>` (when active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The key's name (when an active key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it grants: the key's scopes, or the scopes the token carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The user's roles (tokens; shown, never checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Expiry, Unix seconds (when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

impl std::fmt::Debug for IntrospectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntrospectRequest(<redacted>)")
    }
}
