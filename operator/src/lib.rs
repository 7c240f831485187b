//! The Microfleet operator: one controller per custom resource, each a visible pipeline
//! (read → validate → build → apply → status), plus the shared runtime (metrics, admin server, leader
//! election; logging and shutdown come from `microfleet-common`).

pub mod apply;
pub mod clusterfetch;
pub mod conditions;
pub mod error;
pub mod pod;
pub mod preview;
pub mod render;
pub mod runtime;
pub mod ticketingservice;
