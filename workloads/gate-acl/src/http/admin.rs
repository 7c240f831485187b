//! Administration (admin key): events and their areas, gates, staff and their work windows, and the staff
//! and shifts lists.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::paging::{Listing, Page};

use super::{id, AppState};
use crate::domain::acl::{
    self, Event, EventSpec, Gate, NewGate, NewShift, NewStaff, ShiftFilters, ShiftSummary, Staff, StaffFilters, WithQr,
};
use crate::repository;

/// Creates or updates an event and its areas (what the ticketing service's `event.approved` carries).
pub async fn put_event(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
    JsonBody(body): JsonBody<EventSpec>,
) -> Result<Json<Event>, ApiError> {
    let event_id = id("eventId", &event_id)?;
    acl::validate_event(&body)?;
    Ok(Json(repository::put_event(&state.pool, event_id, &body, Timestamp::now()).await?))
}

/// An event with its areas and gates (a gate device's set-up reads its gate id here).
pub async fn get_event(State(state): State<AppState>, Path(event_id): Path<String>) -> Result<Json<Event>, ApiError> {
    Ok(Json(repository::get_event(&state.pool, id("eventId", &event_id)?).await?))
}

/// Creates a gate admitting some of its event's areas: 201.
pub async fn create_gate(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewGate>,
) -> Result<(StatusCode, Json<Gate>), ApiError> {
    acl::validate_gate(&body)?;
    Ok((StatusCode::CREATED, Json(repository::create_gate(&state.pool, &body).await?)))
}

/// Registers a staff member: 201 with their QR code.
pub async fn create_staff(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewStaff>,
) -> Result<(StatusCode, Json<WithQr<Staff>>), ApiError> {
    acl::validate_staff(&body)?;
    let staff = repository::create_staff(&state.pool, &body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, Json(WithQr::staff(staff, &state.keys))))
}

/// A page of staff members with their work windows (no QR codes: `GET /v1/staff/{id}` has one).
pub async fn list_staff(
    State(state): State<AppState>,
    Listing(page, filters): Listing<StaffFilters>,
) -> Result<Json<Page<Staff>>, ApiError> {
    let (items, total) = repository::list_staff(&state.pool, &page, &filters).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// A page of work windows (the seed's schedules) with their staff member's name.
pub async fn list_shifts(
    State(state): State<AppState>,
    Listing(page, filters): Listing<ShiftFilters>,
) -> Result<Json<Page<ShiftSummary>>, ApiError> {
    let (items, total) = repository::list_shifts(&state.pool, &page, &filters).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// A staff member with their work windows and QR code.
pub async fn get_staff(
    State(state): State<AppState>,
    Path(staff_id): Path<String>,
) -> Result<Json<WithQr<Staff>>, ApiError> {
    let staff = repository::get_staff(&state.pool, id("staffId", &staff_id)?).await?;
    Ok(Json(WithQr::staff(staff, &state.keys)))
}

/// Adds a work window, waiting for approval.
pub async fn add_shift(
    State(state): State<AppState>,
    Path(staff_id): Path<String>,
    JsonBody(body): JsonBody<NewShift>,
) -> Result<Json<WithQr<Staff>>, ApiError> {
    let staff_id = id("staffId", &staff_id)?;
    acl::validate_shift(&body)?;
    let staff = repository::add_shift(&state.pool, staff_id, &body).await?;
    Ok(Json(WithQr::staff(staff, &state.keys)))
}

/// Approves a work window.
pub async fn approve_shift(
    State(state): State<AppState>,
    Path((staff_id, shift_id)): Path<(String, String)>,
) -> Result<Json<WithQr<Staff>>, ApiError> {
    let (staff_id, shift_id) = (id("staffId", &staff_id)?, id("shiftId", &shift_id)?);
    let staff = repository::approve_shift(&state.pool, staff_id, shift_id, Timestamp::now()).await?;
    Ok(Json(WithQr::staff(staff, &state.keys)))
}
