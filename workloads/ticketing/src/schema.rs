//! The migrations of the ticketing database, in order: the outbox and processed-message tables shared by
//! every service, then the service's own `migrations/*.sql`. Run by `ticketing-service migrate` only.

use microfleet_common::migrations::Migration;
use microfleet_common::{inbox, outbox};

/// Every migration, in application order.
pub const MIGRATIONS: [Migration; 6] = [
    outbox::MIGRATION,
    inbox::MIGRATION,
    Migration { version: "0001_ticketing", sql: include_str!("../migrations/0001_ticketing.sql") },
    Migration { version: "0002_refund_completion", sql: include_str!("../migrations/0002_refund_completion.sql") },
    Migration {
        version: "0003_order_client_reference",
        sql: include_str!("../migrations/0003_order_client_reference.sql"),
    },
    Migration { version: "0004_cms_lists", sql: include_str!("../migrations/0004_cms_lists.sql") },
];
