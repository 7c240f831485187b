//! The scan decision: a gate device's request, its checks, and the answer — allow or deny with a reason,
//! and the pretix check-in reason it corresponds to. The checks are plain functions over values the
//! repository read under lock (the access entry, the gate, the staff member); they never read anything
//! themselves, so every reason is tested with values.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::token::{Claims, TokenError, Window, MAX_CODE_LENGTH};
use super::{check_text, DomainError};

/// How far in the future a device's clock may put a scan.
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// Entry or exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Into the area.
    Entry,
    /// Out of it.
    Exit,
}

impl Direction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Entry => "entry",
            Direction::Exit => "exit",
        }
    }
}

/// A scan as a gate device sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanRequest {
    /// The scanned QR payload.
    pub qr: String,
    /// The gate.
    pub gate_id: i64,
    /// Entry or exit.
    pub direction: Direction,
    /// The scanning device.
    pub device_id: String,
    /// Unique per scan on the device: a re-sent scan carries the same nonce.
    pub nonce: String,
    /// When the device scanned (a late upload of an offline scan is judged at this time).
    pub scanned_at: Timestamp,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Open the gate.
    Allow,
    /// Keep it shut.
    Deny,
}

impl Verdict {
    /// The name on the wire, in the database and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// Why a scan is answered as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed.
    Ok,
    /// Validly signed, but no access entry or staff member has this id.
    Unknown,
    /// Not a code of this service, or its signature does not match (forged or altered).
    Forged,
    /// Before the code's or the entry's validity.
    NotYetValid,
    /// After it.
    Expired,
    /// The access was revoked (refund, cancellation).
    Revoked,
    /// This gate does not admit the code's area or event.
    WrongGate,
    /// An entry while the ticket is inside.
    AlreadyInside,
    /// An entry after an exit, at an event that does not allow re-entry.
    ReentryNotAllowed,
    /// An exit of a ticket that is not inside.
    NotInside,
    /// A staff member's entry outside every approved work window.
    OutsideWorkWindow,
}

impl Reason {
    /// Every reason, for metrics and documentation.
    pub const ALL: [Reason; 11] = [
        Reason::Ok,
        Reason::Unknown,
        Reason::Forged,
        Reason::NotYetValid,
        Reason::Expired,
        Reason::Revoked,
        Reason::WrongGate,
        Reason::AlreadyInside,
        Reason::ReentryNotAllowed,
        Reason::NotInside,
        Reason::OutsideWorkWindow,
    ];

    /// The name on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Unknown => "unknown",
            Reason::Forged => "forged",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::WrongGate => "wrong_gate",
            Reason::AlreadyInside => "already_inside",
            Reason::ReentryNotAllowed => "reentry_not_allowed",
            Reason::NotInside => "not_inside",
            Reason::OutsideWorkWindow => "outside_work_window",
        }
    }

    /// The reason pretix's check-in API (`checkinrpc/redeem`) gives for the same case: `ok`, `invalid` (no
    /// such ticket; pretix also answers a code that fails its signature so), `invalid_time` (outside the
    /// time the list admits), `revoked` (a signed code revoked since), `product` (this list does not admit
    /// it), `already_redeemed` (used, and no exit since or no re-entry), `rules` (a rule of the list).
    pub fn pretix(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Unknown | Reason::Forged => "invalid",
            Reason::NotYetValid | Reason::Expired | Reason::OutsideWorkWindow => "invalid_time",
            Reason::Revoked => "revoked",
            Reason::WrongGate => "product",
            Reason::AlreadyInside | Reason::ReentryNotAllowed => "already_redeemed",
            Reason::NotInside => "rules",
        }
    }

    /// Allow for `ok`, deny for every other reason.
    pub fn verdict(self) -> Verdict {
        if self == Reason::Ok {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }
}

/// The answer to a scan; a re-sent scan gets it again, identical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanAnswer {
    /// Allow or deny.
    pub result: Verdict,
    /// Why.
    pub reason: Reason,
    /// The pretix check-in reason of the same case.
    pub pretix_reason: String,
    /// `ticket` or `staff`, once the code verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The ticket or staff id, once the code verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Entry or exit, as asked.
    pub direction: Direction,
    /// The gate.
    pub gate_id: i64,
    /// When the device scanned.
    pub scanned_at: Timestamp,
}

impl ScanAnswer {
    /// The answer of `reason` to `request`, about the code's `claims` when it verified.
    pub fn new(request: &ScanRequest, claims: Option<&Claims>, reason: Reason) -> ScanAnswer {
        let kind = claims.map(|claims| claims.kind.as_str().to_string());
        ScanAnswer {
            result: reason.verdict(),
            reason,
            pretix_reason: reason.pretix().to_string(),
            kind,
            subject: claims.map(|claims| claims.sub.clone()),
            direction: request.direction,
            gate_id: request.gate_id,
            scanned_at: request.scanned_at,
        }
    }
}

impl ScanRequest {
    /// The SHA-256 of what the scan asks (code, gate, direction, time): a re-sent scan has the same one, so
    /// a nonce a device reuses for another scan is told apart.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [self.qr.as_str(), &self.gate_id.to_string(), self.direction.as_str(), &self.scanned_at.to_string()]
        {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let mut hex = String::with_capacity(64);
        for byte in hasher.finalize() {
            // writing into a String cannot fail
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }
}

/// Checks a scan request's fields (`now` is the server's clock).
pub fn validate(request: &ScanRequest, now: Timestamp) -> Result<(), DomainError> {
    check_text("qr", &request.qr, MAX_CODE_LENGTH)?;
    check_text("deviceId", &request.device_id, 100)?;
    check_text("nonce", &request.nonce, 100)?;
    if request.scanned_at > now + MAX_CLOCK_SKEW {
        return Err(DomainError::invalid("scannedAt", "is in the future").fix("set the device's clock"));
    }
    Ok(())
}

/// What is decided before any database read: a code that does not verify is `forged`; one outside its
/// own validity at the scan time is `not_yet_valid` or `expired`. `Ok` carries the verified claims.
pub fn check_offline(verified: Result<Claims, TokenError>, at: Timestamp) -> Result<Claims, (Reason, Option<Claims>)> {
    let claims = verified.map_err(|_| (Reason::Forged, None))?;
    match window_reason(claims.window(at)) {
        Some(reason) => Err((reason, Some(claims))),
        None => Ok(claims),
    }
}

fn window_reason(window: Window) -> Option<Reason> {
    match window {
        Window::NotYetValid => Some(Reason::NotYetValid),
        Window::Expired => Some(Reason::Expired),
        Window::Valid => None,
    }
}

/// A ticket's access entry as read under lock for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketAccess {
    /// The event.
    pub event_id: i64,
    /// Valid from.
    pub valid_from: Timestamp,
    /// Valid until (exclusive).
    pub valid_until: Timestamp,
    /// Revoked.
    pub revoked: bool,
    /// Inside now (entered, not exited since).
    pub inside: bool,
    /// Entries so far.
    pub entries: i32,
}

/// The gate a scan came from, as read for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateView {
    /// Its event.
    pub event_id: i64,
    /// Whether the event lets a ticket in again after an exit.
    pub reentry_allowed: bool,
    /// Whether it admits the ticket's area (always false for another event's area).
    pub admits_area: bool,
}

/// The decision on a ticket's scan (an allowed entry sets it inside, an allowed exit outside).
pub fn decide_ticket(access: Option<&TicketAccess>, gate: &GateView, direction: Direction, at: Timestamp) -> Reason {
    let Some(access) = access else { return Reason::Unknown };
    if access.revoked {
        return Reason::Revoked;
    }
    if let Some(reason) = window_reason(super::token::check_window(access.valid_from, access.valid_until, at)) {
        return reason;
    }
    if access.event_id != gate.event_id || !gate.admits_area {
        return Reason::WrongGate;
    }
    match direction {
        Direction::Entry if access.inside => Reason::AlreadyInside,
        Direction::Entry if access.entries > 0 && !gate.reentry_allowed => Reason::ReentryNotAllowed,
        Direction::Exit if !access.inside => Reason::NotInside,
        Direction::Entry | Direction::Exit => Reason::Ok,
    }
}

/// A staff member as read for a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffView {
    /// The event they work at.
    pub event_id: i64,
    /// Whether an approved work window covers the scan time.
    pub in_work_window: bool,
}

/// The decision on a staff member's scan: they enter only within an approved work window, and may always
/// leave.
pub fn decide_staff(staff: Option<&StaffView>, gate_event_id: i64, direction: Direction) -> Reason {
    let Some(staff) = staff else { return Reason::Unknown };
    if staff.event_id != gate_event_id {
        return Reason::WrongGate;
    }
    match direction {
        Direction::Entry if !staff.in_work_window => Reason::OutsideWorkWindow,
        Direction::Entry | Direction::Exit => Reason::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::{Keyring, Kind};

    const T0: i64 = 1_900_000_000;

    fn at(offset: i64) -> Timestamp {
        Timestamp::from_second(T0 + offset).unwrap()
    }

    fn access() -> TicketAccess {
        TicketAccess {
            event_id: 1,
            valid_from: at(0),
            valid_until: at(1000),
            revoked: false,
            inside: false,
            entries: 0,
        }
    }

    const GATE: GateView = GateView { event_id: 1, reentry_allowed: false, admits_area: true };

    #[test]
    fn decide_ticket_gives_each_reason() {
        let inside = TicketAccess { inside: true, entries: 1, ..access() };
        let exited = TicketAccess { inside: false, entries: 1, ..access() };
        let reentry = GateView { reentry_allowed: true, ..GATE };
        let other_area = GateView { admits_area: false, ..GATE };
        let other_event = GateView { event_id: 9, ..GATE };
        let revoked = TicketAccess { revoked: true, inside: true, ..access() };
        let cases = [
            ("first_entry", Some(access()), GATE, Direction::Entry, 10, Reason::Ok),
            ("unknown", None, GATE, Direction::Entry, 10, Reason::Unknown),
            ("revoked", Some(revoked), GATE, Direction::Entry, 10, Reason::Revoked),
            ("revoked_exit", Some(revoked), GATE, Direction::Exit, 10, Reason::Revoked),
            ("not_yet_valid", Some(access()), GATE, Direction::Entry, -1, Reason::NotYetValid),
            ("expired", Some(access()), GATE, Direction::Entry, 1000, Reason::Expired),
            ("wrong_area", Some(access()), other_area, Direction::Entry, 10, Reason::WrongGate),
            ("wrong_event", Some(access()), other_event, Direction::Entry, 10, Reason::WrongGate),
            ("already_inside", Some(inside), GATE, Direction::Entry, 10, Reason::AlreadyInside),
            ("already_inside_reentry_event", Some(inside), reentry, Direction::Entry, 10, Reason::AlreadyInside),
            ("exit_inside", Some(inside), GATE, Direction::Exit, 10, Reason::Ok),
            ("exit_not_inside", Some(access()), GATE, Direction::Exit, 10, Reason::NotInside),
            ("reentry_refused", Some(exited), GATE, Direction::Entry, 10, Reason::ReentryNotAllowed),
            ("reentry_allowed", Some(exited), reentry, Direction::Entry, 10, Reason::Ok),
        ];
        for (case, access, gate, direction, offset, expected) in cases {
            assert_eq!(decide_ticket(access.as_ref(), &gate, direction, at(offset)), expected, "{case}");
        }
    }

    #[test]
    fn decide_staff_gives_each_reason() {
        let working = StaffView { event_id: 1, in_work_window: true };
        let off = StaffView { event_id: 1, in_work_window: false };
        let elsewhere = StaffView { event_id: 9, in_work_window: true };
        let cases = [
            ("in_window", Some(working), Direction::Entry, Reason::Ok),
            ("unknown", None, Direction::Entry, Reason::Unknown),
            ("outside_window", Some(off), Direction::Entry, Reason::OutsideWorkWindow),
            ("leaving_after_window", Some(off), Direction::Exit, Reason::Ok),
            ("other_event", Some(elsewhere), Direction::Entry, Reason::WrongGate),
        ];
        for (case, staff, direction, expected) in cases {
            assert_eq!(decide_staff(staff.as_ref(), GATE.event_id, direction), expected, "{case}");
        }
    }

    #[test]
    fn check_offline_refuses_forged_and_out_of_window_codes_first() {
        let keys = Keyring::from_seed(&[3; 32]);
        let claims = Claims {
            kind: Kind::Ticket,
            sub: "x".into(),
            event_id: 1,
            area_id: Some(2),
            nbf: T0,
            exp: T0 + 1000,
            kid: "".into(),
        };
        let code = keys.sign(&claims);
        let forged = Keyring::from_seed(&[4; 32]).sign(&claims);
        let cases = [
            ("valid", code.as_str(), 10, None),
            ("forged", forged.as_str(), 10, Some(Reason::Forged)),
            ("garbage", "MF1.x.y", 10, Some(Reason::Forged)),
            ("not_yet_valid", code.as_str(), -5, Some(Reason::NotYetValid)),
            ("expired", code.as_str(), 1000, Some(Reason::Expired)),
        ];
        for (case, code, offset, expected) in cases {
            let got = check_offline(keys.verify(code), at(offset)).err().map(|(reason, _)| reason);
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn every_reason_has_a_pretix_reason_and_only_ok_allows() {
        for reason in Reason::ALL {
            assert!(!reason.pretix().is_empty());
            assert_eq!(reason.verdict() == Verdict::Allow, reason == Reason::Ok, "{}", reason.as_str());
        }
    }

    #[test]
    fn validate_names_the_field() {
        let request = |qr: &str, device: &str, nonce: &str, offset: i64| ScanRequest {
            qr: qr.into(),
            gate_id: 1,
            direction: Direction::Entry,
            device_id: device.into(),
            nonce: nonce.into(),
            scanned_at: at(offset),
        };
        let cases = [
            ("fine", request("MF1.a.b", "d1", "n1", 0), None),
            ("blank_qr", request(" ", "d1", "n1", 0), Some("qr")),
            ("blank_device", request("MF1.a.b", "", "n1", 0), Some("deviceId")),
            ("long_nonce", request("MF1.a.b", "d1", &"n".repeat(101), 0), Some("nonce")),
            ("future", request("MF1.a.b", "d1", "n1", 301), Some("scannedAt")),
            ("late_upload", request("MF1.a.b", "d1", "n1", -86_400), None),
        ];
        for (case, request, field) in cases {
            let got = validate(&request, at(0)).err().map(|error| error.field);
            assert_eq!(got.as_deref(), field, "{case}");
        }
    }
}
