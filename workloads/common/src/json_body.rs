//! `JsonBody<T>`: the request-body extractor whose rejection is an [`ApiError`] naming the field at fault
//! (`items[0].quantity`, or the missing or unknown field), unlike axum's `Json` whose rejection is plain text.
//! It parses; it does not validate values (the domain does).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;

/// A JSON request body parsed into `T`; a malformed one is refused with a 400 naming the field.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()).field("body"))?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a body, naming the field of the first error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("body", "the request body is empty").fix("send a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let field = field_of(&path, &message);
        ApiError::bad_request(field, message)
            .fix("send the fields and types the OpenAPI document (/openapi.json) lists")
    })
}

/// The field an error is about: the path where parsing stopped, extended by the field a "missing field
/// `x`" or "unknown field `x`" message names.
pub(crate) fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." { "" } else { path };
    match named {
        Some(name) if base.is_empty() => name.to_string(),
        Some(name) if !base.ends_with(name) => format!("{base}.{name}"),
        _ if base.is_empty() => "body".to_string(),
        _ => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)] // the fields are only parsed
    struct Order {
        event_id: i64,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Item {
        area_id: i64,
        quantity: u32,
    }

    #[test]
    fn parse_names_the_field_at_fault() {
        let cases = [
            ("empty_body", "", "body"),
            ("not_json", "hello", "body"),
            ("wrong_type_at_root", r#"{"eventId": "x", "items": []}"#, "eventId"),
            ("missing_root_field", r#"{"items": []}"#, "eventId"),
            ("unknown_root_field", r#"{"eventId": 1, "items": [], "colour": 1}"#, "colour"),
            ("wrong_type_in_list", r#"{"eventId": 1, "items": [{"areaId": 1, "quantity": -2}]}"#, "items[0].quantity"),
            (
                "missing_field_in_list",
                r#"{"eventId": 1, "items": [{"areaId": 1}, {"quantity": 1}]}"#,
                "items[0].quantity",
            ),
        ];
        for (case, body, field) in cases {
            let error = parse::<Order>(body.as_bytes()).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{case}");
            assert_eq!(error.field.as_deref(), Some(field), "{case}: {error}");
        }
    }
}
