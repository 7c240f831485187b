//! The saga end to end against the real broker (`MICROFLEET_KAFKA_BOOTSTRAP`) and PostgreSQL
//! (`MICROFLEET_PG_URL`): both services' relays and consumers run in this process, as `serve` starts them,
//! each on its own database; an order paid in ticketing ends with its tickets active and the gate-acl service
//! holding their access entries.

mod support;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use microfleet_common::kafka::KafkaArgs;
use microfleet_common::kafka_consumer::ConsumerMetrics;
use microfleet_common::shutdown::Shutdown;
use microfleet_common::{database, migrations, test_broker, test_database};
use microfleet_gate_acl::domain::acl::AccessState;
use microfleet_ticketing::repository;
use support::{event_on_sale, fresh_database, place};

const WITHIN: Duration = Duration::from_secs(60);

fn kafka_args() -> KafkaArgs {
    KafkaArgs {
        kafka_bootstrap_servers: test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}")),
        kafka_topic_prefix: test_broker::unique("saga"),
        kafka_group_id: None,
        outbox_relay_interval_ms: 50,
        kafka_topic_partitions: 2,
        kafka_topic_replication: 1,
        kafka_consumer_instances: 2,
    }
}

#[tokio::test]
async fn an_order_paid_in_ticketing_ends_with_active_tickets_and_gate_access() {
    let (ticketing, _) = fresh_database("saga_ticketing", 4).await;
    let gate_url = test_database::create("saga_gate").await.unwrap_or_else(|error| panic!("{error}"));
    let gate = database::connect(&gate_url, 4).unwrap();
    migrations::apply(&gate, &microfleet_gate_acl::schema::MIGRATIONS).await.unwrap();

    let kafka = kafka_args();
    let producer = kafka.connect().await.unwrap();
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let (trigger, shutdown) = Shutdown::manual();
    let topics = kafka.topics();
    let ticketing_consumers = microfleet_ticketing::saga::consumers(&ticketing, &topics, &metrics);
    let mut tasks =
        kafka.start(microfleet_ticketing::saga::SERVICE, &ticketing, producer.clone(), ticketing_consumers, &shutdown);
    let gate_consumers = microfleet_gate_acl::saga::consumers(&gate, &topics, &metrics);
    tasks.extend(kafka.start(microfleet_gate_acl::saga::SERVICE, &gate, producer, gate_consumers, &shutdown));

    let (event_id, areas) = event_on_sale(&ticketing, &[(10, 100_000), (10, 200_000)]).await;
    let placed = place(&ticketing, event_id, &[(areas[0], 2), (areas[1], 1)]).await.unwrap();
    let paid =
        repository::confirm_payment(&ticketing, &placed.number, placed.total_price, Timestamp::now()).await.unwrap();
    assert_eq!(paid.tickets.len(), 3);

    let start = Instant::now();
    let order = loop {
        let order = repository::get_order(&ticketing, &placed.number).await.unwrap();
        if order.tickets.iter().all(|ticket| ticket.state == "active") {
            break order;
        }
        assert!(start.elapsed() < WITHIN, "tickets not active within {WITHIN:?}: {:?}", order.tickets);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for ticket in &order.tickets {
        let access = microfleet_gate_acl::repository::get_access(&gate, &ticket.id).await.unwrap();
        assert_eq!((access.event_id, access.area_id, access.state), (event_id, ticket.area_id, AccessState::Active));
    }
    for consumer in ["ticketing.activate-tickets", "gate-acl.learn-event", "gate-acl.prepare-access"] {
        assert_eq!(metrics.dead_letters(consumer), 0, "{consumer} dead-lettered a message");
    }
    trigger.fire();
    for task in tasks {
        task.await.unwrap();
    }
}
