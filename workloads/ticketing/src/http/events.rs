//! `/v1/events`: create an event with its areas, list events, approve an event.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;

use super::AppState;
use crate::domain::event::{self, Event, NewEvent};
use crate::repository;

/// Creates an event waiting for approval: 201 with the event and its areas.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    event::validate_new_event(&body)?;
    let created = repository::create_event(&state.pool, &body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists every event with its areas and seats left.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(repository::list_events(&state.pool, Timestamp::now()).await?))
}

/// Approves an event (idempotent); 409 once it has ended.
pub async fn approve(State(state): State<AppState>, Path(event_id): Path<String>) -> Result<Json<Event>, ApiError> {
    let id = event_id.parse::<i64>().map_err(|_| {
        ApiError::bad_request("eventId", "must be an integer id").fix("use the id POST /v1/events returned")
    })?;
    Ok(Json(repository::approve_event(&state.pool, id, Timestamp::now()).await?))
}
