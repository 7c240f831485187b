//! The saga against the real PostgreSQL (`MICROFLEET_PG_URL`) and, end to end, the real broker
//! (`MICROFLEET_KAFKA_BOOTSTRAP`). Through the consumer's own transaction (`kafka_consumer::apply`):
//! `access.revoked` completes a refund once (tickets revoked, refund and order refunded, seats back on sale),
//! only for a refunding order, and released seats never oversell an area under concurrent buyers. End to end,
//! both services' relays and consumers run in this process, as `serve` starts them, each on its own database:
//! an order paid in ticketing ends with its tickets active and gate access; its refund stays pending while
//! gate-acl is down and completes once it runs; the revoked ticket's scan is refused `revoked`; the seat
//! sells again; re-published `access-revoke` and `access-revoked` messages change nothing; the outbox
//! backlog gauges end at zero.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_common::kafka::KafkaArgs;
use microfleet_common::kafka_consumer::{self, ConsumerMetrics, Delivery, HandlerError, Outcome, SagaConsumer};
use microfleet_common::outbox::{Backlog, OutboxMetrics};
use microfleet_common::shutdown::{Shutdown, ShutdownTrigger};
use microfleet_common::topics::Topics;
use microfleet_common::{database, migrations, test_broker, test_database};
use microfleet_gate_acl::domain::acl::{AccessState, NewGate, WithQr};
use microfleet_gate_acl::domain::scan::{Direction, Reason, ScanRequest};
use microfleet_gate_acl::domain::token::Keyring;
use microfleet_gate_acl::http::scans;
use microfleet_gate_acl::metrics::ScanMetrics;
use microfleet_ticketing::domain::order::{Order, OrderState};
use microfleet_ticketing::repository::{self, RepositoryError};
use serde_json::json;
use support::{count, event_on_sale, fresh_database, place};

const WITHIN: Duration = Duration::from_secs(60);

fn saga_consumer(pool: &Pool, name: &str) -> SagaConsumer {
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let consumers = microfleet_ticketing::saga::consumers(pool, &Topics::new("test"), &metrics);
    consumers.into_iter().find(|consumer| consumer.name == name).unwrap()
}

fn access_revoked(message_id: &str, order: &str) -> Delivery {
    Delivery {
        topic: "test.access-revoked".into(),
        message_id: message_id.into(),
        key: order.into(),
        payload: json!({"orderNumber": order, "ticketIds": []}),
    }
}

/// Places, pays and requests the refund of an order of `(area id, quantity)` items.
async fn refunding(pool: &Pool, event_id: i64, items: &[(i64, i32)]) -> Order {
    let placed = place(pool, event_id, items).await.unwrap();
    repository::confirm_payment(pool, &placed.number, placed.total_price, Timestamp::now()).await.unwrap();
    repository::refund_order(pool, &placed.number, None, Timestamp::now()).await.unwrap()
}

async fn sold(pool: &Pool, area: i64) -> i64 {
    count(pool, &format!("SELECT sold::bigint FROM areas WHERE id = {area}")).await
}

#[tokio::test]
async fn access_revoked_completes_the_refund_once_and_puts_the_seats_back_on_sale() {
    let (pool, _) = fresh_database("saga_complete", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(1, 100_000), (5, 200_000)]).await;
    let order = refunding(&pool, event_id, &[(areas[0], 1), (areas[1], 2)]).await;
    assert!(place(&pool, event_id, &[(areas[0], 1)]).await.is_err(), "a refunding order still holds its seat");
    let consumer = saga_consumer(&pool, "ticketing.complete-refund");
    let cases = [
        ("first", "m-1", Outcome::Applied),
        ("redelivered", "m-1", Outcome::Duplicate),
        ("announced_again", "m-2", Outcome::Applied),
    ];
    for (case, message_id, expected) in cases {
        let delivery = access_revoked(message_id, &order.number);
        let outcome = kafka_consumer::apply(&pool, &consumer.name, consumer.handler.as_ref(), &delivery).await;
        assert_eq!(outcome.unwrap(), expected, "{case}");
        let refunded = repository::get_order(&pool, &order.number).await.unwrap();
        assert_eq!(refunded.state, OrderState::Refunded, "{case}");
        assert_eq!(refunded.refund.map(|refund| refund.state).as_deref(), Some("refunded"), "{case}");
        assert!(refunded.tickets.iter().all(|ticket| ticket.state == "revoked"), "{case}: {:?}", refunded.tickets);
        assert_eq!((sold(&pool, areas[0]).await, sold(&pool, areas[1]).await), (0, 0), "{case}: released once");
    }
    let again = place(&pool, event_id, &[(areas[0], 1)]).await.unwrap();
    assert_eq!(again.state, OrderState::Pending, "the refunded seat sells again");
    assert!(place(&pool, event_id, &[(areas[0], 1)]).await.is_err(), "but only once");
}

#[tokio::test]
async fn access_revoked_for_an_order_not_refunding_is_refused_and_changes_nothing() {
    let (pool, _) = fresh_database("saga_complete_bad", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 100_000)]).await;
    let placed = place(&pool, event_id, &[(areas[0], 1)]).await.unwrap();
    let paid = repository::confirm_payment(&pool, &placed.number, 100_000, Timestamp::now()).await.unwrap();
    let consumer = saga_consumer(&pool, "ticketing.complete-refund");
    let cases = [("paid_not_refunding", paid.number.as_str()), ("unknown_order", "2026-12-01-999-0001")];
    for (index, (case, number)) in cases.into_iter().enumerate() {
        let delivery = access_revoked(&format!("bad-{index}"), number);
        let outcome = kafka_consumer::apply(&pool, &consumer.name, consumer.handler.as_ref(), &delivery).await;
        assert!(matches!(outcome, Err(HandlerError::Permanent(_))), "{case}: {outcome:?}");
    }
    let unchanged = repository::get_order(&pool, &paid.number).await.unwrap();
    assert_eq!((unchanged.state, sold(&pool, areas[0]).await), (OrderState::Paid, 1));
}

#[tokio::test]
async fn seats_released_by_refunds_never_oversell_an_area_under_concurrent_buyers() {
    const SEATS: i32 = 5;
    const BUYERS: usize = 20;
    let (pool, _) = fresh_database("saga_release_race", 12).await;
    test_database::warm_up(&pool, 12).await.unwrap();
    let (event_id, areas) = event_on_sale(&pool, &[(SEATS, 100_000)]).await;
    let area = areas[0];
    let mut refunds = Vec::new();
    for _ in 0..SEATS {
        refunds.push(refunding(&pool, event_id, &[(area, 1)]).await.number);
    }
    let consumer = Arc::new(saga_consumer(&pool, "ticketing.complete-refund"));
    let start = Arc::new(tokio::sync::Barrier::new(refunds.len() + BUYERS));
    let completions: Vec<_> = refunds
        .iter()
        .map(|number| {
            let (pool, consumer, start) = (pool.clone(), consumer.clone(), start.clone());
            let delivery = access_revoked(&format!("m-{number}"), number);
            tokio::spawn(async move {
                start.wait().await;
                kafka_consumer::apply(&pool, &consumer.name, consumer.handler.as_ref(), &delivery).await.unwrap()
            })
        })
        .collect();
    let buyers: Vec<_> = (0..BUYERS)
        .map(|_| {
            let (pool, start) = (pool.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                place(&pool, event_id, &[(area, 1)]).await
            })
        })
        .collect();
    for completion in completions {
        assert_eq!(completion.await.unwrap(), Outcome::Applied);
    }
    let mut bought = 0;
    for buyer in buyers {
        match buyer.await.unwrap() {
            Ok(_) => bought += 1,
            Err(RepositoryError::Rejected(_)) => {}
            Err(other) => panic!("a buyer failed: {other:?}"),
        }
    }
    assert!(bought <= SEATS as i64, "{bought} seats sold of {SEATS}");
    assert_eq!(sold(&pool, area).await, bought, "sold counts exactly the pending orders");
    let held = count(&pool, "SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.state = 'pending'").await;
    assert_eq!(held, bought);
}

#[test]
fn every_topic_a_consumer_reads_has_a_receive_operation_in_the_asyncapi_document() {
    let document = include_str!("../../asyncapi.yaml");
    let topics = Topics::new("{prefix}");
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let pool = database::connect("postgres://nobody@127.0.0.1:1/none", 1).unwrap();
    let mut consumers = microfleet_ticketing::saga::consumers(&pool, &topics, &metrics);
    consumers.extend(microfleet_gate_acl::saga::consumers(&pool, &topics, &metrics));
    assert_eq!(consumers.len(), 5);
    for consumer in consumers {
        for topic in &consumer.subscribe {
            // the channel's key is the line above its address
            let address = format!("address: '{topic}'");
            let before = &document[..document.find(&address).unwrap_or_else(|| panic!("{topic} has no channel"))];
            let channel = before.trim_end().lines().last().unwrap().trim().trim_end_matches(':');
            let receive = format!("{{action: receive, channel: {{$ref: '#/channels/{channel}'}}}}");
            assert!(document.contains(&receive), "{}: no receive operation on channel {channel}", consumer.name);
        }
    }
}

fn kafka_args() -> KafkaArgs {
    KafkaArgs {
        kafka_bootstrap_servers: test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}")),
        kafka_topic_prefix: test_broker::unique("saga"),
        kafka_group_id: None,
        outbox_relay_interval_ms: 50,
        // one partition: a message re-published before another on its topic is consumed before it
        kafka_topic_partitions: 1,
        kafka_topic_replication: 1,
        kafka_consumer_instances: 2,
        security: Default::default(),
    }
}

/// One service's messaging as `serve` runs it (its relay and consumers), stoppable on its own.
struct Messaging {
    trigger: ShutdownTrigger,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Messaging {
    async fn stop(self) {
        self.trigger.fire();
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

/// The two services' databases and what their messaging shares.
struct Saga {
    kafka: KafkaArgs,
    ticketing: Pool,
    gate: Pool,
    consumer_metrics: ConsumerMetrics,
    ticketing_outbox: OutboxMetrics,
    gate_outbox: OutboxMetrics,
}

impl Saga {
    async fn ticketing(&self) -> Messaging {
        let (trigger, shutdown) = Shutdown::manual();
        let producer = self.kafka.connect().await.unwrap();
        let consumers =
            microfleet_ticketing::saga::consumers(&self.ticketing, &self.kafka.topics(), &self.consumer_metrics);
        let service = microfleet_ticketing::saga::SERVICE;
        let outbox = self.ticketing_outbox.clone();
        let tasks = self.kafka.start(service, &self.ticketing, producer, consumers, outbox, &shutdown);
        Messaging { trigger, tasks }
    }

    /// Gate-acl's messaging; started again after a stop, its consumers go on from their committed offsets.
    async fn gate(&self) -> Messaging {
        let (trigger, shutdown) = Shutdown::manual();
        let producer = self.kafka.connect().await.unwrap();
        let consumers = microfleet_gate_acl::saga::consumers(&self.gate, &self.kafka.topics(), &self.consumer_metrics);
        let service = microfleet_gate_acl::saga::SERVICE;
        let outbox = self.gate_outbox.clone();
        let tasks = self.kafka.start(service, &self.gate, producer, consumers, outbox, &shutdown);
        Messaging { trigger, tasks }
    }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn order_in(pool: &Pool, number: &str, state: OrderState) -> Option<Order> {
    let order = repository::get_order(pool, number).await.unwrap();
    (order.state == state).then_some(order)
}

async fn tickets_active(pool: &Pool, number: &str) -> Option<Order> {
    let order = repository::get_order(pool, number).await.unwrap();
    order.tickets.iter().all(|ticket| ticket.state == "active").then_some(order)
}

async fn pay(pool: &Pool, order: &Order) {
    repository::confirm_payment(pool, &order.number, order.total_price, Timestamp::now()).await.unwrap();
}

/// Marks the outbox row of `topic` and `key` unpublished: the relay publishes it again, with its message id
/// (what a relay crash between publishing and marking does).
async fn republish(pool: &Pool, topic: &str, key: &str) {
    let client = pool.get().await.unwrap();
    let marked = client
        .execute("UPDATE outbox SET published_at = NULL WHERE topic = $1 AND message_key = $2", &[&topic, &key])
        .await
        .unwrap();
    assert_eq!(marked, 1, "{topic} of {key}");
}

#[tokio::test]
async fn an_order_is_paid_activated_refunded_and_revoked_across_both_services() {
    let (ticketing, _) = fresh_database("saga_ticketing", 8).await;
    let gate_url = test_database::create("saga_gate").await.unwrap_or_else(|error| panic!("{error}"));
    let gate = database::connect(&gate_url, 8).unwrap();
    migrations::apply(&gate, &microfleet_gate_acl::schema::MIGRATIONS).await.unwrap();
    let saga = Saga {
        kafka: kafka_args(),
        ticketing: ticketing.clone(),
        gate: gate.clone(),
        consumer_metrics: ConsumerMetrics::register(&prometheus::Registry::new()).unwrap(),
        ticketing_outbox: OutboxMetrics::register(&prometheus::Registry::new()).unwrap(),
        gate_outbox: OutboxMetrics::register(&prometheus::Registry::new()).unwrap(),
    };
    let ticketing_messaging = saga.ticketing().await;
    let mut gate_messaging = saga.gate().await;

    // the first area has one seat: the refunded seat is the only one to sell again
    let (event_id, areas) = event_on_sale(&ticketing, &[(1, 100_000), (10, 200_000)]).await;
    let first = place(&ticketing, event_id, &[(areas[0], 1), (areas[1], 1)]).await.unwrap();
    pay(&ticketing, &first).await;
    let active = eventually("the first order's tickets active", || tickets_active(&ticketing, &first.number)).await;
    for ticket in &active.tickets {
        let access = microfleet_gate_acl::repository::get_access(&gate, &ticket.id).await.unwrap();
        assert_eq!((access.event_id, access.area_id, access.state), (event_id, ticket.area_id, AccessState::Active));
    }

    // the one-seat ticket goes in at a gate, during the event
    let gate_id = microfleet_gate_acl::repository::create_gate(
        &gate,
        &NewGate { event_id, name: "North 1".into(), area_ids: vec![areas[0]] },
    )
    .await
    .unwrap()
    .id;
    let scan_metrics = ScanMetrics::register(&prometheus::Registry::new()).unwrap();
    let gate_state = microfleet_gate_acl::http::AppState {
        pool: gate.clone(),
        keys: Arc::new(Keyring::from_seed(&[7; 32])),
        metrics: scan_metrics.clone(),
        scans: microfleet_gate_acl::scan_batcher::ScanBatcher::start(gate.clone(), 64, 2, scan_metrics),
    };
    let seat = active.tickets.iter().find(|ticket| ticket.area_id == areas[0]).unwrap();
    let entry = microfleet_gate_acl::repository::get_access(&gate, &seat.id).await.unwrap();
    let during_event = entry.valid_from + SignedDuration::from_hours(1);
    let qr = WithQr::access(entry, &gate_state.keys).qr;
    let scan = |direction: Direction, nonce: &str| ScanRequest {
        qr: qr.clone(),
        gate_id,
        direction,
        device_id: "north-1".into(),
        nonce: nonce.into(),
        scanned_at: during_event,
    };
    let entered = scans::answer(&gate_state, &scan(Direction::Entry, "n-1"), Timestamp::now()).await.unwrap();
    assert_eq!(entered.answer.reason, Reason::Ok);

    // the refund waits for the revocation while gate-acl is down ...
    gate_messaging.stop().await;
    let requested = repository::refund_order(&ticketing, &first.number, None, Timestamp::now()).await.unwrap();
    assert_eq!(requested.state, OrderState::Refunding);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = repository::get_order(&ticketing, &first.number).await.unwrap();
    assert_eq!(waiting.state, OrderState::Refunding, "no refund completes before access is revoked");
    assert_eq!(waiting.refund.as_ref().map(|refund| refund.state.as_str()), Some("pending"));
    assert!(waiting.tickets.iter().all(|ticket| ticket.state == "revoking"), "{:?}", waiting.tickets);
    assert_eq!(sold(&ticketing, areas[0]).await, 1, "its seat is still held");
    let still = microfleet_gate_acl::repository::get_access(&gate, &seat.id).await.unwrap();
    assert_eq!(still.state, AccessState::Active);

    // ... and completes once it runs again
    gate_messaging = saga.gate().await;
    let refunded =
        eventually("the refund completed", || order_in(&ticketing, &first.number, OrderState::Refunded)).await;
    assert_eq!(refunded.refund.as_ref().map(|refund| refund.state.as_str()), Some("refunded"));
    assert!(refunded.tickets.iter().all(|ticket| ticket.state == "revoked"), "{:?}", refunded.tickets);
    for ticket in &refunded.tickets {
        let access = microfleet_gate_acl::repository::get_access(&gate, &ticket.id).await.unwrap();
        assert_eq!(access.state, AccessState::Revoked, "{}", ticket.id);
    }
    for (direction, nonce) in [(Direction::Exit, "n-2"), (Direction::Entry, "n-3")] {
        let refused = scans::answer(&gate_state, &scan(direction, nonce), Timestamp::now()).await.unwrap();
        assert_eq!(refused.answer.reason, Reason::Revoked, "{direction:?}: the signed code is refused by the list");
    }
    assert_eq!((sold(&ticketing, areas[0]).await, sold(&ticketing, areas[1]).await), (0, 0));

    // the seat sells again, once
    let second = place(&ticketing, event_id, &[(areas[0], 1)]).await.unwrap();
    assert!(place(&ticketing, event_id, &[(areas[0], 1)]).await.is_err(), "no overselling");
    pay(&ticketing, &second).await;
    eventually("the resold seat's ticket active", || tickets_active(&ticketing, &second.number)).await;

    // the first refund's messages come again; a third refund behind them on the same topics shows they were read
    republish(&ticketing, "order.refund_requested", &first.number).await;
    republish(&gate, "access.revoked", &first.number).await;
    let third = refunding(&ticketing, event_id, &[(areas[1], 1)]).await;
    eventually("the third refund completed", || order_in(&ticketing, &third.number, OrderState::Refunded)).await;
    assert_eq!(sold(&ticketing, areas[0]).await, 1, "the resold seat is not released by the repeated messages");
    assert_eq!(sold(&ticketing, areas[1]).await, 0);
    assert_eq!(count(&gate, "SELECT count(*) FROM outbox WHERE topic = 'access.revoked'").await, 2);
    let second_now = repository::get_order(&ticketing, &second.number).await.unwrap();
    assert_eq!(second_now.state, OrderState::Paid);

    let drained = Backlog { pending: 0, oldest_age_seconds: 0.0 };
    for (service, gauges) in [("ticketing", &saga.ticketing_outbox), ("gate-acl", &saga.gate_outbox)] {
        let metrics = gauges.clone();
        eventually(&format!("{service}'s outbox drained"), || async { (metrics.backlog() == drained).then_some(()) })
            .await;
    }
    for consumer in [
        "ticketing.activate-tickets",
        "ticketing.complete-refund",
        "gate-acl.learn-event",
        "gate-acl.prepare-access",
        "gate-acl.revoke-access",
    ] {
        assert_eq!(saga.consumer_metrics.dead_letters(consumer), 0, "{consumer} dead-lettered a message");
    }
    gate_messaging.stop().await;
    ticketing_messaging.stop().await;
}
