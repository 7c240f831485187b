//! The gate-acl saga consumers' effects against a real PostgreSQL (`MICROFLEET_PG_URL`), through the
//! consumer's own transaction (`kafka_consumer::apply`, what the Kafka loop runs per message): `order.paid`
//! prepares access and writes `access.prepared` once, a re-delivery changes nothing, and each bad message is
//! classified permanent (dead letter) or transient (retry). The broker part is `microfleet-common`'s tests.

mod support;

use deadpool_postgres::Pool;
use microfleet_common::kafka_consumer::{self, ConsumerMetrics, Delivery, HandlerError, Outcome, SagaConsumer};
use microfleet_common::topics::Topics;
use microfleet_gate_acl::domain::acl::AccessState;
use microfleet_gate_acl::{repository, saga};
use serde_json::{json, Value};
use support::{event, fresh_database, ticket_id, EVENT, FESTIVAL, VIP};

fn prepare_access(pool: &Pool) -> SagaConsumer {
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let consumers = saga::consumers(pool, &Topics::new("test"), &metrics);
    consumers.into_iter().find(|consumer| consumer.name == "gate-acl.prepare-access").unwrap()
}

fn order_paid(message_id: &str, payload: Value) -> Delivery {
    Delivery { topic: "test.order-paid".into(), message_id: message_id.into(), key: "o-1".into(), payload }
}

fn paid(event_id: i64, tickets: &[(String, i64)]) -> Value {
    let tickets: Vec<Value> = tickets.iter().map(|(id, area)| json!({"ticketId": id, "areaId": area})).collect();
    json!({
        "orderNumber": "2026-12-01-1-0001",
        "eventId": event_id,
        "validFrom": "2026-12-01T00:00:00Z",
        "validUntil": "2026-12-03T00:00:00Z",
        "tickets": tickets,
    })
}

async fn outbox_rows(pool: &Pool) -> i64 {
    let client = pool.get().await.unwrap();
    client.query_one("SELECT count(*) FROM outbox WHERE topic = 'access.prepared'", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn order_paid_prepares_access_and_announces_it_once() {
    let (pool, _) = fresh_database("saga_prepare", 2).await;
    event(&pool, false).await;
    let consumer = prepare_access(&pool);
    let tickets = [(ticket_id(1), VIP), (ticket_id(2), FESTIVAL)];
    let delivery = order_paid("m-1", paid(EVENT, &tickets));
    let cases = [("first_delivery", Outcome::Applied), ("redelivered", Outcome::Duplicate)];
    for (case, expected) in cases {
        let outcome = kafka_consumer::apply(&pool, &consumer.name, consumer.handler.as_ref(), &delivery).await;
        assert_eq!(outcome.unwrap(), expected, "{case}");
        assert_eq!(outbox_rows(&pool).await, 1, "{case}: one access.prepared row");
    }
    for (ticket, area) in &tickets {
        let access = repository::get_access(&pool, ticket).await.unwrap();
        assert_eq!((access.area_id, access.state), (*area, AccessState::Active));
    }
}

#[tokio::test]
async fn bad_order_paid_messages_are_classified_and_leave_nothing() {
    let (pool, _) = fresh_database("saga_bad", 2).await;
    event(&pool, false).await;
    let consumer = prepare_access(&pool);
    let cases = [
        ("not_an_order", json!({"hello": 1}), false),
        ("ticket_id_not_a_uuid", paid(EVENT, &[("nope".into(), VIP)]), false),
        ("area_unknown", paid(EVENT, &[(ticket_id(3), 99)]), false),
        ("event_not_known_yet", paid(EVENT + 1, &[(ticket_id(4), VIP)]), true),
    ];
    for (index, (case, payload, transient)) in cases.into_iter().enumerate() {
        let delivery = order_paid(&format!("bad-{index}"), payload);
        match kafka_consumer::apply(&pool, &consumer.name, consumer.handler.as_ref(), &delivery).await {
            Err(HandlerError::Transient(_)) => assert!(transient, "{case}: transient"),
            Err(HandlerError::Permanent(_)) => assert!(!transient, "{case}: permanent"),
            Ok(outcome) => panic!("{case}: applied ({outcome:?})"),
        }
        assert_eq!(outbox_rows(&pool).await, 0, "{case}: nothing announced");
    }
    let client = pool.get().await.unwrap();
    let processed: i64 = client.query_one("SELECT count(*) FROM processed_messages", &[]).await.unwrap().get(0);
    assert_eq!(processed, 0, "a failed message is not recorded as processed, so it can be applied later");
}
