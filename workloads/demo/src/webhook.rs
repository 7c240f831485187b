//! A sample chat webhook: records every notification it receives (`POST /hooks/...`) and lists them
//! (`GET /received`).

use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
    Json, Router,
};

/// A handle on the received notifications.
#[derive(Clone, Default)]
pub struct Webhook(Arc<Mutex<Vec<serde_json::Value>>>);

impl Webhook {
    /// Everything received, in order.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The router, and a handle on what it receives.
pub fn router() -> (Router, Webhook) {
    let webhook = Webhook::default();
    let router = Router::new()
        .route("/hooks/{*rest}", post(receive))
        .route("/received", get(|State(w): State<Webhook>| async move { Json(w.received()) }))
        .with_state(webhook.clone());
    (router, webhook)
}

async fn receive(State(webhook): State<Webhook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST };
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        value["idempotencyKey"] = serde_json::json!(key);
    }
    if let Ok(mut received) = webhook.0.lock() {
        received.push(value);
    }
    StatusCode::OK
}
