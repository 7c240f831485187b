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

/// An event's approval state as shown to clients (and the events list's `approval` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Created, not approved yet: not on sale.
    Waiting,
    /// Approved: on sale within its sale window.
    Approved,
    /// The event has ended.
    Expired,
}

impl Approval {
    /// The name on the wire (and in the events list's SQL filter).
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Waiting => "waiting",
            Approval::Approved => "approved",
            Approval::Expired => "expired",
        }
    }
}

/// The filters of `GET /v1/events` (besides `q`, on the name or venue, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventFilters {
    /// Only events in this approval state (at the time of reading).
    #[serde(default)]
    pub approval: Option<Approval>,
    /// Only this merchant's events.
    #[serde(default)]
    pub merchant_id: Option<i64>,
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
    check_details(
        &event.name,
        &event.venue,
        [event.starts_at, event.ends_at, event.sale_starts_at, event.sale_ends_at],
    )?;
    let areas: Vec<_> = event.areas.iter().map(|area| (area.name.as_str(), area.capacity, area.price)).collect();
    check_areas(&areas)
}

/// Checks an event's name, venue and times (`[startsAt, endsAt, saleStartsAt, saleEndsAt]`).
fn check_details(name: &str, venue: &str, times: [Timestamp; 4]) -> Result<(), DomainError> {
    let [starts_at, ends_at, sale_starts_at, sale_ends_at] = times;
    check_text("name", name, 200)?;
    check_text("venue", venue, 200)?;
    if ends_at <= starts_at {
        return Err(DomainError::invalid("endsAt", "must be after startsAt"));
    }
    if sale_ends_at <= sale_starts_at {
        return Err(DomainError::invalid("saleEndsAt", "must be after saleStartsAt"));
    }
    if sale_ends_at > ends_at {
        return Err(DomainError::invalid("saleEndsAt", "must not be after the event ends (endsAt)"));
    }
    Ok(())
}

/// Checks an event's areas as (name, capacity, price): 1 to [`MAX_AREAS`], unique names, capacities and
/// prices in range.
fn check_areas(areas: &[(&str, i32, i64)]) -> Result<(), DomainError> {
    if areas.is_empty() || areas.len() > MAX_AREAS {
        return Err(DomainError::invalid("areas", format!("must list 1 to {MAX_AREAS} areas")));
    }
    for (index, &(name, capacity, price)) in areas.iter().enumerate() {
        check_text(&format!("areas[{index}].name"), name, 100)?;
        if areas[..index].iter().any(|earlier| earlier.0.trim() == name.trim()) {
            return Err(DomainError::invalid(format!("areas[{index}].name"), "is already the name of another area"));
        }
        if !(1..=MAX_CAPACITY).contains(&capacity) {
            return Err(DomainError::invalid(
                format!("areas[{index}].capacity"),
                format!("must be 1 to {MAX_CAPACITY}"),
            ));
        }
        if price < 0 {
            return Err(DomainError::invalid(format!("areas[{index}].price"), "must not be negative"));
        }
    }
    Ok(())
}

/// `PUT /v1/events/{id}`: the event's new name, venue, times and areas. Every existing area is listed with
/// its `id` (areas are never removed); an area without an `id` is added.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventEdit {
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
    /// When ticket sales close.
    pub sale_ends_at: Timestamp,
    /// Every area: existing ones with their id, new ones without.
    pub areas: Vec<AreaEdit>,
}

/// An area in an [`EventEdit`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AreaEdit {
    /// The existing area's id; absent for a new area.
    #[serde(default)]
    pub id: Option<i64>,
    /// Unique within the event.
    pub name: String,
    /// Seats for sale: not below the seats sold.
    pub capacity: i32,
    /// Price of one seat.
    pub price: i64,
}

/// Whether `edit` may be applied to `current` (read under lock): valid fields, the event not ended, an
/// approved event's times unchanged (409 naming the time), every existing area listed once and no other
/// id (404 naming `areas[i].id`), no capacity below the seats sold (409 naming `areas[i].capacity`).
pub fn check_edit(current: &Event, edit: &EventEdit) -> Result<(), DomainError> {
    check_details(&edit.name, &edit.venue, [edit.starts_at, edit.ends_at, edit.sale_starts_at, edit.sale_ends_at])?;
    let areas: Vec<_> = edit.areas.iter().map(|area| (area.name.as_str(), area.capacity, area.price)).collect();
    check_areas(&areas)?;
    match current.approval {
        Approval::Expired => {
            return Err(DomainError::conflict("eventId", "the event has ended and can no longer be edited"))
        }
        Approval::Approved => {
            let times = [
                ("startsAt", current.starts_at, edit.starts_at),
                ("endsAt", current.ends_at, edit.ends_at),
                ("saleStartsAt", current.sale_starts_at, edit.sale_starts_at),
                ("saleEndsAt", current.sale_ends_at, edit.sale_ends_at),
            ];
            if let Some((field, _, _)) = times.iter().find(|(_, was, asked)| was != asked) {
                return Err(DomainError::conflict(*field, "an approved event's times cannot change")
                    .fix("send the times the event has"));
            }
        }
        Approval::Waiting => {}
    }
    for (index, area) in edit.areas.iter().enumerate() {
        let Some(id) = area.id else { continue };
        if edit.areas[..index].iter().any(|earlier| earlier.id == Some(id)) {
            return Err(DomainError::invalid(format!("areas[{index}].id"), "lists an area twice"));
        }
        let existing = current.areas.iter().find(|existing| existing.id == id).ok_or_else(|| {
            DomainError::not_found(format!("areas[{index}].id"), "the event has no area with this id")
        })?;
        if area.capacity < existing.sold {
            return Err(DomainError::conflict(
                format!("areas[{index}].capacity"),
                format!("{} seats are sold: the capacity cannot be below that", existing.sold),
            ));
        }
    }
    if let Some(missing) =
        current.areas.iter().find(|existing| !edit.areas.iter().any(|area| area.id == Some(existing.id)))
    {
        return Err(DomainError::invalid("areas", format!("the area {} (id {}) is missing", missing.name, missing.id))
            .fix("areas cannot be removed: list every existing area with its id"));
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
    use crate::domain::ErrorKind;

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

    fn stored(approval: Approval) -> Event {
        let new = concert();
        let area = |id, name: &str, capacity, sold| Area {
            id,
            name: name.into(),
            capacity,
            sold,
            available: capacity - sold,
            price: 100,
        };
        Event {
            id: 7,
            merchant_id: 1,
            name: new.name,
            venue: new.venue,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            sale_starts_at: new.sale_starts_at,
            sale_ends_at: new.sale_ends_at,
            approval,
            created_at: at("2023-02-01T00:00:00Z"),
            areas: vec![area(10, "VIP", 100, 40), area(11, "Festival", 1000, 0)],
        }
    }

    fn edit_of(event: &Event) -> EventEdit {
        EventEdit {
            name: event.name.clone(),
            venue: event.venue.clone(),
            starts_at: event.starts_at,
            ends_at: event.ends_at,
            sale_starts_at: event.sale_starts_at,
            sale_ends_at: event.sale_ends_at,
            areas: event
                .areas
                .iter()
                .map(|area| AreaEdit {
                    id: Some(area.id),
                    name: area.name.clone(),
                    capacity: area.capacity,
                    price: area.price,
                })
                .collect(),
        }
    }

    #[test]
    fn check_edit_keeps_sold_seats_and_approved_times() {
        type Edit = fn(&mut EventEdit);
        type Case = (&'static str, Approval, Edit, Option<(&'static str, ErrorKind)>);
        let new_area = |edit: &mut EventEdit| {
            edit.areas.push(AreaEdit { id: None, name: "Tribune".into(), capacity: 50, price: 5 })
        };
        let cases: [Case; 14] = [
            ("unchanged_waiting", Approval::Waiting, |_| {}, None),
            ("unchanged_approved", Approval::Approved, |_| {}, None),
            (
                "rename_and_reprice",
                Approval::Approved,
                |e| {
                    e.name = "EXO".into();
                    e.areas[0].price = 5;
                },
                None,
            ),
            ("add_area", Approval::Approved, new_area, None),
            ("capacity_down_to_sold", Approval::Approved, |e| e.areas[0].capacity = 40, None),
            (
                "capacity_below_sold",
                Approval::Waiting,
                |e| e.areas[0].capacity = 39,
                Some(("areas[0].capacity", ErrorKind::Conflict)),
            ),
            ("move_waiting_event", Approval::Waiting, |e| e.starts_at = at("2023-03-18T19:00:00Z"), None),
            (
                "move_approved_event",
                Approval::Approved,
                |e| e.starts_at = at("2023-03-18T19:00:00Z"),
                Some(("startsAt", ErrorKind::Conflict)),
            ),
            (
                "approved_sale_end",
                Approval::Approved,
                |e| e.sale_ends_at = at("2023-03-18T17:00:00Z"),
                Some(("saleEndsAt", ErrorKind::Conflict)),
            ),
            ("ended", Approval::Expired, |_| {}, Some(("eventId", ErrorKind::Conflict))),
            (
                "unknown_area",
                Approval::Waiting,
                |e| e.areas[1].id = Some(99),
                Some(("areas[1].id", ErrorKind::NotFound)),
            ),
            ("area_twice", Approval::Waiting, |e| e.areas[1].id = Some(10), Some(("areas[1].id", ErrorKind::Invalid))),
            (
                "area_removed",
                Approval::Waiting,
                |e| {
                    e.areas.pop();
                },
                Some(("areas", ErrorKind::Invalid)),
            ),
            ("invalid_field", Approval::Waiting, |e| e.venue = " ".into(), Some(("venue", ErrorKind::Invalid))),
        ];
        for (case, approval, edit, expected) in cases {
            let current = stored(approval);
            let mut asked = edit_of(&current);
            edit(&mut asked);
            let result = check_edit(&current, &asked).map_err(|error| (error.field, error.kind));
            assert_eq!(result, expected.map_or(Ok(()), |(field, kind)| Err((field.to_string(), kind))), "{case}");
        }
    }

    #[test]
    fn check_approvable_refuses_only_ended_events() {
        assert!(check_approvable(Approval::Waiting).is_ok());
        assert!(check_approvable(Approval::Approved).is_ok());
        assert_eq!(check_approvable(Approval::Expired).unwrap_err().field, "eventId");
    }
}
