//! The CMS's client of the three services: every call carries the signed-in user's access token; an answer
//! that is not a success becomes an [`ApiFailure`] with the service's message and the field it named (the
//! forms show it next to that field). Login, refresh and logout talk to the auth service for the sessions.
//! Tokens are never logged. It decides nothing about who may do what.

use std::time::Duration;

use axum::http::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Which service a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// auth-service.
    Auth,
    /// ticketing-service.
    Ticketing,
    /// gate-acl-service.
    Gate,
}

impl Service {
    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth service",
            Service::Ticketing => "ticketing service",
            Service::Gate => "gate-acl service",
        }
    }
}

/// A call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    /// The service's HTTP status; `None` when it could not be reached or answered nonsense.
    pub status: Option<u16>,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field the service named.
    pub field: Option<String>,
    /// How to fix it, when the service said.
    pub fix: Option<String>,
}

impl ApiFailure {
    fn unreachable(service: Service, cause: &dyn std::fmt::Display) -> ApiFailure {
        tracing::warn!(service = service.name(), error = %cause, "a service call failed");
        ApiFailure {
            status: None,
            message: format!("the {} cannot be reached; try again shortly", service.name()),
            field: None,
            fix: None,
        }
    }
}

/// The error JSON every service answers with.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    field: Option<String>,
    fix: Option<String>,
}

/// A token pair from the auth service (never printed).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// The access token.
    pub access_token: String,
    /// Its lifetime, seconds.
    pub expires_in: i64,
    /// The one-time refresh token.
    pub refresh_token: String,
    /// Its lifetime, seconds.
    pub refresh_expires_in: i64,
}

/// The services' base URLs and one HTTP client.
#[derive(Clone)]
pub struct Backends {
    http: reqwest::Client,
    auth: String,
    ticketing: String,
    gate: String,
}

impl Backends {
    /// A client of the services at these base URLs.
    pub fn new(auth: &str, ticketing: &str, gate: &str) -> Result<Backends, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        let trim = |url: &str| url.trim_end_matches('/').to_string();
        Ok(Backends { http, auth: trim(auth), ticketing: trim(ticketing), gate: trim(gate) })
    }

    fn base(&self, service: Service) -> &str {
        match service {
            Service::Auth => &self.auth,
            Service::Ticketing => &self.ticketing,
            Service::Gate => &self.gate,
        }
    }

    /// `method path` at `service` with `token` and a JSON `body`: the JSON answer (`null` for 204).
    pub async fn call(
        &self,
        service: Service,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiFailure> {
        let mut request = self.http.request(method, format!("{}{path}", self.base(service))).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(service, request).await
    }

    /// `GET path` at `service`, read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, service: Service, path: &str, token: &str) -> Result<T, ApiFailure> {
        let value = self.call(service, Method::GET, path, token, None).await?;
        serde_json::from_value(value).map_err(|error| ApiFailure::unreachable(service, &error))
    }

    /// `POST /v1/login`, passing the browser's address on (the auth service's per-address limit counts it
    /// when it trusts `X-Forwarded-For`).
    pub async fn login(&self, username: &str, password: &str, address: &str) -> Result<TokenPair, ApiFailure> {
        let body = serde_json::json!({"username": username, "password": password});
        let request = self.http.post(format!("{}/v1/login", self.auth)).header("x-forwarded-for", address).json(&body);
        pair(answer(Service::Auth, request).await?)
    }

    /// `POST /v1/token/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiFailure> {
        let body = serde_json::json!({"refreshToken": refresh_token});
        pair(answer(Service::Auth, self.http.post(format!("{}/v1/token/refresh", self.auth)).json(&body)).await?)
    }

    /// `POST /v1/logout`: revokes the login's refresh tokens.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ApiFailure> {
        let body = serde_json::json!({"refreshToken": refresh_token});
        answer(Service::Auth, self.http.post(format!("{}/v1/logout", self.auth)).json(&body)).await.map(|_| ())
    }
}

fn pair(value: Value) -> Result<TokenPair, ApiFailure> {
    serde_json::from_value(value).map_err(|error| ApiFailure::unreachable(Service::Auth, &error))
}

async fn answer(service: Service, request: reqwest::RequestBuilder) -> Result<Value, ApiFailure> {
    let response = request.send().await.map_err(|error| ApiFailure::unreachable(service, &error))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|error| ApiFailure::unreachable(service, &error))?;
    if status.is_success() {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&bytes).map_err(|error| ApiFailure::unreachable(service, &error));
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    Err(match body {
        Some(body) => {
            ApiFailure { status: Some(status.as_u16()), message: body.error, field: body.field, fix: body.fix }
        }
        None => ApiFailure {
            status: Some(status.as_u16()),
            message: format!("the {} answered {status}", service.name()),
            field: None,
            fix: None,
        },
    })
}

/// A value as one path segment of a service URL (unreserved characters kept, the rest percent-encoded).
pub fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_segment_cannot_escape_its_place() {
        let cases = [
            ("2023-03-20-345-2612", "2023-03-20-345-2612"),
            ("CASH", "CASH"),
            ("../admin", "..%2Fadmin"),
            ("a b?c", "a%20b%3Fc"),
        ];
        for (value, expected) in cases {
            assert_eq!(segment(value), expected, "{value}");
        }
    }
}
