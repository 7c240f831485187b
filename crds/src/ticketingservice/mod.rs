//! The `TicketingService` resource (group `microfleet.io`, version `v1alpha1`): spec and status types of the
//! e-ticketing system the operator deploys as one unit (ticketing, gate-acl, auth and the CMS, their
//! databases, the saga's topics on Kafka, the external entry and the alerts).

mod spec;
mod status;

pub use spec::*;
pub use status::*;
