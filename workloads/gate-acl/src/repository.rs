//! Every SQL statement of the gate-acl service, and its transactions. Scans are recorded in batches (group
//! commit, [`record_scans`]): a batch's effects (the entries' inside states) and answers, keyed by (device,
//! nonce), are written in one transaction under the access rows' locks, each scan decided in order, so
//! concurrent scans of one ticket admit it once and a re-sent scan is answered from the stored answer. The
//! saga's prepare and revocation of one order run under that order's row lock (table `orders`), so a
//! revocation is never overtaken by a prepare that would admit. Rules are decided by `domain` on rows read
//! here. Nothing here parses requests, answers HTTP or holds a key.

use deadpool_postgres::{GenericClient, Pool};
use jiff::Timestamp;
use microfleet_common::database::{DbError, PipelinedTransaction};
use microfleet_common::paging::PageQuery;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::domain::acl::{
    self, AccessEntry, AccessState, AreaSpec, Event, EventSpec, Gate, NewAccess, NewGate, NewShift, NewStaff, Shift,
    ShiftApproval, ShiftFilters, ShiftSummary, Staff, StaffFilters,
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
    let exists = client.prepare_cached("SELECT 1 FROM events WHERE id = $1").await?;
    Ok(client.query_opt(&exists, &[&id]).await?.is_some())
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
    let known = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id = $1),
                    EXISTS (SELECT 1 FROM areas WHERE event_id = $1 AND area_id = $2)",
        )
        .await?;
    let known = tx.query_one(&known, &[&new.event_id, &new.area_id]).await?;
    if !known.get::<_, bool>(0) {
        return Err(DomainError::not_found("eventId", "no event has this id").into());
    }
    if !known.get::<_, bool>(1) {
        return Err(DomainError::not_found("areaId", "the event has no area with this id").into());
    }
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO access_entries (ticket_id, event_id, area_id, valid_from, valid_until, created_at)
             VALUES ($1::text::uuid, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING
             RETURNING {ACCESS_COLUMNS}"
        ))
        .await?;
    let inserted = tx
        .query_opt(&insert, &[&new.ticket_id, &new.event_id, &new.area_id, &new.valid_from, &new.valid_until, &now])
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
    let mark = tx
        .prepare_cached(
            "UPDATE access_entries SET order_number = $1
             WHERE ticket_id = ANY($2::text[]::uuid[]) AND order_number IS NULL",
        )
        .await?;
    tx.execute(&mark, &[&order_number, &ticket_ids]).await?;
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
    let upsert = tx
        .prepare_cached(
            "INSERT INTO orders (number, revoked_at) VALUES ($1, $2)
             ON CONFLICT (number) DO UPDATE SET revoked_at = coalesce(orders.revoked_at, excluded.revoked_at)
             RETURNING revoked_at",
        )
        .await?;
    Ok(tx.query_one(&upsert, &[&number, &revoke]).await?.get(0))
}

async fn revoke_entries(
    tx: &impl GenericClient,
    order_number: &str,
    ticket_ids: &[String],
    at: Timestamp,
) -> Result<u64> {
    let revoke = tx
        .prepare_cached(
            "UPDATE access_entries SET state = 'revoked', revoked_at = $3
             WHERE (order_number = $1 OR ticket_id = ANY($2::text[]::uuid[])) AND state <> 'revoked'",
        )
        .await?;
    Ok(tx.execute(&revoke, &[&order_number, &ticket_ids, &at]).await?)
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

/// A page of staff members with their work windows, by id: the name containing the search text, of the
/// event the filters ask for; and how many match.
pub async fn list_staff(pool: &Pool, page: &PageQuery, filters: &StaffFilters) -> Result<(Vec<Staff>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR name ILIKE $1) AND ($2::bigint IS NULL OR event_id = $2)";
    let pattern = page.pattern();
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT id, event_id, name, role, valid_from, valid_until FROM staff {filter}
                     ORDER BY id LIMIT $3 OFFSET $4"
                ))
                .await?,
            &[&pattern, &filters.event_id, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(
            &client.prepare_cached(&format!("SELECT count(*) FROM staff {filter}")).await?,
            &[&pattern, &filters.event_id],
        )
        .await?
        .get(0);
    let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    let shifts = client
        .query(
            &client
                .prepare_cached(
                    "SELECT id, starts_at, ends_at, approved_at IS NOT NULL, staff_id FROM shifts
                     WHERE staff_id = ANY($1) ORDER BY starts_at, id",
                )
                .await?,
            &[&ids],
        )
        .await?;
    let staff = rows
        .iter()
        .map(|row| {
            let id: i64 = row.get(0);
            Staff {
                id,
                event_id: row.get(1),
                name: row.get(2),
                role: row.get(3),
                valid_from: row.get(4),
                valid_until: row.get(5),
                shifts: shifts
                    .iter()
                    .filter(|shift| shift.get::<_, i64>(4) == id)
                    .map(|shift| Shift {
                        id: shift.get(0),
                        starts_at: shift.get(1),
                        ends_at: shift.get(2),
                        approved: shift.get(3),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok((staff, total))
}

/// A page of work windows with their staff member's name, by start: the name containing the search text,
/// approved or waiting and of the event the filters ask for; and how many match.
pub async fn list_shifts(pool: &Pool, page: &PageQuery, filters: &ShiftFilters) -> Result<(Vec<ShiftSummary>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR s.name ILIKE $1) AND ($2::bigint IS NULL OR s.event_id = $2)
          AND ($3::bool IS NULL OR (w.approved_at IS NOT NULL) = $3)";
    let (pattern, approved) = (page.pattern(), filters.approval.map(|approval| approval == ShiftApproval::Approved));
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT w.id, s.id, s.name, s.event_id, w.starts_at, w.ends_at, w.approved_at IS NOT NULL
                     FROM shifts w JOIN staff s ON s.id = w.staff_id {filter}
                     ORDER BY w.starts_at, w.id LIMIT $4 OFFSET $5"
                ))
                .await?,
            &[&pattern, &filters.event_id, &approved, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(
            &client
                .prepare_cached(&format!("SELECT count(*) FROM shifts w JOIN staff s ON s.id = w.staff_id {filter}"))
                .await?,
            &[&pattern, &filters.event_id, &approved],
        )
        .await?
        .get(0);
    let shifts = rows
        .iter()
        .map(|row| ShiftSummary {
            id: row.get(0),
            staff_id: row.get(1),
            staff_name: row.get(2),
            event_id: row.get(3),
            starts_at: row.get(4),
            ends_at: row.get(5),
            approval: ShiftApproval::of(row.get(6)),
        })
        .collect();
    Ok((shifts, total))
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

/// A verified, in-window scan waiting to be recorded: one element of a [`record_scans`] batch.
#[derive(Debug, Clone)]
pub struct ScanJob {
    /// The scan as the device sent it.
    pub request: ScanRequest,
    /// Its code's verified claims.
    pub claims: Claims,
    /// When the server received it.
    pub now: Timestamp,
}

/// Decides a batch of verified, in-window scans against the access list in ONE transaction (group commit),
/// each in the batch's order as if it ran alone: an allowed entry sets its ticket inside, an allowed exit
/// outside, so a later scan of the same ticket in the batch sees it; each answer is stored under
/// (device, nonce). A scan whose (device, nonce) was seen before — stored, or earlier in the batch — gets that
/// answer and changes nothing; the same nonce for another scan is a conflict on `nonce`; an unknown gate is
/// not found on `gateId`. Those refusals are the scan's own `Err`, one per job in job order, and do not touch
/// the others. `Err` for the whole call is a database failure: nothing was applied.
///
/// Two round trips: `BEGIN` and the reads, then the writes and `COMMIT`. The stored answers are not looked up
/// first: the batch is decided as if none of its (device, nonce) pairs were stored, and the scans' insert
/// fails on the pair's unique index if one was (a re-sent scan, or one a concurrent batch stored first), which
/// turns the `COMMIT` sent behind it into a rollback. Then a probe — the same insert with the index as its
/// conflict arbiter, never a plan the planner may pick, rolled back in its round trip — hands back the stored
/// answers, and the batch is decided again, knowing them. So the `scans` table, which grows with every scan,
/// is only ever reached through that index.
pub async fn record_scans(pool: &Pool, jobs: &[ScanJob]) -> Result<Vec<Result<Scanned>>> {
    let tx = PipelinedTransaction::new(pool.get().await?);
    let recorded = record_batch(&tx, jobs).await;
    tx.end(recorded).await
}

/// [`record_scans`]'s transactions on one connection.
async fn record_batch(tx: &PipelinedTransaction, jobs: &[ScanJob]) -> Result<Vec<Result<Scanned>>> {
    let client = tx.client();
    let mut stored: Vec<StoredScan> = Vec::new();
    // each probe learns the stored answers the insert met; a third round is needed only when a concurrent
    // batch stored one of our pairs between our first two
    for _ in 0..3 {
        let decided = decide_batch(tx, jobs, &stored).await?;
        let columns = ScanColumns::of(&decided.new_scans)?;
        let states = &decided.inside_states;
        let mut params = columns.params();
        params.extend([&states.ids as &(dyn ToSql + Sync), &states.inside, &states.entries]);
        // prepared first, so that the write is sent when first polled, before the COMMIT; `biased`: polled in
        // this order. A write that fails makes the COMMIT a rollback; one refused before it was sent (its
        // parameters) leaves the COMMIT nothing to commit.
        let write = client.prepare_cached(WRITE_BATCH).await?;
        let (written, committed) = tokio::join!(biased; client.execute(&write, &params), tx.commit());
        committed?;
        match written {
            Ok(_) => return Ok(decided.results),
            Err(error) if pair_taken(&error) => {
                let probe = client.prepare_cached(PROBE_SCANS).await?;
                let params = columns.params();
                let (begun, rows, rolled_back) =
                    tokio::join!(biased; tx.begin(), client.query(&probe, &params), tx.rollback());
                let ((), rows, ()) = (begun?, rows?, rolled_back?);
                stored.extend(met_scans(&rows)?);
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(DbError::Unexpected("a scan's nonce was taken and not readable three times in a row".to_string()).into())
}

/// A (device, nonce) pair stored before, with its fingerprint and answer.
struct StoredScan {
    device_id: String,
    nonce: String,
    fingerprint: String,
    answer: ScanAnswer,
}

/// A decided scan to store, with its answer.
struct NewScan<'a> {
    job: &'a ScanJob,
    fingerprint: String,
    answer: ScanAnswer,
}

/// What [`decide_batch`] decided: each job's result, the scans to store, the entries' new inside states.
struct Decided<'a> {
    results: Vec<Result<Scanned>>,
    new_scans: Vec<NewScan<'a>>,
    inside_states: InsideStates,
}

/// Begins the batch's transaction, reads under lock what the batch's scans need and decides each in order,
/// with the (device, nonce) pairs known to be `stored`. `BEGIN` and the reads are sent together (pipelined on
/// the connection: one round trip), as are the writes and `COMMIT` in [`record_scans`].
async fn decide_batch<'a>(
    tx: &PipelinedTransaction,
    jobs: &'a [ScanJob],
    stored: &'a [StoredScan],
) -> Result<Decided<'a>> {
    let client = tx.client();
    let fingerprints: Vec<String> = jobs.iter().map(|job| job.request.fingerprint()).collect();
    let gate_ids: Vec<i64> = jobs.iter().map(|job| job.request.gate_id).collect();
    let ticket_ids: Vec<&str> = jobs
        .iter()
        .filter(|job| job.claims.kind == Kind::Ticket && acl::check_uuid("qr", &job.claims.sub).is_ok())
        .map(|job| job.claims.sub.as_str())
        .collect();
    let gates = client
        .prepare_cached(
            "SELECT g.id, g.event_id, e.reentry_allowed FROM gates g JOIN events e ON e.id = g.event_id
             WHERE g.id = ANY($1)",
        )
        .await?;
    let admitted =
        client.prepare_cached("SELECT gate_id, event_id, area_id FROM gate_areas WHERE gate_id = ANY($1)").await?;
    // locked in ticket order, so that concurrent batches never deadlock
    let tickets = client
        .prepare_cached(
            "SELECT ticket_id::text, area_id, event_id, valid_from, valid_until, state = 'revoked', inside, entries
             FROM access_entries WHERE ticket_id = ANY($1::text[]::uuid[]) ORDER BY ticket_id FOR UPDATE",
        )
        .await?;
    // `biased`: polled in this order, so sent in this order (BEGIN first)
    let ((), gates, admitted, tickets) = tokio::try_join!(
        biased;
        async { Ok::<_, RepositoryError>(tx.begin().await?) },
        async { Ok::<_, RepositoryError>(client.query(&gates, &[&gate_ids]).await?) },
        async { Ok::<_, RepositoryError>(client.query(&admitted, &[&gate_ids]).await?) },
        async { Ok::<_, RepositoryError>(client.query(&tickets, &[&ticket_ids]).await?) },
    )?;
    let gates: std::collections::HashMap<i64, (i64, bool)> =
        gates.iter().map(|row| (row.get(0), (row.get(1), row.get(2)))).collect();
    let admitted: std::collections::HashSet<(i64, i64, i64)> =
        admitted.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    let mut tickets: std::collections::HashMap<String, (i64, TicketAccess)> = tickets
        .iter()
        .map(|row| {
            let access = TicketAccess {
                event_id: row.get(2),
                valid_from: row.get(3),
                valid_until: row.get(4),
                revoked: row.get(5),
                inside: row.get(6),
                entries: row.get(7),
            };
            (row.get(0), (row.get(1), access))
        })
        .collect();
    let mut changed = std::collections::BTreeSet::new();
    let mut results = Vec::with_capacity(jobs.len());
    let mut new_scans: Vec<NewScan<'a>> = Vec::new();
    for (job, fingerprint) in jobs.iter().zip(fingerprints) {
        let request = &job.request;
        let key = (request.device_id.as_str(), request.nonce.as_str());
        let earlier = stored
            .iter()
            .find(|scan| (scan.device_id.as_str(), scan.nonce.as_str()) == key)
            .map(|scan| (scan.fingerprint.as_str(), &scan.answer))
            .or_else(|| {
                new_scans
                    .iter()
                    .rev()
                    .find(|scan| scan_key(scan.job) == key)
                    .map(|scan| (scan.fingerprint.as_str(), &scan.answer))
            });
        if let Some((print, answer)) = earlier {
            results.push(if print == fingerprint {
                Ok(Scanned { answer: answer.clone(), replayed: true })
            } else {
                Err(nonce_taken())
            });
            continue;
        }
        let Some(&(gate_event, reentry_allowed)) = gates.get(&request.gate_id) else {
            results.push(Err(DomainError::not_found("gateId", "no gate has this id").into()));
            continue;
        };
        let reason = match job.claims.kind {
            Kind::Ticket => {
                let entry = tickets.get_mut(&job.claims.sub);
                let gate = GateView {
                    event_id: gate_event,
                    reentry_allowed,
                    admits_area: entry.as_ref().is_some_and(|(area_id, access)| {
                        admitted.contains(&(request.gate_id, access.event_id, *area_id))
                    }),
                };
                match entry {
                    None => scan::decide_ticket(None, &gate, request.direction, request.scanned_at),
                    Some((_, access)) => {
                        let reason = scan::decide_ticket(Some(access), &gate, request.direction, request.scanned_at);
                        if reason == scan::Reason::Ok {
                            let entering = request.direction == Direction::Entry;
                            access.inside = entering;
                            access.entries += i32::from(entering);
                            changed.insert(job.claims.sub.clone());
                        }
                        reason
                    }
                }
            }
            Kind::Staff => scan_staff(client, request, &job.claims, gate_event).await?,
        };
        let answer = ScanAnswer::new(request, Some(&job.claims), reason);
        results.push(Ok(Scanned { answer: answer.clone(), replayed: false }));
        new_scans.push(NewScan { job, fingerprint, answer });
    }
    let mut inside_states = InsideStates::default();
    for id in changed {
        if let Some((_, access)) = tickets.get(&id) {
            inside_states.inside.push(access.inside);
            inside_states.entries.push(access.entries);
            inside_states.ids.push(id);
        }
    }
    Ok(Decided { results, new_scans, inside_states })
}

/// The access entries a batch changed: their new inside states, column by column.
#[derive(Default)]
struct InsideStates {
    ids: Vec<String>,
    inside: Vec<bool>,
    entries: Vec<i32>,
}

fn scan_key(job: &ScanJob) -> (&str, &str) {
    (job.request.device_id.as_str(), job.request.nonce.as_str())
}

fn nonce_taken() -> RepositoryError {
    DomainError::conflict("nonce", "this device sent another scan with this nonce")
        .fix("use a new nonce for each scan; re-send a scan with its own")
        .into()
}

/// The insert of a batch's scans, from its columns ([`ScanColumns::params`]).
macro_rules! insert_scans_sql {
    () => {
        "INSERT INTO scans AS s (device_id, nonce, fingerprint, gate_id, kind, subject, direction, result, reason,
                                 scanned_at, answered_at, answer)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::timestamptz[], $12::jsonb[])"
    };
}

/// A batch's writes, in one statement: its scans ($1 to $12, [`ScanColumns::params`]) and its access entries'
/// new inside states ($13 to $15, [`InsideStates`]; the rows are locked by [`decide_batch`]; `a.ticket_id =
/// ANY` keeps it an index lookup whatever the planner thinks of the unnest's size). Fails on the (device,
/// nonce) unique index if one of its pairs was stored already.
const WRITE_BATCH: &str = concat!(
    "WITH inside AS (
       UPDATE access_entries a SET inside = u.inside, entries = u.entries
       FROM unnest($13::text[]::uuid[], $14::bool[], $15::int[]) AS u (id, inside, entries)
       WHERE a.ticket_id = u.id AND a.ticket_id = ANY($13::text[]::uuid[]))
     ",
    insert_scans_sql!()
);

/// The probe for the stored pairs: returns each row of a pair met on the unique index (its conflict arbiter),
/// by a no-op update (the only way an insert hands back a row it did not write), with `xmax` set — `xmax = 0`
/// only on a row this statement inserted. Run it only in a transaction that is rolled back.
const PROBE_SCANS: &str = concat!(
    insert_scans_sql!(),
    " ON CONFLICT (device_id, nonce) DO UPDATE SET nonce = s.nonce
     RETURNING s.device_id, s.nonce, s.fingerprint, s.answer, s.xmax = '0'::xid"
);

/// The name of the (device, nonce) unique index of `scans`.
const SCAN_PAIR_INDEX: &str = "scans_device_id_nonce_key";

/// Whether `error` is [`WRITE_BATCH`] meeting a stored (device, nonce) pair.
fn pair_taken(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|error| {
        *error.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && error.constraint() == Some(SCAN_PAIR_INDEX)
    })
}

/// The stored pairs, with their answers, among the rows of [`PROBE_SCANS`].
fn met_scans(rows: &[Row]) -> Result<Vec<StoredScan>> {
    let mut met = Vec::new();
    for row in rows.iter().filter(|row| !row.get::<_, bool>(4)) {
        let answer = serde_json::from_value(row.get(3)).map_err(|error| DbError::Unexpected(error.to_string()))?;
        met.push(StoredScan { device_id: row.get(0), nonce: row.get(1), fingerprint: row.get(2), answer });
    }
    Ok(met)
}

/// The `scans` rows of a batch, column by column (for one `INSERT ... SELECT FROM unnest`).
#[derive(Default)]
struct ScanColumns<'a> {
    device_id: Vec<&'a str>,
    nonce: Vec<&'a str>,
    fingerprint: Vec<&'a str>,
    gate_id: Vec<i64>,
    kind: Vec<&'a str>,
    subject: Vec<&'a str>,
    direction: Vec<&'a str>,
    result: Vec<&'a str>,
    reason: Vec<&'a str>,
    scanned_at: Vec<Timestamp>,
    answered_at: Vec<Timestamp>,
    answer: Vec<serde_json::Value>,
}

impl<'a> ScanColumns<'a> {
    /// The columns of the decided scans, in (device, nonce) order (so that two batches meeting each other's
    /// pairs wait for each other in one order, never in a cycle).
    fn of(scans: &'a [NewScan<'a>]) -> Result<ScanColumns<'a>> {
        let mut ordered: Vec<&NewScan<'_>> = scans.iter().collect();
        ordered.sort_by(|a, b| scan_key(a.job).cmp(&scan_key(b.job)));
        let mut columns = ScanColumns::default();
        for scan in ordered {
            let (request, claims, reason) = (&scan.job.request, &scan.job.claims, scan.answer.reason);
            columns.device_id.push(request.device_id.as_str());
            columns.nonce.push(request.nonce.as_str());
            columns.fingerprint.push(scan.fingerprint.as_str());
            columns.gate_id.push(request.gate_id);
            columns.kind.push(claims.kind.as_str());
            columns.subject.push(claims.sub.as_str());
            columns.direction.push(request.direction.as_str());
            columns.result.push(reason.verdict().as_str());
            columns.reason.push(reason.as_str());
            columns.scanned_at.push(request.scanned_at);
            columns.answered_at.push(scan.job.now);
            columns
                .answer
                .push(serde_json::to_value(&scan.answer).map_err(|error| DbError::Unexpected(error.to_string()))?);
        }
        Ok(columns)
    }

    /// The parameters $1 to $12 of the scans' insert (`insert_scans_sql!`).
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.device_id,
            &self.nonce,
            &self.fingerprint,
            &self.gate_id,
            &self.kind,
            &self.subject,
            &self.direction,
            &self.result,
            &self.reason,
            &self.scanned_at,
            &self.answered_at,
            &self.answer,
        ]
    }
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
