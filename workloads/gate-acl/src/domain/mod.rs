//! The gate-acl domain as plain values and functions: signed codes (`token`, remembering the codes that
//! verified in `code_memo`), the scan decision (`scan`),
//! and what valid events, gates, access entries and staff are (`acl`). Nothing here touches the database,
//! the network or the clock (the time is a parameter), so every rule is tested with values.

pub mod acl;
pub mod code_memo;
pub mod scan;
pub mod token;

pub use microfleet_common::refusal::{check_text, DomainError, ErrorKind};
