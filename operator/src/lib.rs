//! The Microfleet operator: one controller per custom resource, each a visible pipeline
//! (read → validate → build → apply → status), plus the shared runtime (metrics, admin server, leader
//! election, logging, shutdown).

pub mod clusterfetch;
pub mod error;
pub mod render;
pub mod runtime;
