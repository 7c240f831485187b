//! gate-acl-service (seed 004's `gate-acl-service`): the access-control list at the venue gates — signed
//! QR codes for tickets and staff, gates and the areas they admit, staff work windows, and the scan a gate
//! device sends. Data flows one way: `http` (thin handlers) → `domain` (pure rules, the token check
//! without any database read) → `repository` (all SQL; scans recorded in batches fed by `scan_batcher`, each
//! batch's effects and answers in one transaction).
//! `saga` consumes the ticketing service's messages over Kafka (prepare an order's access, revoke a refunded
//! order's access) and calls the repository, as the HTTP handlers do.

pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod repository;
pub mod saga;
pub mod scan_batcher;
pub mod schema;
