//! The HTTP API of the ticketing service: the routes, the shared state and which scope each route needs
//! (callers authenticated through the auth service by `microfleet_common::auth_client`: 401 without valid
//! credentials, 403 without the scope, 503 when the auth service cannot be asked); domain refusals become
//! JSON errors through `microfleet_common::refusal`. Handlers are thin: parse, call `domain` and
//! `repository`, answer.

pub mod events;
pub mod merchants;
pub mod orders;
pub mod payment_methods;
pub mod stats;

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use deadpool_postgres::Pool;
use jiff::SignedDuration;
use microfleet_common::auth_client::{guarded, AuthClient};
use microfleet_common::scopes::{
    TICKETING_ADMIN, TICKETING_APPROVE, TICKETING_CATALOG, TICKETING_ORDERS, TICKETING_READ, TICKETING_REFUNDS,
};

/// The OpenAPI document of this API (checked in as `openapi.json`, served at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The service's database.
    pub pool: Pool,
    /// How long an unpaid order holds its seats.
    pub order_hold: SignedDuration,
}

/// The API's routes: `/openapi.json` open, everything under `/v1` behind the scope of its group.
pub fn router(state: AppState, auth: &Arc<AuthClient>) -> Router {
    let read = Router::new()
        .route("/v1/merchants", get(merchants::list))
        .route("/v1/merchants/{merchant_id}", get(merchants::get))
        .route("/v1/events", get(events::list))
        .route("/v1/events/{event_id}", get(events::get))
        .route("/v1/orders", get(orders::list))
        .route("/v1/orders/{order_number}", get(orders::get))
        .route("/v1/payment-methods", get(payment_methods::list))
        .route("/v1/stats", get(stats::get));
    let catalog = Router::new()
        .route("/v1/merchants", post(merchants::create))
        .route("/v1/merchants/{merchant_id}", put(merchants::update))
        .route("/v1/events", post(events::create))
        .route("/v1/events/{event_id}", put(events::edit))
        .route("/v1/payment-methods", post(payment_methods::create))
        .route("/v1/payment-methods/{code}", put(payment_methods::update));
    let approve = Router::new().route("/v1/events/{event_id}/approve", post(events::approve));
    let orders = Router::new()
        .route("/v1/orders", post(orders::create))
        .route("/v1/orders/{order_number}/payment", post(orders::confirm_payment));
    let refunds = Router::new()
        .route("/v1/orders/{order_number}/refund", post(orders::refund))
        .route("/v1/refunds", get(orders::refunds));
    let admin = Router::new().route("/v1/admin/expire-orders", post(orders::expire));
    Router::new()
        .route("/openapi.json", get(openapi))
        .merge(guarded(auth, TICKETING_READ, read))
        .merge(guarded(auth, TICKETING_CATALOG, catalog))
        .merge(guarded(auth, TICKETING_APPROVE, approve))
        .merge(guarded(auth, TICKETING_ORDERS, orders))
        .merge(guarded(auth, TICKETING_REFUNDS, refunds))
        .merge(guarded(auth, TICKETING_ADMIN, admin))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

/// A path segment that must be an integer id, else a 400 naming the field (the handlers' `id(field, value)`).
pub use microfleet_common::api_error::path_id as id;
