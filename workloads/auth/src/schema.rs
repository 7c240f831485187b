//! The migrations of the auth database, in order (`migrations/*.sql`). Run by `auth-service migrate` only.
//! The auth service publishes no messages, so it has no outbox or processed-message table.

use microfleet_common::migrations::Migration;

/// Every migration, in application order.
pub const MIGRATIONS: [Migration; 1] =
    [Migration { version: "0001_auth", sql: include_str!("../migrations/0001_auth.sql") }];
