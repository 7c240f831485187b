//! The ticketing side of the saga: the consumers of `access.prepared` (the gate-acl service prepared an
//! order's access, so its tickets become active) and `access.revoked` (it revoked a refunded order's access,
//! so the refund completes and the seats go back on sale). The messaging itself (offsets, dedup, dead letters) is
//! `microfleet_common::kafka_consumer`; the SQL is the repository's.

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use futures::future::BoxFuture;
use jiff::Timestamp;
use microfleet_common::kafka_consumer::{ConsumerMetrics, Delivery, Handler, HandlerError, SagaConsumer};
use microfleet_common::topics::{self, Topics};
use serde::Deserialize;

use crate::repository;

/// The service's name in consumer groups and `processed_messages`.
pub const SERVICE: &str = "ticketing";

/// `access.prepared` as the gate-acl service writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessPrepared {
    order_number: String,
}

/// `access.revoked` as the gate-acl service writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessRevoked {
    order_number: String,
}

struct ActivateTickets;

impl Handler for ActivateTickets {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let prepared: AccessPrepared = delivery.payload_as()?;
            let activated = repository::activate_tickets(tx, &prepared.order_number).await?;
            tracing::info!(order = %prepared.order_number, activated, "tickets active");
            Ok(())
        })
    }
}

struct CompleteRefund;

impl Handler for CompleteRefund {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let revoked: AccessRevoked = delivery.payload_as()?;
            let completed = repository::complete_refund(tx, &revoked.order_number, Timestamp::now()).await?;
            tracing::info!(order = %revoked.order_number, completed, "refund completed");
            Ok(())
        })
    }
}

/// The service's consumers over `pool`.
pub fn consumers(pool: &Pool, topics: &Topics, metrics: &ConsumerMetrics) -> Vec<SagaConsumer> {
    SagaConsumer::all_of(
        SERVICE,
        pool,
        topics,
        metrics,
        vec![
            ("activate-tickets", topics::ACCESS_PREPARED, Arc::new(ActivateTickets)),
            ("complete-refund", topics::ACCESS_REVOKED, Arc::new(CompleteRefund)),
        ],
    )
}
