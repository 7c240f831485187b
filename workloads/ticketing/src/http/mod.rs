//! The HTTP API of the ticketing service: the routes, the shared state and API-key protection; domain
//! refusals become JSON errors through `microfleet_common::refusal`. Handlers are thin: parse, call `domain`
//! and `repository`, answer.

pub mod events;
pub mod merchants;
pub mod orders;
pub mod payment_methods;
pub mod stats;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use deadpool_postgres::Pool;
use jiff::SignedDuration;
use microfleet_common::api_key::{require_api_key, ApiKey};

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

/// The API's routes: `/openapi.json` open, everything under `/v1` behind the admin API key.
pub fn router(state: AppState, admin_key: ApiKey) -> Router {
    let api = Router::new()
        .route("/v1/merchants", post(merchants::create).get(merchants::list))
        .route("/v1/merchants/{merchant_id}", get(merchants::get).put(merchants::update))
        .route("/v1/events", post(events::create).get(events::list))
        .route("/v1/events/{event_id}", get(events::get).put(events::edit))
        .route("/v1/events/{event_id}/approve", post(events::approve))
        .route("/v1/orders", post(orders::create).get(orders::list))
        .route("/v1/orders/{order_number}", get(orders::get))
        .route("/v1/orders/{order_number}/payment", post(orders::confirm_payment))
        .route("/v1/orders/{order_number}/refund", post(orders::refund))
        .route("/v1/refunds", get(orders::refunds))
        .route("/v1/payment-methods", get(payment_methods::list).post(payment_methods::create))
        .route("/v1/payment-methods/{code}", put(payment_methods::update))
        .route("/v1/stats", get(stats::get))
        .route("/v1/admin/expire-orders", post(orders::expire))
        .route_layer(axum::middleware::from_fn_with_state(admin_key, require_api_key))
        .with_state(state);
    Router::new().route("/openapi.json", get(openapi)).merge(api)
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

pub use microfleet_common::api_error::path_id as id;
