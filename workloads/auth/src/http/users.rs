//! Users (callers with `auth:users` only): create one (its password hashed with Argon2id off the async
//! threads), list them, read one, confirm one, set their roles, and lift a lock.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::paging::{Listing, Page};

use super::caller::{ClientAddress, UsersAdmin};
use super::{db_error, id, AppState};
use crate::domain::user::{check_roles, validate_new_user, NewUser, RolesEdit, User, UserFilters};
use crate::repository::{self, AuditEvent, AuditKind, Outcome};

/// Creates a user: 201.
pub async fn create(
    State(state): State<AppState>,
    UsersAdmin(caller): UsersAdmin,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    validate_new_user(&body)?;
    let hashing = state.hashing.clone();
    let password = body.password.clone();
    let hash = tokio::task::spawn_blocking(move || hashing.hash(&password))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| ApiError::internal(&error))?;
    let audit = AuditEvent::change(AuditKind::UserCreate, Outcome::Granted, Some(address));
    let (user, event) = repository::create_user(&state.pool, &body, &hash, Timestamp::now(), &audit).await?;
    state.recorded(&event);
    tracing::info!(by = caller.subject, user = user.id, "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

/// A page of users, with their lock states.
pub async fn list(
    State(state): State<AppState>,
    UsersAdmin(_): UsersAdmin,
    Listing(page, filters): Listing<UserFilters>,
) -> Result<Json<Page<User>>, ApiError> {
    let (items, total) = repository::list_users(&state.pool, &page, &filters).await.map_err(db_error)?;
    Ok(Json(Page::new(items, total, &page)))
}

/// Confirms a user's account: from then on they can log in.
pub async fn confirm(
    State(state): State<AppState>,
    UsersAdmin(caller): UsersAdmin,
    ClientAddress(address): ClientAddress,
    Path(user_id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let audit = AuditEvent::change(AuditKind::UserConfirm, Outcome::Granted, Some(address));
    let (user, event) = repository::confirm_user(&state.pool, id("id", &user_id)?, &audit).await?;
    state.recorded(&event);
    tracing::info!(by = caller.subject, user = user.id, "user confirmed");
    Ok(Json(user))
}

/// Sets a user's roles: their next access token carries them.
pub async fn set_roles(
    State(state): State<AppState>,
    UsersAdmin(caller): UsersAdmin,
    ClientAddress(address): ClientAddress,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<RolesEdit>,
) -> Result<Json<User>, ApiError> {
    let user_id = id("id", &user_id)?;
    check_roles(&body.roles)?;
    let audit = AuditEvent::change(AuditKind::UserRoles, Outcome::Granted, Some(address));
    let (user, event) = repository::set_roles(&state.pool, user_id, &body.roles, &audit).await?;
    state.recorded(&event);
    let roles: Vec<&str> = user.roles.iter().map(|role| role.as_str()).collect();
    tracing::info!(by = caller.subject, user = user.id, roles = ?roles, "user roles set");
    Ok(Json(user))
}

/// A user, with their lock state.
pub async fn get(
    State(state): State<AppState>,
    UsersAdmin(_): UsersAdmin,
    Path(user_id): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(repository::get_user(&state.pool, id("id", &user_id)?).await?))
}

/// Lifts a user's lock and resets their failure count.
pub async fn unlock(
    State(state): State<AppState>,
    UsersAdmin(caller): UsersAdmin,
    ClientAddress(address): ClientAddress,
    Path(user_id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let audit = AuditEvent::change(AuditKind::UserUnlock, Outcome::Granted, Some(address));
    let (user, event) = repository::unlock(&state.pool, id("id", &user_id)?, &audit).await?;
    state.recorded(&event);
    tracing::info!(by = caller.subject, user = user.id, "user unlocked");
    Ok(Json(user))
}
