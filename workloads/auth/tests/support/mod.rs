//! Shared by the auth tests: a fresh migrated database per test on the real PostgreSQL
//! (`MICROFLEET_PG_URL`) with the bootstrap admin, the router over it at a cheap hashing cost, and requests
//! with extra headers (a client address, a bearer credential).

#![allow(dead_code)] // each test binary uses a part

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::domain::keys::SigningKeys;
use microfleet_auth::domain::lockout::LoginPolicy;
use microfleet_auth::domain::password::{HashCost, PasswordHashing};
use microfleet_auth::http::{self, AppState, Settings};
use microfleet_auth::metrics::AuthMetrics;
use microfleet_auth::repository;
use microfleet_auth::schema::MIGRATIONS;
use microfleet_common::{database, migrations, test_database};
use serde_json::{json, Value};
use tower::ServiceExt;

/// A cheap Argon2id cost, so tests are fast.
pub const CHEAP: HashCost = HashCost { memory_kib: 64, iterations: 1, parallelism: 1 };
/// The bootstrap admin.
pub const ADMIN: &str = "root";
/// Their password.
pub const ADMIN_PASSWORD: &str = "admin passphrase for tests";
/// The old and the new signing key seeds.
pub const OLD_SEED: [u8; 32] = [1; 32];
/// The new one.
pub const NEW_SEED: [u8; 32] = [2; 32];

/// Generous limits: no test trips them unless it means to.
pub fn policy() -> LoginPolicy {
    LoginPolicy {
        max_failures: 5,
        lock_for: SignedDuration::from_mins(15),
        address_max_failures: 1000,
        address_window: SignedDuration::from_mins(5),
    }
}

/// Keys from seeds, oldest first; the last signs.
pub fn keys(seeds: &[[u8; 32]]) -> SigningKeys {
    keys_signing_with(seeds, seeds.len() - 1)
}

/// Keys from seeds, oldest first (named `key<index>`); the one at `active` signs.
pub fn keys_signing_with(seeds: &[[u8; 32]], active: usize) -> SigningKeys {
    let values: Vec<(String, String)> =
        seeds.iter().enumerate().map(|(index, seed)| (format!("key{index}"), STANDARD.encode(seed))).collect();
    SigningKeys::from_values(&values, Some(&format!("key{active}"))).unwrap()
}

/// A fresh migrated database with the bootstrap admin.
pub async fn fresh_database(name: &str) -> Pool {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    let pool = database::connect(&url, 4).unwrap();
    migrations::apply(&pool, &MIGRATIONS).await.unwrap();
    let hash = PasswordHashing::new(CHEAP).unwrap().hash(ADMIN_PASSWORD).unwrap();
    assert!(repository::bootstrap_admin(&pool, ADMIN, &hash, Timestamp::now()).await.unwrap());
    pool
}

/// The state over `pool` with these keys and limits.
pub fn state_with(pool: Pool, keys: SigningKeys, policy: LoginPolicy, trust_forwarded_for: bool) -> AppState {
    let settings = Settings {
        issuer: "microfleet-auth".into(),
        audience: "microfleet".into(),
        access_ttl: SignedDuration::from_mins(5),
        refresh_ttl: SignedDuration::from_hours(1),
        policy,
        trust_forwarded_for,
    };
    let metrics = AuthMetrics::register(&prometheus::Registry::new()).unwrap();
    AppState::new(pool, keys, PasswordHashing::new(CHEAP).unwrap(), settings, metrics).unwrap()
}

/// A router on a fresh database with the new key and generous limits.
pub async fn app(name: &str) -> (Router, Pool) {
    let pool = fresh_database(name).await;
    (http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy(), false)), pool)
}

/// One request with JSON `body`, an optional bearer credential and extra headers: (status, JSON answer).
pub async fn send(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// `POST /v1/login`.
pub async fn login(app: &Router, username: &str, password: &str) -> (StatusCode, Value) {
    send(app, Method::POST, "/v1/login", Some(json!({"username": username, "password": password})), None, &[]).await
}

/// The bootstrap admin's access token.
pub async fn admin_token(app: &Router) -> String {
    let (status, body) = login(app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["accessToken"].as_str().unwrap().to_string()
}

/// Creates a user with these roles and password; their id.
pub async fn user(app: &Router, admin: &str, username: &str, roles: &[&str], password: &str) -> i64 {
    let body = json!({"name": "Putri Kapasitor", "username": username, "email": format!("{username}@mail.com"),
                      "phone": "6261275564756", "confirmed": true, "roles": roles, "password": password});
    let (status, answer) = send(app, Method::POST, "/v1/users", Some(body), Some(admin), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["id"].as_i64().unwrap()
}

/// Creates an API key with these scopes: (id, key).
pub async fn api_key(app: &Router, admin: &str, name: &str, scopes: &[&str]) -> (i64, String) {
    let (status, answer) =
        send(app, Method::POST, "/v1/api-keys", Some(json!({"name": name, "scopes": scopes})), Some(admin), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (answer["id"].as_i64().unwrap(), answer["key"].as_str().unwrap().to_string())
}

/// `POST /v1/introspect` of `token` by `caller`.
pub async fn introspect(app: &Router, caller: &str, token: &str) -> (StatusCode, Value) {
    send(app, Method::POST, "/v1/introspect", Some(json!({"token": token})), Some(caller), &[]).await
}

/// One integer from a query.
pub async fn count(pool: &Pool, sql: &str) -> i64 {
    pool.get().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}
