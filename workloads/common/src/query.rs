//! `QueryParams<T>`: the query-string extractor whose rejection is an [`ApiError`] naming the parameter at
//! fault (unlike axum's `Query`, whose rejection is plain text). Empty values count as absent, as an HTML
//! form sends them. It parses; it does not validate values (the domain does).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api_error::ApiError;
use crate::json_body::field_of;

/// A query string parsed into `T` (a struct with `#[serde(deny_unknown_fields, rename_all = "camelCase")]`
/// and optional fields); a bad or unknown parameter is refused with a 400 naming it.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(&pairs(parts.uri.query().unwrap_or_default())).map(QueryParams)
    }
}

/// The decoded (name, value) pairs of a raw query string, without those whose value is blank.
pub fn pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.trim().to_string()))
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

/// Parses decoded pairs into `T`, naming the parameter of the first error.
pub fn parse<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let field = field_of(&error.path().to_string(), &error.inner().to_string());
        let field = if field == "body" { "query".to_string() } else { field };
        ApiError::bad_request(field, error.inner().to_string())
            .fix("send the query parameters the OpenAPI document (/openapi.json) lists")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Period {
        enabled: Option<bool>,
        event_id: Option<i64>,
    }

    #[test]
    fn parameters_parse_and_a_bad_one_is_named() {
        let parsed: Period = parse(&pairs("enabled=true&eventId=&x=")).unwrap();
        assert_eq!(parsed, Period { enabled: Some(true), event_id: None });
        let parsed: Period = parse(&pairs("eventId=%207%20")).unwrap();
        assert_eq!(parsed, Period { enabled: None, event_id: Some(7) });
        let cases =
            [("bad_bool", "enabled=yes", "enabled"), ("bad_id", "eventId=7x", "eventId"), ("unknown", "to=1", "to")];
        for (case, raw, field) in cases {
            let error = parse::<Period>(&pairs(raw)).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{case}: {error}");
        }
    }
}
