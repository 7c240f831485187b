//! The migrations of the CMS database (`migrations/*.sql`), in order: only the sessions table. Run by
//! `ticketing-cms migrate` only.

use microfleet_common::migrations::Migration;

/// Every migration, in application order.
pub const MIGRATIONS: [Migration; 1] =
    [Migration { version: "0001_cms", sql: include_str!("../migrations/0001_cms.sql") }];
