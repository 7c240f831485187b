//! Pagination: the URL of the next page, from the spec's pagination and what the last page said.
//!
//! Pure: no I/O. Page and offset paging end on an empty page (a server may cap its page size, so a short
//! page proves nothing) unless the spec says a short page ends the list; offsets advance by the items
//! received. Guards against endless pagination (a repeated cursor or link, a page-count limit) and
//! against a `Link` header that points to another host (credentials must not follow it).

use std::collections::HashSet;

use microfleet_crds::clusterfetch::{Pagination, PaginationType};
use reqwest::Url;

/// Why pagination cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    /// The same cursor (or next link) came back twice.
    #[error("pagination loop: page {page} returned a next {what} already seen; the source repeats itself")]
    Loop {
        /// What repeated: "cursor" or "link".
        what: &'static str,
        /// The page that repeated it.
        page: u64,
    },
    /// More pages than allowed.
    #[error("more than {0} pages: raise spec.source.pagination.maxPages if the list is really that long")]
    TooManyPages(u64),
    /// The next link leads to another host.
    #[error("the Link header of page {0} points to another host; refusing to send credentials there")]
    ForeignLink(u64),
    /// The next link is not a URL.
    #[error("the Link header of page {0} has a next link that is not a URL")]
    BadLink(u64),
    /// The cursor is neither a string nor a number.
    #[error("the cursor of page {0} is neither a string nor a number")]
    BadCursor(u64),
}

/// What a fetched page tells the paginator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageInfo {
    /// Items the page held.
    pub items: u64,
    /// The value at cursorPath, if any.
    pub cursor: Option<serde_json::Value>,
    /// The `Link` response header, if any.
    pub link: Option<String>,
}

/// Walks the pages of one source.
#[derive(Debug)]
pub struct Paginator {
    base: Url,
    pagination: Option<Pagination>,
    pages: u64,
    /// Items received before the page being read (the offset of offset paging).
    offset: u64,
    /// Items of the last page read, the likeliest size of the next (a server may cap its pages).
    last_items: Option<u64>,
    seen: HashSet<String>,
}

impl Paginator {
    /// A paginator over `base` (the spec's URL).
    pub fn new(base: Url, pagination: Option<Pagination>) -> Paginator {
        Paginator { base, pagination, pages: 0, offset: 0, last_items: None, seen: HashSet::new() }
    }

    /// The first page's URL.
    pub fn first(&self) -> Url {
        let Some(p) = &self.pagination else { return self.base.clone() };
        match p.type_ {
            PaginationType::Page | PaginationType::Offset => self.numbered(p, 0, 0),
            PaginationType::Cursor => with_params(&self.base, &[(&p.size_param, p.page_size.to_string())]),
            PaginationType::LinkHeader => self.base.clone(),
        }
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The URL of the page after the one being read, when it can be guessed before that page is read (page
    /// and offset paging; offset paging guesses that the page is as long as the last one, or full) and
    /// within `maxPages`: it can be requested ahead. Whether it is really wanted is up to [`Paginator::next`].
    pub fn following(&self) -> Option<Url> {
        let p = self.pagination.as_ref()?;
        let index = self.pages + 1;
        let numbered = matches!(p.type_, PaginationType::Page | PaginationType::Offset);
        let size = self.last_items.unwrap_or(u64::try_from(p.page_size).unwrap_or(0));
        let guess = self.offset.saturating_add(size);
        (numbered && index < u64::try_from(p.max_pages).unwrap_or(u64::MAX)).then(|| self.numbered(p, index, guess))
    }

    /// The URL of page `index` (from 0) of page paging, or of the page at `offset` of offset paging.
    fn numbered(&self, p: &Pagination, index: u64, offset: u64) -> Url {
        let (name, value) = if p.type_ == PaginationType::Page {
            (&p.page_param, u64::try_from(p.first_page).unwrap_or(0).saturating_add(index))
        } else {
            (&p.offset_param, offset)
        };
        with_params(&self.base, &[(name, value.to_string()), (&p.size_param, p.page_size.to_string())])
    }

    /// Records that the page at `current` was read and returns the next page's URL, if any.
    pub fn next(&mut self, current: &Url, page: &PageInfo) -> Result<Option<Url>, PaginationError> {
        self.pages += 1;
        let Some(p) = self.pagination.clone() else { return Ok(None) };
        let next = match p.type_ {
            PaginationType::Page | PaginationType::Offset => {
                let short = page.items < u64::try_from(p.page_size).unwrap_or(u64::MAX);
                if page.items == 0 || (p.short_page_ends && short) {
                    return Ok(None);
                }
                self.offset = self.offset.saturating_add(page.items);
                self.last_items = Some(page.items);
                self.numbered(&p, self.pages, self.offset)
            }
            PaginationType::Cursor => {
                let cursor = match &page.cursor {
                    None | Some(serde_json::Value::Null) => return Ok(None),
                    Some(serde_json::Value::String(s)) if s.is_empty() => return Ok(None),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    Some(_) => return Err(PaginationError::BadCursor(self.pages)),
                };
                if !self.seen.insert(cursor.clone()) {
                    return Err(PaginationError::Loop { what: "cursor", page: self.pages });
                }
                with_params(&self.base, &[(&p.cursor_param, cursor), (&p.size_param, p.page_size.to_string())])
            }
            PaginationType::LinkHeader => {
                let Some(target) = page.link.as_deref().and_then(next_link) else { return Ok(None) };
                let url = current.join(target).map_err(|_| PaginationError::BadLink(self.pages))?;
                let same_origin = url.scheme() == self.base.scheme()
                    && url.host_str() == self.base.host_str()
                    && url.port_or_known_default() == self.base.port_or_known_default();
                if !same_origin {
                    return Err(PaginationError::ForeignLink(self.pages));
                }
                if !self.seen.insert(url.to_string()) {
                    return Err(PaginationError::Loop { what: "link", page: self.pages });
                }
                url
            }
        };
        if self.pages >= u64::try_from(p.max_pages).unwrap_or(u64::MAX) {
            return Err(PaginationError::TooManyPages(self.pages));
        }
        Ok(Some(next))
    }
}

/// `url` with each `(name, value)` set, replacing any value the URL already had for that name.
fn with_params(url: &Url, params: &[(&String, String)]) -> Url {
    let mut out = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(name, _)| k.as_ref() == name.as_str()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut query = out.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    out
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            let Some((key, value)) = param.split_once('=') else { return false };
            key.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_whitespace().any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        is_next.then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pagination(yaml: &str) -> Option<Pagination> {
        Some(serde_yaml::from_str(yaml).unwrap())
    }

    fn info(items: u64, cursor: Option<serde_json::Value>, link: Option<&str>) -> PageInfo {
        PageInfo { items, cursor, link: link.map(Into::into) }
    }

    fn base() -> Url {
        Url::parse("http://src.test/v1/users?segment=promo&page=9").unwrap()
    }

    #[test]
    fn no_pagination_is_one_page() {
        let mut p = Paginator::new(base(), None);
        assert_eq!(p.first(), base());
        assert_eq!(p.next(&base(), &info(10, None, None)), Ok(None));
    }

    #[test]
    fn page_numbers_until_an_empty_page() {
        let mut p = Paginator::new(base(), pagination("{type: page, pageSize: 2}"));
        let first = p.first();
        assert_eq!(first.as_str(), "http://src.test/v1/users?segment=promo&page=1&limit=2");
        let second = p.next(&first, &info(2, None, None)).unwrap().unwrap();
        assert_eq!(second.as_str(), "http://src.test/v1/users?segment=promo&page=2&limit=2");
        let third = p.next(&second, &info(1, None, None)).unwrap().unwrap();
        assert_eq!(third.as_str(), "http://src.test/v1/users?segment=promo&page=3&limit=2", "a short page goes on");
        assert_eq!(p.next(&third, &info(0, None, None)), Ok(None));
        assert_eq!(p.pages(), 3);
    }

    #[test]
    fn a_short_page_ends_the_list_only_when_the_spec_says_so() {
        for kind in ["page", "offset"] {
            let spec = format!("{{type: {kind}, pageSize: 2, shortPageEnds: true}}");
            let mut p = Paginator::new(base(), pagination(&spec));
            let first = p.first();
            let second = p.next(&first, &info(2, None, None)).unwrap().unwrap();
            assert_eq!(p.next(&second, &info(1, None, None)), Ok(None), "{kind}");
            let mut p = Paginator::new(base(), pagination(&spec));
            assert_eq!(p.next(&first, &info(0, None, None)), Ok(None), "{kind}: an empty page ends it too");
        }
    }

    #[test]
    fn offsets_advance_by_the_items_received_when_the_server_caps_its_pages() {
        let mut p = Paginator::new(base(), pagination("{type: offset, pageSize: 1000}"));
        let first = p.first();
        let guessed = p.following().unwrap();
        assert!(guessed.as_str().ends_with("offset=1000&limit=1000"), "{guessed}");
        let second = p.next(&first, &info(300, None, None)).unwrap().unwrap();
        assert!(second.as_str().ends_with("offset=300&limit=1000"), "{second}");
        assert_ne!(second, guessed, "the page requested ahead is not the one wanted");
        let ahead = p.following().unwrap();
        let third = p.next(&second, &info(300, None, None)).unwrap().unwrap();
        assert!(third.as_str().ends_with("offset=600&limit=1000"), "{third}");
        assert_eq!(ahead, third, "after a capped page, the next is guessed as long");
    }

    #[test]
    fn the_following_page_is_known_ahead_for_numbered_paging_only() {
        let mut p = Paginator::new(base(), pagination("{type: page, pageSize: 2, firstPage: 0, maxPages: 3}"));
        let first = p.first();
        assert!(first.as_str().ends_with("page=0&limit=2"), "{first}");
        let ahead = p.following().unwrap();
        let second = p.next(&first, &info(2, None, None)).unwrap().unwrap();
        assert_eq!(ahead, second, "what was requested ahead is what next() asks for");
        let third = p.following().unwrap();
        assert!(third.as_str().ends_with("page=2&limit=2"), "{third}");
        assert_eq!(p.next(&second, &info(2, None, None)).unwrap(), Some(third.clone()));
        assert_eq!(p.following(), None, "a fourth page is beyond maxPages: not requested ahead");
        let mut p = Paginator::new(base(), pagination("{type: offset, pageSize: 3}"));
        let ahead = p.following().unwrap();
        assert!(ahead.as_str().ends_with("offset=3&limit=3"), "{ahead}");
        assert_eq!(p.next(&p.first(), &info(3, None, None)).unwrap(), Some(ahead));
        for kind in ["{type: cursor, cursorPath: /next}", "{type: linkHeader}"] {
            assert_eq!(Paginator::new(base(), pagination(kind)).following(), None, "{kind}");
        }
        assert_eq!(Paginator::new(base(), None).following(), None);
    }

    #[test]
    fn offsets_until_an_empty_page() {
        let mut p = Paginator::new(base(), pagination("{type: offset, pageSize: 3, sizeParam: n, offsetParam: skip}"));
        let first = p.first();
        assert!(first.as_str().ends_with("skip=0&n=3"));
        let second = p.next(&first, &info(3, None, None)).unwrap().unwrap();
        assert!(second.as_str().ends_with("skip=3&n=3"), "{second}");
        assert_eq!(p.next(&second, &info(0, None, None)), Ok(None));
    }

    #[test]
    fn cursors_until_none_and_a_repeated_cursor_is_a_loop() {
        let mut p = Paginator::new(base(), pagination("{type: cursor, cursorPath: /next, pageSize: 5}"));
        let first = p.first();
        let second = p.next(&first, &info(5, Some(serde_json::json!("c 1")), None)).unwrap().unwrap();
        assert!(second.as_str().contains("cursor=c+1"), "{second}");
        let third = p.next(&second, &info(5, Some(serde_json::json!(42)), None)).unwrap().unwrap();
        assert!(third.as_str().contains("cursor=42"));
        assert_eq!(
            p.next(&third, &info(5, Some(serde_json::json!("c 1")), None)),
            Err(PaginationError::Loop { what: "cursor", page: 3 })
        );
        for end in [None, Some(serde_json::Value::Null), Some(serde_json::json!(""))] {
            let mut p = Paginator::new(base(), pagination("{type: cursor, cursorPath: /next}"));
            assert_eq!(p.next(&first, &info(5, end, None)), Ok(None));
        }
        let mut p = Paginator::new(base(), pagination("{type: cursor, cursorPath: /next}"));
        assert_eq!(p.next(&first, &info(5, Some(serde_json::json!(true)), None)), Err(PaginationError::BadCursor(1)));
    }

    #[test]
    fn link_headers_same_host_only_and_no_loops() {
        let mut p = Paginator::new(base(), pagination("{type: linkHeader}"));
        let first = p.first();
        let link = r#"<http://src.test/v1/users?page=last>; rel="last", </v1/users?after=abc>; rel="next""#;
        let second = p.next(&first, &info(5, None, Some(link))).unwrap().unwrap();
        assert_eq!(second.as_str(), "http://src.test/v1/users?after=abc");
        assert_eq!(p.next(&second, &info(5, None, Some(link))), Err(PaginationError::Loop { what: "link", page: 2 }));
        let mut p = Paginator::new(base(), pagination("{type: linkHeader}"));
        let foreign = "<http://evil.test/steal>; rel=next";
        assert_eq!(p.next(&first, &info(5, None, Some(foreign))), Err(PaginationError::ForeignLink(1)));
        let mut p = Paginator::new(base(), pagination("{type: linkHeader}"));
        assert_eq!(p.next(&first, &info(5, None, Some("<x>; rel=prev"))), Ok(None));
    }

    #[test]
    fn the_page_count_is_bounded() {
        let mut p = Paginator::new(base(), pagination("{type: page, pageSize: 1, maxPages: 3}"));
        let mut url = p.first();
        for _ in 0..2 {
            url = p.next(&url, &info(1, None, None)).unwrap().unwrap();
        }
        assert_eq!(p.next(&url, &info(1, None, None)), Err(PaginationError::TooManyPages(3)));
    }
}
