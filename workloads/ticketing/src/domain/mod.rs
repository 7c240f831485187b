//! The ticketing domain as plain values and functions: what a valid event or order is, order numbers,
//! totals, state transitions and sale windows, edit rules, payment methods and the dashboard's buckets. Nothing here touches the database, the network or the clock
//! (the time is a parameter), so every rule is tested with values.

pub mod event;
pub mod order;
pub mod payment;
pub mod stats;

pub use microfleet_common::refusal::{check_text, DomainError, ErrorKind};
