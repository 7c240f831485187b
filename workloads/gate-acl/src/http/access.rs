//! `/v1/access` (admin key): prepare a ticket's access and get its signed QR code (what the ticketing
//! service calls when an order is paid), read it, revoke it (on a refund or expiry).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;

use super::AppState;
use crate::domain::acl::{self, AccessEntry, NewAccess, WithQr};
use crate::repository;

/// Prepares access: 201 with the entry and its QR code; 200 with the same when it was prepared before.
pub async fn prepare(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewAccess>,
) -> Result<(StatusCode, Json<WithQr<AccessEntry>>), ApiError> {
    acl::validate_access(&body)?;
    let (entry, created) = repository::prepare_access(&state.pool, &body, Timestamp::now()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(WithQr::access(entry, &state.keys))))
}

/// A ticket's access entry and QR code.
pub async fn get(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
) -> Result<Json<WithQr<AccessEntry>>, ApiError> {
    let entry = repository::get_access(&state.pool, &ticket_id).await?;
    Ok(Json(WithQr::access(entry, &state.keys)))
}

/// Revokes a ticket's access (idempotent): its code is denied `revoked` from now on.
pub async fn revoke(
    State(state): State<AppState>,
    Path(ticket_id): Path<String>,
) -> Result<Json<WithQr<AccessEntry>>, ApiError> {
    let entry = repository::revoke_access(&state.pool, &ticket_id, Timestamp::now()).await?;
    Ok(Json(WithQr::access(entry, &state.keys)))
}
