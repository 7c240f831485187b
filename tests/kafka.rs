//! Tier 4: the real Kafka broker (`scripts/kafka.sh up`) works the way the ticketing services and the Kafka
//! sink rely on: topics are created through the admin API, transactions commit and abort (a
//! `read_committed` reader sees only committed records), and consumer-group offsets resume a group where it
//! stopped. Talks only to the broker at `MICROFLEET_KAFKA_BOOTSTRAP`.

use std::time::Duration;

use microfleet_tests::broker;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::Message,
    producer::{FutureProducer, FutureRecord, Producer},
    ClientConfig,
};

const TIMEOUT: Duration = Duration::from_secs(30);

fn config(extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker::bootstrap());
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(&[]).create().unwrap();
    let results = admin
        .create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .unwrap();
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
}

fn transactional_producer(id: &str) -> FutureProducer {
    let producer: FutureProducer =
        config(&[("transactional.id", id), ("enable.idempotence", "true")]).create().unwrap();
    producer.init_transactions(TIMEOUT).unwrap();
    producer
}

async fn send(producer: &FutureProducer, topic: &str, key: &str, value: &str) {
    producer
        .send(FutureRecord::to(topic).key(key).payload(value), TIMEOUT)
        .await
        .unwrap_or_else(|(error, _)| panic!("producing {key}: {error}"));
}

fn consumer(group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = config(&[
        ("group.id", group),
        ("isolation.level", "read_committed"),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])
    .create()
    .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// Reads values until `count` arrived, or until nothing more arrives for `quiet` once `count` is reached.
async fn read(consumer: &StreamConsumer, count: usize, quiet: Duration) -> Vec<String> {
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let wait = if values.len() >= count { quiet } else { deadline - tokio::time::Instant::now() };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(Ok(message)) => values.push(String::from_utf8(message.payload().unwrap_or_default().to_vec()).unwrap()),
            Ok(Err(error)) => panic!("consuming: {error}"),
            Err(_) if values.len() >= count => return values,
            Err(_) => panic!("only {} of {count} records arrived within {TIMEOUT:?}: {values:?}", values.len()),
        }
    }
}

#[tokio::test]
async fn a_read_committed_reader_sees_committed_transactions_only() {
    let topic = broker::unique("smoke-tx");
    create_topic(&topic, 2).await;
    let producer = transactional_producer(&broker::unique("smoke-tx-producer"));

    producer.begin_transaction().unwrap();
    for i in 0..5 {
        send(&producer, &topic, &format!("k{i}"), &format!("committed-{i}")).await;
    }
    producer.commit_transaction(TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    for i in 0..3 {
        send(&producer, &topic, &format!("k{i}"), &format!("aborted-{i}")).await;
    }
    producer.abort_transaction(TIMEOUT).unwrap();

    let reader = consumer(&broker::unique("smoke-tx-group"), &topic);
    let mut values = read(&reader, 5, Duration::from_secs(3)).await;
    values.sort();
    assert_eq!(values, (0..5).map(|i| format!("committed-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_consumer_group_resumes_from_its_committed_offsets() {
    let topic = broker::unique("smoke-offsets");
    create_topic(&topic, 1).await;
    let group = broker::unique("smoke-offsets-group");
    let producer = transactional_producer(&broker::unique("smoke-offsets-producer"));
    producer.begin_transaction().unwrap();
    for i in 0..4 {
        send(&producer, &topic, "k", &format!("first-{i}")).await;
    }
    producer.commit_transaction(TIMEOUT).unwrap();

    {
        let first = consumer(&group, &topic);
        assert_eq!(read(&first, 4, Duration::from_secs(1)).await, ["first-0", "first-1", "first-2", "first-3"]);
        first.commit_consumer_state(CommitMode::Sync).unwrap();
        first.unsubscribe();
    }

    producer.begin_transaction().unwrap();
    send(&producer, &topic, "k", "second-0").await;
    producer.commit_transaction(TIMEOUT).unwrap();

    let second = consumer(&group, &topic);
    assert_eq!(read(&second, 1, Duration::from_secs(3)).await, ["second-0"], "the group must resume after first-3");
}

#[tokio::test]
async fn creating_an_existing_topic_is_refused_by_the_broker() {
    let topic = broker::unique("smoke-exists");
    create_topic(&topic, 1).await;
    let admin: AdminClient<DefaultClientContext> = config(&[]).create().unwrap();
    let results = admin
        .create_topics(&[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .unwrap();
    let refused = results.into_iter().next().unwrap().unwrap_err();
    assert_eq!(refused.1, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists);
}
