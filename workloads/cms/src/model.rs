//! The services' answers as the CMS reads them (the contract's JSON, camelCase): pages of lists (the
//! services' own `Page`), merchants,
//! events and areas, orders, refunds, payment methods, the dashboard's statistics, event staff and their
//! shifts, users. Only what the screens show; unknown fields are ignored. No behaviour beyond small derived
//! values.

use jiff::Timestamp;
use serde::Deserialize;

pub use microfleet_common::paging::Page;

/// A merchant.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: Timestamp,
    /// Its events' count (lists only).
    #[serde(default)]
    pub events: i64,
}

/// An area of an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Area {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Seats.
    pub capacity: i64,
    /// Seats held by pending and paid orders.
    pub sold: i64,
    /// Seats left.
    pub available: i64,
    /// Price of a seat.
    pub price: i64,
}

/// An event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Id.
    pub id: i64,
    /// Its merchant.
    pub merchant_id: i64,
    /// Name.
    pub name: String,
    /// Venue.
    pub venue: String,
    /// Starts.
    pub starts_at: Timestamp,
    /// Ends.
    pub ends_at: Timestamp,
    /// Ticket sales open.
    pub sale_starts_at: Timestamp,
    /// Ticket sales close.
    pub sale_ends_at: Timestamp,
    /// waiting, approved or expired.
    pub approval: String,
    /// Created.
    pub created_at: Timestamp,
    /// Areas.
    pub areas: Vec<Area>,
}

/// A row of the orders list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRow {
    /// Order number.
    pub number: String,
    /// Its event.
    pub event_id: i64,
    /// Its event's name.
    #[serde(default)]
    pub event_name: String,
    /// The customer.
    pub customer_email: String,
    /// Payment method code.
    pub payment_method: String,
    /// Total.
    pub total_price: i64,
    /// Paid so far.
    pub payment_received: i64,
    /// Checked out.
    pub checked_out: bool,
    /// Paid.
    pub paid: bool,
    /// State (pending, validated, expired, refunding, refunded, ...).
    pub state: String,
    /// Created.
    pub created_at: Timestamp,
    /// Paid at.
    pub paid_at: Option<Timestamp>,
}

/// An order line.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// Area.
    pub area_id: i64,
    /// Seats.
    pub quantity: i64,
    /// Price of one.
    pub unit_price: i64,
}

/// A ticket.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Area.
    pub area_id: i64,
    /// State (issued, active, revoked, ...).
    pub state: String,
}

/// An order's refund as the order shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRefund {
    /// Amount.
    pub amount: i64,
    /// pending or refunded.
    pub state: String,
    /// Requested.
    pub created_at: Timestamp,
}

/// An order with its lines and tickets.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Order number.
    pub number: String,
    /// Its event.
    pub event_id: i64,
    /// State.
    pub state: String,
    /// Payment method code.
    pub payment_method: String,
    /// The customer.
    pub customer_email: String,
    /// Total.
    pub total_price: i64,
    /// Paid so far.
    pub payment_received: i64,
    /// Checked out.
    pub checked_out: bool,
    /// Paid.
    pub paid: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Unpaid orders expire then.
    pub expires_at: Timestamp,
    /// Paid at.
    pub paid_at: Option<Timestamp>,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Tickets.
    pub tickets: Vec<Ticket>,
    /// Its refund, once asked.
    pub refund: Option<OrderRefund>,
}

/// A row of the refunds list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRow {
    /// Id.
    pub id: i64,
    /// The order.
    pub order_number: String,
    /// Amount.
    pub amount: i64,
    /// pending or refunded.
    pub state: String,
    /// Requested.
    pub created_at: Timestamp,
    /// Completed.
    pub completed_at: Option<Timestamp>,
}

/// A payment method.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethod {
    /// Code (CASH, BANK_TRANSFER).
    pub code: String,
    /// Name.
    pub name: String,
    /// Whether new orders may use it.
    pub enabled: bool,
    /// Created, when the service tells.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// One day or month of the statistics.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// `YYYY-MM-DD` (days) or `YYYY-MM` (months).
    #[serde(alias = "day", alias = "month")]
    pub label: String,
    /// Orders paid.
    pub orders: i64,
    /// Revenue.
    pub revenue: i64,
}

/// `GET /v1/stats`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Merchants.
    pub merchants: i64,
    /// Events.
    pub events: i64,
    /// Distinct customers with a paid order.
    pub customers: i64,
    /// Orders paid in the period.
    pub orders: i64,
    /// Revenue in the period.
    pub revenue: i64,
    /// Each day of the period.
    pub by_day: Vec<Period>,
    /// Each month of the period.
    pub by_month: Vec<Period>,
}

/// A work window of an event staff member.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    /// Id.
    pub id: i64,
    /// Starts.
    pub starts_at: Timestamp,
    /// Ends.
    pub ends_at: Timestamp,
    /// Approved.
    pub approved: bool,
}

/// A staff member of an event (gate-acl).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Staff {
    /// Id.
    pub id: i64,
    /// Their event.
    pub event_id: i64,
    /// Name.
    pub name: String,
    /// Role at the event.
    pub role: String,
    /// Their badge is valid from.
    pub valid_from: Timestamp,
    /// Until.
    pub valid_until: Timestamp,
    /// Work windows.
    #[serde(default)]
    pub shifts: Vec<Shift>,
    /// Their signed QR payload (detail only).
    #[serde(default)]
    pub qr: Option<String>,
}

/// A row of the schedules list (gate-acl shifts).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftRow {
    /// Id.
    pub id: i64,
    /// The staff member.
    pub staff_id: i64,
    /// Their name.
    pub staff_name: String,
    /// The event.
    pub event_id: i64,
    /// Starts.
    pub starts_at: Timestamp,
    /// Ends.
    pub ends_at: Timestamp,
    /// waiting or approved.
    pub approval: String,
}

/// A back-office user (auth).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: Option<String>,
    /// Confirmed.
    pub confirmed: bool,
    /// Roles.
    pub roles: Vec<String>,
    /// Locked until then.
    pub locked_until: Option<Timestamp>,
    /// Created, when the service tells.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// The roles a user may hold, with their labels (the auth service's list, the seed's staff flags).
pub const ROLES: [(&str, &str); 7] = [
    ("admin", "Admin"),
    ("merchant_operator", "Merchant operator"),
    ("cashier", "Cashier"),
    ("gate_staff", "Gate staff"),
    ("coordinator", "Co-ordinator"),
    ("internal", "Internal"),
    ("user", "User"),
];
