//! auth-service (seed 004's Authentication Service, "gives every service its authorisation with tokens and
//! unique API keys"): users and roles, login with Argon2id passwords, per-account lockout and a per-address
//! limit, EdDSA access tokens (JWT) with rotating signing keys published as a JWKS, one-time refresh tokens
//! with reuse detection, API keys for services and gate devices, and their introspection. Data flows one
//! way: `http` (thin handlers) → `domain` (pure rules) → `repository` (all SQL). Each grant, refusal and
//! revocation has an audit row and is counted by `metrics`: a change — an admin's (users, API keys), a key
//! file's, a login, a refresh, a logout — writes its row in the change's own transaction (`repository`;
//! `http::AppState::recorded` counts and logs it); what changes nothing stored (a refused login or call, an
//! introspection) is recorded by `http::AppState::record`. `service_keys` registers the services' pre-provisioned keys at `migrate`. With the `test-support` feature, `test_support` runs a real auth service in process
//! for tests (its own and the services' that authenticate through it).

pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod repository;
pub mod schema;
pub mod service_keys;
#[cfg(feature = "test-support")]
pub mod test_support;
