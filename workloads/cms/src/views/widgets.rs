//! The parts every screen shares: the hidden CSRF input, state badges, ✓/✗ marks, form fields that show
//! the service's error next to the field it named (and a banner for an error naming no shown field), the
//! search box with filter tabs, and the pager ("Showing 21–40 of 53", Previous/Next).

use maud::{html, Markup};

use crate::api::ApiFailure;
use crate::format::page_count;
use crate::forms::FormValues;
use crate::listing::Listing;
use crate::model::Page;

/// The hidden input carrying the session's CSRF token.
pub fn csrf_input(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// The colour of a state's badge.
pub fn tone(state: &str) -> &'static str {
    match state {
        "approved" | "validated" | "paid" | "refunded" | "active" | "confirmed" | "enabled" | "admitted"
        | "allowed" => "ok",
        "waiting" | "pending" | "refunding" | "issued" | "unconfirmed" | "upcoming" => "warn",
        "expired" | "revoked" | "locked" | "cancelled" | "rejected" | "disabled" | "failed" => "bad",
        "in progress" | "checkout" => "info",
        other if other.ends_with(" waiting") => "warn",
        _ => "",
    }
}

/// A state as a coloured badge (`waiting` shows as "waiting for approval").
pub fn badge(state: &str) -> Markup {
    let label = if state == "waiting" { "waiting for approval" } else { state };
    html! { span class={ "badge " (tone(state)) } { (label) } }
}

/// ✓ or ✗.
pub fn mark(yes: bool) -> Markup {
    html! { @if yes { span.yes title="yes" { "✓" } } @else { span.no title="no" { "✗" } } }
}

/// The message for `field` when the failure names it.
pub fn error_at<'a>(failure: Option<&'a ApiFailure>, field: &str) -> Option<&'a str> {
    failure.filter(|failure| failure.field.as_deref() == Some(field)).map(|failure| failure.message.as_str())
}

/// The banner above a form: the failure, unless it names one of the form's `shown` fields (then only a
/// pointer to it).
pub fn banner(failure: Option<&ApiFailure>, shown: &[&str]) -> Markup {
    html! {
        @if let Some(failure) = failure {
            @let at_field = failure.field.as_deref().is_some_and(|field| shown.contains(&field));
            div.alert.bad role="alert" {
                @if at_field { "Please correct the marked field." } @else { (failure.message) }
                @if let Some(fix) = &failure.fix { " " span.sub { (fix) } }
            }
        }
    }
}

/// A labelled input `name` of `kind` (text, number, datetime-local, ...) with the form's value and the
/// failure's message when it names this field.
pub fn field(label: &str, name: &str, kind: &str, values: &FormValues, failure: Option<&ApiFailure>) -> Markup {
    let error = error_at(failure, name);
    html! {
        div.field.error[error.is_some()] {
            label for=(name) { (label) }
            input id=(name) name=(name) type=(kind) value=(values.get(name)) aria-invalid=[error.map(|_| "true")];
            @if let Some(message) = error { div.error-text data-field=(name) { (message) } }
        }
    }
}

/// A labelled select `name` with `options` (value, label), the form's value selected.
pub fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let error = error_at(failure, name);
    html! {
        div.field.error[error.is_some()] {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[values.get(name) == value] { (text) }
                }
            }
            @if let Some(message) = error { div.error-text data-field=(name) { (message) } }
        }
    }
}

/// The search box (keeping the filters) and the filter tabs `tabs` of filter `name` (value, label).
pub fn search(path: &str, listing: &Listing, placeholder: &str, name: &str, tabs: &[(&str, &str)]) -> Markup {
    html! {
        div.toolbar {
            div.tabs {
                @for (value, label) in tabs {
                    a.active[listing.filter(name) == *value] href=(listing.with_filter(path, name, value)) { (label) }
                }
            }
            form method="get" action=(path) {
                @for (key, value) in &listing.filters { input type="hidden" name=(key) value=(value); }
                input type="search" name="q" value=(listing.q) placeholder=(placeholder) aria-label="Search";
                button.ghost type="submit" { "Search" }
            }
        }
    }
}

/// The row number of the `index`-th row of `page`.
pub fn row_number<T>(page: &Page<T>, index: usize) -> i64 {
    (i64::from(page.page) - 1) * i64::from(page.per_page) + index as i64 + 1
}

/// "Showing 21–40 of 53" and the Previous/Next links.
pub fn pager<T>(path: &str, listing: &Listing, page: &Page<T>) -> Markup {
    let pages = page_count(page.total, i64::from(page.per_page));
    let current = i64::from(page.page);
    let first = if page.items.is_empty() { 0 } else { row_number(page, 0) };
    let last = if page.items.is_empty() { 0 } else { row_number(page, page.items.len() - 1) };
    html! {
        div.pager {
            span { "Showing " (first) "–" (last) " of " (page.total) }
            div.actions {
                @if current > 1 { a href=(listing.link(path, current - 1)) rel="prev" { "Previous" } } @else { span { "Previous" } }
                span.sub { "Page " (page.page) " of " (pages) }
                @if current < pages { a href=(listing.link(path, current + 1)) rel="next" { "Next" } } @else { span { "Next" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_shows_the_error_that_names_it() {
        let failure = ApiFailure {
            status: Some(409),
            message: "10 seats are sold".into(),
            field: Some("areas[0].capacity".into()),
            fix: None,
        };
        let values = FormValues::default().with("areas[0].capacity", "5");
        let named = field("Capacity", "areas[0].capacity", "number", &values, Some(&failure)).into_string();
        assert!(named.contains("class=\"field error\""), "{named}");
        assert!(named.contains("10 seats are sold") && named.contains("value=\"5\""), "{named}");
        let other = field("Price", "areas[0].price", "number", &values, Some(&failure)).into_string();
        assert!(!other.contains("seats are sold") && !other.contains("error"), "{other}");
        assert!(banner(Some(&failure), &["areas[0].capacity"]).into_string().contains("correct the marked field"));
        assert!(banner(Some(&failure), &["name"]).into_string().contains("10 seats are sold"));
    }

    #[test]
    fn badges_colour_states() {
        let cases = [
            ("approved", "ok"),
            ("waiting", "warn"),
            ("2 waiting", "warn"),
            ("expired", "bad"),
            ("refunded", "ok"),
            ("something", ""),
        ];
        for (state, expected) in cases {
            assert_eq!(tone(state), expected, "{state}");
        }
        assert!(badge("waiting").into_string().contains("waiting for approval"));
    }

    #[test]
    fn the_pager_counts_rows_and_links_pages() {
        let page = Page { items: vec![1; 20], total: 53, page: 2, per_page: 20 };
        let listing = Listing { q: "exo".into(), page: 2, filters: vec![] };
        let html = pager("/events", &listing, &page).into_string();
        assert!(html.contains("Showing 21–40 of 53"), "{html}");
        assert!(html.contains("href=\"/events?q=exo\" rel=\"prev\""), "{html}");
        assert!(html.contains("href=\"/events?q=exo&amp;page=3\" rel=\"next\""), "{html}");
        let last = Page { items: vec![1; 13], total: 53, page: 3, per_page: 20 };
        assert!(!pager("/events", &listing, &last).into_string().contains("rel=\"next\""));
    }
}
