//! The JSON error every service answers with: `{"error": "...", "field": "items[0].quantity", "fix": "..."}`
//! and its HTTP status. It owns the wire shape only; what went wrong is decided by the service's domain.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error answer: the status and a body naming the field at fault and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (4xx for the client's mistakes, 5xx for ours).
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub error: String,
    /// The request field at fault, as a path into the request (`items[0].quantity`), when there is one.
    pub field: Option<String>,
    /// What to change to succeed, when the service knows.
    pub fix: Option<String>,
}

/// The JSON body of an [`ApiError`].
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'a str>,
}

impl ApiError {
    /// An error with a status and a message, naming no field.
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), field: None, fix: None }
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// Says how to fix the request.
    pub fn fix(mut self, fix: impl Into<String>) -> ApiError {
        self.fix = Some(fix.into());
        self
    }

    /// 400: the request is malformed or a field's value is invalid.
    pub fn bad_request(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error).field(field)
    }

    /// 404: what the field names does not exist.
    pub fn not_found(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error).field(field)
    }

    /// 409: the request is well-formed but conflicts with the current state (sold out, already paid, ...).
    pub fn conflict(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, error).field(field)
    }

    /// 500 with a generic message: the cause is logged here, never sent to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; the cause is in the service's log")
    }

    /// 503: a dependency (the database) cannot be reached now; retrying later may succeed.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "dependency unavailable");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "a dependency of the service is unavailable").fix("retry later")
    }
}

/// A path segment that must be an integer id (`/v1/events/{event_id}`), else a 400 naming `field`.
pub fn path_id(field: &str, value: &str) -> Result<i64, ApiError> {
    value.parse().map_err(|_| ApiError::bad_request(field, "must be an integer id"))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: &self.error, field: self.field.as_deref(), fix: self.fix.as_deref() };
        (self.status, Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.error)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_field_error_names_the_field_and_the_fix() {
        let (status, body) =
            body_of(ApiError::bad_request("items[0].quantity", "must be at least 1").fix("order 1 or more")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            serde_json::json!({"error": "must be at least 1", "field": "items[0].quantity", "fix": "order 1 or more"})
        );
    }

    #[test]
    fn a_path_id_is_an_integer() {
        assert_eq!(path_id("eventId", "42"), Ok(42));
        for bad in ["", "x", "4.2", "99999999999999999999"] {
            assert_eq!(path_id("eventId", bad).unwrap_err().field.as_deref(), Some("eventId"), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn an_internal_error_hides_its_cause() {
        let (status, body) = body_of(ApiError::internal(&"password authentication failed for user x")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("password"), "{body}");
        assert!(body.get("field").is_none());
    }
}
