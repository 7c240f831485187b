//! The gate-acl side of the saga: the consumers of `event.approved` (learn the event's areas), `order.paid`
//! (prepare access for each ticket, then announce `access.prepared` in the same transaction) and
//! `order.refund_requested` (revoke the order's access, then announce `access.revoked` in the same
//! transaction).
//! The messaging itself (offsets, dedup, dead letters) is `microfleet_common::kafka_consumer`; the rules are
//! the repository's, as for the HTTP handlers.

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use futures::future::BoxFuture;
use jiff::Timestamp;
use microfleet_common::kafka_consumer::{ConsumerMetrics, Delivery, Handler, HandlerError, SagaConsumer};
use microfleet_common::outbox;
use microfleet_common::topics::{self, Topics};
use serde::Deserialize;
use serde_json::json;

use crate::domain::acl::{self, AreaSpec, EventSpec, NewAccess};
use crate::repository;

/// The service's name in consumer groups and `processed_messages`.
pub const SERVICE: &str = "gate-acl";

/// `order.paid` as ticketing writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderPaid {
    order_number: String,
    event_id: i64,
    valid_from: Timestamp,
    valid_until: Timestamp,
    tickets: Vec<PaidTicket>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaidTicket {
    ticket_id: String,
    area_id: i64,
}

/// `order.refund_requested` as ticketing writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundRequested {
    order_number: String,
    ticket_ids: Vec<String>,
}

/// `event.approved` as ticketing writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventApproved {
    event_id: i64,
    name: String,
    areas: Vec<AreaSpec>,
}

struct PrepareAccess;

impl Handler for PrepareAccess {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let paid: OrderPaid = delivery.payload_as()?;
            if !repository::event_exists(tx, paid.event_id).await? {
                // its `event.approved` is on another topic and may come later
                return Err(HandlerError::Transient(format!("event {} is not known yet", paid.event_id)));
            }
            let mut accesses = Vec::with_capacity(paid.tickets.len());
            for ticket in &paid.tickets {
                let access = NewAccess {
                    ticket_id: ticket.ticket_id.clone(),
                    event_id: paid.event_id,
                    area_id: ticket.area_id,
                    valid_from: paid.valid_from,
                    valid_until: paid.valid_until,
                };
                acl::validate_access(&access).map_err(|error| HandlerError::Permanent(error.to_string()))?;
                accesses.push(access);
            }
            let revoked = repository::prepare_order_access(tx, &paid.order_number, &accesses, Timestamp::now()).await?;
            if revoked {
                tracing::info!(order = %paid.order_number, "order revoked before its access was prepared: entries created revoked");
            }
            let ticket_ids: Vec<&str> = paid.tickets.iter().map(|ticket| ticket.ticket_id.as_str()).collect();
            let prepared = json!({"orderNumber": paid.order_number, "ticketIds": ticket_ids});
            outbox::append(tx, topics::ACCESS_PREPARED, &paid.order_number, &prepared).await?;
            Ok(())
        })
    }
}

struct RevokeAccess;

impl Handler for RevokeAccess {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let refund: RefundRequested = delivery.payload_as()?;
            for (index, ticket_id) in refund.ticket_ids.iter().enumerate() {
                acl::check_uuid(&format!("ticketIds[{index}]"), ticket_id)
                    .map_err(|error| HandlerError::Permanent(error.to_string()))?;
            }
            let revoked =
                repository::revoke_order_access(tx, &refund.order_number, &refund.ticket_ids, Timestamp::now()).await?;
            let announced = json!({"orderNumber": refund.order_number, "ticketIds": refund.ticket_ids});
            outbox::append(tx, topics::ACCESS_REVOKED, &refund.order_number, &announced).await?;
            tracing::info!(order = %refund.order_number, revoked, "order access revoked");
            Ok(())
        })
    }
}

struct LearnEvent;

impl Handler for LearnEvent {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let approved: EventApproved = delivery.payload_as()?;
            let spec = EventSpec { name: approved.name, reentry_allowed: false, areas: approved.areas };
            repository::put_event_in(tx, approved.event_id, &spec, Timestamp::now()).await?;
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
            ("learn-event", topics::EVENT_APPROVED, Arc::new(LearnEvent)),
            ("prepare-access", topics::ORDER_PAID, Arc::new(PrepareAccess)),
            ("revoke-access", topics::ACCESS_REVOKE, Arc::new(RevokeAccess)),
        ],
    )
}
