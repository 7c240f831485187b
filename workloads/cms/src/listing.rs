//! A list page's parameters, pure: the search text, the page number and the filters (`approval`, `state`,
//! `eventId`, ...) from the browser's query, the query string the service is asked with (`perPage` fixed),
//! and the links to other pages and filters of the same list.

/// Rows a list page shows (the services' default).
pub const PER_PAGE: u32 = microfleet_common::paging::DEFAULT_PER_PAGE;

/// The parameters of one list page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The search text.
    pub q: String,
    /// The page, from 1.
    pub page: i64,
    /// The filters, in the order given.
    pub filters: Vec<(String, String)>,
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

impl Listing {
    /// From the browser's query pairs: `q`, `page` (1 when absent or not a positive number), and the
    /// filters named in `filters` (empty values dropped).
    pub fn from_query(pairs: &[(String, String)], filters: &[&str]) -> Listing {
        let value = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.trim().to_string());
        Listing {
            q: value("q").unwrap_or_default(),
            page: value("page").and_then(|page| page.parse().ok()).filter(|page: &i64| *page >= 1).unwrap_or(1),
            filters: filters
                .iter()
                .filter_map(|name| value(name).filter(|value| !value.is_empty()).map(|value| (name.to_string(), value)))
                .collect(),
        }
    }

    /// A filter's value, or "".
    pub fn filter(&self, name: &str) -> &str {
        self.filters.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }

    /// The service's query string: `?q=..&page=..&perPage=20&<filters>`.
    pub fn api_query(&self) -> String {
        let page = self.page.to_string();
        let per_page = PER_PAGE.to_string();
        let mut pairs = vec![("page", page.as_str()), ("perPage", per_page.as_str())];
        if !self.q.is_empty() {
            pairs.insert(0, ("q", self.q.as_str()));
        }
        pairs.extend(self.filters.iter().map(|(key, value)| (key.as_str(), value.as_str())));
        format!("?{}", encode(&pairs))
    }

    /// The link to `page` of this list at `path`, with the same search and filters.
    pub fn link(&self, path: &str, page: i64) -> String {
        let page = page.to_string();
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", &self.q));
        }
        pairs.extend(self.filters.iter().map(|(key, value)| (key.as_str(), value.as_str())));
        if page != "1" {
            pairs.push(("page", &page));
        }
        if pairs.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", encode(&pairs))
        }
    }

    /// The link to the first page with filter `name` set to `value` ("" removes it), the search kept.
    pub fn with_filter(&self, path: &str, name: &str, value: &str) -> String {
        let mut other = self.clone();
        other.filters.retain(|(key, _)| key != name);
        if !value.is_empty() {
            other.filters.push((name.to_string(), value.to_string()));
        }
        other.link(path, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn the_query_is_read_leniently() {
        let cases = [
            ("nothing", pairs(&[]), Listing { q: String::new(), page: 1, filters: vec![] }),
            (
                "search_and_page",
                pairs(&[("q", " exo "), ("page", "3")]),
                Listing { q: "exo".into(), page: 3, filters: vec![] },
            ),
            ("bad_page", pairs(&[("page", "-2")]), Listing { q: String::new(), page: 1, filters: vec![] }),
            (
                "filter",
                pairs(&[("approval", "waiting"), ("other", "x"), ("state", "")]),
                Listing { q: String::new(), page: 1, filters: vec![("approval".into(), "waiting".into())] },
            ),
        ];
        for (case, query, expected) in cases {
            assert_eq!(Listing::from_query(&query, &["approval", "state"]), expected, "{case}");
        }
    }

    #[test]
    fn the_service_is_asked_with_paging_and_links_keep_the_search() {
        let listing =
            Listing { q: "ayu@example.com & co".into(), page: 2, filters: vec![("state".into(), "paid".into())] };
        assert_eq!(listing.api_query(), "?q=ayu%40example.com+%26+co&page=2&perPage=20&state=paid");
        assert_eq!(listing.link("/orders", 3), "/orders?q=ayu%40example.com+%26+co&state=paid&page=3");
        assert_eq!(
            listing.with_filter("/orders", "state", "expired"),
            "/orders?q=ayu%40example.com+%26+co&state=expired"
        );
        assert_eq!(Listing::default().link("/orders", 1), "/orders");
        assert_eq!(Listing { page: 1, ..Listing::default() }.api_query(), "?page=1&perPage=20");
    }
}
