//! Login, refresh and logout: `POST /v1/login` (username and password; the per-address limit, the account
//! lock the person sees until when, Argon2id verification off the async threads), `POST /v1/token/refresh`
//! (one-time refresh tokens; a reused one revokes its family) and `POST /v1/logout`. Each answer is a fresh
//! access token and refresh token; each outcome is recorded without the password or tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::jwt::Claims;
use serde::{Deserialize, Serialize};

use super::caller::ClientAddress;
use super::{db_error, AppState};
use crate::domain::lockout::{address_blocked_until, locked_until};
use crate::domain::scopes::scopes_of;
use crate::domain::secrets::{digest, new_refresh_token, random_id, Secret};
use crate::domain::user::User;
use crate::repository::{self, AuditEvent, AuditKind, Outcome, Rotation};

/// `POST /v1/login`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// `POST /v1/token/refresh` and `POST /v1/logout`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

/// A new access token and refresh token (no `Debug`: it is never printed).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// The access token (a JWT).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    /// The refresh token (one-time).
    pub refresh_token: String,
    /// Seconds the refresh token is valid.
    pub refresh_expires_in: i64,
}

fn event(
    kind: AuditKind,
    outcome: Outcome,
    subject: Option<String>,
    address: &str,
    reason: Option<&'static str>,
) -> AuditEvent {
    AuditEvent { kind, outcome, subject, address: Some(address.to_string()), reason }
}

fn wrong_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "the username or password is wrong").field("password")
}

fn locked(until: Timestamp) -> ApiError {
    ApiError::new(StatusCode::LOCKED, format!("the account is locked until {until} after too many failed logins"))
        .field("username")
        .fix("try again after that time, or ask an admin to unlock the account")
}

/// Signs an access token for `user` and pairs it with `refresh`.
fn pair(state: &AppState, user: &User, refresh: Secret, now: Timestamp) -> Result<TokenPair, ApiError> {
    let settings = &state.settings;
    let claims = Claims {
        iss: settings.issuer.clone(),
        sub: user.id.to_string(),
        aud: settings.audience.clone(),
        exp: (now + settings.access_ttl).as_second(),
        iat: now.as_second(),
        nbf: now.as_second(),
        jti: random_id().map_err(|error| ApiError::internal(&error))?,
        roles: user.roles.iter().map(|role| role.as_str().to_string()).collect(),
        scopes: scopes_of(&user.roles),
    };
    Ok(TokenPair {
        access_token: state.keys.signer().sign(&claims),
        token_type: "Bearer",
        expires_in: settings.access_ttl.as_secs(),
        refresh_token: refresh.0,
        refresh_expires_in: settings.refresh_ttl.as_secs(),
    })
}

async fn verify_password(state: &AppState, password: String, hash: String) -> Result<bool, ApiError> {
    let hashing = state.hashing.clone();
    tokio::task::spawn_blocking(move || hashing.verify(&password, &hash))
        .await
        .map_err(|error| ApiError::internal(&error))
}

/// Logs a user in: 200 with a token pair; 401 wrong credentials (naming `password`), 423 locked (until
/// when), 403 not confirmed, 429 too many failures from this address.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let now = Timestamp::now();
    let policy = state.settings.policy;
    let window = repository::address_window(&state.pool, &address).await.map_err(db_error)?;
    if let Some(until) = address_blocked_until(window, &policy, now) {
        state.record(event(AuditKind::Login, Outcome::Refused, None, &address, Some("address_limited"))).await;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins from this address; try again after {until}"),
        )
        .field("clientAddress"));
    }
    let found = repository::find_login(&state.pool, &body.username).await.map_err(db_error)?;
    let Some((user, hash)) = found else {
        verify_password(&state, body.password, state.dummy_hash.to_string()).await?;
        repository::record_failure(&state.pool, None, &address, &policy, now).await.map_err(db_error)?;
        state.record(event(AuditKind::Login, Outcome::Refused, None, &address, Some("unknown_user"))).await;
        return Err(wrong_credentials());
    };
    let subject = Some(user.id.to_string());
    if let Some(until) = locked_until(user.locked_until, now) {
        state.record(event(AuditKind::Login, Outcome::Refused, subject, &address, Some("locked"))).await;
        return Err(locked(until));
    }
    if !verify_password(&state, body.password, hash).await? {
        let lock =
            repository::record_failure(&state.pool, Some(user.id), &address, &policy, now).await.map_err(db_error)?;
        let reason = if lock.is_some() { "bad_password_locked" } else { "bad_password" };
        state.record(event(AuditKind::Login, Outcome::Refused, subject, &address, Some(reason))).await;
        return Err(lock.map_or_else(wrong_credentials, locked));
    }
    if !user.confirmed {
        state.record(event(AuditKind::Login, Outcome::Refused, subject, &address, Some("unconfirmed"))).await;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "the account is not confirmed yet").field("username"));
    }
    let refresh = new_refresh_token().map_err(|error| ApiError::internal(&error))?;
    let family = random_id().map_err(|error| ApiError::internal(&error))?;
    let expires = now + state.settings.refresh_ttl;
    let refresh_hash = digest(&refresh.0);
    let answer = pair(&state, &user, refresh, now)?;
    let granted = event(AuditKind::Login, Outcome::Granted, subject, &address, None);
    repository::grant_login(&state.pool, user.id, &family, &refresh_hash, now, expires, &granted)
        .await
        .map_err(db_error)?;
    state.recorded(&granted);
    Ok(Json(answer))
}

/// Exchanges a refresh token for a new pair; the old one is used up. 401 naming `refreshToken` when it is
/// unknown, expired, revoked or already used (which revokes every token of that login).
pub async fn refresh(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let now = Timestamp::now();
    let next = new_refresh_token().map_err(|error| ApiError::internal(&error))?;
    let expires = now + state.settings.refresh_ttl;
    let audit = |rotation: &Rotation| {
        let (outcome, subject, reason) = match rotation {
            Rotation::Rotated(user, _) => (Outcome::Granted, Some(user.id.to_string()), None),
            Rotation::Unknown => (Outcome::Refused, None, Some("unknown")),
            Rotation::Expired => (Outcome::Refused, None, Some("expired")),
            Rotation::Revoked => (Outcome::Refused, None, Some("revoked")),
            Rotation::Reused(user_id) => (Outcome::Revoked, Some(user_id.to_string()), Some("reuse")),
        };
        event(AuditKind::Refresh, outcome, subject, &address, reason)
    };
    let (rotation, recorded) =
        repository::rotate_refresh(&state.pool, &digest(&body.refresh_token), &digest(&next.0), now, expires, audit)
            .await
            .map_err(db_error)?;
    state.recorded(&recorded);
    let refuse = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, message).field("refreshToken");
    match rotation {
        Rotation::Rotated(user, _) => Ok(Json(pair(&state, &user, next, now)?)),
        Rotation::Unknown => Err(refuse("unknown refresh token")),
        Rotation::Expired => Err(refuse("the refresh token has expired")),
        Rotation::Revoked => Err(refuse("the refresh token was revoked")),
        Rotation::Reused(_) => {
            Err(refuse("the refresh token was already used: every token of this login is now revoked")
                .fix("log in again"))
        }
    }
}

/// Revokes the refresh token and every token of its login: 204 (also for an unknown token).
pub async fn logout(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let audit = |user: Option<i64>| match user {
        Some(id) => event(AuditKind::Logout, Outcome::Revoked, Some(id.to_string()), &address, None),
        None => event(AuditKind::Logout, Outcome::Refused, None, &address, Some("unknown")),
    };
    let recorded = repository::revoke_family(&state.pool, &digest(&body.refresh_token), Timestamp::now(), audit)
        .await
        .map_err(db_error)?;
    state.recorded(&recorded);
    Ok(StatusCode::NO_CONTENT)
}
