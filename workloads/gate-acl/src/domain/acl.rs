//! The access-control list's records and their checks: an event's gate settings and areas, gates and the
//! areas they admit, access entries per ticket (and the claims their QR codes carry), staff with roles and
//! work windows. Nothing here reads or writes the database.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::token::{Claims, Keyring, Kind};
use super::{check_text, DomainError};

/// An event as the ticketing service announces it (`PUT /v1/events/{eventId}`, later its `event.approved`
/// message): which areas exist and whether a ticket may enter again after an exit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventSpec {
    /// Its name.
    pub name: String,
    /// Whether a ticket may enter again after an exit.
    #[serde(default)]
    pub reentry_allowed: bool,
    /// Its areas.
    pub areas: Vec<AreaSpec>,
}

/// An area of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AreaSpec {
    /// The ticketing service's area id.
    pub area_id: i64,
    /// Its name.
    pub name: String,
}

/// An event as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The ticketing service's event id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether a ticket may enter again after an exit.
    pub reentry_allowed: bool,
    /// Its areas, by id.
    pub areas: Vec<AreaSpec>,
    /// Its gates, by id.
    pub gates: Vec<Gate>,
}

/// Checks an event's fields.
pub fn validate_event(spec: &EventSpec) -> Result<(), DomainError> {
    check_text("name", &spec.name, 200)?;
    if spec.areas.is_empty() {
        return Err(DomainError::invalid("areas", "must list at least one area"));
    }
    for (index, area) in spec.areas.iter().enumerate() {
        check_text(&format!("areas[{index}].name"), &area.name, 100)?;
        if spec.areas[..index].iter().any(|earlier| earlier.area_id == area.area_id) {
            return Err(DomainError::invalid(format!("areas[{index}].areaId"), "lists an area twice"));
        }
    }
    Ok(())
}

/// A new gate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGate {
    /// Its event.
    pub event_id: i64,
    /// Its name (`North 1`).
    pub name: String,
    /// The areas it admits (of its event).
    pub area_ids: Vec<i64>,
}

/// A gate as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// Its id.
    pub id: i64,
    /// Its event.
    pub event_id: i64,
    /// Its name.
    pub name: String,
    /// The areas it admits.
    pub area_ids: Vec<i64>,
}

/// Checks a new gate's fields.
pub fn validate_gate(gate: &NewGate) -> Result<(), DomainError> {
    check_text("name", &gate.name, 100)?;
    if gate.area_ids.is_empty() {
        return Err(DomainError::invalid("areaIds", "must list at least one area"));
    }
    for (index, area) in gate.area_ids.iter().enumerate() {
        if gate.area_ids[..index].contains(area) {
            return Err(DomainError::invalid(format!("areaIds[{index}]"), "lists an area twice"));
        }
    }
    Ok(())
}

/// Access to prepare for a ticket (`POST /v1/access`, later the saga's "prepare access" command).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewAccess {
    /// The ticket (a UUID).
    pub ticket_id: String,
    /// The event.
    pub event_id: i64,
    /// The area the ticket admits to.
    pub area_id: i64,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
}

/// An access entry's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessState {
    /// The ticket admits.
    Active,
    /// It no longer does.
    Revoked,
}

/// A ticket's access entry as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    /// The ticket.
    pub ticket_id: String,
    /// The event.
    pub event_id: i64,
    /// The area.
    pub area_id: i64,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// Active or revoked.
    pub state: AccessState,
    /// Inside now.
    pub inside: bool,
    /// Entries so far.
    pub entries: i32,
}

impl AccessEntry {
    /// The claims of the entry's QR code.
    pub fn claims(&self) -> Claims {
        Claims {
            kind: Kind::Ticket,
            sub: self.ticket_id.clone(),
            event_id: self.event_id,
            area_id: Some(self.area_id),
            nbf: self.valid_from.as_second(),
            exp: self.valid_until.as_second(),
            kid: String::new(),
        }
    }
}

/// A record (an access entry, a staff member) with its signed QR code, as answered.
#[derive(Debug, Clone, Serialize)]
pub struct WithQr<T> {
    /// The record.
    #[serde(flatten)]
    pub record: T,
    /// The signed QR payload.
    pub qr: String,
}

impl WithQr<AccessEntry> {
    /// The entry with its code signed by `keys` (the same entry always gets the same code).
    pub fn access(record: AccessEntry, keys: &Keyring) -> WithQr<AccessEntry> {
        WithQr { qr: keys.sign(&record.claims()), record }
    }
}

impl WithQr<Staff> {
    /// The staff member with their code signed by `keys`.
    pub fn staff(record: Staff, keys: &Keyring) -> WithQr<Staff> {
        WithQr { qr: keys.sign(&record.claims()), record }
    }
}

/// Checks a UUID in its text form (`8-4-4-4-12` hex digits).
pub fn check_uuid(field: &str, value: &str) -> Result<(), DomainError> {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    let hex = groups.iter().all(|group| group.chars().all(|c| c.is_ascii_hexdigit()));
    if lengths != [8, 4, 4, 4, 12] || !hex {
        return Err(DomainError::invalid(field, "must be a UUID").fix("use the ticket id the ticketing service issued"));
    }
    Ok(())
}

/// Checks a validity window: it starts before it ends.
pub fn check_validity(
    from_field: &str,
    from: Timestamp,
    until_field: &str,
    until: Timestamp,
) -> Result<(), DomainError> {
    if from >= until {
        return Err(DomainError::invalid(until_field, format!("must be after {from_field}")));
    }
    Ok(())
}

/// `at` without its fraction of a second: validity is kept in whole seconds, as codes carry it.
pub fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

impl NewAccess {
    /// The same access with its validity in whole seconds (what is stored and signed), so preparing it
    /// again compares equal.
    pub fn in_whole_seconds(&self) -> NewAccess {
        NewAccess {
            valid_from: whole_seconds(self.valid_from),
            valid_until: whole_seconds(self.valid_until),
            ..self.clone()
        }
    }
}

/// Checks new access.
pub fn validate_access(access: &NewAccess) -> Result<(), DomainError> {
    check_uuid("ticketId", &access.ticket_id)?;
    check_validity("validFrom", access.valid_from, "validUntil", access.valid_until)
}

/// The roles staff can have.
pub const ROLES: [&str; 5] = ["security", "usher", "steward", "medic", "supervisor"];

/// A new staff member.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewStaff {
    /// The event they work at.
    pub event_id: i64,
    /// Their name.
    pub name: String,
    /// Their role (one of [`ROLES`]).
    pub role: String,
    /// Their QR code is valid from.
    pub valid_from: Timestamp,
    /// Their QR code is valid until (exclusive).
    pub valid_until: Timestamp,
}

impl NewStaff {
    /// The same staff member with their code's validity in whole seconds (what is stored and signed).
    pub fn in_whole_seconds(&self) -> NewStaff {
        NewStaff {
            valid_from: whole_seconds(self.valid_from),
            valid_until: whole_seconds(self.valid_until),
            ..self.clone()
        }
    }
}

/// A staff member as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Staff {
    /// Their id.
    pub id: i64,
    /// The event.
    pub event_id: i64,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: String,
    /// Their QR code is valid from.
    pub valid_from: Timestamp,
    /// Until (exclusive).
    pub valid_until: Timestamp,
    /// Their work windows.
    pub shifts: Vec<Shift>,
}

impl Staff {
    /// The claims of their QR code.
    pub fn claims(&self) -> Claims {
        Claims {
            kind: Kind::Staff,
            sub: self.id.to_string(),
            event_id: self.event_id,
            area_id: None,
            nbf: self.valid_from.as_second(),
            exp: self.valid_until.as_second(),
            kid: String::new(),
        }
    }
}

/// Checks a new staff member.
pub fn validate_staff(staff: &NewStaff) -> Result<(), DomainError> {
    check_text("name", &staff.name, 200)?;
    if !ROLES.contains(&staff.role.as_str()) {
        return Err(DomainError::invalid("role", "unknown role").fix(format!("use one of: {}", ROLES.join(", "))));
    }
    check_validity("validFrom", staff.valid_from, "validUntil", staff.valid_until)
}

/// A work window to add to a staff member's schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewShift {
    /// Starts at.
    pub starts_at: Timestamp,
    /// Ends at (exclusive).
    pub ends_at: Timestamp,
}

/// A work window; only approved ones let the staff member in.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    /// Its id.
    pub id: i64,
    /// Starts at.
    pub starts_at: Timestamp,
    /// Ends at (exclusive).
    pub ends_at: Timestamp,
    /// Approved by a supervisor.
    pub approved: bool,
}

/// The filters of `GET /v1/staff` (besides `q`, a part of the name, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaffFilters {
    /// Only the staff of this event.
    #[serde(default)]
    pub event_id: Option<i64>,
}

/// A work window's approval (the shifts list's `approval` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShiftApproval {
    /// Not approved yet: it does not let the staff member in.
    Waiting,
    /// Approved.
    Approved,
}

impl ShiftApproval {
    /// The approval of a window approved or not.
    pub fn of(approved: bool) -> ShiftApproval {
        if approved {
            ShiftApproval::Approved
        } else {
            ShiftApproval::Waiting
        }
    }
}

/// The filters of `GET /v1/shifts` (besides `q`, a part of the staff member's name, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShiftFilters {
    /// Only windows waiting for approval, or only approved ones.
    #[serde(default)]
    pub approval: Option<ShiftApproval>,
    /// Only the windows of this event's staff.
    #[serde(default)]
    pub event_id: Option<i64>,
}

/// A work window as the shifts list (the seed's "schedules") shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftSummary {
    /// Its id.
    pub id: i64,
    /// The staff member.
    pub staff_id: i64,
    /// Their name.
    pub staff_name: String,
    /// Their event.
    pub event_id: i64,
    /// Starts at.
    pub starts_at: Timestamp,
    /// Ends at (exclusive).
    pub ends_at: Timestamp,
    /// Waiting or approved.
    pub approval: ShiftApproval,
}

/// Checks a new work window (at most a day long).
pub fn validate_shift(shift: &NewShift) -> Result<(), DomainError> {
    check_validity("startsAt", shift.starts_at, "endsAt", shift.ends_at)?;
    if shift.ends_at.duration_since(shift.starts_at) > jiff::SignedDuration::from_hours(24) {
        return Err(DomainError::invalid("endsAt", "a work window lasts at most 24 hours"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + second).unwrap()
    }

    #[test]
    fn a_shift_is_waiting_until_approved() {
        assert_eq!(ShiftApproval::of(false), ShiftApproval::Waiting);
        assert_eq!(ShiftApproval::of(true), ShiftApproval::Approved);
        assert_eq!(serde_json::to_value(ShiftApproval::of(true)).unwrap(), "approved");
    }

    #[test]
    fn validity_is_kept_in_whole_seconds() {
        let fraction = at(5) + jiff::SignedDuration::from_nanos(123_456_789);
        let access =
            NewAccess { ticket_id: "t".into(), event_id: 1, area_id: 2, valid_from: fraction, valid_until: fraction };
        let whole = access.in_whole_seconds();
        assert_eq!((whole.valid_from, whole.valid_until), (at(5), at(5)));
        assert_eq!(whole_seconds(at(-1)), at(-1));
    }

    #[test]
    fn validate_access_names_the_field() {
        let access = |ticket: &str, from: i64, until: i64| NewAccess {
            ticket_id: ticket.into(),
            event_id: 1,
            area_id: 2,
            valid_from: at(from),
            valid_until: at(until),
        };
        let uuid = "7a1e3c2e-4a47-4c5e-9a0a-2f6f3f0c9b10";
        let cases = [
            ("fine", access(uuid, 0, 10), None),
            ("not_uuid", access("ticket-1", 0, 10), Some("ticketId")),
            ("uuid_bad_digit", access("7a1e3c2e-4a47-4c5e-9a0a-2f6f3f0c9b1g", 0, 10), Some("ticketId")),
            ("empty_window", access(uuid, 10, 10), Some("validUntil")),
        ];
        for (case, access, field) in cases {
            assert_eq!(validate_access(&access).err().map(|error| error.field).as_deref(), field, "{case}");
        }
    }

    #[test]
    fn validate_gate_event_staff_and_shift_name_the_field() {
        let gate = |name: &str, areas: Vec<i64>| NewGate { event_id: 1, name: name.into(), area_ids: areas };
        let event = |areas: Vec<(i64, &str)>| EventSpec {
            name: "EXO".into(),
            reentry_allowed: false,
            areas: areas.into_iter().map(|(area_id, name)| AreaSpec { area_id, name: name.into() }).collect(),
        };
        let staff = |role: &str| NewStaff {
            event_id: 1,
            name: "Ayu".into(),
            role: role.into(),
            valid_from: at(0),
            valid_until: at(10),
        };
        let shift = |from: i64, until: i64| NewShift { starts_at: at(from), ends_at: at(until) };
        let cases: [(&str, Result<(), DomainError>, Option<&str>); 10] = [
            ("gate_fine", validate_gate(&gate("North 1", vec![1, 2])), None),
            ("gate_blank", validate_gate(&gate(" ", vec![1])), Some("name")),
            ("gate_no_area", validate_gate(&gate("N", vec![])), Some("areaIds")),
            ("gate_twice", validate_gate(&gate("N", vec![1, 1])), Some("areaIds[1]")),
            ("event_fine", validate_event(&event(vec![(1, "VIP"), (2, "Festival")])), None),
            ("event_twice", validate_event(&event(vec![(1, "VIP"), (1, "B")])), Some("areas[1].areaId")),
            ("staff_role", validate_staff(&staff("boss")), Some("role")),
            ("staff_fine", validate_staff(&staff("security")), None),
            ("shift_backwards", validate_shift(&shift(10, 0)), Some("endsAt")),
            ("shift_too_long", validate_shift(&shift(0, 90_000)), Some("endsAt")),
        ];
        for (case, result, field) in cases {
            assert_eq!(result.err().map(|error| error.field).as_deref(), field, "{case}");
        }
    }
}
