//! Every SQL statement of the ticketing service, and its transactions. Each write that another service must
//! hear of appends its outbox message in the same transaction; each rule is decided by `domain` on rows read
//! under lock. Nothing here parses requests or answers HTTP.

use deadpool_postgres::{GenericClient, Pool};
use jiff::{SignedDuration, Timestamp};
use microfleet_common::database::{DbError, PipelinedTransaction};
use microfleet_common::outbox;
use serde_json::json;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use microfleet_common::paging::PageQuery;

use crate::domain::event::{self, Approval, Area, Event, EventEdit, EventFilters, NewEvent};
use crate::domain::order::{
    self, NewOrder, Order, OrderFilters, OrderItem, OrderState, OrderSummary, Refund, RefundFilters, RefundSummary,
    Ticket, WantedSeats,
};
use crate::domain::payment::{self, NewPaymentMethod, PaymentMethod, PaymentMethodEdit};
use crate::domain::stats::{Counts, DayTotals};
use crate::domain::DomainError;

/// The outbox topics this service writes.
pub mod topics {
    /// An event was approved: the gate-acl service learns its areas.
    pub const EVENT_APPROVED: &str = "event.approved";
    /// An order was paid: the gate-acl service prepares access for its tickets.
    pub const ORDER_PAID: &str = "order.paid";
    /// An unpaid order expired and released its seats.
    pub const ORDER_EXPIRED: &str = "order.expired";
    /// A refund was requested: the gate-acl service revokes the order's access.
    pub const ORDER_REFUND_REQUESTED: &str = "order.refund_requested";
}

pub use microfleet_common::refusal::RepositoryError;

type Result<T> = std::result::Result<T, RepositoryError>;

/// A merchant.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// How many events it has.
    pub events: i64,
}

/// Creates a merchant; a taken name is a conflict on `name`.
pub async fn create_merchant(pool: &Pool, name: &str) -> Result<Merchant> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "INSERT INTO merchants (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
                     RETURNING id, name, created_at, 0::bigint",
                )
                .await?,
            &[&name.trim()],
        )
        .await?
        .ok_or_else(|| DomainError::conflict("name", "a merchant with this name exists"))?;
    Ok(merchant_from_row(&row))
}

const MERCHANT_COLUMNS: &str = "m.id, m.name, m.created_at, (SELECT count(*) FROM events e WHERE e.merchant_id = m.id)";

fn merchant_from_row(row: &Row) -> Merchant {
    Merchant { id: row.get(0), name: row.get(1), created_at: row.get(2), events: row.get(3) }
}

/// A page of merchants, newest first, whose name contains the search text; and how many match.
pub async fn list_merchants(pool: &Pool, page: &PageQuery) -> Result<(Vec<Merchant>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR m.name ILIKE $1)";
    let pattern = page.pattern();
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT {MERCHANT_COLUMNS} FROM merchants m {filter} ORDER BY m.id DESC LIMIT $2 OFFSET $3"
                ))
                .await?,
            &[&pattern, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(&client.prepare_cached(&format!("SELECT count(*) FROM merchants m {filter}")).await?, &[&pattern])
        .await?
        .get(0);
    Ok((rows.iter().map(merchant_from_row).collect(), total))
}

/// A merchant by id; 404 naming `merchantId`.
pub async fn get_merchant(pool: &Pool, id: i64) -> Result<Merchant> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client.prepare_cached(&format!("SELECT {MERCHANT_COLUMNS} FROM merchants m WHERE m.id = $1")).await?,
            &[&id],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("merchantId", "no merchant has this id"))?;
    Ok(merchant_from_row(&row))
}

/// Renames a merchant; 404 naming `merchantId`, a taken name is a conflict on `name`.
pub async fn rename_merchant(pool: &Pool, id: i64, name: &str) -> Result<Merchant> {
    let client = pool.get().await?;
    let taken = client
        .query_opt(
            &client.prepare_cached("SELECT 1 FROM merchants WHERE name = $1 AND id <> $2").await?,
            &[&name.trim(), &id],
        )
        .await?;
    if taken.is_some() {
        return Err(DomainError::conflict("name", "a merchant with this name exists").into());
    }
    let updated = client
        .execute(&client.prepare_cached("UPDATE merchants SET name = $2 WHERE id = $1").await?, &[&id, &name.trim()])
        .await;
    match updated {
        Ok(0) => Err(DomainError::not_found("merchantId", "no merchant has this id").into()),
        Ok(_) => get_merchant(pool, id).await,
        Err(error) => match DbError::from(error) {
            // renamed concurrently to the same name
            error if error.sql_state() == Some("23505") => {
                Err(DomainError::conflict("name", "a merchant with this name exists").into())
            }
            error => Err(error.into()),
        },
    }
}

/// Creates an event (waiting for approval) with its areas, in one transaction.
pub async fn create_event(pool: &Pool, new: &NewEvent, now: Timestamp) -> Result<Event> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let merchant = tx
        .query_opt(&tx.prepare_cached("SELECT 1 FROM merchants WHERE id = $1 FOR SHARE").await?, &[&new.merchant_id])
        .await?;
    if merchant.is_none() {
        return Err(DomainError::not_found("merchantId", "no merchant has this id").into());
    }
    let row = tx
        .query_one(
            &tx.prepare_cached(
                "INSERT INTO events (merchant_id, name, venue, starts_at, ends_at, sale_starts_at, sale_ends_at,
                                     created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .await?,
            &[
                &new.merchant_id,
                &new.name.trim(),
                &new.venue.trim(),
                &new.starts_at,
                &new.ends_at,
                &new.sale_starts_at,
                &new.sale_ends_at,
                &now,
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    for area in &new.areas {
        tx.execute(
            &tx.prepare_cached("INSERT INTO areas (event_id, name, capacity, price) VALUES ($1, $2, $3, $4)").await?,
            &[&id, &area.name.trim(), &area.capacity, &area.price],
        )
        .await?;
    }
    let event = read_event(&tx, id, now, false).await?;
    tx.commit().await?;
    Ok(event)
}

/// Approves an event and tells the gate-acl service its areas (outbox `event.approved`); approving an
/// approved event again changes nothing.
pub async fn approve_event(pool: &Pool, id: i64, now: Timestamp) -> Result<Event> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let current = read_event(&tx, id, now, true).await?;
    event::check_approvable(current.approval)?;
    if current.approval == Approval::Approved {
        return Ok(current);
    }
    tx.execute(
        &tx.prepare_cached("UPDATE events SET approval = 'approved', approved_at = $2 WHERE id = $1").await?,
        &[&id, &now],
    )
    .await?;
    let approved = read_event(&tx, id, now, false).await?;
    outbox::append(&tx, topics::EVENT_APPROVED, &approved.id.to_string(), &approved_payload(&approved)).await?;
    tx.commit().await?;
    Ok(approved)
}

/// The `event.approved` message of an approved event: its name, times and areas.
fn approved_payload(approved: &Event) -> serde_json::Value {
    let areas: Vec<_> = approved.areas.iter().map(|area| json!({"areaId": area.id, "name": area.name})).collect();
    json!({
        "eventId": approved.id,
        "name": approved.name,
        "startsAt": approved.starts_at,
        "endsAt": approved.ends_at,
        "areas": areas,
    })
}

const EVENT_COLUMNS: &str =
    "id, merchant_id, name, venue, starts_at, ends_at, sale_starts_at, sale_ends_at, approval = 'approved', created_at";

fn event_from_row(row: &Row, areas: Vec<Area>, now: Timestamp) -> Event {
    let ends_at: Timestamp = row.get(5);
    Event {
        id: row.get(0),
        merchant_id: row.get(1),
        name: row.get(2),
        venue: row.get(3),
        starts_at: row.get(4),
        ends_at,
        sale_starts_at: row.get(6),
        sale_ends_at: row.get(7),
        approval: event::approval_at(row.get(8), ends_at, now),
        created_at: row.get(9),
        areas,
    }
}

fn area_from_row(row: &Row) -> Area {
    let (capacity, sold): (i32, i32) = (row.get(2), row.get(3));
    Area { id: row.get(0), name: row.get(1), capacity, sold, available: capacity - sold, price: row.get(4) }
}

async fn read_event(client: &impl GenericClient, id: i64, now: Timestamp, lock: bool) -> Result<Event> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = client
        .query_opt(
            &client.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1{lock}")).await?,
            &[&id],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("eventId", "no event has this id"))?;
    // locked in id order, as orders take them
    let areas = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT id, name, capacity, sold, price FROM areas WHERE event_id = $1 ORDER BY id{lock}"
                ))
                .await?,
            &[&id],
        )
        .await?;
    Ok(event_from_row(&row, areas.iter().map(area_from_row).collect(), now))
}

/// A page of events with their areas, newest first: the name or venue containing the search text, in the
/// approval state at `now` and of the merchant the filters ask for; and how many match.
pub async fn list_events(
    pool: &Pool,
    page: &PageQuery,
    filters: &EventFilters,
    now: Timestamp,
) -> Result<(Vec<Event>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR name ILIKE $1 OR venue ILIKE $1)
          AND ($2::bigint IS NULL OR merchant_id = $2)
          AND ($3::text IS NULL
               OR ($3 = 'expired' AND ends_at <= $4)
               OR ($3 = approval AND ends_at > $4))";
    let (pattern, approval) = (page.pattern(), filters.approval.map(Approval::as_str));
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events {filter} ORDER BY id DESC LIMIT $5 OFFSET $6"
                ))
                .await?,
            &[&pattern, &filters.merchant_id, &approval, &now, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(
            &client.prepare_cached(&format!("SELECT count(*) FROM events {filter}")).await?,
            &[&pattern, &filters.merchant_id, &approval, &now],
        )
        .await?
        .get(0);
    let ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    let areas = client
        .query(
            &client
                .prepare_cached(
                    "SELECT id, name, capacity, sold, price, event_id FROM areas WHERE event_id = ANY($1)
                     ORDER BY event_id, id",
                )
                .await?,
            &[&ids],
        )
        .await?;
    let events = rows
        .iter()
        .map(|row| {
            let id: i64 = row.get(0);
            let own = areas.iter().filter(|area| area.get::<_, i64>(5) == id).map(area_from_row).collect();
            event_from_row(row, own, now)
        })
        .collect();
    Ok((events, total))
}

/// An event with its areas; 404 naming `eventId`.
pub async fn get_event(pool: &Pool, id: i64, now: Timestamp) -> Result<Event> {
    let client = pool.get().await?;
    read_event(&client, id, now, false).await
}

/// Edits an event under its lock: name, venue, times and areas as `domain::event::check_edit` allows
/// (areas changed or added, never removed). An approved event's gate-acl copy learns the new names and
/// areas (outbox `event.approved` again, which it applies as an update).
pub async fn edit_event(pool: &Pool, id: i64, edit: &EventEdit, now: Timestamp) -> Result<Event> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let current = read_event(&tx, id, now, true).await?;
    event::check_edit(&current, edit)?;
    // two areas swapping names would collide midway: park every name first (a control character no one types)
    tx.execute(&tx.prepare_cached("UPDATE areas SET name = chr(1) || id::text WHERE event_id = $1").await?, &[&id])
        .await?;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE events SET name = $2, venue = $3, starts_at = $4, ends_at = $5, sale_starts_at = $6,
                               sale_ends_at = $7
             WHERE id = $1",
        )
        .await?,
        &[
            &id,
            &edit.name.trim(),
            &edit.venue.trim(),
            &edit.starts_at,
            &edit.ends_at,
            &edit.sale_starts_at,
            &edit.sale_ends_at,
        ],
    )
    .await?;
    for area in &edit.areas {
        match area.id {
            Some(area_id) => {
                tx.execute(
                    &tx.prepare_cached(
                        "UPDATE areas SET name = $3, capacity = $4, price = $5 WHERE id = $1 AND event_id = $2",
                    )
                    .await?,
                    &[&area_id, &id, &area.name.trim(), &area.capacity, &area.price],
                )
                .await?
            }
            None => {
                tx.execute(
                    &tx.prepare_cached("INSERT INTO areas (event_id, name, capacity, price) VALUES ($1, $2, $3, $4)")
                        .await?,
                    &[&id, &area.name.trim(), &area.capacity, &area.price],
                )
                .await?
            }
        };
    }
    let edited = read_event(&tx, id, now, false).await?;
    if edited.approval == Approval::Approved {
        outbox::append(&tx, topics::EVENT_APPROVED, &edited.id.to_string(), &approved_payload(&edited)).await?;
    }
    tx.commit().await?;
    Ok(edited)
}

/// Places an order: checks the event is on sale, holds the seats of every item (or none: a sold-out area
/// rolls the whole order back), and records the order as pending until `now + hold`. An order with a client
/// reference already placed for the event is answered instead (the request sent again: `false`, nothing
/// held twice), or refused when it asked for other seats. Returns the order and whether this call placed it.
pub async fn create_order(
    pool: &Pool,
    new: &NewOrder,
    wanted: &[WantedSeats],
    now: Timestamp,
    hold: SignedDuration,
) -> Result<(Order, bool)> {
    let client = pool.get().await?;
    if let Some(placed) = placed_before(&client, new, wanted).await? {
        return Ok((placed, false));
    }
    let tx = PipelinedTransaction::new(client);
    let placed = place_order(&tx, new, wanted, now, hold).await;
    let placed = tx.end(placed).await;
    match placed {
        Err(RepositoryError::Database(error)) if error.constraint() == Some("orders_event_client_reference") => {
            // the same reference was placed concurrently: this attempt (its held seats) rolled back; answer that one
            let client = pool.get().await?;
            let placed = placed_before(&client, new, wanted)
                .await?
                .ok_or_else(|| DbError::Unexpected("an order's client reference was taken and not readable".into()))?;
            Ok((placed, false))
        }
        placed => Ok((placed?, true)),
    }
}

/// [`create_order`]'s transaction, in two round trips: `BEGIN`, the event read under lock and every item's
/// seats held, all sent at once (a refusal rolls the holds back); then the order and its items written in one
/// statement, with `COMMIT`.
async fn place_order(
    tx: &PipelinedTransaction,
    new: &NewOrder,
    wanted: &[WantedSeats],
    now: Timestamp,
    hold: SignedDuration,
) -> Result<Order> {
    let client = tx.client();
    // the event and the payment method, both locked against changes until the order is placed; the order's id
    // and code drawn with them
    let read_event = client
        .prepare_cached(
            "SELECT e.approval = 'approved', e.ends_at, e.sale_starts_at, e.sale_ends_at,
                    (SELECT enabled FROM payment_methods WHERE code = $2 FOR SHARE),
                    nextval(pg_get_serial_sequence('orders', 'id')), floor(random() * 10000)::int
             FROM events e WHERE e.id = $1 FOR SHARE OF e",
        )
        .await?;
    // the condition is the invariant: a seat is held only while one is left
    let hold_seats = client
        .prepare_cached(
            "UPDATE areas SET sold = sold + $3 WHERE id = $1 AND event_id = $2 AND sold + $3 <= capacity
             RETURNING price",
        )
        .await?;
    let hold_params: Vec<[&(dyn ToSql + Sync); 3]> =
        wanted.iter().map(|seats| [&seats.area_id as &(dyn ToSql + Sync), &new.event_id, &seats.quantity]).collect();
    let holds = hold_params.iter().map(|params| client.query_opt(&hold_seats, params));
    let event_params: [&(dyn ToSql + Sync); 2] = [&new.event_id, &new.payment_method];
    let (begun, event, held) = tokio::join!(biased; tx.begin(), client.query_opt(&read_event, &event_params), futures::future::join_all(holds));
    begun?;
    let event = event?.ok_or_else(|| DomainError::not_found("eventId", "no event has this id"))?;
    let approval = event::approval_at(event.get(0), event.get(1), now);
    event::check_on_sale(approval, event.get(2), event.get(3), now)?;
    payment::check_usable(event.get::<_, Option<bool>>(4))?;
    let mut priced = Vec::with_capacity(wanted.len());
    for (seats, held) in wanted.iter().zip(held) {
        match held? {
            Some(row) => priced.push((seats.area_id, seats.quantity, row.get::<_, i64>(0))),
            None => return Err(unavailable(client, new.event_id, seats).await?.into()),
        }
    }
    let pairs: Vec<(i32, i64)> = priced.iter().map(|&(_, quantity, price)| (quantity, price)).collect();
    let total = order::total_price(&pairs).ok_or_else(|| DomainError::invalid("items", "the total is too large"))?;
    let (id, code): (i64, i32) = (event.get(5), event.get(6));
    let placed_on = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let number = order::order_number(placed_on, id, u16::try_from(code).unwrap_or(0));
    let expires_at =
        now.checked_add(hold).map_err(|_| DomainError::invalid("items", "the hold time is out of range"))?;
    let reference = new.client_reference.as_deref().map(str::trim);
    // a reference placed concurrently fails the statement (`orders_event_client_reference`), and the COMMIT
    // sent with it rolls the held seats back
    let insert = client
        .prepare_cached(
            "WITH placed AS (
                 INSERT INTO orders (id, number, event_id, payment_method, customer_email, total_price, created_at,
                                     expires_at, client_reference)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING id, created_at, expires_at
             ), items AS (
                 INSERT INTO order_items (order_id, area_id, quantity, unit_price)
                 SELECT placed.id, item.area_id, item.quantity, item.unit_price
                 FROM placed, unnest($10::bigint[], $11::int[], $12::bigint[]) AS item (area_id, quantity, unit_price)
             )
             SELECT created_at, expires_at FROM placed",
        )
        .await?;
    let area_ids: Vec<i64> = priced.iter().map(|&(area_id, _, _)| area_id).collect();
    let quantities: Vec<i32> = priced.iter().map(|&(_, quantity, _)| quantity).collect();
    let prices: Vec<i64> = priced.iter().map(|&(_, _, price)| price).collect();
    let email = new.customer_email.trim();
    let insert_params: [&(dyn ToSql + Sync); 12] = [
        &id,
        &number,
        &new.event_id,
        &new.payment_method,
        &email,
        &total,
        &now,
        &expires_at,
        &reference,
        &area_ids,
        &quantities,
        &prices,
    ];
    let (inserted, committed) = tokio::join!(biased; client.query_one(&insert, &insert_params), tx.commit());
    let inserted = inserted.map_err(DbError::from)?;
    committed?;
    // what `read_order` would read back (the items in area order, as `wanted` is), the times as stored
    Ok(Order {
        number,
        client_reference: reference.map(str::to_string),
        event_id: new.event_id,
        state: OrderState::Pending,
        payment_method: new.payment_method.clone(),
        customer_email: email.to_string(),
        total_price: total,
        payment_received: 0,
        checked_out: false,
        paid: false,
        created_at: inserted.get(0),
        expires_at: inserted.get(1),
        paid_at: None,
        items: priced
            .iter()
            .map(|&(area_id, quantity, unit_price)| OrderItem { area_id, quantity, unit_price })
            .collect(),
        tickets: Vec::new(),
        refund: None,
    })
}

/// The order placed before with `new`'s client reference for its event, when there is one and it asked for
/// the same seats; a conflict on `clientReference` when it asked for others.
async fn placed_before(client: &impl GenericClient, new: &NewOrder, wanted: &[WantedSeats]) -> Result<Option<Order>> {
    let Some(reference) = new.client_reference.as_deref() else {
        return Ok(None);
    };
    let row = client
        .query_opt(
            "SELECT number FROM orders WHERE event_id = $1 AND client_reference = $2",
            &[&new.event_id, &reference.trim()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let placed = read_order(client, row.get(0), false).await?;
    if !order::same_request(new.event_id, wanted, &placed) {
        return Err(DomainError::conflict(
            "clientReference",
            "an order with other seats was placed with this reference",
        )
        .fix("use a new reference for each new order; re-send an order with its own")
        .into());
    }
    Ok(Some(placed))
}

/// Why seats could not be held: the area is not the event's, or too few are left.
async fn unavailable(client: &impl GenericClient, event_id: i64, seats: &WantedSeats) -> Result<DomainError> {
    let row = client
        .query_opt(
            &client.prepare_cached("SELECT capacity - sold FROM areas WHERE id = $1 AND event_id = $2").await?,
            &[&seats.area_id, &event_id],
        )
        .await?;
    Ok(match row {
        None => DomainError::not_found(format!("items[{}].areaId", seats.index), "the event has no area with this id"),
        Some(row) => {
            let left: i32 = row.get(0);
            DomainError::conflict(format!("items[{}].quantity", seats.index), format!("only {left} seats are left"))
                .fix(if left > 0 { "order fewer seats" } else { "choose another area" })
        }
    })
}

/// Confirms payment: the order becomes paid, one ticket per seat is issued, and the gate-acl service is
/// told (outbox `order.paid`), all in one transaction of two round trips: `BEGIN` with the order read under
/// lock (its items, its event's dates and an id for each ticket to issue with it); then the order paid and its
/// tickets issued in one statement, the outbox message and `COMMIT`, sent at once.
pub async fn confirm_payment(pool: &Pool, number: &str, amount: i64, now: Timestamp) -> Result<Order> {
    let tx = PipelinedTransaction::new(pool.get().await?);
    let paid = pay_order(&tx, number, amount, now).await;
    tx.end(paid).await
}

/// [`confirm_payment`]'s transaction.
async fn pay_order(tx: &PipelinedTransaction, number: &str, amount: i64, now: Timestamp) -> Result<Order> {
    let client = tx.client();
    // a payable order is pending: it has no tickets yet and no refund; the access is valid while the event runs
    let read = client
        .prepare_cached(&format!(
            "SELECT {ORDER_COLUMNS}, e.starts_at, e.ends_at,
                    ARRAY(SELECT gen_random_uuid()::text FROM order_items i, generate_series(1, i.quantity)
                          WHERE i.order_id = o.id)
             FROM orders o JOIN events e ON e.id = o.event_id WHERE o.number = $1 FOR UPDATE OF o"
        ))
        .await?;
    let read_params: [&(dyn ToSql + Sync); 1] = [&number];
    let (begun, row) = tokio::join!(biased; tx.begin(), client.query_opt(&read, &read_params));
    begun?;
    let row = row?.ok_or_else(|| DomainError::not_found("orderNumber", "no order has this number"))?;
    let (id, current) = order_from_row(&row)?;
    order::check_payment(current.state, current.total_price, current.expires_at, amount, now)?;
    let (valid_from, valid_until): (Timestamp, Timestamp) =
        (row.get(ORDER_COLUMN_COUNT), row.get(ORDER_COLUMN_COUNT + 1));
    let ticket_ids: Vec<String> = row.get(ORDER_COLUMN_COUNT + 2);
    // one ticket per seat, item by item in area order
    let ticket_areas: Vec<i64> = current
        .items
        .iter()
        .flat_map(|item| std::iter::repeat_n(item.area_id, usize::try_from(item.quantity).unwrap_or(0)))
        .collect();
    if ticket_ids.len() != ticket_areas.len() {
        return Err(DbError::Unexpected(format!(
            "order {number}: {} ticket ids for {} seats",
            ticket_ids.len(),
            ticket_areas.len()
        ))
        .into());
    }
    let issue = client
        .prepare_cached(
            "WITH paid AS (
                 UPDATE orders SET state = 'paid', paid = true, checked_out = true, payment_received = $2, paid_at = $3
                     WHERE id = $1 RETURNING id, paid_at
             ), issued AS (
                 INSERT INTO tickets (id, order_id, area_id, created_at)
                 SELECT ticket.id::uuid, paid.id, ticket.area_id, $3
                 FROM paid, unnest($4::text[], $5::bigint[]) AS ticket (id, area_id)
                 RETURNING id, area_id, state
             )
             SELECT issued.id::text, issued.area_id, issued.state, paid.paid_at FROM issued, paid",
        )
        .await?;
    let append = outbox::append_statement(client).await?;
    let tickets: Vec<_> = ticket_ids
        .iter()
        .zip(&ticket_areas)
        .map(|(ticket_id, area_id)| json!({"ticketId": ticket_id, "areaId": area_id}))
        .collect();
    let payload = json!({
        "orderNumber": current.number,
        "eventId": current.event_id,
        "validFrom": valid_from,
        "validUntil": valid_until,
        "tickets": tickets,
    });
    let issue_params: [&(dyn ToSql + Sync); 5] = [&id, &amount, &now, &ticket_ids, &ticket_areas];
    let (issued, appended, committed) = tokio::join!(
        biased;
        client.query(&issue, &issue_params),
        outbox::append_with(client, &append, topics::ORDER_PAID, number, &payload),
        tx.commit()
    );
    let issued = issued.map_err(DbError::from)?;
    appended?;
    committed?;
    // as stored (to the microsecond); an order always has a seat, so a ticket row
    let paid_at = issued.first().map_or(now, |row| row.get(3));
    let mut tickets: Vec<Ticket> = issued.iter().map(ticket_from_row).collect();
    // as `read_order` lists them (a UUID's text sorts as its bytes)
    tickets.sort_by(|a, b| (a.area_id, &a.id).cmp(&(b.area_id, &b.id)));
    Ok(Order {
        state: OrderState::Paid,
        paid: true,
        checked_out: true,
        payment_received: amount,
        paid_at: Some(paid_at),
        tickets,
        ..current
    })
}

fn ticket_from_row(row: &Row) -> Ticket {
    Ticket { id: row.get(0), area_id: row.get(1), state: row.get(2) }
}

/// Marks the order's issued tickets `active` (the gate-acl service prepared their access), in the caller's
/// transaction; doing it again changes nothing. Returns how many became active.
pub async fn activate_tickets(tx: &impl GenericClient, number: &str) -> Result<u64> {
    Ok(tx
        .execute(
            &tx.prepare_cached(
                "UPDATE tickets SET state = 'active'
             WHERE order_id = (SELECT id FROM orders WHERE number = $1) AND state = 'issued'",
            )
            .await?,
            &[&number],
        )
        .await?)
}

/// Expires up to `limit` pending orders whose hold ended at `now`: their seats are released and an
/// `order.expired` message written, in one transaction. Returns their numbers.
pub async fn expire_orders(pool: &Pool, now: Timestamp, limit: i64) -> Result<Vec<String>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let expired = tx
        .query(
            &tx.prepare_cached(
                "UPDATE orders SET state = 'expired', expired_at = $1
             WHERE id IN (SELECT id FROM orders WHERE state = 'pending' AND expires_at <= $1
                          ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id, number",
            )
            .await?,
            &[&now, &limit],
        )
        .await?;
    let ids: Vec<i64> = expired.iter().map(|row| row.get(0)).collect();
    release_seats(&tx, &ids).await?;
    let mut numbers = Vec::with_capacity(expired.len());
    for row in &expired {
        let number: String = row.get(1);
        outbox::append(&tx, topics::ORDER_EXPIRED, &number, &json!({"orderNumber": number})).await?;
        numbers.push(number);
    }
    tx.commit().await?;
    Ok(numbers)
}

/// Gives the seats of these orders back to their areas' availability, area by area in id order as orders
/// take them (so releases and orders never deadlock), in the caller's transaction. The caller makes sure an
/// order's seats are released once (its state change under the order's lock).
async fn release_seats(tx: &impl GenericClient, order_ids: &[i64]) -> Result<()> {
    let released = tx
        .query(
            "SELECT area_id, sum(quantity)::int FROM order_items WHERE order_id = ANY($1) GROUP BY area_id ORDER BY area_id",
            &[&order_ids],
        )
        .await?;
    for row in &released {
        let (area_id, seats): (i64, i32) = (row.get(0), row.get(1));
        tx.execute("UPDATE areas SET sold = sold - $2 WHERE id = $1", &[&area_id, &seats]).await?;
    }
    Ok(())
}

/// Requests a refund of a paid order: the refund is recorded as pending, the order becomes refunding, its
/// tickets revoking, and the gate-acl service is told to revoke access (outbox `order.refund_requested`),
/// all in one transaction. The refund completes once access is revoked ([`complete_refund`]).
pub async fn refund_order(pool: &Pool, number: &str, asked: Option<i64>, now: Timestamp) -> Result<Order> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let current = read_order(&tx, number, true).await?;
    let amount = order::refund_amount(current.state, current.payment_received, asked)?;
    let id: i64 = tx
        .query_one(
            &tx.prepare_cached("UPDATE orders SET state = 'refunding' WHERE number = $1 RETURNING id").await?,
            &[&number],
        )
        .await?
        .get(0);
    tx.execute(
        &tx.prepare_cached("INSERT INTO refunds (order_id, amount, created_at) VALUES ($1, $2, $3)").await?,
        &[&id, &amount, &now],
    )
    .await?;
    tx.execute(&tx.prepare_cached("UPDATE tickets SET state = 'revoking' WHERE order_id = $1").await?, &[&id]).await?;
    let refunding = read_order(&tx, number, false).await?;
    let tickets: Vec<_> = refunding.tickets.iter().map(|ticket| ticket.id.clone()).collect();
    let payload = json!({"orderNumber": number, "amount": amount, "ticketIds": tickets});
    outbox::append(&tx, topics::ORDER_REFUND_REQUESTED, number, &payload).await?;
    tx.commit().await?;
    Ok(refunding)
}

/// Completes the refund of a refunding order once the gate-acl service has revoked its access
/// (`access.revoked`), in the caller's transaction: its tickets `revoked`, the refund `refunded`, the order
/// `refunded` and its seats back on sale. An order refunded already changes nothing; one not refunding is a
/// conflict. Returns whether this call completed it.
pub async fn complete_refund(tx: &impl GenericClient, number: &str, now: Timestamp) -> Result<bool> {
    let current = read_order(tx, number, true).await?;
    if !order::check_refund_completion(current.state)? {
        return Ok(false);
    }
    let id: i64 = tx
        .query_one(
            "UPDATE orders SET state = 'refunded', refunded_at = $2 WHERE number = $1 RETURNING id",
            &[&number, &now],
        )
        .await?
        .get(0);
    tx.execute("UPDATE tickets SET state = 'revoked' WHERE order_id = $1", &[&id]).await?;
    tx.execute("UPDATE refunds SET state = 'refunded', refunded_at = $2 WHERE order_id = $1", &[&id, &now]).await?;
    release_seats(tx, &[id]).await?;
    Ok(true)
}

/// An order by number, with its items, tickets and refund.
pub async fn get_order(pool: &Pool, number: &str) -> Result<Order> {
    let client = pool.get().await?;
    read_order(&client, number, false).await
}

/// An order by number, with its items, tickets and refund; `lock`: `FOR UPDATE`.
async fn read_order(client: &impl GenericClient, number: &str, lock: bool) -> Result<Order> {
    let (id, order) = read_order_and_items(client, number, lock).await?;
    let tickets = client
        .query(
            &client
                .prepare_cached("SELECT id::text, area_id, state FROM tickets WHERE order_id = $1 ORDER BY area_id, id")
                .await?,
            &[&id],
        )
        .await?
        .iter()
        .map(ticket_from_row)
        .collect();
    let refund = client
        .query_opt(
            &client.prepare_cached("SELECT amount, state, created_at FROM refunds WHERE order_id = $1").await?,
            &[&id],
        )
        .await?
        .map(|refund| Refund { amount: refund.get(0), state: refund.get(1), created_at: refund.get(2) });
    Ok(Order { tickets, refund, ..order })
}

/// The columns [`order_from_row`] reads, of `orders o`: the order and its items (as arrays, in area order).
const ORDER_COLUMNS: &str = "o.id, o.number, o.event_id, o.state, o.payment_method, o.customer_email, o.total_price,
    o.payment_received, o.checked_out, o.paid, o.created_at, o.expires_at, o.paid_at, o.client_reference,
    ARRAY(SELECT area_id FROM order_items WHERE order_id = o.id ORDER BY area_id),
    ARRAY(SELECT quantity FROM order_items WHERE order_id = o.id ORDER BY area_id),
    ARRAY(SELECT unit_price FROM order_items WHERE order_id = o.id ORDER BY area_id)";
/// How many columns [`ORDER_COLUMNS`] lists: a statement's own columns follow them.
const ORDER_COLUMN_COUNT: usize = 17;

/// An order's id and the order with its items only (no tickets, no refund), from [`ORDER_COLUMNS`].
fn order_from_row(row: &Row) -> Result<(i64, Order)> {
    let id: i64 = row.get(0);
    let number: String = row.get(1);
    let stored: String = row.get(3);
    let state = OrderState::parse(&stored)
        .ok_or_else(|| DbError::Unexpected(format!("order {number} has the state {stored:?}")))?;
    let (areas, quantities, prices): (Vec<i64>, Vec<i32>, Vec<i64>) = (row.get(14), row.get(15), row.get(16));
    let items = areas
        .into_iter()
        .zip(quantities)
        .zip(prices)
        .map(|((area_id, quantity), unit_price)| OrderItem { area_id, quantity, unit_price })
        .collect();
    let order = Order {
        number,
        client_reference: row.get(13),
        event_id: row.get(2),
        state,
        payment_method: row.get(4),
        customer_email: row.get(5),
        total_price: row.get(6),
        payment_received: row.get(7),
        checked_out: row.get(8),
        paid: row.get(9),
        created_at: row.get(10),
        expires_at: row.get(11),
        paid_at: row.get(12),
        items,
        tickets: Vec::new(),
        refund: None,
    };
    Ok((id, order))
}

/// An order's id and the order by number with its items only (no tickets, no refund); `lock`: `FOR UPDATE`.
async fn read_order_and_items(client: &impl GenericClient, number: &str, lock: bool) -> Result<(i64, Order)> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = client
        .query_opt(
            &client.prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.number = $1{lock}")).await?,
            &[&number],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("orderNumber", "no order has this number"))?;
    order_from_row(&row)
}

/// A page of orders, newest first, with their event's name: the number or e-mail containing the search
/// text, in the state and of the event the filters ask for; and how many match.
pub async fn list_orders(pool: &Pool, page: &PageQuery, filters: &OrderFilters) -> Result<(Vec<OrderSummary>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR o.number ILIKE $1 OR o.customer_email ILIKE $1)
          AND ($2::text IS NULL OR o.state = $2) AND ($3::bigint IS NULL OR o.event_id = $3)";
    let (pattern, state) = (page.pattern(), filters.state.map(OrderState::as_str));
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT o.number, o.event_id, e.name, o.customer_email, o.payment_method, o.total_price,
                            o.payment_received, o.checked_out, o.paid, o.state, o.created_at, o.paid_at
                     FROM orders o JOIN events e ON e.id = o.event_id {filter}
                     ORDER BY o.id DESC LIMIT $4 OFFSET $5"
                ))
                .await?,
            &[&pattern, &state, &filters.event_id, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(
            &client.prepare_cached(&format!("SELECT count(*) FROM orders o {filter}")).await?,
            &[&pattern, &state, &filters.event_id],
        )
        .await?
        .get(0);
    let orders = rows
        .iter()
        .map(|row| {
            let stored: String = row.get(9);
            let state = OrderState::parse(&stored)
                .ok_or_else(|| DbError::Unexpected(format!("an order has the state {stored:?}")))?;
            Ok(OrderSummary {
                number: row.get(0),
                event_id: row.get(1),
                event_name: row.get(2),
                customer_email: row.get(3),
                payment_method: row.get(4),
                total_price: row.get(5),
                payment_received: row.get(6),
                checked_out: row.get(7),
                paid: row.get(8),
                state,
                created_at: row.get(10),
                paid_at: row.get(11),
            })
        })
        .collect::<Result<_>>()?;
    Ok((orders, total))
}

/// A page of refunds, newest first: the order number containing the search text, in the state the filters
/// ask for; and how many match.
pub async fn list_refunds(pool: &Pool, page: &PageQuery, filters: &RefundFilters) -> Result<(Vec<RefundSummary>, i64)> {
    let client = pool.get().await?;
    let filter = "WHERE ($1::text IS NULL OR o.number ILIKE $1) AND ($2::text IS NULL OR r.state = $2)";
    let (pattern, state) = (page.pattern(), filters.state.map(order::RefundState::as_str));
    let rows = client
        .query(
            &client
                .prepare_cached(&format!(
                    "SELECT r.id, o.number, r.amount, r.state, r.created_at, r.refunded_at
                     FROM refunds r JOIN orders o ON o.id = r.order_id {filter}
                     ORDER BY r.id DESC LIMIT $3 OFFSET $4"
                ))
                .await?,
            &[&pattern, &state, &page.limit(), &page.offset()],
        )
        .await?;
    let total = client
        .query_one(
            &client
                .prepare_cached(&format!("SELECT count(*) FROM refunds r JOIN orders o ON o.id = r.order_id {filter}"))
                .await?,
            &[&pattern, &state],
        )
        .await?
        .get(0);
    let refunds = rows
        .iter()
        .map(|row| RefundSummary {
            id: row.get(0),
            order_number: row.get(1),
            amount: row.get(2),
            state: row.get(3),
            created_at: row.get(4),
            completed_at: row.get(5),
        })
        .collect();
    Ok((refunds, total))
}

fn payment_method_from_row(row: &Row) -> PaymentMethod {
    PaymentMethod { code: row.get(0), name: row.get(1), enabled: row.get(2) }
}

/// Every payment method, by code.
pub async fn list_payment_methods(pool: &Pool) -> Result<Vec<PaymentMethod>> {
    let client = pool.get().await?;
    let rows = client
        .query(&client.prepare_cached("SELECT code, name, enabled FROM payment_methods ORDER BY code").await?, &[])
        .await?;
    Ok(rows.iter().map(payment_method_from_row).collect())
}

/// Adds an enabled payment method; a taken code is a conflict on `code`.
pub async fn create_payment_method(pool: &Pool, new: &NewPaymentMethod) -> Result<PaymentMethod> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "INSERT INTO payment_methods (code, name) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING
                     RETURNING code, name, enabled",
                )
                .await?,
            &[&new.code, &new.name.trim()],
        )
        .await?
        .ok_or_else(|| DomainError::conflict("code", "a payment method with this code exists"))?;
    Ok(payment_method_from_row(&row))
}

/// Renames, enables or disables a payment method; 404 naming `code`.
pub async fn edit_payment_method(pool: &Pool, code: &str, edit: &PaymentMethodEdit) -> Result<PaymentMethod> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &client
                .prepare_cached(
                    "UPDATE payment_methods SET name = $2, enabled = $3 WHERE code = $1 RETURNING code, name, enabled",
                )
                .await?,
            &[&code, &edit.name.trim(), &edit.enabled],
        )
        .await?
        .ok_or_else(|| DomainError::not_found("code", "no payment method has this code"))?;
    Ok(payment_method_from_row(&row))
}

/// The dashboard's all-time counts: merchants, events, customers (distinct e-mails with a paid order).
pub async fn stats_counts(pool: &Pool) -> Result<Counts> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            &client
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM merchants), (SELECT count(*) FROM events),
                            (SELECT count(DISTINCT lower(customer_email)) FROM orders WHERE paid_at IS NOT NULL)",
                )
                .await?,
            &[],
        )
        .await?;
    Ok(Counts { merchants: row.get(0), events: row.get(1), customers: row.get(2) })
}

/// Orders paid per day (UTC) from `from` to `to` inclusive, with their revenue: total price minus what was
/// refunded of them (a refund counts from its request). Days without orders are absent.
pub async fn paid_per_day(pool: &Pool, from: jiff::civil::Date, to: jiff::civil::Date) -> Result<Vec<DayTotals>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &client
                .prepare_cached(
                    "SELECT (o.paid_at AT TIME ZONE 'UTC')::date AS day, count(*),
                            (sum(o.total_price) - coalesce(sum(r.amount), 0))::bigint
                     FROM orders o LEFT JOIN refunds r ON r.order_id = o.id
                     WHERE o.paid_at >= ($1::date AT TIME ZONE 'UTC') AND o.paid_at < (($2::date + 1) AT TIME ZONE 'UTC')
                     GROUP BY day ORDER BY day",
                )
                .await?,
            &[&from, &to],
        )
        .await?;
    Ok(rows.iter().map(|row| DayTotals { day: row.get(0), orders: row.get(1), revenue: row.get(2) }).collect())
}
