//! The credential a request presents — an access token or an API key, as `Authorization: Bearer <...>` or
//! `X-Api-Key: <...>` — read from its headers. Checking it is `auth_client`'s job (and the auth service's own
//! `caller`); nothing here logs it.

use axum::http::HeaderMap;

/// The credential a request presents: `Authorization: Bearer <credential>`, else `X-Api-Key: <credential>`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer.or_else(|| headers.get("x-api-key").and_then(|value| value.to_str().ok())).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_key_reads_bearer_then_x_api_key() {
        type Case = (&'static str, &'static [(&'static str, &'static str)], Option<&'static str>);
        let cases: [Case; 4] = [
            ("bearer", &[("authorization", "Bearer k1")], Some("k1")),
            ("x_api_key", &[("x-api-key", "k2")], Some("k2")),
            ("bearer_wins", &[("authorization", "Bearer k1"), ("x-api-key", "k2")], Some("k1")),
            ("basic_is_not_a_key", &[("authorization", "Basic abc")], None),
        ];
        for (case, headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                map.insert(*name, value.parse().unwrap());
            }
            assert_eq!(presented_key(&map), expected, "{case}");
        }
    }
}
