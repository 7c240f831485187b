//! The HTTP API of the auth service: the routes, the shared state, and the recording of every grant,
//! refusal and revocation (an audit row and a metric). Handlers are thin: parse, call `domain` and
//! `repository`, answer; refusals become JSON errors naming the field (`microfleet_common::refusal`).
//! Callers of the protected routes are authenticated by `caller` (an access token or an API key).

pub mod api_keys;
pub mod caller;
pub mod login;
pub mod users;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use jiff::SignedDuration;
use microfleet_common::api_error::ApiError;
use microfleet_common::jwt::{Expectations, Jwks};
use microfleet_common::refusal::RepositoryError;

use crate::domain::keys::SigningKeys;
use crate::domain::lockout::LoginPolicy;
use crate::domain::password::{HashError, PasswordHashing};
use crate::metrics::AuthMetrics;
use crate::repository::{self, AuditEvent};

/// The OpenAPI document of this API (checked in as `openapi.json`, served at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The token and login settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `iss` of access tokens.
    pub issuer: String,
    /// The `aud` of access tokens.
    pub audience: String,
    /// Lifetime of access tokens.
    pub access_ttl: SignedDuration,
    /// Lifetime of refresh tokens.
    pub refresh_ttl: SignedDuration,
    /// The login limits.
    pub policy: LoginPolicy,
    /// Whether the client address comes from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

impl Settings {
    /// What the service requires of the access tokens it verifies itself.
    pub fn expectations(&self) -> Expectations {
        Expectations { issuer: self.issuer.clone(), audience: self.audience.clone(), leeway_seconds: 30 }
    }
}

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The service's database.
    pub pool: Pool,
    /// The token signing keys.
    pub keys: Arc<SigningKeys>,
    /// Password hashing.
    pub hashing: Arc<PasswordHashing>,
    /// A hash checked when the username is unknown, so such a login takes as long as a wrong password.
    pub dummy_hash: Arc<str>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// The audit counter.
    pub metrics: AuthMetrics,
}

impl AppState {
    /// The state; hashes the dummy password once.
    pub fn new(
        pool: Pool,
        keys: SigningKeys,
        hashing: PasswordHashing,
        settings: Settings,
        metrics: AuthMetrics,
    ) -> Result<AppState, HashError> {
        let dummy_hash = hashing.hash("not a real password, only for timing")?;
        Ok(AppState {
            pool,
            keys: Arc::new(keys),
            hashing: Arc::new(hashing),
            dummy_hash: Arc::from(dummy_hash),
            settings: Arc::new(settings),
            metrics,
        })
    }

    /// Records a refusal, or a grant that changed nothing stored (a login, an introspection): an audit row,
    /// a metric and a log line (none with a secret).
    pub async fn record(&self, event: AuditEvent) {
        self.recorded(&event);
        if let Err(error) = repository::audit(&self.pool, &event).await {
            tracing::error!(%error, kind = event.kind.as_str(), "writing an audit row failed");
        }
    }

    /// Counts and logs a change whose audit row the repository wrote in the change's own transaction.
    pub fn recorded(&self, event: &AuditEvent) {
        self.metrics.count(event.kind, event.outcome);
        tracing::info!(
            kind = event.kind.as_str(),
            outcome = event.outcome.as_str(),
            subject = event.subject.as_deref(),
            address = event.address.as_deref(),
            reason = event.reason,
            "auth event"
        );
    }
}

/// The API's routes: login, refresh, logout, JWKS and OpenAPI open; users behind `auth:users`, API keys
/// behind `auth:keys`, introspection behind `auth:introspect`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/login", post(login::login))
        .route("/v1/token/refresh", post(login::refresh))
        .route("/v1/logout", post(login::logout))
        .route("/v1/introspect", post(api_keys::introspect))
        .route("/v1/users", post(users::create).get(users::list))
        .route("/v1/users/{id}", get(users::get))
        .route("/v1/users/{id}/confirm", post(users::confirm))
        .route("/v1/users/{id}/roles", put(users::set_roles))
        .route("/v1/users/{id}/unlock", post(users::unlock))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", get(api_keys::get))
        .route("/v1/api-keys/{id}/revoke", post(api_keys::revoke))
        .with_state(state)
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.keys.jwks())
}

/// The answer to a failed database call (503 when retrying may help, else 500).
pub fn db_error(error: microfleet_common::database::DbError) -> ApiError {
    RepositoryError::Database(error).into()
}

/// A path segment that must be an integer id, else a 400 naming the field (the handlers' `id(field, value)`).
pub use microfleet_common::api_error::path_id as id;
