//! `/v1/events`: create an event with its areas, list events (paged, searched, filtered), read one, edit
//! one, approve one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::paging::{Listing, Page};

use super::{id, AppState};
use crate::domain::event::{self, Event, EventEdit, EventFilters, NewEvent};
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

/// A page of events with their areas and seats left.
pub async fn list(
    State(state): State<AppState>,
    Listing(page, filters): Listing<EventFilters>,
) -> Result<Json<Page<Event>>, ApiError> {
    let (items, total) = repository::list_events(&state.pool, &page, &filters, Timestamp::now()).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// An event with its areas and seats left.
pub async fn get(State(state): State<AppState>, Path(event_id): Path<String>) -> Result<Json<Event>, ApiError> {
    Ok(Json(repository::get_event(&state.pool, id("eventId", &event_id)?, Timestamp::now()).await?))
}

/// Edits an event's name, venue, times and areas: 409 for a capacity below the seats sold or an approved
/// event's times.
pub async fn edit(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    JsonBody(body): JsonBody<EventEdit>,
) -> Result<Json<Event>, ApiError> {
    let event_id = id("eventId", &event_id)?;
    Ok(Json(repository::edit_event(&state.pool, event_id, &body, Timestamp::now()).await?))
}

/// Approves an event (idempotent); 409 once it has ended.
pub async fn approve(State(state): State<AppState>, Path(event_id): Path<String>) -> Result<Json<Event>, ApiError> {
    let id = id("eventId", &event_id).map_err(|error| error.fix("use the id POST /v1/events returned"))?;
    Ok(Json(repository::approve_event(&state.pool, id, Timestamp::now()).await?))
}
