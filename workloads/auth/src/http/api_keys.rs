//! API keys (callers with `auth:keys`): create one (the key is in this answer only; its digest is stored),
//! list them, read one, revoke one; and `POST /v1/introspect` (callers with `auth:introspect`): whether a
//! presented API key or
//! access token is active, with its subject, scopes or roles and expiry (RFC 7662's shape).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::auth_wire::{IntrospectRequest, Introspection};
use microfleet_common::json_body::JsonBody;
use microfleet_common::jwt;
use microfleet_common::paging::{Listing, NoFilters, Page};
use serde::Serialize;

use super::caller::{check_api_key, ClientAddress, Introspector, KeysAdmin};
use super::{db_error, id, AppState};
use crate::domain::api_keys::{validate_new_key, ApiKeyInfo, NewApiKey};
use crate::domain::secrets::{digest, new_api_key, API_KEY_PREFIX};
use crate::repository::{self, AuditEvent, AuditKind, Outcome};

/// A new key: shown once (no `Debug`: it is never printed).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The key (`mf_<prefix>_<secret>`); not retrievable later.
    pub key: String,
    /// Its stored facts.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
}

/// Creates an API key: 201 with the key, once.
pub async fn create(
    State(state): State<AppState>,
    KeysAdmin(caller): KeysAdmin,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let now = Timestamp::now();
    validate_new_key(&body, now)?;
    let (key, prefix) = new_api_key().map_err(|error| ApiError::internal(&error))?;
    let audit = AuditEvent::change(AuditKind::ApiKeyCreate, Outcome::Granted, Some(address));
    let (info, event) =
        repository::create_api_key(&state.pool, &body, &prefix, &digest(&key.0), &caller.subject, now, &audit)
            .await
            .map_err(db_error)?;
    state.recorded(&event);
    Ok((StatusCode::CREATED, Json(CreatedKey { key: key.0, info })))
}

/// A page of keys' stored facts (never a key).
pub async fn list(
    State(state): State<AppState>,
    KeysAdmin(_): KeysAdmin,
    Listing(page, NoFilters {}): Listing<NoFilters>,
) -> Result<Json<Page<ApiKeyInfo>>, ApiError> {
    let (items, total) = repository::list_api_keys(&state.pool, &page).await.map_err(db_error)?;
    Ok(Json(Page::new(items, total, &page)))
}

/// A key's stored facts (never the key).
pub async fn get(
    State(state): State<AppState>,
    KeysAdmin(_): KeysAdmin,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    Ok(Json(repository::get_api_key(&state.pool, id("id", &key_id)?).await?))
}

/// Revokes a key: it stops working at once here, and at the latest after the verifiers' cache lifetime.
pub async fn revoke(
    State(state): State<AppState>,
    KeysAdmin(_): KeysAdmin,
    ClientAddress(address): ClientAddress,
    Path(key_id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    let audit = AuditEvent::change(AuditKind::ApiKeyRevoke, Outcome::Revoked, Some(address));
    let (info, event) = repository::revoke_api_key(&state.pool, id("id", &key_id)?, Timestamp::now(), &audit).await?;
    state.recorded(&event);
    Ok(Json(info))
}

/// Introspects an API key or an access token: 200 with `active` true or false.
pub async fn introspect(
    State(state): State<AppState>,
    Introspector(caller): Introspector,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<IntrospectRequest>,
) -> Result<Json<Introspection>, ApiError> {
    let now = Timestamp::now();
    let (answer, reason) = if body.token.starts_with(API_KEY_PREFIX) {
        match check_api_key(&state, &body.token, now).await? {
            Ok(key) => (
                Introspection {
                    active: true,
                    kind: Some("api_key".into()),
                    sub: Some(format!("key:{}", key.prefix)),
                    name: Some(key.name),
                    scopes: key.scopes,
                    roles: Vec::new(),
                    exp: key.expires_at.map(Timestamp::as_second),
                },
                None,
            ),
            Err(refusal) => (Introspection::default(), Some(refusal.as_str())),
        }
    } else {
        match jwt::verify(&body.token, state.keys.key_set(), &state.settings.expectations(), now.as_second()) {
            Ok(claims) => (
                Introspection {
                    active: true,
                    kind: Some("access_token".into()),
                    sub: Some(claims.sub),
                    name: None,
                    scopes: claims.scopes,
                    roles: claims.roles,
                    exp: Some(claims.exp),
                },
                None,
            ),
            Err(error) => (Introspection::default(), Some(error.as_str())),
        }
    };
    let outcome = if answer.active { Outcome::Granted } else { Outcome::Refused };
    let subject = answer.sub.clone().or(Some(format!("by {}", caller.subject)));
    state.record(AuditEvent { kind: AuditKind::Introspect, outcome, subject, address: Some(address), reason }).await;
    Ok(Json(answer))
}
