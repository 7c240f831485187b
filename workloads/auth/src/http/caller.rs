//! Who calls a protected route: an access token (verified here against the service's own keys) or an API
//! key (looked up by prefix, compared by digest in constant time, refused when revoked or expired), presented
//! as `Authorization: Bearer ...` or `X-Api-Key`; what the caller may do is its scopes only (a token's, from
//! its user's roles at login; a key's, from its creation); and the client address of a request. Refusals are
//! 401 (or 403 without the scope) naming `Authorization`, and are recorded; the presented secret never is.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::credentials::presented_key;
use microfleet_common::{jwt, scopes};
use subtle::ConstantTimeEq;

use super::{db_error, AppState};
use crate::domain::api_keys::{check_usable, ApiKeyInfo, KeyRefusal};
use crate::domain::secrets::{api_key_prefix, digest, API_KEY_PREFIX};
use crate::repository::{self, AuditEvent, AuditKind, Outcome};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// A user id, or `key:<prefix>` for an API key.
    pub subject: String,
    /// The user's roles (none for a key; shown, never checked).
    pub roles: Vec<String>,
    /// What it may do: the token's scopes, or the key's.
    pub scopes: Vec<String>,
}

impl Caller {
    /// Whether the caller holds `scope`.
    pub fn may(&self, scope: &str) -> bool {
        self.scopes.iter().any(|held| held == scope)
    }
}

/// The client address: the first `X-Forwarded-For` entry when trusted, else the peer, else `unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .settings
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for").and_then(|value| value.to_str().ok()))
            .flatten()
            .and_then(|value| value.split(',').next())
            .map(|first| first.trim().to_string())
            .filter(|first| !first.is_empty() && first.len() <= 64);
        let peer = || parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
        Ok(ClientAddress(forwarded.or_else(peer).unwrap_or_else(|| "unknown".to_string())))
    }
}

/// A caller allowed to administer users (scope `auth:users`).
#[derive(Debug, Clone)]
pub struct UsersAdmin(pub Caller);

impl FromRequestParts<AppState> for UsersAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(UsersAdmin(require(parts, state, scopes::AUTH_USERS).await?))
    }
}

/// A caller allowed to administer API keys (scope `auth:keys`).
#[derive(Debug, Clone)]
pub struct KeysAdmin(pub Caller);

impl FromRequestParts<AppState> for KeysAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(KeysAdmin(require(parts, state, scopes::AUTH_KEYS).await?))
    }
}

/// A caller allowed to introspect (a service's key with `auth:introspect`).
#[derive(Debug, Clone)]
pub struct Introspector(pub Caller);

impl FromRequestParts<AppState> for Introspector {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Introspector(require(parts, state, scopes::AUTH_INTROSPECT).await?))
    }
}

async fn require(parts: &mut Parts, state: &AppState, scope: &str) -> Result<Caller, ApiError> {
    let ClientAddress(address) = ClientAddress::from_request_parts(parts, state).await?;
    let refuse = |reason: &'static str| AuditEvent {
        kind: AuditKind::Access,
        outcome: Outcome::Refused,
        subject: None,
        address: Some(address.clone()),
        reason: Some(reason),
    };
    let Some(presented) = presented_key(&parts.headers) else {
        state.record(refuse("no_credentials")).await;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "no credentials")
            .field("Authorization")
            .fix("send `Authorization: Bearer <access token or API key>`"));
    };
    let caller = match authenticate(state, presented, Timestamp::now()).await? {
        Ok(caller) => caller,
        Err(reason) => {
            state.record(refuse(reason)).await;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, format!("the credentials are not valid ({reason})"))
                .field("Authorization")
                .fix("log in again or use a valid API key"));
        }
    };
    if !caller.may(scope) {
        state.record(AuditEvent { subject: Some(caller.subject.clone()), ..refuse("missing_scope") }).await;
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("needs the scope {scope}")).field("Authorization"));
    }
    Ok(caller)
}

/// The caller a presented token or key stands for, or the label of why it is refused.
pub async fn authenticate(
    state: &AppState,
    presented: &str,
    now: Timestamp,
) -> Result<Result<Caller, &'static str>, ApiError> {
    if presented.starts_with(API_KEY_PREFIX) {
        return Ok(check_api_key(state, presented, now).await?.map_err(KeyRefusal::as_str).map(|key| Caller {
            subject: format!("key:{}", key.prefix),
            roles: Vec::new(),
            scopes: key.scopes,
        }));
    }
    let verified = jwt::verify(presented, state.keys.key_set(), &state.settings.expectations(), now.as_second());
    Ok(verified.map_err(jwt::JwtError::as_str).map(|claims| Caller {
        subject: claims.sub,
        roles: claims.roles,
        scopes: claims.scopes,
    }))
}

/// Checks a presented API key: found by prefix, its digest equal in constant time, not revoked, not expired;
/// an accepted key's last use is noted.
pub async fn check_api_key(
    state: &AppState,
    presented: &str,
    now: Timestamp,
) -> Result<Result<ApiKeyInfo, KeyRefusal>, ApiError> {
    let Some(prefix) = api_key_prefix(presented) else { return Ok(Err(KeyRefusal::Malformed)) };
    let found = repository::find_api_key(&state.pool, prefix).await.map_err(db_error)?;
    let Some((key, stored)) = found else { return Ok(Err(KeyRefusal::Unknown)) };
    if !bool::from(digest(presented).ct_eq(&stored)) {
        return Ok(Err(KeyRefusal::Unknown));
    }
    if let Err(refusal) = check_usable(&key, now) {
        return Ok(Err(refusal));
    }
    repository::touch_api_key(&state.pool, key.id, now).await.map_err(db_error)?;
    Ok(Ok(key))
}
