//! Merchants and events: the merchants list (search, page, create, edit), the events list with their
//! approval (waiting/approved/expired tabs, search, page), an event's page with its areas (capacity, sold,
//! price) and the approve button, and the event form (create and edit, area rows, errors at their field).

use maud::{html, Markup};

use super::layout::page;
use super::widgets::{badge, banner, csrf_input, field, pager, row_number, search, select};
use super::Frame;
use crate::access::Action;
use crate::api::ApiFailure;
use crate::forms::{area_rows, original, FormValues};
use crate::listing::Listing;
use crate::model::{Event, Merchant, Page};

/// Blank area rows offered for new areas.
const NEW_AREA_ROWS: usize = 2;

/// The merchants list with the create form.
pub fn merchants(
    frame: Frame<'_>,
    listing: &Listing,
    list: &Page<Merchant>,
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let can_edit = frame.viewer.may(Action::EditCatalog);
    let display = frame.display;
    page(
        frame,
        "Merchants",
        html! {},
        html! {
            @if can_edit {
                div.card {
                    h2 { "New merchant" }
                    (banner(failure, &["name"]))
                    form method="post" action="/merchants" {
                        (csrf_input(frame.csrf))
                        div.form { (field("Name", "name", "text", values, failure)) }
                        div.form-actions { button type="submit" { "Create merchant" } }
                    }
                }
            }
            div.card {
                (search("/merchants", listing, "Search merchants", "", &[]))
                table {
                    thead { tr { th { "#" } th { "Name" } th.num { "Events" } th { "Created" } th { "Action" } } }
                    tbody {
                        @for (index, merchant) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { strong { (merchant.name) } }
                                td.num { a href={ "/events?merchantId=" (merchant.id) } { (merchant.events) } }
                                td { (display.date(merchant.created_at)) }
                                td { @if can_edit { a.button.ghost.small href={ "/merchants/" (merchant.id) "/edit" } { "Edit" } } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="5" { "No merchants found." } } }
                    }
                }
                (pager("/merchants", listing, list))
            }
        },
    )
}

/// The merchant edit form.
pub fn merchant_edit(frame: Frame<'_>, id: i64, values: &FormValues, failure: Option<&ApiFailure>) -> Markup {
    page(
        frame,
        "Edit merchant",
        html! {},
        html! {
            div.card {
                (banner(failure, &["name"]))
                form method="post" action={ "/merchants/" (id) } {
                    (csrf_input(frame.csrf))
                    div.form { (field("Name", "name", "text", values, failure)) }
                    div.form-actions { button type="submit" { "Save" } a.button.ghost href="/merchants" { "Cancel" } }
                }
            }
        },
    )
}

/// The events list.
pub fn events(frame: Frame<'_>, listing: &Listing, list: &Page<Event>) -> Markup {
    let display = frame.display;
    let can_edit = frame.viewer.may(Action::EditCatalog);
    let can_approve = frame.viewer.may(Action::ApproveEvents);
    page(
        frame,
        "Events",
        html! { @if can_edit { a.button href="/events/new" { "New event +" } } },
        html! {
            div.card {
                (search("/events", listing, "Search events", "approval",
                    &[("", "All"), ("waiting", "Waiting"), ("approved", "Approved"), ("expired", "Expired")]))
                table {
                    thead { tr { th { "#" } th { "Name" } th { "Event date" } th { "Ticket sale" } th { "Areas" } th { "Created" } th { "Action" } } }
                    tbody {
                        @for (index, event) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td {
                                    a href={ "/events/" (event.id) } { strong { (event.name) } }
                                    div.sub { (event.venue) }
                                    (badge(&event.approval))
                                }
                                td { (display.date_time(event.starts_at)) div.sub { "to " (display.date_time(event.ends_at)) } }
                                td { (display.date_time(event.sale_starts_at)) div.sub { "to " (display.date_time(event.sale_ends_at)) } }
                                td { a href={ "/events/" (event.id) } { (event.areas.len()) " areas" } div.sub { (event.areas.iter().map(|area| area.capacity).sum::<i64>()) " seats" } }
                                td { (display.date(event.created_at)) }
                                td { div.actions {
                                    @if can_edit && event.approval != "expired" { a.button.ghost.small href={ "/events/" (event.id) "/edit" } { "Edit" } }
                                    @if can_approve && event.approval == "waiting" {
                                        form method="post" action={ "/events/" (event.id) "/approve" } {
                                            (csrf_input(frame.csrf)) button.small type="submit" { "Approve" }
                                        }
                                    }
                                } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="7" { "No events found." } } }
                    }
                }
                (pager("/events", listing, list))
            }
        },
    )
}

/// An event with its areas.
pub fn event(frame: Frame<'_>, event: &Event, merchant: Option<&Merchant>, failure: Option<&ApiFailure>) -> Markup {
    let display = frame.display;
    let can_edit = frame.viewer.may(Action::EditCatalog) && event.approval != "expired";
    let can_approve = frame.viewer.may(Action::ApproveEvents) && event.approval == "waiting";
    page(
        frame,
        &event.name,
        html! {
            @if can_edit { a.button.ghost href={ "/events/" (event.id) "/edit" } { "Edit" } }
            @if can_approve {
                form method="post" action={ "/events/" (event.id) "/approve" } { (csrf_input(frame.csrf)) button type="submit" { "Approve event" } }
            }
        },
        html! {
            (banner(failure, &[]))
            div.split {
                div.card {
                    h2 { "Areas" }
                    table {
                        thead { tr { th { "Area" } th.num { "Capacity" } th.num { "Sold" } th.num { "Available" } th.num { "Price" } } }
                        tbody {
                            @for area in &event.areas {
                                tr { td { strong { (area.name) } } td.num { (area.capacity) } td.num { (area.sold) } td.num { (area.available) } td.num { (display.amount(area.price)) } }
                            }
                        }
                    }
                }
                div.card {
                    h2 { "Details" }
                    p { (badge(&event.approval)) }
                    p { span.sub { "Merchant" } br; (merchant.map_or("—", |merchant| merchant.name.as_str())) }
                    p { span.sub { "Venue" } br; (event.venue) }
                    p { span.sub { "Event date" } br; (display.date_time(event.starts_at)) " – " (display.date_time(event.ends_at)) }
                    p { span.sub { "Ticket sale" } br; (display.date_time(event.sale_starts_at)) " – " (display.date_time(event.sale_ends_at)) }
                    p { a href={ "/orders?eventId=" (event.id) } { "Orders of this event" } " · " a href={ "/event-staff?eventId=" (event.id) } { "Staff" } }
                }
            }
        },
    )
}

/// The values of an event's edit form.
pub fn event_values(event: &Event, display: &crate::format::Display) -> FormValues {
    let mut values = FormValues::default()
        .with("name", event.name.clone())
        .with("venue", event.venue.clone())
        .with("startsAt", display.input(event.starts_at))
        .with("endsAt", display.input(event.ends_at))
        .with("saleStartsAt", display.input(event.sale_starts_at))
        .with("saleEndsAt", display.input(event.sale_ends_at))
        .with(&original("startsAt"), event.starts_at.to_string())
        .with(&original("endsAt"), event.ends_at.to_string())
        .with(&original("saleStartsAt"), event.sale_starts_at.to_string())
        .with(&original("saleEndsAt"), event.sale_ends_at.to_string());
    for (row, area) in event.areas.iter().enumerate() {
        values = values
            .with(&format!("areas[{row}].id"), area.id.to_string())
            .with(&format!("areas[{row}].name"), area.name.clone())
            .with(&format!("areas[{row}].capacity"), area.capacity.to_string())
            .with(&format!("areas[{row}].price"), area.price.to_string());
    }
    values
}

/// The event form: `id` `None` creates (with the merchant choice), else edits.
pub fn event_form(
    frame: Frame<'_>,
    id: Option<i64>,
    merchants: &[Merchant],
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let rows = area_rows(values) + NEW_AREA_ROWS;
    let options: Vec<(String, String)> =
        merchants.iter().map(|merchant| (merchant.id.to_string(), merchant.name.clone())).collect();
    let mut shown = vec![
        "merchantId".to_string(),
        "name".into(),
        "venue".into(),
        "startsAt".into(),
        "endsAt".into(),
        "saleStartsAt".into(),
        "saleEndsAt".into(),
    ];
    for row in 0..rows {
        for part in ["name", "capacity", "price"] {
            shown.push(format!("areas[{row}].{part}"));
        }
    }
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    let (title, action) = match id {
        Some(id) => ("Edit event".to_string(), format!("/events/{id}")),
        None => ("New event".to_string(), "/events".to_string()),
    };
    page(
        frame,
        &title,
        html! {},
        html! {
            div.card {
                (banner(failure, &shown))
                form method="post" action=(action) {
                    (csrf_input(frame.csrf))
                    @for time in ["startsAt", "endsAt", "saleStartsAt", "saleEndsAt"] {
                        @let kept = original(time);
                        @if !values.get(&kept).is_empty() { input type="hidden" name=(kept) value=(values.get(&kept)); }
                    }
                    div.form {
                        @if id.is_none() { (select("Merchant", "merchantId", &options, values, failure)) }
                        (field("Name", "name", "text", values, failure))
                        (field("Venue", "venue", "text", values, failure))
                        (field("Starts", "startsAt", "datetime-local", values, failure))
                        (field("Ends", "endsAt", "datetime-local", values, failure))
                        (field("Ticket sale opens", "saleStartsAt", "datetime-local", values, failure))
                        (field("Ticket sale closes", "saleEndsAt", "datetime-local", values, failure))
                    }
                    h2 style="margin-top:22px" { "Areas" }
                    p.sub { "Capacity and price per area. Leave a row blank to skip it; areas cannot be removed once created." }
                    @for row in 0..rows {
                        @let id_field = format!("areas[{row}].id");
                        div.form.area-row {
                            @if !values.get(&id_field).is_empty() { input type="hidden" name=(id_field) value=(values.get(&id_field)); }
                            (field("Area name", &format!("areas[{row}].name"), "text", values, failure))
                            (field("Capacity", &format!("areas[{row}].capacity"), "number", values, failure))
                            (field("Price", &format!("areas[{row}].price"), "number", values, failure))
                        }
                    }
                    div.form-actions {
                        button type="submit" { @if id.is_some() { "Save event" } @else { "Create event" } }
                        a.button.ghost href="/events" { "Cancel" }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{viewer_with, Section};
    use crate::format::Display;

    fn event(approval: &str) -> Event {
        let at: jiff::Timestamp = "2026-12-24T12:00:00Z".parse().unwrap();
        Event {
            id: 7,
            merchant_id: 1,
            name: "EXO EXPLORATION".into(),
            venue: "Istora".into(),
            starts_at: at,
            ends_at: at,
            sale_starts_at: at,
            sale_ends_at: at,
            approval: approval.into(),
            created_at: at,
            areas: vec![],
        }
    }

    #[test]
    fn the_buttons_follow_the_scopes_and_the_state() {
        let display = Display { time_zone: jiff::tz::TimeZone::UTC, currency: "Rp".into() };
        let list = |events: Vec<Event>| Page { items: events, total: 1, page: 1, per_page: 20 };
        let cases = [
            ("approver", vec!["ticketing:read", "ticketing:approve"], "waiting", false, true),
            ("operator", vec!["ticketing:read", "ticketing:catalog"], "waiting", true, false),
            ("reader", vec!["ticketing:read"], "waiting", false, false),
            (
                "approved_event",
                vec!["ticketing:read", "ticketing:catalog", "ticketing:approve"],
                "approved",
                true,
                false,
            ),
            (
                "expired_event",
                vec!["ticketing:read", "ticketing:catalog", "ticketing:approve"],
                "expired",
                false,
                false,
            ),
        ];
        for (case, scopes, approval, edit, approve) in cases {
            let viewer = viewer_with(&[], &scopes);
            let frame = Frame { viewer: &viewer, csrf: "t0k", active: Section::Events, display: &display };
            let html = events(frame, &Listing::default(), &list(vec![event(approval)])).into_string();
            assert_eq!(html.contains("/events/7/edit"), edit, "{case}: edit");
            assert_eq!(html.contains("/events/7/approve"), approve, "{case}: approve");
            assert_eq!(html.contains("/events/new"), scopes.contains(&"ticketing:catalog"), "{case}: new");
            if approve {
                assert!(html.contains("name=\"csrf\" value=\"t0k\""), "{case}: the form carries the token");
            }
        }
    }
}
