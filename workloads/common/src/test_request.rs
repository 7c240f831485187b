//! One request through a service's router in process, as the services' HTTP tests make them: JSON in, the
//! status and the JSON answer out (`null` when the answer is not JSON). For tests only; it panics on a
//! request it cannot build.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
    Router,
};
use serde_json::Value;
use tower::ServiceExt;

/// `method path` with `body` (JSON) and, when given, `Authorization: Bearer <key>`; (status, JSON answer).
pub async fn call(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let request = request.body(body).unwrap_or_else(|e| panic!("cannot build {path}: {e}"));
    let response = match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
