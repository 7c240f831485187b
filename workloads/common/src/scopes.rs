//! The names of the scopes Microfleet's services check (issue 13's contract): the auth service grants them
//! (its `scopes_of(roles)` table for users, the list an API key was created with), the services guard their
//! routes with them. Names only; who holds which is the auth service's business, what each route needs is
//! each service's router's.

/// GET lists and details of merchants, events, orders, refunds, payment methods; GET /v1/stats.
pub const TICKETING_READ: &str = "ticketing:read";
/// Create and edit merchants, events, areas, payment methods.
pub const TICKETING_CATALOG: &str = "ticketing:catalog";
/// Approve events.
pub const TICKETING_APPROVE: &str = "ticketing:approve";
/// Create orders, confirm payments.
pub const TICKETING_ORDERS: &str = "ticketing:orders";
/// Request refunds; list refunds.
pub const TICKETING_REFUNDS: &str = "ticketing:refunds";
/// Operational administration (expire orders now).
pub const TICKETING_ADMIN: &str = "ticketing:admin";
/// GET staff, shifts, access entries, gate events.
pub const GATE_READ: &str = "gate:read";
/// Put gate events, gates, staff, shifts, approve shifts, prepare and revoke access by hand.
pub const GATE_ADMIN: &str = "gate:admin";
/// Scan at a gate (`POST /v1/scans`).
pub const GATE_SCAN: &str = "gate:scan";
/// List, create and confirm users, set their roles, unlock them.
pub const AUTH_USERS: &str = "auth:users";
/// Create, list and revoke API keys.
pub const AUTH_KEYS: &str = "auth:keys";
/// Introspect API keys and tokens (a service's own key at the auth service; no user role grants it).
pub const AUTH_INTROSPECT: &str = "auth:introspect";

/// Every scope a user's role can grant, in the contract's order.
pub const ALL: [&str; 11] = [
    TICKETING_READ,
    TICKETING_CATALOG,
    TICKETING_APPROVE,
    TICKETING_ORDERS,
    TICKETING_REFUNDS,
    TICKETING_ADMIN,
    GATE_READ,
    GATE_ADMIN,
    GATE_SCAN,
    AUTH_USERS,
    AUTH_KEYS,
];
