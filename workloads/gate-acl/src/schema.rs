//! The migrations of the gate-acl database, in order: the outbox and processed-message tables shared by
//! every service, then the service's own `migrations/*.sql`. Run by `gate-acl-service migrate` only.

use microfleet_common::migrations::Migration;
use microfleet_common::{inbox, outbox};

/// Every migration, in application order.
pub const MIGRATIONS: [Migration; 4] = [
    outbox::MIGRATION,
    inbox::MIGRATION,
    Migration { version: "0001_gate_acl", sql: include_str!("../migrations/0001_gate_acl.sql") },
    Migration { version: "0002_order_revocations", sql: include_str!("../migrations/0002_order_revocations.sql") },
];
