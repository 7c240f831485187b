//! Events and their areas: what a valid new event is, its approval state (waiting, approved, or expired
//! once it has ended) and whether tickets are on sale at a given time.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{check_text, DomainError};

/// Most areas an event may have.
pub const MAX_AREAS: usize = 50;
/// Most seats an area may have.
pub const MAX_CAPACITY: i32 = 1_000_000;

/// A new event, as the CMS sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewEvent {
    /// The merchant organising it.
    pub merchant_id: i64,
    /// The event's name.
    pub name: String,
    /// Where it takes place.
    pub venue: String,
    /// When it starts.
    pub starts_at: Timestamp,
    /// When it ends.
    pub ends_at: Timestamp,
    /// When ticket sales open.
    pub sale_starts_at: Timestamp,
    /// When ticket sales close (at the latest when the event ends).
    pub sale_ends_at: Timestamp,
    /// Its areas (at least one).
    pub areas: Vec<NewArea>,
}

/// A new area of an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewArea {
    /// Unique within the event (`VIP`, `Festival`).
    pub name: String,
    /// Seats for sale.
    pub capacity: i32,
    /// Price of one seat, in the currency's smallest unit.
    pub price: i64,
}

/// An event's approval state as shown to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Created, not approved yet: not on sale.
    Waiting,
    /// Approved: on sale within its sale window.
    Approved,
    /// The event has ended.
    Expired,
}

/// An event with its areas, as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Its id.
    pub id: i64,
    /// The organising merchant.
    pub merchant_id: i64,
    /// Its name.
    pub name: String,
    /// Its venue.
    pub venue: String,
    /// Start.
    pub starts_at: Timestamp,
    /// End.
    pub ends_at: Timestamp,
    /// Sales open.
    pub sale_starts_at: Timestamp,
    /// Sales close.
    pub sale_ends_at: Timestamp,
    /// The approval state at the time of reading.
    pub approval: Approval,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its areas, by id.
    pub areas: Vec<Area>,
}

/// An area of an event with its availability.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Seats.
    pub capacity: i32,
    /// Seats held by pending and paid orders.
    pub sold: i32,
    /// Seats left.
    pub available: i32,
    /// Price of one seat.
    pub price: i64,
}

/// Checks a new event's fields; the error names the first field at fault.
pub fn validate_new_event(event: &NewEvent) -> Result<(), DomainError> {
    check_text("name", &event.name, 200)?;
    check_text("venue", &event.venue, 200)?;
    if event.ends_at <= event.starts_at {
        return Err(DomainError::invalid("endsAt", "must be after startsAt"));
    }
    if event.sale_ends_at <= event.sale_starts_at {
        return Err(DomainError::invalid("saleEndsAt", "must be after saleStartsAt"));
    }
    if event.sale_ends_at > event.ends_at {
        return Err(DomainError::invalid("saleEndsAt", "must not be after the event ends (endsAt)"));
    }
    if event.areas.is_empty() || event.areas.len() > MAX_AREAS {
        return Err(DomainError::invalid("areas", format!("must list 1 to {MAX_AREAS} areas")));
    }
    for (index, area) in event.areas.iter().enumerate() {
        check_text(&format!("areas[{index}].name"), &area.name, 100)?;
        if event.areas[..index].iter().any(|earlier| earlier.name.trim() == area.name.trim()) {
            return Err(DomainError::invalid(format!("areas[{index}].name"), "is already the name of another area"));
        }
        if !(1..=MAX_CAPACITY).contains(&area.capacity) {
            return Err(DomainError::invalid(
                format!("areas[{index}].capacity"),
                format!("must be 1 to {MAX_CAPACITY}"),
            ));
        }
        if area.price < 0 {
            return Err(DomainError::invalid(format!("areas[{index}].price"), "must not be negative"));
        }
    }
    Ok(())
}

/// The approval state shown at `now`: an event that has ended is expired whatever was stored.
pub fn approval_at(approved: bool, ends_at: Timestamp, now: Timestamp) -> Approval {
    match (now >= ends_at, approved) {
        (true, _) => Approval::Expired,
        (false, true) => Approval::Approved,
        (false, false) => Approval::Waiting,
    }
}

/// Whether an event can be approved at `now` (approving an approved event again changes nothing).
pub fn check_approvable(approval: Approval) -> Result<(), DomainError> {
    match approval {
        Approval::Waiting | Approval::Approved => Ok(()),
        Approval::Expired => Err(DomainError::conflict("eventId", "the event has ended and can no longer be approved")),
    }
}

/// Whether tickets of an event are on sale at `now`: approved, and within the sale window.
pub fn check_on_sale(
    approval: Approval,
    sale_starts_at: Timestamp,
    sale_ends_at: Timestamp,
    now: Timestamp,
) -> Result<(), DomainError> {
    match approval {
        Approval::Waiting => {
            return Err(
                DomainError::conflict("eventId", "the event is waiting for approval").fix("approve the event first")
            )
        }
        Approval::Expired => return Err(DomainError::conflict("eventId", "the event has ended")),
        Approval::Approved => {}
    }
    if now < sale_starts_at {
        return Err(DomainError::conflict("eventId", format!("ticket sales open at {sale_starts_at}")));
    }
    if now >= sale_ends_at {
        return Err(DomainError::conflict("eventId", format!("ticket sales closed at {sale_ends_at}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn concert() -> NewEvent {
        NewEvent {
            merchant_id: 1,
            name: "EXO EXPLORATION".into(),
            venue: "Jakarta".into(),
            starts_at: at("2023-03-18T18:20:00Z"),
            ends_at: at("2023-03-19T18:21:00Z"),
            sale_starts_at: at("2023-03-01T00:00:00Z"),
            sale_ends_at: at("2023-03-18T18:00:00Z"),
            areas: vec![
                NewArea { name: "VIP".into(), capacity: 100, price: 1_000_000 },
                NewArea { name: "Festival".into(), capacity: 1000, price: 200_000 },
            ],
        }
    }

    #[test]
    fn validate_new_event_names_the_field_at_fault() {
        type Edit = fn(&mut NewEvent);
        let cases: [(&str, Edit, Option<&str>); 10] = [
            ("valid", |_| {}, None),
            ("blank_name", |e| e.name = "  ".into(), Some("name")),
            ("blank_venue", |e| e.venue = String::new(), Some("venue")),
            ("ends_before_start", |e| e.ends_at = e.starts_at, Some("endsAt")),
            ("sale_window_empty", |e| e.sale_ends_at = e.sale_starts_at, Some("saleEndsAt")),
            ("sale_after_event", |e| e.sale_ends_at = at("2023-03-20T00:00:00Z"), Some("saleEndsAt")),
            ("no_areas", |e| e.areas.clear(), Some("areas")),
            ("duplicate_area", |e| e.areas[1].name = "VIP".into(), Some("areas[1].name")),
            ("zero_capacity", |e| e.areas[1].capacity = 0, Some("areas[1].capacity")),
            ("negative_price", |e| e.areas[0].price = -1, Some("areas[0].price")),
        ];
        for (case, edit, field) in cases {
            let mut event = concert();
            edit(&mut event);
            let result = validate_new_event(&event);
            assert_eq!(result.err().map(|error| error.field), field.map(String::from), "{case}");
        }
    }

    #[test]
    fn approval_at_expires_ended_events() {
        let ends = at("2023-03-19T18:21:00Z");
        let cases = [
            ("waiting", false, "2023-03-10T00:00:00Z", Approval::Waiting),
            ("approved", true, "2023-03-10T00:00:00Z", Approval::Approved),
            ("ended_waiting", false, "2023-03-19T18:21:00Z", Approval::Expired),
            ("ended_approved", true, "2023-04-01T00:00:00Z", Approval::Expired),
        ];
        for (case, approved, now, expected) in cases {
            assert_eq!(approval_at(approved, ends, at(now)), expected, "{case}");
        }
    }

    #[test]
    fn check_on_sale_needs_approval_and_the_window() {
        let (open, close) = (at("2023-03-01T00:00:00Z"), at("2023-03-18T18:00:00Z"));
        let cases = [
            ("approved_in_window", Approval::Approved, "2023-03-10T00:00:00Z", true),
            ("at_opening", Approval::Approved, "2023-03-01T00:00:00Z", true),
            ("before_opening", Approval::Approved, "2023-02-28T23:59:59Z", false),
            ("at_closing", Approval::Approved, "2023-03-18T18:00:00Z", false),
            ("waiting", Approval::Waiting, "2023-03-10T00:00:00Z", false),
            ("expired", Approval::Expired, "2023-03-10T00:00:00Z", false),
        ];
        for (case, approval, now, on_sale) in cases {
            assert_eq!(check_on_sale(approval, open, close, at(now)).is_ok(), on_sale, "{case}");
        }
    }

    #[test]
    fn check_approvable_refuses_only_ended_events() {
        assert!(check_approvable(Approval::Waiting).is_ok());
        assert!(check_approvable(Approval::Approved).is_ok());
        assert_eq!(check_approvable(Approval::Expired).unwrap_err().field, "eventId");
    }
}
