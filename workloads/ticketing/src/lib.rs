//! ticketing-service (seed 004's `gate-ticketing-service`): merchants, events with areas, orders holding
//! seats, payment confirmation, expiry of unpaid orders, refunds and tickets, on the service's own
//! PostgreSQL database. Data flows one way: `http` (thin handlers) → `domain` (pure rules) → `repository`
//! (all SQL, with the outbox row in the same transaction). `saga` consumes the gate-acl service's answers over
//! Kafka (the relay carries the outbox rows; `microfleet_common::kafka`).

pub mod config;
pub mod domain;
pub mod http;
pub mod repository;
pub mod saga;
pub mod schema;
pub mod sweeper;
