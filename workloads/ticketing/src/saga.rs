//! The ticketing side of the saga: the consumer of `access.prepared` (the gate-acl service prepared an order's
//! access, so its tickets become active). The messaging itself (offsets, dedup, dead letters) is
//! `microfleet_common::kafka_consumer`; the SQL is the repository's.

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use futures::future::BoxFuture;
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

/// The service's consumers over `pool`.
pub fn consumers(pool: &Pool, topics: &Topics, metrics: &ConsumerMetrics) -> Vec<SagaConsumer> {
    vec![SagaConsumer {
        name: format!("{SERVICE}.activate-tickets"),
        pool: pool.clone(),
        topics: topics.clone(),
        subscribe: topics.channel(topics::ACCESS_PREPARED).into_iter().collect(),
        handler: Arc::new(ActivateTickets),
        metrics: metrics.clone(),
    }]
}
