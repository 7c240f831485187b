//! Paged lists, the same in every service: the query `?q=<search>&page=<1..>&perPage=<1..100>` plus a
//! list's own filters ([`Listing`], whose rejection is a 400 naming the parameter), and the answer
//! `{"items": [...], "total": N, "page": P, "perPage": K}` ([`Page`], which the CMS reads back). It owns the
//! wire shape and the parsing only; what is searched and filtered is each service's repository's business.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::query;

/// The page size when `perPage` is absent.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// The largest page size.
pub const MAX_PER_PAGE: u32 = 100;
/// The longest search text.
pub const MAX_SEARCH: usize = 200;

/// Which page of a list, and the search text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// The search text (`q`), trimmed; `None` when absent or blank.
    pub q: Option<String>,
    /// The page, from 1.
    pub page: u32,
    /// Items per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery { q: None, page: 1, per_page: DEFAULT_PER_PAGE }
    }
}

impl PageQuery {
    /// The SQL `LIMIT`.
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    /// The SQL `OFFSET` of the page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }

    /// The search text as an `ILIKE ... ESCAPE '\'` pattern matching it anywhere (`%`, `_` and `\` in
    /// the text match themselves); `None` without a search.
    pub fn pattern(&self) -> Option<String> {
        self.q.as_deref().map(|text| {
            let mut pattern = String::with_capacity(text.len() + 2);
            pattern.push('%');
            for c in text.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }

    /// Takes `q`, `page` and `perPage` out of decoded query pairs ([`query::pairs`]) and returns the page
    /// and the other pairs; a bad value is a 400 naming it.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<(PageQuery, Vec<(String, String)>), ApiError> {
        let mut query = PageQuery::default();
        let mut rest = Vec::new();
        for (name, value) in pairs {
            match name.as_str() {
                "q" if value.chars().count() > MAX_SEARCH => {
                    return Err(ApiError::bad_request("q", format!("must be at most {MAX_SEARCH} characters")))
                }
                "q" => query.q = Some(value),
                "page" => query.page = number("page", &value, u32::MAX)?,
                "perPage" => query.per_page = number("perPage", &value, MAX_PER_PAGE)?,
                _ => rest.push((name, value)),
            }
        }
        Ok((query, rest))
    }
}

/// A whole number 1..=max, else a 400 naming the parameter.
fn number(name: &str, value: &str, max: u32) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(number) if (1..=max).contains(&number) => Ok(number),
        _ => Err(ApiError::bad_request(name, format!("must be a whole number from 1 to {max}"))),
    }
}

/// One page of a list and where it is in the whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items the whole list (with its search and filters) has.
    pub total: i64,
    /// This page's number, from 1.
    pub page: u32,
    /// The page size asked for.
    pub per_page: u32,
}

impl<T> Page<T> {
    /// The page `query` asked for, of a list of `total` items.
    pub fn new(items: Vec<T>, total: i64, query: &PageQuery) -> Page<T> {
        Page { items, total, page: query.page, per_page: query.per_page }
    }
}

/// A list without filters of its own: any parameter besides `q`, `page` and `perPage` is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

/// The query of a list endpoint: the page and the list's filters `F` (a struct with
/// `#[serde(deny_unknown_fields, rename_all = "camelCase")]`); refused with a 400 naming the parameter.
#[derive(Debug, Clone)]
pub struct Listing<F>(pub PageQuery, pub F);

impl<S, F> FromRequestParts<S> for Listing<F>
where
    S: Send + Sync,
    F: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_listing(parts.uri.query().unwrap_or_default())
    }
}

/// Parses a raw query string into the page and the filters `F`.
pub fn parse_listing<F: DeserializeOwned>(raw: &str) -> Result<Listing<F>, ApiError> {
    let (page, rest) = PageQuery::from_pairs(query::pairs(raw))?;
    Ok(Listing(page, query::parse(&rest)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum State {
        Waiting,
        Approved,
    }

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Filters {
        approval: Option<State>,
        merchant_id: Option<i64>,
    }

    #[test]
    fn a_listing_parses_the_page_and_the_filters() {
        type Expected = (Option<&'static str>, u32, u32, Option<State>, Option<i64>);
        let cases: [(&str, &str, Expected); 6] = [
            ("defaults", "", (None, 1, 20, None, None)),
            (
                "all",
                "q=EXO%20Ex&page=3&perPage=100&approval=approved&merchantId=7",
                (Some("EXO Ex"), 3, 100, Some(State::Approved), Some(7)),
            ),
            ("plus_is_space", "q=a+b", (Some("a b"), 1, 20, None, None)),
            ("empty_values_are_absent", "q=&page=&perPage=&approval=&merchantId=", (None, 1, 20, None, None)),
            ("blank_search", "q=%20%20", (None, 1, 20, None, None)),
            ("waiting", "approval=waiting&page=1", (None, 1, 20, Some(State::Waiting), None)),
        ];
        for (case, raw, (q, page, per_page, approval, merchant_id)) in cases {
            let Listing(query, filters) = parse_listing::<Filters>(raw).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!((query.q.as_deref(), query.page, query.per_page), (q, page, per_page), "{case}");
            assert_eq!(filters, Filters { approval, merchant_id }, "{case}");
        }
    }

    #[test]
    fn a_bad_parameter_is_a_400_naming_it() {
        let cases = [
            ("page_zero", "page=0", "page"),
            ("page_negative", "page=-1", "page"),
            ("page_text", "page=two", "page"),
            ("per_page_zero", "perPage=0", "perPage"),
            ("per_page_too_big", "perPage=101", "perPage"),
            ("per_page_fraction", "perPage=2.5", "perPage"),
            ("long_search", &format!("q={}", "x".repeat(201)), "q"),
            ("unknown_state", "approval=sold", "approval"),
            ("bad_id", "merchantId=abc", "merchantId"),
            ("unknown_parameter", "colour=red", "colour"),
        ];
        for (case, raw, field) in cases {
            let error = parse_listing::<Filters>(raw).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{case}");
            assert_eq!(error.field.as_deref(), Some(field), "{case}: {error}");
        }
        assert_eq!(parse_listing::<NoFilters>("approval=waiting").unwrap_err().field.as_deref(), Some("approval"));
    }

    #[test]
    fn the_page_gives_limit_offset_and_an_escaped_pattern() {
        let query = PageQuery { q: Some(r"50%_off\x".into()), page: 3, per_page: 25 };
        assert_eq!((query.limit(), query.offset()), (25, 50));
        assert_eq!(query.pattern().as_deref(), Some(r"%50\%\_off\\x%"));
        assert_eq!(PageQuery::default().offset(), 0);
        assert_eq!(PageQuery::default().pattern(), None);
        let page = Page::new(vec![1, 2], 7, &query);
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            serde_json::json!({"items": [1, 2], "total": 7, "page": 3, "perPage": 25})
        );
    }
}
