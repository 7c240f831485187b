//! The web application's routes and shared state. Handlers are thin: check the session and the scope
//! (`signed`), read the form, call a service with the user's token (`api`), render a view (`views`);
//! a failure is an error page (`answer`). One module a group of screens.

pub mod answer;
pub mod catalog;
pub mod dashboard;
pub mod gate;
pub mod login;
pub mod sales;
pub mod signed;
pub mod users;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use deadpool_postgres::Pool;
use jiff::SignedDuration;
use microfleet_common::auth_client::AuthClient;

use crate::api::Backends;
use crate::format::Display;

/// The CMS's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time zone and currency.
    pub display: Display,
    /// Whether the session cookie is `Secure`.
    pub cookie_secure: bool,
    /// Longest a session lasts.
    pub session_ttl: SignedDuration,
    /// Refresh the access token when it expires within this.
    pub refresh_margin: SignedDuration,
}

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The sessions database.
    pub pool: Pool,
    /// The services.
    pub backends: Backends,
    /// The access token verifier (the auth service's JWKS).
    pub verifier: Arc<AuthClient>,
    /// Settings.
    pub settings: Arc<Settings>,
}

/// Every page and form of the CMS.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/dashboard", get(dashboard::show))
        .route("/merchants", get(catalog::merchants).post(catalog::create_merchant))
        .route("/merchants/{id}/edit", get(catalog::edit_merchant))
        .route("/merchants/{id}", post(catalog::update_merchant))
        .route("/events", get(catalog::events).post(catalog::create_event))
        .route("/events/new", get(catalog::new_event))
        .route("/events/{id}", get(catalog::event).post(catalog::update_event))
        .route("/events/{id}/edit", get(catalog::edit_event))
        .route("/events/{id}/approve", post(catalog::approve_event))
        .route("/payment-methods", get(catalog::payment_methods).post(catalog::create_payment_method))
        .route("/payment-methods/{code}", post(catalog::update_payment_method))
        .route("/orders", get(sales::orders))
        .route("/orders/{number}", get(sales::order))
        .route("/orders/{number}/refund", get(sales::confirm_refund).post(sales::refund))
        .route("/refunds", get(sales::refunds))
        .route("/event-staff", get(gate::event_staff).post(gate::create_staff))
        .route("/event-staff/{id}", get(gate::staff_badge))
        .route("/event-staff/{id}/shifts", post(gate::add_shift))
        .route("/schedules", get(gate::schedules))
        .route("/schedules/{staff}/{shift}/approve", post(gate::approve_shift))
        .route("/users", get(users::users).post(users::create))
        .route("/users/new", get(users::new_user))
        .route("/users/{id}/confirm", post(users::confirm))
        .route("/users/{id}/unlock", post(users::unlock))
        .route("/users/{id}/roles", get(users::roles).post(users::set_roles))
        .route("/staff", get(users::staff))
        .with_state(state)
}
