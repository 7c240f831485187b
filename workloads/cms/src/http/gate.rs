//! The gate side: event staff (list, create, their printable badge with the QR code, adding a work window)
//! and schedules (list, approve), through the gate-acl service with the person's token.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::Form;
use jiff::Timestamp;
use serde_json::json;

use super::answer::{html, redirect, Answer};
use super::signed::{form_status, Signed};
use super::AppState;
use crate::access::{Action, Section};
use crate::api::{ApiFailure, Service};
use crate::forms::{shift_body, staff_body, FormValues};
use crate::listing::Listing;
use crate::model::{Page, ShiftRow, Staff};
use crate::qr;
use crate::views::gate as view;

type Pairs = Vec<(String, String)>;

async fn staff_page(
    state: &AppState,
    signed: &Signed,
    listing: &Listing,
    values: &FormValues,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let list: Page<Staff> = signed
        .get(state, Service::Gate, &format!("/v1/staff{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(state, Section::EventStaff, &failure))?;
    Ok(html(status, view::event_staff(signed.frame(state, Section::EventStaff), listing, &list, values, failure)))
}

/// `GET /event-staff`.
pub async fn event_staff(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::EventStaff)?;
    let listing = Listing::from_query(&pairs, &["eventId"]);
    let values = FormValues::default().with("eventId", listing.filter("eventId"));
    staff_page(&state, &signed, &listing, &values, None, StatusCode::OK).await
}

/// `POST /event-staff`.
pub async fn create_staff(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Pairs>) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::EventStaff, Action::ManageGate)?;
    let outcome = match staff_body(&values, &state.settings.display) {
        Ok(body) => signed.call(&state, Service::Gate, Method::POST, "/v1/staff", Some(&body)).await,
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(created) => Ok(redirect(&format!("/event-staff/{}", created["id"].as_i64().unwrap_or_default()))),
        Err(failure) => {
            staff_page(&state, &signed, &Listing::from_query(&[], &[]), &values, Some(&failure), form_status(&failure))
                .await
        }
    }
}

async fn badge_page(
    state: &AppState,
    signed: &Signed,
    id: i64,
    values: &FormValues,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let staff: Staff = signed
        .get(state, Service::Gate, &format!("/v1/staff/{id}"))
        .await
        .map_err(|failure| signed.failed(state, Section::EventStaff, &failure))?;
    let drawn = staff.qr.as_deref().and_then(|payload| match qr::svg(payload) {
        Ok(svg) => Some(svg),
        Err(error) => {
            tracing::warn!(%error, staff = id, "the staff QR payload cannot be drawn");
            None
        }
    });
    Ok(html(
        status,
        view::staff_badge(signed.frame(state, Section::EventStaff), &staff, drawn.as_deref(), values, failure),
    ))
}

/// `GET /event-staff/{id}`: the printable badge.
pub async fn staff_badge(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Answer {
    signed.open(&state, Section::EventStaff)?;
    badge_page(&state, &signed, id, &FormValues::default(), None, StatusCode::OK).await
}

/// `POST /event-staff/{id}/shifts`.
pub async fn add_shift(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::EventStaff, Action::ManageGate)?;
    let outcome = match shift_body(&values, &state.settings.display) {
        Ok(body) => {
            signed.call(&state, Service::Gate, Method::POST, &format!("/v1/staff/{id}/shifts"), Some(&body)).await
        }
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(_) => Ok(redirect(&format!("/event-staff/{id}"))),
        Err(failure) => badge_page(&state, &signed, id, &values, Some(&failure), form_status(&failure)).await,
    }
}

async fn schedules_page(
    state: &AppState,
    signed: &Signed,
    listing: &Listing,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let list: Page<ShiftRow> = signed
        .get(state, Service::Gate, &format!("/v1/shifts{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(state, Section::Schedules, &failure))?;
    Ok(html(
        status,
        view::schedules(signed.frame(state, Section::Schedules), listing, &list, Timestamp::now(), failure),
    ))
}

/// `GET /schedules`.
pub async fn schedules(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Schedules)?;
    schedules_page(&state, &signed, &Listing::from_query(&pairs, &["approval", "eventId"]), None, StatusCode::OK).await
}

/// `POST /schedules/{staff}/{shift}/approve`.
pub async fn approve_shift(
    State(state): State<AppState>,
    signed: Signed,
    Path((staff, shift)): Path<(i64, i64)>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    signed.csrf(&FormValues(pairs))?;
    signed.allow(&state, Section::Schedules, Action::ManageGate)?;
    match signed
        .call(
            &state,
            Service::Gate,
            Method::POST,
            &format!("/v1/staff/{staff}/shifts/{shift}/approve"),
            Some(&json!({})),
        )
        .await
    {
        Ok(_) => Ok(redirect("/schedules")),
        Err(failure) => {
            schedules_page(&state, &signed, &Listing::from_query(&[], &[]), Some(&failure), form_status(&failure)).await
        }
    }
}
