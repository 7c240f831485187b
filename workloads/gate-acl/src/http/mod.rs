//! The HTTP API of the gate-acl service: the routes, the shared state and which scope each route needs —
//! `gate:read` (reading events, access, staff), `gate:admin` (changing them), `gate:scan` (scans) — with
//! callers authenticated through the auth service by `microfleet_common::auth_client` (401 without valid
//! credentials, 403 without the scope, 503 when the auth service cannot be asked). Handlers are thin: parse,
//! call `domain` and `repository`, answer; refusals become JSON errors naming the field
//! (`microfleet_common::refusal`).

pub mod access;
pub mod admin;
pub mod scans;

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use microfleet_common::auth_client::{guarded, AuthClient};
use microfleet_common::scopes::{GATE_ADMIN, GATE_READ, GATE_SCAN};
use serde::Serialize;

use crate::domain::token::{Keyring, PublicKey};
use crate::metrics::ScanMetrics;
use crate::scan_batcher::ScanBatcher;

/// The OpenAPI document of this API (checked in as `openapi.json`, served at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The service's database.
    pub pool: Pool,
    /// The key that signs and verifies QR codes.
    pub keys: Arc<Keyring>,
    /// The scan metrics.
    pub metrics: ScanMetrics,
    /// Where verified scans are recorded, in batches.
    pub scans: ScanBatcher,
}

/// The API's routes: `/openapi.json` and `/v1/keys` open, the rest behind the scope of its group.
pub fn router(state: AppState, auth: &Arc<AuthClient>) -> Router {
    let read = Router::new()
        .route("/v1/events/{event_id}", get(admin::get_event))
        .route("/v1/access/{ticket_id}", get(access::get))
        .route("/v1/staff", get(admin::list_staff))
        .route("/v1/staff/{staff_id}", get(admin::get_staff))
        .route("/v1/shifts", get(admin::list_shifts));
    let admin = Router::new()
        .route("/v1/events/{event_id}", put(admin::put_event))
        .route("/v1/gates", post(admin::create_gate))
        .route("/v1/access", post(access::prepare))
        .route("/v1/access/{ticket_id}/revoke", post(access::revoke))
        .route("/v1/staff", post(admin::create_staff))
        .route("/v1/staff/{staff_id}/shifts", post(admin::add_shift))
        .route("/v1/staff/{staff_id}/shifts/{shift_id}/approve", post(admin::approve_shift));
    let scan = Router::new().route("/v1/scans", post(scans::scan));
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/v1/keys", get(public_keys))
        .merge(guarded(auth, GATE_READ, read))
        .merge(guarded(auth, GATE_ADMIN, admin))
        .merge(guarded(auth, GATE_SCAN, scan))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The answer of `GET /v1/keys`: a JSON Web Key Set.
#[derive(Debug, Serialize)]
pub struct KeySet {
    /// The public keys codes may be signed with.
    pub keys: Vec<PublicKey>,
}

async fn public_keys(axum::extract::State(state): axum::extract::State<AppState>) -> Json<KeySet> {
    Json(KeySet { keys: vec![state.keys.public_key()] })
}

/// A path segment that must be an integer id, else a 400 naming the field (the handlers' `id(field, value)`).
pub use microfleet_common::api_error::path_id as id;
