//! Orders: the new order's items, the order number (`2023-03-20-345-2612`: date, sequence, a 4-digit code),
//! the total, and the state machine — pending → paid (payment confirmed) or expired (unpaid past its hold,
//! seats released); paid → refunding (refund requested, access being revoked) → refunded (access revoked:
//! tickets revoked, seats released). An expired order can never be paid, so it never gets access.

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{check_text, DomainError};

/// Most seats one order may buy.
pub const MAX_SEATS_PER_ORDER: i32 = 10;

/// A new order, as a customer's client sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewOrder {
    /// The event.
    pub event_id: i64,
    /// A payment method code (`CASH`).
    pub payment_method: String,
    /// Where the tickets go.
    pub customer_email: String,
    /// Seats per area.
    pub items: Vec<NewItem>,
    /// The client's own reference, unique per event: the same request sent again with it (its answer was
    /// lost) gets the order placed the first time instead of a second order.
    #[serde(default)]
    pub client_reference: Option<String>,
}

/// Seats wanted in one area.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewItem {
    /// The area.
    pub area_id: i64,
    /// How many seats.
    pub quantity: i32,
}

/// An item of a valid new order: where it was in the request (for error messages) and what it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantedSeats {
    /// Its index in the request's `items`.
    pub index: usize,
    /// The area.
    pub area_id: i64,
    /// How many seats.
    pub quantity: i32,
}

/// An order's state (and the orders list's `state` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// Seats held, waiting for payment until the hold expires.
    Pending,
    /// Paid: tickets issued (the seed's "validated").
    Paid,
    /// Not paid in time: seats released.
    Expired,
    /// Refund requested: access is being revoked before the money goes back.
    Refunding,
    /// Refunded.
    Refunded,
}

impl OrderState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Paid => "paid",
            OrderState::Expired => "expired",
            OrderState::Refunding => "refunding",
            OrderState::Refunded => "refunded",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Option<OrderState> {
        [OrderState::Pending, OrderState::Paid, OrderState::Expired, OrderState::Refunding, OrderState::Refunded]
            .into_iter()
            .find(|state| state.as_str() == stored)
    }
}

/// An order as stored, with its items, tickets and refund.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Its number (`2023-03-20-345-2612`).
    pub number: String,
    /// The client's own reference, when it sent one.
    pub client_reference: Option<String>,
    /// The event.
    pub event_id: i64,
    /// Its state.
    pub state: OrderState,
    /// The payment method code.
    pub payment_method: String,
    /// The customer's e-mail.
    pub customer_email: String,
    /// Sum of quantity × unit price.
    pub total_price: i64,
    /// What was paid.
    pub payment_received: i64,
    /// Checked out (payment submitted).
    pub checked_out: bool,
    /// Paid.
    pub paid: bool,
    /// When it was placed.
    pub created_at: Timestamp,
    /// When its seats are released unless paid.
    pub expires_at: Timestamp,
    /// When it was paid.
    pub paid_at: Option<Timestamp>,
    /// Seats per area.
    pub items: Vec<OrderItem>,
    /// One per seat, once paid.
    pub tickets: Vec<Ticket>,
    /// Its refund, once requested.
    pub refund: Option<Refund>,
}

/// Seats bought in one area.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The area.
    pub area_id: i64,
    /// Seats.
    pub quantity: i32,
    /// Price of one seat when ordered.
    pub unit_price: i64,
}

/// A ticket: one seat of a paid order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Its id (a UUID), which the gate-acl service signs into the QR code.
    pub id: String,
    /// The area it admits to.
    pub area_id: i64,
    /// `issued`, `active` (gate access prepared), `revoking`, `revoked`.
    pub state: String,
}

/// A refund of an order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// Amount returned.
    pub amount: i64,
    /// `pending` (access being revoked) or `refunded`.
    pub state: String,
    /// When it was requested.
    pub created_at: Timestamp,
}

/// An order as the orders list shows it (`GET /v1/orders`): no items or tickets, its event's name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    /// Its number.
    pub number: String,
    /// The event.
    pub event_id: i64,
    /// The event's name.
    pub event_name: String,
    /// The customer's e-mail.
    pub customer_email: String,
    /// The payment method code.
    pub payment_method: String,
    /// Sum of quantity × unit price.
    pub total_price: i64,
    /// What was paid.
    pub payment_received: i64,
    /// Checked out.
    pub checked_out: bool,
    /// Paid.
    pub paid: bool,
    /// Its state.
    pub state: OrderState,
    /// When it was placed.
    pub created_at: Timestamp,
    /// When it was paid.
    pub paid_at: Option<Timestamp>,
}

/// The filters of `GET /v1/orders` (besides `q`, an order number or e-mail, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrderFilters {
    /// Only orders in this state.
    #[serde(default)]
    pub state: Option<OrderState>,
    /// Only orders of this event.
    #[serde(default)]
    pub event_id: Option<i64>,
}

/// A refund's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundState {
    /// Requested: the order's access is being revoked.
    Pending,
    /// Completed: access revoked, the money returned.
    Refunded,
}

impl RefundState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Pending => "pending",
            RefundState::Refunded => "refunded",
        }
    }
}

/// A refund as the refunds list shows it (`GET /v1/refunds`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundSummary {
    /// Its id.
    pub id: i64,
    /// The refunded order's number.
    pub order_number: String,
    /// Amount returned.
    pub amount: i64,
    /// `pending` or `refunded`.
    pub state: String,
    /// When it was requested.
    pub created_at: Timestamp,
    /// When it completed.
    pub completed_at: Option<Timestamp>,
}

/// The filters of `GET /v1/refunds` (besides `q`, an order number, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefundFilters {
    /// Only refunds in this state.
    #[serde(default)]
    pub state: Option<RefundState>,
}

/// Payment of an order, as the cashier or the payment provider reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PaymentConfirmation {
    /// The amount received: must be the order's total.
    pub amount: i64,
}

/// A refund request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefundRequest {
    /// Amount to return; the whole payment when absent.
    pub amount: Option<i64>,
}

/// Checks a new order's fields and returns its items ordered by area id (the order in which seats are
/// locked, so that concurrent orders never deadlock).
pub fn validate_new_order(order: &NewOrder) -> Result<Vec<WantedSeats>, DomainError> {
    check_text("paymentMethod", &order.payment_method, 50)?;
    check_text("customerEmail", &order.customer_email, 254)?;
    if let Some(reference) = &order.client_reference {
        check_text("clientReference", reference, 100)?;
    }
    if !order.customer_email.contains('@') {
        return Err(DomainError::invalid("customerEmail", "must be an e-mail address"));
    }
    if order.items.is_empty() {
        return Err(DomainError::invalid("items", "must list at least one area"));
    }
    let mut seats = 0;
    let mut wanted = Vec::with_capacity(order.items.len());
    for (index, item) in order.items.iter().enumerate() {
        if order.items[..index].iter().any(|earlier| earlier.area_id == item.area_id) {
            return Err(DomainError::invalid(format!("items[{index}].areaId"), "lists an area twice")
                .fix("put all seats of an area in one item"));
        }
        if item.quantity < 1 {
            return Err(DomainError::invalid(format!("items[{index}].quantity"), "must be at least 1"));
        }
        seats += item.quantity.min(MAX_SEATS_PER_ORDER + 1);
        if seats > MAX_SEATS_PER_ORDER {
            return Err(DomainError::invalid(
                format!("items[{index}].quantity"),
                format!("an order may buy at most {MAX_SEATS_PER_ORDER} seats"),
            ));
        }
        wanted.push(WantedSeats { index, area_id: item.area_id, quantity: item.quantity });
    }
    wanted.sort_by_key(|seats| seats.area_id);
    Ok(wanted)
}

/// Whether a stored order placed with a client reference is what `wanted` asks again (same event, same
/// seats per area): a re-sent request gets that order; another request with the reference is refused.
pub fn same_request(event_id: i64, wanted: &[WantedSeats], stored: &Order) -> bool {
    let asked = wanted.iter().map(|seats| (seats.area_id, seats.quantity));
    let placed = stored.items.iter().map(|item| (item.area_id, item.quantity));
    stored.event_id == event_id && asked.eq(placed)
}

/// The total of (quantity, unit price) pairs; `None` on overflow.
pub fn total_price(items: &[(i32, i64)]) -> Option<i64> {
    items.iter().try_fold(0i64, |total, &(quantity, price)| total.checked_add(i64::from(quantity).checked_mul(price)?))
}

/// The seed's order number: the date it was placed, its sequence number and a 4-digit code
/// (`2023-03-20-345-2612`).
pub fn order_number(placed_on: Date, sequence: i64, code: u16) -> String {
    format!("{placed_on}-{sequence}-{:04}", code % 10_000)
}

/// Whether a payment of `amount` confirms an order in `state`, due to expire at `expires_at`, at `now`.
pub fn check_payment(
    state: OrderState,
    total: i64,
    expires_at: Timestamp,
    amount: i64,
    now: Timestamp,
) -> Result<(), DomainError> {
    match state {
        OrderState::Pending if now >= expires_at => {
            return Err(
                DomainError::conflict("orderNumber", "the order expired before it was paid").fix("place a new order")
            )
        }
        OrderState::Pending => {}
        OrderState::Paid | OrderState::Refunding | OrderState::Refunded => {
            return Err(DomainError::conflict("orderNumber", "the order is already paid"))
        }
        OrderState::Expired => {
            return Err(
                DomainError::conflict("orderNumber", "the order expired before it was paid").fix("place a new order")
            )
        }
    }
    if amount != total {
        return Err(DomainError::invalid("amount", format!("must equal the order's total price, {total}")));
    }
    Ok(())
}

/// The amount a refund returns: the whole payment unless a smaller positive amount is asked; only a paid
/// order can be refunded, once.
pub fn refund_amount(state: OrderState, received: i64, asked: Option<i64>) -> Result<i64, DomainError> {
    match state {
        OrderState::Paid => {}
        OrderState::Pending | OrderState::Expired => {
            return Err(DomainError::conflict("orderNumber", "only a paid order can be refunded"))
        }
        OrderState::Refunding | OrderState::Refunded => {
            return Err(DomainError::conflict("orderNumber", "the order is already refunded"))
        }
    }
    match asked {
        None => Ok(received),
        Some(amount) if amount >= 1 && amount <= received => Ok(amount),
        Some(_) => Err(DomainError::invalid("amount", format!("must be 1 to the payment received, {received}"))),
    }
}

/// Whether the gate-acl service's `access.revoked` completes the refund of an order in `state`: `Ok(true)`
/// for a refunding order, `Ok(false)` for one refunded already (a repeated announcement changes nothing), a
/// conflict for any other (no refund was requested: nothing to complete).
pub fn check_refund_completion(state: OrderState) -> Result<bool, DomainError> {
    match state {
        OrderState::Refunding => Ok(true),
        OrderState::Refunded => Ok(false),
        OrderState::Pending | OrderState::Paid | OrderState::Expired => Err(DomainError::conflict(
            "orderNumber",
            format!("access was revoked but the order is {}, not refunding", state.as_str()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorKind;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn order(items: &[(i64, i32)]) -> NewOrder {
        NewOrder {
            event_id: 1,
            payment_method: "CASH".into(),
            customer_email: "fan@example.com".into(),
            items: items.iter().map(|&(area_id, quantity)| NewItem { area_id, quantity }).collect(),
            client_reference: None,
        }
    }

    fn stored(event_id: i64, items: &[(i64, i32)]) -> Order {
        let at = at("2023-03-20T10:00:00Z");
        Order {
            number: "2023-03-20-345-2612".into(),
            client_reference: Some("checkout-1".into()),
            event_id,
            state: OrderState::Pending,
            payment_method: "CASH".into(),
            customer_email: "fan@example.com".into(),
            total_price: 0,
            payment_received: 0,
            checked_out: false,
            paid: false,
            created_at: at,
            expires_at: at,
            paid_at: None,
            items: items.iter().map(|&(area_id, quantity)| OrderItem { area_id, quantity, unit_price: 100 }).collect(),
            tickets: Vec::new(),
            refund: None,
        }
    }

    #[test]
    fn a_re_sent_request_is_the_same_order_only_with_the_same_event_and_seats() {
        let placed = stored(1, &[(10, 2), (11, 1)]);
        let cases = [
            ("same_in_other_item_order", 1, vec![(11, 1), (10, 2)], true),
            ("other_event", 2, vec![(10, 2), (11, 1)], false),
            ("other_quantity", 1, vec![(10, 3), (11, 1)], false),
            ("fewer_items", 1, vec![(10, 2)], false),
            ("more_items", 1, vec![(10, 2), (11, 1), (12, 1)], false),
        ];
        for (case, event_id, items, expected) in cases {
            let wanted = validate_new_order(&order(&items)).unwrap();
            assert_eq!(same_request(event_id, &wanted, &placed), expected, "{case}");
        }
    }

    #[test]
    fn order_number_has_the_seeds_shape() {
        let cases = [
            ("seed", jiff::civil::date(2023, 3, 20), 345, 2612, "2023-03-20-345-2612"),
            ("short_code_padded", jiff::civil::date(2023, 3, 12), 342, 734, "2023-03-12-342-0734"),
            ("code_wraps", jiff::civil::date(2024, 1, 1), 1, 12_345, "2024-01-01-1-2345"),
        ];
        for (case, date, sequence, code, expected) in cases {
            assert_eq!(order_number(date, sequence, code), expected, "{case}");
        }
    }

    #[test]
    fn total_price_sums_and_refuses_overflow() {
        let cases = [
            ("one_item", vec![(2, 200_000)], Some(400_000)),
            ("two_items", vec![(1, 1_000_000), (3, 200_000)], Some(1_600_000)),
            ("free", vec![(4, 0)], Some(0)),
            ("overflow", vec![(10, i64::MAX / 5)], None),
        ];
        for (case, items, expected) in cases {
            assert_eq!(total_price(&items), expected, "{case}");
        }
    }

    #[test]
    fn validate_new_order_names_the_field_and_sorts_by_area() {
        type Case = (&'static str, NewOrder, Result<Vec<i64>, &'static str>);
        let cases: [Case; 9] = [
            ("sorted_by_area", order(&[(9, 1), (3, 2)]), Ok(vec![3, 9])),
            ("no_items", order(&[]), Err("items")),
            ("zero_quantity", order(&[(1, 1), (2, 0)]), Err("items[1].quantity")),
            ("area_twice", order(&[(1, 1), (1, 2)]), Err("items[1].areaId")),
            ("too_many_seats", order(&[(1, 6), (2, 5)]), Err("items[1].quantity")),
            ("huge_quantity", order(&[(1, i32::MAX)]), Err("items[0].quantity")),
            ("bad_email", NewOrder { customer_email: "fan".into(), ..order(&[(1, 1)]) }, Err("customerEmail")),
            (
                "blank_reference",
                NewOrder { client_reference: Some(" ".into()), ..order(&[(1, 1)]) },
                Err("clientReference"),
            ),
            (
                "long_reference",
                NewOrder { client_reference: Some("r".repeat(101)), ..order(&[(1, 1)]) },
                Err("clientReference"),
            ),
        ];
        for (case, new_order, expected) in cases {
            let result = validate_new_order(&new_order)
                .map(|wanted| wanted.iter().map(|seats| seats.area_id).collect::<Vec<_>>())
                .map_err(|error| error.field);
            assert_eq!(result, expected.map_err(String::from), "{case}");
        }
    }

    #[test]
    fn check_payment_accepts_only_the_total_of_a_pending_unexpired_order() {
        let expires = at("2023-03-20T09:30:00Z");
        let before = at("2023-03-20T09:29:00Z");
        let cases = [
            ("pending_exact", OrderState::Pending, 200_000, before, Ok(())),
            ("pending_short", OrderState::Pending, 100_000, before, Err(("amount", ErrorKind::Invalid))),
            ("pending_past_hold", OrderState::Pending, 200_000, expires, Err(("orderNumber", ErrorKind::Conflict))),
            ("paid_twice", OrderState::Paid, 200_000, before, Err(("orderNumber", ErrorKind::Conflict))),
            ("expired", OrderState::Expired, 200_000, before, Err(("orderNumber", ErrorKind::Conflict))),
            ("refunded", OrderState::Refunded, 200_000, before, Err(("orderNumber", ErrorKind::Conflict))),
        ];
        for (case, state, amount, now, expected) in cases {
            let result = check_payment(state, 200_000, expires, amount, now).map_err(|e| (e.field, e.kind));
            assert_eq!(result, expected.map_err(|(field, kind)| (field.to_string(), kind)), "{case}");
        }
    }

    #[test]
    fn refund_amount_refunds_paid_orders_once() {
        let cases = [
            ("whole_payment", OrderState::Paid, None, Ok(400_000)),
            ("part", OrderState::Paid, Some(100_000), Ok(100_000)),
            ("more_than_paid", OrderState::Paid, Some(400_001), Err("amount")),
            ("zero", OrderState::Paid, Some(0), Err("amount")),
            ("unpaid", OrderState::Pending, None, Err("orderNumber")),
            ("expired", OrderState::Expired, None, Err("orderNumber")),
            ("twice", OrderState::Refunding, None, Err("orderNumber")),
        ];
        for (case, state, asked, expected) in cases {
            let result = refund_amount(state, 400_000, asked).map_err(|error| error.field);
            assert_eq!(result, expected.map_err(String::from), "{case}");
        }
    }

    #[test]
    fn only_a_refunding_order_completes_its_refund() {
        let cases = [
            ("refunding", OrderState::Refunding, Ok(true)),
            ("refunded_again", OrderState::Refunded, Ok(false)),
            ("paid", OrderState::Paid, Err("orderNumber")),
            ("pending", OrderState::Pending, Err("orderNumber")),
            ("expired", OrderState::Expired, Err("orderNumber")),
        ];
        for (case, state, expected) in cases {
            let result = check_refund_completion(state).map_err(|error| error.field);
            assert_eq!(result, expected.map_err(String::from), "{case}");
        }
    }

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for state in
            [OrderState::Pending, OrderState::Paid, OrderState::Expired, OrderState::Refunding, OrderState::Refunded]
        {
            assert_eq!(OrderState::parse(state.as_str()), Some(state));
        }
        assert_eq!(OrderState::parse("validated"), None);
    }
}
