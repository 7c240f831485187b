//! The gate-acl saga consumers' effects against a real PostgreSQL (`MICROFLEET_PG_URL`), through the
//! consumer's own transaction (`kafka_consumer::apply` and `apply_batch`, what the Kafka loop runs per batch of
//! messages received at once: each applied once, or the whole batch rolled back): `order.paid`
//! prepares access and writes `access.prepared` once; `order.refund_requested` revokes every entry of the
//! order (a ticket inside too) and writes `access.revoked` once; a revocation before the prepare, also
//! concurrent with it, leaves no admitting access; a re-delivery changes nothing; each bad message is
//! classified permanent (dead letter) or transient (retry). The broker part is `microfleet-common`'s tests.

mod support;

use std::sync::Arc;

use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_common::kafka_consumer::{self, ConsumerMetrics, Delivery, HandlerError, Outcome, SagaConsumer};
use microfleet_common::test_database;
use microfleet_common::topics::Topics;
use microfleet_gate_acl::domain::acl::{AccessState, WithQr};
use microfleet_gate_acl::domain::scan::{Direction, Reason};
use microfleet_gate_acl::{repository, saga};
use serde_json::{json, Value};
use support::{count, event, fresh_database, request, scan, state, ticket_id, EVENT, FESTIVAL, VIP};

fn saga_consumer(pool: &Pool, name: &str) -> SagaConsumer {
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let consumers = saga::consumers(pool, &Topics::new("test"), &metrics);
    consumers.into_iter().find(|consumer| consumer.name == name).unwrap()
}

fn prepare_access(pool: &Pool) -> SagaConsumer {
    saga_consumer(pool, "gate-acl.prepare-access")
}

fn revoke_access(pool: &Pool) -> SagaConsumer {
    saga_consumer(pool, "gate-acl.revoke-access")
}

async fn apply(pool: &Pool, consumer: &SagaConsumer, delivery: &Delivery) -> Result<Outcome, HandlerError> {
    kafka_consumer::apply(pool, &consumer.name, consumer.handler.as_ref(), delivery).await
}

const ORDER: &str = "2026-12-01-1-0001";

fn refund_requested(message_id: &str, order: &str, tickets: &[String]) -> Delivery {
    Delivery {
        topic: "test.access-revoke".into(),
        message_id: message_id.into(),
        key: order.into(),
        payload: json!({"orderNumber": order, "amount": 200_000, "ticketIds": tickets}),
    }
}

fn order_paid(message_id: &str, payload: Value) -> Delivery {
    Delivery { topic: "test.order-paid".into(), message_id: message_id.into(), key: "o-1".into(), payload }
}

fn paid(event_id: i64, tickets: &[(String, i64)]) -> Value {
    paid_order(ORDER, event_id, tickets)
}

/// `order.paid` of `order`, valid from an hour ago for a day.
fn paid_order(order: &str, event_id: i64, tickets: &[(String, i64)]) -> Value {
    let tickets: Vec<Value> = tickets.iter().map(|(id, area)| json!({"ticketId": id, "areaId": area})).collect();
    let now = Timestamp::now();
    json!({
        "orderNumber": order,
        "eventId": event_id,
        "validFrom": now - SignedDuration::from_hours(1),
        "validUntil": now + SignedDuration::from_hours(24),
        "tickets": tickets,
    })
}

async fn outbox_rows(pool: &Pool) -> i64 {
    outbox_rows_of(pool, "access.prepared").await
}

async fn outbox_rows_of(pool: &Pool, topic: &str) -> i64 {
    let client = pool.get().await.unwrap();
    client.query_one("SELECT count(*) FROM outbox WHERE topic = $1", &[&topic]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_batch_applies_each_message_once_in_one_transaction_or_none_of_them() {
    let (pool, _) = fresh_database("saga_batch", 2).await;
    event(&pool, false).await;
    let consumer = prepare_access(&pool);
    let batch = |deliveries: Vec<Delivery>| {
        let (pool, consumer) = (pool.clone(), consumer.clone());
        async move { kafka_consumer::apply_batch(&pool, &consumer.name, consumer.handler.as_ref(), &deliveries).await }
    };
    let first = order_paid("b-1", paid_order("2026-12-01-1-0101", EVENT, &[(ticket_id(101), VIP)]));
    let second = order_paid("b-2", paid_order("2026-12-01-1-0102", EVENT, &[(ticket_id(102), FESTIVAL)]));
    let unknown_event = order_paid("b-3", paid_order("2026-12-01-1-0103", 999, &[(ticket_id(103), VIP)]));
    let failed = batch(vec![first.clone(), unknown_event]).await;
    assert!(matches!(failed, Err(HandlerError::Transient(_))), "{failed:?}");
    assert_eq!(outbox_rows(&pool).await, 0, "a failed batch is rolled back whole");
    assert!(repository::get_access(&pool, &ticket_id(101)).await.is_err(), "nothing of the failed batch stays");
    let applied = batch(vec![first.clone(), first.clone(), second.clone()]).await.unwrap();
    assert_eq!(applied, 2, "a message listed twice is applied once");
    let applied = batch(vec![second, first]).await.unwrap();
    assert_eq!(applied, 0, "a re-delivered batch changes nothing");
    assert_eq!(outbox_rows(&pool).await, 2, "one access.prepared per order");
    for (ticket, area) in [(ticket_id(101), VIP), (ticket_id(102), FESTIVAL)] {
        let access = repository::get_access(&pool, &ticket).await.unwrap();
        assert_eq!((access.area_id, access.state), (area, AccessState::Active));
    }
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

#[tokio::test]
async fn a_refund_revokes_every_entry_of_the_order_once_a_ticket_inside_too() {
    let (pool, _) = fresh_database("saga_revoke", 4).await;
    let gates = event(&pool, false).await;
    let state = state(pool.clone());
    let (inside, outside) = (ticket_id(1), ticket_id(2));
    let tickets = [(inside.clone(), VIP), (outside.clone(), FESTIVAL)];
    assert_eq!(
        apply(&pool, &prepare_access(&pool), &order_paid("m-1", paid(EVENT, &tickets))).await.unwrap(),
        Outcome::Applied
    );
    let qr = |ticket: &str| {
        let (pool, keys) = (pool.clone(), state.keys.clone());
        let ticket = ticket.to_string();
        async move { WithQr::access(repository::get_access(&pool, &ticket).await.unwrap(), &keys).qr }
    };
    let (inside_qr, outside_qr) = (qr(&inside).await, qr(&outside).await);
    let entered = scan(&state, &request(&inside_qr, gates.north_1, Direction::Entry, "gate-1", "n-1")).await;
    assert_eq!(entered.answer.reason, Reason::Ok);

    let revoke = revoke_access(&pool);
    let delivery = refund_requested("r-1", ORDER, &[inside.clone(), outside.clone()]);
    for (case, expected) in [("first_delivery", Outcome::Applied), ("redelivered", Outcome::Duplicate)] {
        assert_eq!(apply(&pool, &revoke, &delivery).await.unwrap(), expected, "{case}");
        assert_eq!(outbox_rows_of(&pool, "access.revoked").await, 1, "{case}: one access.revoked row");
    }
    let client = pool.get().await.unwrap();
    let announced: Value =
        client.query_one("SELECT payload FROM outbox WHERE topic = 'access.revoked'", &[]).await.unwrap().get(0);
    assert_eq!(announced, json!({"orderNumber": ORDER, "ticketIds": [inside, outside]}));
    for ticket in [&inside, &outside] {
        assert_eq!(repository::get_access(&pool, ticket).await.unwrap().state, AccessState::Revoked, "{ticket}");
    }
    assert!(repository::get_access(&pool, &inside).await.unwrap().inside, "the entry stays as the gate saw it");
    // the codes are still validly signed: the access list refuses them, in every direction
    let cases = [
        ("inside_leaves", &inside_qr, gates.north_1, Direction::Exit),
        ("inside_enters_elsewhere", &inside_qr, gates.north_2, Direction::Entry),
        ("outside_enters", &outside_qr, gates.south, Direction::Entry),
    ];
    for (index, (case, qr, gate, direction)) in cases.into_iter().enumerate() {
        let answer = scan(&state, &request(qr, gate, direction, "gate-1", &format!("r-{index}"))).await.answer;
        assert_eq!(answer.reason, Reason::Revoked, "{case}");
    }
}

#[tokio::test]
async fn a_revocation_before_the_prepare_leaves_no_admitting_access() {
    let (pool, _) = fresh_database("saga_revoke_first", 4).await;
    let gates = event(&pool, false).await;
    let state = state(pool.clone());
    let tickets = [(ticket_id(1), VIP), (ticket_id(2), FESTIVAL)];
    let ids: Vec<String> = tickets.iter().map(|(id, _)| id.clone()).collect();
    let revoked = apply(&pool, &revoke_access(&pool), &refund_requested("r-1", ORDER, &ids)).await.unwrap();
    assert_eq!(revoked, Outcome::Applied);
    assert_eq!(outbox_rows_of(&pool, "access.revoked").await, 1, "the revocation is announced at once");
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries").await, 0);

    let prepared = apply(&pool, &prepare_access(&pool), &order_paid("m-1", paid(EVENT, &tickets))).await.unwrap();
    assert_eq!(prepared, Outcome::Applied);
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries WHERE state = 'revoked'").await, 2);
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries WHERE state = 'active'").await, 0);
    let entry = repository::get_access(&pool, &ids[0]).await.unwrap();
    let qr = WithQr::access(entry, &state.keys).qr;
    let answer = scan(&state, &request(&qr, gates.north_1, Direction::Entry, "gate-1", "n-1")).await.answer;
    assert_eq!(answer.reason, Reason::Revoked);
}

#[tokio::test]
async fn prepares_and_revocations_racing_for_the_same_orders_never_leave_active_access() {
    const ORDERS: u32 = 12;
    let (pool, _) = fresh_database("saga_revoke_race", 2 * ORDERS as usize).await;
    test_database::warm_up(&pool, 2 * ORDERS as usize).await.unwrap();
    event(&pool, false).await;
    let (prepare, revoke) = (Arc::new(prepare_access(&pool)), Arc::new(revoke_access(&pool)));
    let start = Arc::new(tokio::sync::Barrier::new(2 * ORDERS as usize));
    let mut racers = Vec::new();
    for n in 0..ORDERS {
        let order = format!("2026-12-01-{n}-0001");
        let ticket = ticket_id(n);
        let paid = order_paid(&format!("m-{n}"), paid_order(&order, EVENT, &[(ticket.clone(), VIP)]));
        let refund = refund_requested(&format!("r-{n}"), &order, &[ticket]);
        for (consumer, delivery) in [(prepare.clone(), paid), (revoke.clone(), refund)] {
            let (pool, start) = (pool.clone(), start.clone());
            racers.push(tokio::spawn(async move {
                start.wait().await;
                apply(&pool, &consumer, &delivery).await.unwrap()
            }));
        }
    }
    for racer in racers {
        assert_eq!(racer.await.unwrap(), Outcome::Applied);
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries").await, i64::from(ORDERS));
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries WHERE state = 'active'").await, 0);
}

#[tokio::test]
async fn bad_refund_messages_are_permanent_and_leave_nothing() {
    let (pool, _) = fresh_database("saga_revoke_bad", 2).await;
    let revoke = revoke_access(&pool);
    let cases = [
        ("not_a_refund", json!({"hello": 1})),
        ("ticket_id_not_a_uuid", json!({"orderNumber": ORDER, "amount": 1, "ticketIds": ["nope"]})),
        ("order_number_empty", json!({"orderNumber": "", "amount": 1, "ticketIds": []})),
    ];
    for (index, (case, payload)) in cases.into_iter().enumerate() {
        let delivery = Delivery { payload, ..refund_requested(&format!("bad-{index}"), ORDER, &[]) };
        let result = apply(&pool, &revoke, &delivery).await;
        assert!(matches!(result, Err(HandlerError::Permanent(_))), "{case}: {result:?}");
        assert_eq!(outbox_rows_of(&pool, "access.revoked").await, 0, "{case}: nothing announced");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 0);
}
