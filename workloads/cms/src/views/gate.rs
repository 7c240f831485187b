//! The gate side (gate-acl): event staff with their badge validity, work windows and QR code; a staff
//! member's printable badge (QR drawn as SVG, print CSS; "Print info" is the one button that needs
//! JavaScript); the staff create and work-window forms; and the schedules list (work windows with their
//! approval and progress) with the approve button.

use jiff::Timestamp;
use maud::{html, Markup, PreEscaped};

use super::layout::page;
use super::widgets::{badge, banner, csrf_input, field, pager, row_number, search};
use super::Frame;
use crate::access::Action;
use crate::api::ApiFailure;
use crate::forms::FormValues;
use crate::listing::Listing;
use crate::model::{Page, ShiftRow, Staff};

/// A work window's progress at `now`: upcoming, in progress or done (the seed's schedule "Status").
pub fn progress(starts_at: Timestamp, ends_at: Timestamp, now: Timestamp) -> &'static str {
    if now < starts_at {
        "upcoming"
    } else if now < ends_at {
        "in progress"
    } else {
        "done"
    }
}

/// A staff member's status from their work windows: none, how many wait for approval, or all approved.
pub fn staff_status(staff: &Staff) -> String {
    let waiting = staff.shifts.iter().filter(|shift| !shift.approved).count();
    match (staff.shifts.len(), waiting) {
        (0, _) => "no work window".to_string(),
        (_, 0) => "approved".to_string(),
        (_, waiting) => format!("{waiting} waiting"),
    }
}

/// The event staff list with the create form.
pub fn event_staff(
    frame: Frame<'_>,
    listing: &Listing,
    list: &Page<Staff>,
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let display = frame.display;
    let can_manage = frame.viewer.may(Action::ManageGate);
    let fields = ["eventId", "name", "role", "validFrom", "validUntil"];
    page(
        frame,
        "Event staff",
        html! {},
        html! {
            @if can_manage {
                div.card.no-print {
                    h2 { "New event staff" }
                    (banner(failure, &fields))
                    form method="post" action="/event-staff" {
                        (csrf_input(frame.csrf))
                        div.form {
                            (field("Event id", "eventId", "number", values, failure))
                            (field("Name", "name", "text", values, failure))
                            (field("Role", "role", "text", values, failure))
                            (field("Start work", "validFrom", "datetime-local", values, failure))
                            (field("End work", "validUntil", "datetime-local", values, failure))
                        }
                        div.form-actions { button type="submit" { "Add staff" } }
                    }
                }
            }
            div.card {
                (search("/event-staff", listing, "Search staff", "", &[]))
                table {
                    thead { tr { th { "#" } th { "Name" } th { "Start work" } th { "End work" } th { "Status" } th { "QR code" } th { "Event" } } }
                    tbody {
                        @for (index, staff) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { strong { (staff.name) } div.sub { (staff.role) } }
                                td { (display.date_time(staff.valid_from)) }
                                td { (display.date_time(staff.valid_until)) }
                                td { (badge(&staff_status(staff))) }
                                td { a.button.ghost.small href={ "/event-staff/" (staff.id) } { "QR code" } }
                                td { a href={ "/events/" (staff.event_id) } { "#" (staff.event_id) } }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="7" { "No staff found." } } }
                    }
                }
                (pager("/event-staff", listing, list))
            }
        },
    )
}

/// A staff member's badge: details, QR code (SVG), print and close buttons, their work windows and the
/// form to add one.
pub fn staff_badge(
    frame: Frame<'_>,
    staff: &Staff,
    qr_svg: Option<&str>,
    values: &FormValues,
    failure: Option<&ApiFailure>,
) -> Markup {
    let display = frame.display;
    let can_manage = frame.viewer.may(Action::ManageGate);
    page(
        frame,
        "Staff detail",
        html! {
            button.no-print type="button" onclick="window.print()" { "Print info" }
            a.button.ghost href="/event-staff" { "Close" }
        },
        html! {
            div.split.badge-split {
                div.card.badge-card {
                    h2 { (staff.name) }
                    div.qr data-test="staff-qr" { @match qr_svg { Some(svg) => (PreEscaped(svg)), None => span.sub { "No QR code for this staff member." } } }
                    dl {
                        dt { "Name" } dd { (staff.name) }
                        dt { "Role" } dd { (staff.role) }
                        dt { "Status" } dd { (staff_status(staff)) }
                        dt { "Start work" } dd { (display.date_time(staff.valid_from)) }
                        dt { "End work" } dd { (display.date_time(staff.valid_until)) }
                        dt { "Event" } dd { "#" (staff.event_id) }
                    }
                }
                div.card.no-print {
                    h2 { "Work windows" }
                    table {
                        thead { tr { th { "Start" } th { "End" } th { "Approval" } } }
                        tbody {
                            @for shift in &staff.shifts {
                                tr { td { (display.date_time(shift.starts_at)) } td { (display.date_time(shift.ends_at)) } td { (badge(if shift.approved { "approved" } else { "waiting" })) } }
                            }
                            @if staff.shifts.is_empty() { tr { td.empty colspan="3" { "No work windows yet." } } }
                        }
                    }
                    @if can_manage {
                        h2 style="margin-top:18px" { "Add a work window" }
                        (banner(failure, &["startsAt", "endsAt"]))
                        form method="post" action={ "/event-staff/" (staff.id) "/shifts" } {
                            (csrf_input(frame.csrf))
                            div.form {
                                (field("Start", "startsAt", "datetime-local", values, failure))
                                (field("End", "endsAt", "datetime-local", values, failure))
                            }
                            div.form-actions { button type="submit" { "Add work window" } }
                        }
                    }
                }
            }
        },
    )
}

/// The schedules list.
pub fn schedules(
    frame: Frame<'_>,
    listing: &Listing,
    list: &Page<ShiftRow>,
    now: Timestamp,
    failure: Option<&ApiFailure>,
) -> Markup {
    let display = frame.display;
    let can_approve = frame.viewer.may(Action::ManageGate);
    page(
        frame,
        "Schedules",
        html! {},
        html! {
            (banner(failure, &[]))
            div.card {
                (search("/schedules", listing, "Search staff", "approval", &[("", "All"), ("waiting", "Waiting"), ("approved", "Approved")]))
                table {
                    thead { tr { th { "#" } th { "Name" } th { "Start time" } th { "End time" } th { "Approved" } th { "Status" } th { "Action" } } }
                    tbody {
                        @for (index, shift) in list.items.iter().enumerate() {
                            tr {
                                td { (row_number(list, index)) }
                                td { a href={ "/event-staff/" (shift.staff_id) } { strong { (shift.staff_name) } } div.sub { "event #" (shift.event_id) } }
                                td { (display.date_time(shift.starts_at)) }
                                td { (display.date_time(shift.ends_at)) }
                                td { (badge(&shift.approval)) }
                                td { (badge(progress(shift.starts_at, shift.ends_at, now))) }
                                td {
                                    @if can_approve && shift.approval == "waiting" {
                                        form method="post" action={ "/schedules/" (shift.staff_id) "/" (shift.id) "/approve" } {
                                            (csrf_input(frame.csrf)) button.small type="submit" { "Approve" }
                                        }
                                    }
                                }
                            }
                        }
                        @if list.items.is_empty() { tr { td.empty colspan="7" { "No work windows found." } } }
                    }
                }
                (pager("/schedules", listing, list))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Shift;

    #[test]
    fn a_work_window_is_upcoming_in_progress_or_done() {
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        let (start, end) = (at("2026-12-02T10:00:00Z"), at("2026-12-02T16:00:00Z"));
        let cases = [
            ("before", "2026-12-02T09:59:59Z", "upcoming"),
            ("start", "2026-12-02T10:00:00Z", "in progress"),
            ("end", "2026-12-02T16:00:00Z", "done"),
        ];
        for (case, now, expected) in cases {
            assert_eq!(progress(start, end, at(now)), expected, "{case}");
        }
    }

    #[test]
    fn the_staff_status_counts_waiting_windows() {
        let at: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let shift = |approved| Shift { id: 1, starts_at: at, ends_at: at, approved };
        let staff = |shifts| Staff {
            id: 1,
            event_id: 1,
            name: "Fadria".into(),
            role: "usher".into(),
            valid_from: at,
            valid_until: at,
            shifts,
            qr: None,
        };
        let cases = [
            ("none", vec![], "no work window"),
            ("approved", vec![shift(true)], "approved"),
            ("waiting", vec![shift(true), shift(false), shift(false)], "2 waiting"),
        ];
        for (case, shifts, expected) in cases {
            assert_eq!(staff_status(&staff(shifts)), expected, "{case}");
        }
    }
}
