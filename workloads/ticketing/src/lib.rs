//! ticketing-service (seed 004's `gate-ticketing-service`): merchants, events with areas, orders holding
//! seats, payment confirmation, expiry of unpaid orders, refunds and tickets, on the service's own
//! PostgreSQL database. Data flows one way: `http` (thin handlers) → `domain` (pure rules) → `repository`
//! (all SQL, with the outbox row in the same transaction). The saga with the gate-acl service over Kafka is
//! a later step: the outbox rows it will carry are already written.

pub mod config;
pub mod domain;
pub mod http;
pub mod repository;
pub mod saga;
pub mod schema;
pub mod sweeper;
