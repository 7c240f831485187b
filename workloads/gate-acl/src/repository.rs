//! Every SQL statement of the gate-acl service, and its transactions. A scan's effect (the entry's inside
//! state) and its answer, keyed by (device, nonce), are written in one transaction under the access row's
//! lock, so concurrent scans of one ticket admit it once and a re-sent scan is answered from the stored
//! answer. The saga's prepare and revocation of one order run under that order's row lock (table `orders`),
//! so a revocation is never overtaken by a prepare that would admit. Rules are decided by `domain` on rows
//! read here. Nothing here parses requests, answers HTTP or holds a key.

use deadpool_postgres::{GenericClient, Pool};
use jiff::Timestamp;
use microfleet_common::database::DbError;
use tokio_postgres::Row;

use crate::domain::acl::{
    self, AccessEntry, AccessState, AreaSpec, Event, EventSpec, Gate, NewAccess, NewGate, NewShift, NewStaff, Shift,
    Staff,
};
use crate::domain::scan::{self, Direction, GateView, ScanAnswer, ScanRequest, StaffView, TicketAccess};
use crate::domain::token::{Claims, Kind};
use crate::domain::DomainError;

pub use microfleet_common::refusal::RepositoryError;

type Result<T> = std::result::Result<T, RepositoryError>;

/// Creates or updates an event and its areas (areas are added or renamed, never removed); calling it again
/// with the same values changes nothing.
pub async fn put_event(pool: &Pool, id: i64, spec: &EventSpec, now: Timestamp) -> Result<Event> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let event = put_event_in(&tx, id, spec, now).await?;
    tx.commit().await?;
    Ok(event)
}

/// [`put_event`] in the caller's transaction (a saga consumer's).
pub async fn put_event_in(tx: &impl GenericClient, id: i64, spec: &EventSpec, now: Timestamp) -> Result<Event> {
    tx.execute(
        "INSERT INTO events (id, name, reentry_allowed, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, reentry_allowed = excluded.reentry_allowed,
                                        updated_at = excluded.updated_at",
        &[&id, &spec.name.trim(), &spec.reentry_allowed, &now],
    )
    .await?;
    for area in &spec.areas {
        tx.execute(
            "INSERT INTO areas (event_id, area_id, name) VALUES ($1, $2, $3)
             ON CONFLICT (event_id, area_id) DO UPDATE SET name = excluded.name",
            &[&id, &area.area_id, &area.name.trim()],
        )
        .await?;
    }
    read_event(tx, id).await
}

/// Whether the event is known here (a saga consumer waits for its `event.approved` otherwise).
pub async fn event_exists(client: &impl GenericClient, id: i64) -> Result<bool> {
    Ok(client.query_opt("SELECT 1 FROM events WHERE id = $1", &[&id]).await?.is_some())
}

async fn read_event(client: &impl GenericClient, id: i64) -> Result<Event> {
    let row = client
        .query_opt("SELECT name, reentry_allowed FROM events WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| DomainError::not_found("eventId", "no event has this id"))?;
    let areas = client
        .query("SELECT area_id, name FROM areas WHERE event_id = $1 ORDER BY area_id", &[&id])
        .await?
        .iter()
        .map(|area| AreaSpec { area_id: area.get(0), name: area.get(1) })
        .collect();
    let gates = client
        .query(
            "SELECT g.id, g.name, coalesce(array_agg(a.area_id ORDER BY a.area_id) FILTER (WHERE a.area_id IS NOT NULL), '{}')
             FROM gates g LEFT JOIN gate_areas a ON a.gate_id = g.id WHERE g.event_id = $1 GROUP BY g.id ORDER BY g.id",
            &[&id],
        )
        .await?
        .iter()
        .map(|gate| Gate { id: gate.get(0), event_id: id, name: gate.get(1), area_ids: gate.get(2) })
        .collect();
    Ok(Event { id, name: row.get(0), reentry_allowed: row.get(1), areas, gates })
}

/// An event with its areas and gates.
pub async fn get_event(pool: &Pool, id: i64) -> Result<Event> {
    let client = pool.get().await?;
    read_event(&client, id).await
}

/// Creates a gate of an event admitting some of its areas.
pub async fn create_gate(pool: &Pool, new: &NewGate) -> Result<Gate> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    read_event(&tx, new.event_id).await?;
    let id: i64 = tx
        .query_opt(
            "INSERT INTO gates (event_id, name) VALUES ($1, $2) ON CONFLICT (event_id, name) DO NOTHING RETURNING id",
            &[&new.event_id, &new.name.trim()],
        )
        .await?
        .ok_or_else(|| DomainError::conflict("name", "the event has a gate with this name"))?
        .get(0);
    for (index, area_id) in new.area_ids.iter().enumerate() {
        let known =
            tx.query_opt("SELECT 1 FROM areas WHERE event_id = $1 AND area_id = $2", &[&new.event_id, area_id]).await?;
        if known.is_none() {
            return Err(
                DomainError::not_found(format!("areaIds[{index}]"), "the event has no area with this id").into()
            );
        }
        tx.execute(
            "INSERT INTO gate_areas (gate_id, event_id, area_id) VALUES ($1, $2, $3)",
            &[&id, &new.event_id, area_id],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Gate { id, event_id: new.event_id, name: new.name.trim().to_string(), area_ids: new.area_ids.clone() })
}

const ACCESS_COLUMNS: &str =
    "ticket_id::text, event_id, area_id, valid_from, valid_until, state = 'revoked', inside, entries";

fn access_from_row(row: &Row) -> AccessEntry {
    AccessEntry {
        ticket_id: row.get(0),
        event_id: row.get(1),
        area_id: row.get(2),
        valid_from: row.get(3),
        valid_until: row.get(4),
        state: if row.get(5) { AccessState::Revoked } else { AccessState::Active },
        inside: row.get(6),
        entries: row.get(7),
    }
}

/// Prepares a ticket's access entry (validity in whole seconds, as the code carries it). Preparing the
/// same ticket again with the same values returns the stored entry unchanged (a re-delivered command; a
/// revoked entry stays revoked); with other values it is a conflict. Returns the entry and whether this
/// call created it.
pub async fn prepare_access(pool: &Pool, new: &NewAccess, now: Timestamp) -> Result<(AccessEntry, bool)> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let prepared = prepare_access_in(&tx, new, now).await?;
    tx.commit().await?;
    Ok(prepared)
}

/// [`prepare_access`] in the caller's transaction (a saga consumer's).
pub async fn prepare_access_in(
    tx: &impl GenericClient,
    new: &NewAccess,
    now: Timestamp,
) -> Result<(AccessEntry, bool)> {
    let new = &new.in_whole_seconds();
    read_event(tx, new.event_id).await?;
    let area = tx
        .query_opt("SELECT 1 FROM areas WHERE event_id = $1 AND area_id = $2", &[&new.event_id, &new.area_id])
        .await?;
    if area.is_none() {
        return Err(DomainError::not_found("areaId", "the event has no area with this id").into());
    }
    let inserted = tx
        .query_opt(
            &format!(
                "INSERT INTO access_entries (ticket_id, event_id, area_id, valid_from, valid_until, created_at)
                 VALUES ($1::text::uuid, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING
                 RETURNING {ACCESS_COLUMNS}"
            ),
            &[&new.ticket_id, &new.event_id, &new.area_id, &new.valid_from, &new.valid_until, &now],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok((access_from_row(&row), true));
    }
    let stored = read_access(tx, &new.ticket_id).await?;
    let same = (stored.event_id, stored.area_id, stored.valid_from, stored.valid_until)
        == (new.event_id, new.area_id, new.valid_from, new.valid_until);
    if !same {
        return Err(DomainError::conflict("ticketId", "access for this ticket was prepared with other values")
            .fix("revoke it and issue a new ticket")
            .into());
    }
    Ok((stored, false))
}

async fn read_access(client: &impl GenericClient, ticket_id: &str) -> Result<AccessEntry> {
    acl::check_uuid("ticketId", ticket_id)?;
    let row = client
        .query_opt(
            &format!("SELECT {ACCESS_COLUMNS} FROM access_entries WHERE ticket_id = $1::text::uuid"),
            &[&ticket_id],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("ticketId", "no access entry has this ticket id"))?;
    Ok(access_from_row(&row))
}

/// A ticket's access entry.
pub async fn get_access(pool: &Pool, ticket_id: &str) -> Result<AccessEntry> {
    let client = pool.get().await?;
    read_access(&client, ticket_id).await
}

/// Revokes a ticket's access: every later scan of its code is denied `revoked`. Revoking again changes
/// nothing.
pub async fn revoke_access(pool: &Pool, ticket_id: &str, now: Timestamp) -> Result<AccessEntry> {
    acl::check_uuid("ticketId", ticket_id)?;
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!(
                "UPDATE access_entries SET state = 'revoked', revoked_at = coalesce(revoked_at, $2)
                 WHERE ticket_id = $1::text::uuid RETURNING {ACCESS_COLUMNS}"
            ),
            &[&ticket_id, &now],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("ticketId", "no access entry has this ticket id"))?;
    Ok(access_from_row(&row))
}

/// Prepares the access of a paid order's tickets (the saga's `order.paid`) in the caller's transaction, each as
/// [`prepare_access_in`] does, under the order's lock. When the order's access was revoked before (its refund
/// overtook the payment), the entries are created revoked: nothing prepared for a revoked order admits.
/// Returns whether the order was revoked.
pub async fn prepare_order_access(
    tx: &impl GenericClient,
    order_number: &str,
    tickets: &[NewAccess],
    now: Timestamp,
) -> Result<bool> {
    let revoked_at = lock_order(tx, order_number, None).await?;
    for access in tickets {
        prepare_access_in(tx, access, now).await?;
    }
    let ticket_ids: Vec<&str> = tickets.iter().map(|access| access.ticket_id.as_str()).collect();
    tx.execute(
        "UPDATE access_entries SET order_number = $1
         WHERE ticket_id = ANY($2::text[]::uuid[]) AND order_number IS NULL",
        &[&order_number, &ticket_ids],
    )
    .await?;
    if let Some(revoked_at) = revoked_at {
        revoke_entries(tx, order_number, &[], revoked_at).await?;
    }
    Ok(revoked_at.is_some())
}

/// Revokes the access of a refunded order (the saga's `order.refund_requested`) in the caller's transaction:
/// every entry of the order and of `ticket_ids`, a ticket inside included, and records the revocation so that
/// a prepare of the order arriving later creates revoked entries only. Doing it again changes nothing.
/// Returns how many entries this call revoked.
pub async fn revoke_order_access(
    tx: &impl GenericClient,
    order_number: &str,
    ticket_ids: &[String],
    now: Timestamp,
) -> Result<u64> {
    let revoked_at = lock_order(tx, order_number, Some(now)).await?.unwrap_or(now);
    revoke_entries(tx, order_number, ticket_ids, revoked_at).await
}

/// Upserts the order's row, which locks it until the transaction ends (a concurrent prepare or revocation
/// of the order waits); `revoke` at a time records the revocation (the first time kept). Returns when the
/// order's access was revoked, if it was.
async fn lock_order(tx: &impl GenericClient, number: &str, revoke: Option<Timestamp>) -> Result<Option<Timestamp>> {
    Ok(tx
        .query_one(
            "INSERT INTO orders (number, revoked_at) VALUES ($1, $2)
             ON CONFLICT (number) DO UPDATE SET revoked_at = coalesce(orders.revoked_at, excluded.revoked_at)
             RETURNING revoked_at",
            &[&number, &revoke],
        )
        .await?
        .get(0))
}

async fn revoke_entries(
    tx: &impl GenericClient,
    order_number: &str,
    ticket_ids: &[String],
    at: Timestamp,
) -> Result<u64> {
    Ok(tx
        .execute(
            "UPDATE access_entries SET state = 'revoked', revoked_at = $3
             WHERE (order_number = $1 OR ticket_id = ANY($2::text[]::uuid[])) AND state <> 'revoked'",
            &[&order_number, &ticket_ids, &at],
        )
        .await?)
}

/// Registers a staff member of an event.
pub async fn create_staff(pool: &Pool, new: &NewStaff, now: Timestamp) -> Result<Staff> {
    let new = &new.in_whole_seconds();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    read_event(&tx, new.event_id).await?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO staff (event_id, name, role, valid_from, valid_until, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&new.event_id, &new.name.trim(), &new.role, &new.valid_from, &new.valid_until, &now],
        )
        .await?
        .get(0);
    let staff = read_staff(&tx, id).await?;
    tx.commit().await?;
    Ok(staff)
}

async fn read_staff(client: &impl GenericClient, id: i64) -> Result<Staff> {
    let row = client
        .query_opt("SELECT event_id, name, role, valid_from, valid_until FROM staff WHERE id = $1", &[&id])
        .await?
        .ok_or_else(|| DomainError::not_found("staffId", "no staff member has this id"))?;
    let shifts = client
        .query(
            "SELECT id, starts_at, ends_at, approved_at IS NOT NULL FROM shifts
             WHERE staff_id = $1 ORDER BY starts_at, id",
            &[&id],
        )
        .await?
        .iter()
        .map(|shift| Shift { id: shift.get(0), starts_at: shift.get(1), ends_at: shift.get(2), approved: shift.get(3) })
        .collect();
    Ok(Staff {
        id,
        event_id: row.get(0),
        name: row.get(1),
        role: row.get(2),
        valid_from: row.get(3),
        valid_until: row.get(4),
        shifts,
    })
}

/// A staff member with their work windows.
pub async fn get_staff(pool: &Pool, id: i64) -> Result<Staff> {
    let client = pool.get().await?;
    read_staff(&client, id).await
}

/// Adds a work window (not yet approved) to a staff member's schedule.
pub async fn add_shift(pool: &Pool, staff_id: i64, new: &NewShift) -> Result<Staff> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    read_staff(&tx, staff_id).await?;
    tx.execute(
        "INSERT INTO shifts (staff_id, starts_at, ends_at) VALUES ($1, $2, $3)",
        &[&staff_id, &new.starts_at, &new.ends_at],
    )
    .await?;
    let staff = read_staff(&tx, staff_id).await?;
    tx.commit().await?;
    Ok(staff)
}

/// Approves a work window: from then on it lets the staff member in. Approving again changes nothing.
pub async fn approve_shift(pool: &Pool, staff_id: i64, shift_id: i64, now: Timestamp) -> Result<Staff> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let updated = tx
        .execute(
            "UPDATE shifts SET approved_at = coalesce(approved_at, $3) WHERE id = $1 AND staff_id = $2",
            &[&shift_id, &staff_id, &now],
        )
        .await?;
    if updated == 0 {
        read_staff(&tx, staff_id).await?;
        return Err(DomainError::not_found("shiftId", "the staff member has no work window with this id").into());
    }
    let staff = read_staff(&tx, staff_id).await?;
    tx.commit().await?;
    Ok(staff)
}

/// A scan's answer and whether it was the stored answer of an earlier scan with the same device and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// The answer.
    pub answer: ScanAnswer,
    /// Answered from the stored answer: nothing was changed or counted.
    pub replayed: bool,
}

/// Decides a scan of a verified, in-window code against the access list, and in one transaction applies
/// its effect (an allowed entry sets the ticket inside, an allowed exit outside) and stores its answer under
/// (device, nonce). A scan with a (device, nonce) seen before gets the stored answer and changes nothing;
/// the same nonce for another scan is a conflict on `nonce`. An unknown gate is not found on `gateId`.
pub async fn record_scan(pool: &Pool, request: &ScanRequest, claims: &Claims, now: Timestamp) -> Result<Scanned> {
    let fingerprint = request.fingerprint();
    let mut client = pool.get().await?;
    // a concurrent scan with the same nonce makes our insert find its row: the second round reads its answer
    for _ in 0..2 {
        let tx = client.transaction().await?;
        if let Some(stored) = stored_answer(&tx, request, &fingerprint).await? {
            return Ok(Scanned { answer: stored, replayed: true });
        }
        let gate = tx
            .query_opt(
                "SELECT g.event_id, e.reentry_allowed FROM gates g JOIN events e ON e.id = g.event_id WHERE g.id = $1",
                &[&request.gate_id],
            )
            .await?
            .ok_or_else(|| DomainError::not_found("gateId", "no gate has this id"))?;
        let (gate_event, reentry_allowed): (i64, bool) = (gate.get(0), gate.get(1));
        let reason = match claims.kind {
            Kind::Ticket => scan_ticket(&tx, request, claims, gate_event, reentry_allowed).await?,
            Kind::Staff => scan_staff(&tx, request, claims, gate_event).await?,
        };
        let answer = ScanAnswer::new(request, Some(claims), reason);
        let json = serde_json::to_value(&answer).map_err(|error| DbError::Unexpected(error.to_string()))?;
        let inserted = tx
            .query_opt(
                "INSERT INTO scans (device_id, nonce, fingerprint, gate_id, kind, subject, direction, result, reason,
                                    scanned_at, answered_at, answer)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (device_id, nonce) DO NOTHING RETURNING id",
                &[
                    &request.device_id,
                    &request.nonce,
                    &fingerprint,
                    &request.gate_id,
                    &claims.kind.as_str(),
                    &claims.sub,
                    &request.direction.as_str(),
                    &reason.verdict().as_str(),
                    &reason.as_str(),
                    &request.scanned_at,
                    &now,
                    &json,
                ],
            )
            .await?;
        if inserted.is_some() {
            tx.commit().await?;
            return Ok(Scanned { answer, replayed: false });
        }
        // dropping the transaction rolls the effect back
    }
    Err(DbError::Unexpected("a scan's nonce was taken and not readable twice in a row".to_string()).into())
}

async fn stored_answer(
    client: &impl GenericClient,
    request: &ScanRequest,
    fingerprint: &str,
) -> Result<Option<ScanAnswer>> {
    let Some(row) = client
        .query_opt(
            "SELECT fingerprint, answer FROM scans WHERE device_id = $1 AND nonce = $2",
            &[&request.device_id, &request.nonce],
        )
        .await?
    else {
        return Ok(None);
    };
    if row.get::<_, &str>(0) != fingerprint {
        return Err(DomainError::conflict("nonce", "this device sent another scan with this nonce")
            .fix("use a new nonce for each scan; re-send a scan with its own")
            .into());
    }
    let answer = serde_json::from_value(row.get(1)).map_err(|error| DbError::Unexpected(error.to_string()))?;
    Ok(Some(answer))
}

async fn scan_ticket(
    tx: &impl GenericClient,
    request: &ScanRequest,
    claims: &Claims,
    gate_event: i64,
    reentry_allowed: bool,
) -> Result<scan::Reason> {
    let row = if acl::check_uuid("qr", &claims.sub).is_ok() {
        tx.query_opt(
            "SELECT event_id, area_id, valid_from, valid_until, state = 'revoked', inside, entries
             FROM access_entries WHERE ticket_id = $1::text::uuid FOR UPDATE",
            &[&claims.sub],
        )
        .await?
    } else {
        None
    };
    let Some(row) = row else {
        return Ok(scan::decide_ticket(
            None,
            &GateView { event_id: gate_event, reentry_allowed, admits_area: false },
            request.direction,
            request.scanned_at,
        ));
    };
    let (event_id, area_id): (i64, i64) = (row.get(0), row.get(1));
    let access = TicketAccess {
        event_id,
        valid_from: row.get(2),
        valid_until: row.get(3),
        revoked: row.get(4),
        inside: row.get(5),
        entries: row.get(6),
    };
    let admits_area = tx
        .query_opt(
            "SELECT 1 FROM gate_areas WHERE gate_id = $1 AND event_id = $2 AND area_id = $3",
            &[&request.gate_id, &event_id, &area_id],
        )
        .await?
        .is_some();
    let gate = GateView { event_id: gate_event, reentry_allowed, admits_area };
    let reason = scan::decide_ticket(Some(&access), &gate, request.direction, request.scanned_at);
    if reason == scan::Reason::Ok {
        let entering = request.direction == Direction::Entry;
        tx.execute(
            "UPDATE access_entries SET inside = $2, entries = entries + $3 WHERE ticket_id = $1::text::uuid",
            &[&claims.sub, &entering, &i32::from(entering)],
        )
        .await?;
    }
    Ok(reason)
}

async fn scan_staff(
    tx: &impl GenericClient,
    request: &ScanRequest,
    claims: &Claims,
    gate_event: i64,
) -> Result<scan::Reason> {
    let Ok(staff_id) = claims.sub.parse::<i64>() else {
        return Ok(scan::decide_staff(None, gate_event, request.direction));
    };
    let row = tx
        .query_opt(
            "SELECT s.event_id, EXISTS (SELECT 1 FROM shifts w WHERE w.staff_id = s.id AND w.approved_at IS NOT NULL
                                          AND w.starts_at <= $2 AND $2 < w.ends_at)
             FROM staff s WHERE s.id = $1",
            &[&staff_id, &request.scanned_at],
        )
        .await?;
    let staff = row.map(|row| StaffView { event_id: row.get(0), in_work_window: row.get(1) });
    Ok(scan::decide_staff(staff.as_ref(), gate_event, request.direction))
}
