//! Shared by the auth tests: the in-process service of `microfleet_auth::test_support` (a fresh migrated
//! database per test on the real PostgreSQL with the bootstrap admin, the router at a cheap hashing cost),
//! and requests with extra headers (a client address, a bearer credential).

#![allow(dead_code)] // each test binary uses a part

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use deadpool_postgres::Pool;
use microfleet_auth::http;
pub use microfleet_auth::test_support::*;
use microfleet_common::test_request::call;
use serde_json::{json, Value};
use tower::ServiceExt;

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

/// `POST /v1/introspect` of `token` by `caller`.
pub async fn introspect(app: &Router, caller: &str, token: &str) -> (StatusCode, Value) {
    call(app, Method::POST, "/v1/introspect", Some(&json!({"token": token}).to_string()), Some(caller)).await
}

/// One integer from a query.
pub async fn count(pool: &Pool, sql: &str) -> i64 {
    pool.get().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}
