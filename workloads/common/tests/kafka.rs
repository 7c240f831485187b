//! The saga's messaging layer against the real broker (`MICROFLEET_KAFKA_BOOTSTRAP`, `scripts/kafka.sh up`) and
//! the real PostgreSQL (`MICROFLEET_PG_URL`): the outbox relay, the idempotent consumer, dead letters, and a
//! crash between the database commit and the offset commit; the same through the broker's SASL_PLAINTEXT and
//! SSL listeners (`MICROFLEET_KAFKA_SASL_BOOTSTRAP`, `MICROFLEET_KAFKA_TLS_BOOTSTRAP`), and their refusals. Each
//! test has its own topic prefix and database.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Pool, Transaction};
use futures::future::BoxFuture;
use microfleet_common::kafka::client::Broker;
use microfleet_common::kafka::security::{KafkaSecurityArgs, SaslMechanism, SecurityProtocol};
use microfleet_common::kafka::{self, KafkaArgs, KafkaPublisher, MESSAGE_ID_HEADER};
use microfleet_common::kafka_consumer::{
    self, ConsumerMetrics, Delivery, Handler, HandlerError, Outcome, SagaConsumer,
};
use microfleet_common::migrations::{self, Migration};
use microfleet_common::outbox::{self, OutboxMessage, OutboxMetrics, Publisher};
use microfleet_common::shutdown::{Shutdown, ShutdownTrigger};
use microfleet_common::test_broker::{self, unique};
use microfleet_common::topics::{self, Topics};
use microfleet_common::{database, inbox, test_database};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(40);

fn bootstrap() -> String {
    test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}"))
}

/// The test broker's PLAINTEXT listener.
fn broker() -> Broker {
    Broker::plaintext(bootstrap())
}

/// Topic names unique to one test, created with one partition.
async fn new_topics(name: &str) -> Topics {
    let topics = Topics::new(&unique(name));
    kafka::ensure_topics(&broker(), &topics, 1, 1).await.unwrap();
    topics
}

const EFFECTS: Migration = Migration {
    version: "0001_effects",
    sql: "CREATE TABLE effects (id BIGSERIAL PRIMARY KEY, message_id TEXT NOT NULL);",
};

async fn fresh_pool(name: &str) -> Pool {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    let pool = database::connect(&url, 4).unwrap();
    migrations::apply(&pool, &[outbox::MIGRATION, inbox::MIGRATION, EFFECTS]).await.unwrap();
    pool
}

/// Records each message id in `effects` (no unique key: a second effect would show); `{"poison": true}` is
/// refused permanently; `{"flaky": true}` fails transiently while `flaky_failures` is above zero; `{"slow": true}`
/// tells `slow_started` and takes a second.
#[derive(Default)]
struct RecordEffect {
    flaky_failures: Arc<AtomicU32>,
    slow_started: Arc<tokio::sync::Notify>,
}

impl Handler for RecordEffect {
    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if delivery.payload.get("poison") == Some(&Value::Bool(true)) {
                return Err(HandlerError::Permanent("refused: poison".to_string()));
            }
            let flaky = delivery.payload.get("flaky") == Some(&Value::Bool(true));
            if flaky && self.flaky_failures.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1)).is_ok() {
                return Err(HandlerError::Transient("the database is away".to_string()));
            }
            if delivery.payload.get("slow") == Some(&Value::Bool(true)) {
                self.slow_started.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tx.execute("INSERT INTO effects (message_id) VALUES ($1)", &[&delivery.message_id])
                .await
                .map_err(|error| HandlerError::Transient(error.to_string()))?;
            Ok(())
        })
    }
}

async fn effects(pool: &Pool, message_id: &str) -> i64 {
    let client = pool.get().await.unwrap();
    client.query_one("SELECT count(*) FROM effects WHERE message_id = $1", &[&message_id]).await.unwrap().get(0)
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn message(id: &str, payload: Value) -> OutboxMessage {
    OutboxMessage {
        id: 0,
        message_id: id.to_string(),
        topic: topics::ORDER_PAID.to_string(),
        key: "o-1".to_string(),
        payload,
    }
}

fn consumer(pool: &Pool, topics: &Topics) -> (SagaConsumer, ConsumerMetrics) {
    consumer_with(pool, topics, RecordEffect::default())
}

fn consumer_with(pool: &Pool, topics: &Topics, handler: RecordEffect) -> (SagaConsumer, ConsumerMetrics) {
    let metrics = ConsumerMetrics::register(&prometheus::Registry::new()).unwrap();
    let consumer = SagaConsumer {
        name: "test.order-paid".to_string(),
        pool: pool.clone(),
        topics: topics.clone(),
        subscribe: vec![topics.channel(topics::ORDER_PAID).unwrap()],
        handler: std::sync::Arc::new(handler),
        metrics: metrics.clone(),
    };
    (consumer, metrics)
}

fn start(consumer: SagaConsumer, group: &str) -> (ShutdownTrigger, tokio::task::JoinHandle<()>) {
    start_on(broker(), consumer, group)
}

fn start_on(broker: Broker, consumer: SagaConsumer, group: &str) -> (ShutdownTrigger, tokio::task::JoinHandle<()>) {
    let (trigger, shutdown) = Shutdown::manual();
    let group = group.to_string();
    let task = tokio::spawn(async move {
        let dead_letters = kafka::producer(&broker).unwrap();
        consumer.run(&broker, &group, &dead_letters, shutdown).await.unwrap()
    });
    (trigger, task)
}

/// Reads `topic` from the start until `count` messages came, then one more second to see no more came.
async fn read_all(topic: &str, count: usize) -> Vec<(Option<String>, Vec<u8>, Vec<(String, String)>)> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let wait = if seen.len() >= count {
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match tokio::time::timeout(wait, reader.recv()).await {
            Ok(Ok(message)) => {
                let headers = message.headers().map_or_else(Vec::new, |headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                        .collect()
                });
                let key = message.key().map(|key| String::from_utf8_lossy(key).into_owned());
                seen.push((key, message.payload().unwrap_or_default().to_vec(), headers));
            }
            Ok(Err(error)) => panic!("reading {topic}: {error}"),
            Err(_) if seen.len() >= count => return seen,
            Err(_) => panic!("only {} of {count} messages on {topic} within {WAIT:?}", seen.len()),
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn the_relay_publishes_committed_rows_once_in_order_and_a_rolled_back_row_never() {
    let pool = fresh_pool("kafka_relay").await;
    let topics = new_topics("relay").await;
    let mut committed = Vec::new();
    for order in ["o-1", "o-2", "o-3"] {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        committed
            .push(outbox::append(&tx, topics::ORDER_PAID, "same-key", &json!({"orderNumber": order})).await.unwrap());
        tx.commit().await.unwrap();
    }
    {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        outbox::append(&tx, topics::ORDER_PAID, "same-key", &json!({"orderNumber": "rolled-back"})).await.unwrap();
        tx.rollback().await.unwrap();
    }
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let (trigger, shutdown) = Shutdown::manual();
    let metrics = OutboxMetrics::register(&prometheus::Registry::new()).unwrap();
    let relay = tokio::spawn(outbox::run_relay(pool.clone(), publisher, Duration::from_millis(50), metrics, shutdown));
    let seen = read_all(&topics.channel(topics::ORDER_PAID).unwrap(), committed.len()).await;
    trigger.fire();
    relay.await.unwrap();
    let ids: Vec<&str> = seen.iter().map(|(_, _, headers)| header(headers, MESSAGE_ID_HEADER).unwrap()).collect();
    assert_eq!(ids, committed, "each committed row once, in the order written, and no rolled-back row");
    assert!(seen.iter().all(|(key, _, _)| key.as_deref() == Some("same-key")), "the row's key is the message key");
    let orders: Vec<Value> = seen.iter().map(|(_, body, _)| serde_json::from_slice(body).unwrap()).collect();
    assert_eq!(orders[0]["orderNumber"], "o-1");
    assert_eq!(outbox::backlog(&pool.get().await.unwrap()).await.unwrap().pending, 0);
}

#[tokio::test]
async fn a_message_delivered_twice_has_its_effect_once() {
    let pool = fresh_pool("kafka_twice").await;
    let topics = new_topics("twice").await;
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let (twice, after) = ("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002");
    for id in [twice, twice, after] {
        publisher.publish(&message(id, json!({"orderNumber": "o-1"}))).await.unwrap();
    }
    let (consumer, _) = consumer(&pool, &topics);
    let (trigger, task) = start(consumer, &unique("group"));
    // one key, one partition: once the last message has its effect, both copies before it were consumed
    eventually("the last message applied", || async { effects(&pool, after).await == 1 }).await;
    trigger.fire();
    task.await.unwrap();
    assert_eq!(effects(&pool, twice).await, 1, "the re-delivered message has its effect once");
    let client = pool.get().await.unwrap();
    let processed: i64 = client.query_one("SELECT count(*) FROM processed_messages", &[]).await.unwrap().get(0);
    assert_eq!(processed, 2);
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_the_consumer_goes_on() {
    let pool = fresh_pool("kafka_poison").await;
    let topics = new_topics("poison").await;
    let channel = topics.channel(topics::ORDER_PAID).unwrap();
    let producer = kafka::producer(&broker()).unwrap();
    let id_header = |id: &'static str| OwnedHeaders::new().insert(Header { key: MESSAGE_ID_HEADER, value: Some(id) });
    let cases: [(&str, Option<OwnedHeaders>, &str, &str); 3] = [
        ("body_not_json", Some(id_header("p-1")), "not json", "not JSON"),
        ("no_message_id", None, "{}", "no message-id header"),
        ("refused_by_the_handler", Some(id_header("p-3")), r#"{"poison": true}"#, "refused: poison"),
    ];
    for (_, headers, body, _) in &cases {
        let mut record = FutureRecord::to(&channel).key("o-1").payload(*body);
        if let Some(headers) = headers {
            record = record.headers(headers.clone());
        }
        producer.inner().send(record, Duration::from_secs(10)).await.unwrap();
    }
    let good = "00000000-0000-0000-0000-0000000000aa";
    KafkaPublisher::new(producer, topics.clone()).publish(&message(good, json!({}))).await.unwrap();
    let (consumer, metrics) = consumer(&pool, &topics);
    let (trigger, task) = start(consumer, &unique("group"));
    eventually("the good message after the poison applied", || async { effects(&pool, good).await == 1 }).await;
    trigger.fire();
    task.await.unwrap();
    let dead = read_all(&topics.dead_letter(), cases.len()).await;
    assert_eq!(dead.len(), cases.len(), "each poison message dead-lettered once");
    for ((case, _, body, error), (_, dead_body, headers)) in cases.iter().zip(&dead) {
        assert_eq!(dead_body.as_slice(), body.as_bytes(), "{case}: the original body");
        assert!(header(headers, "error").is_some_and(|e| e.contains(error)), "{case}: {headers:?}");
        assert_eq!(header(headers, "source-topic"), Some(channel.as_str()), "{case}");
    }
    assert_eq!(metrics.dead_letters("test.order-paid"), 3);
    let client = pool.get().await.unwrap();
    let applied: i64 = client.query_one("SELECT count(*) FROM effects", &[]).await.unwrap().get(0);
    assert_eq!(applied, 1, "no poison message had an effect");
}

#[tokio::test]
async fn a_consumer_dropped_after_the_database_commit_and_before_the_offset_commit_applies_once() {
    let pool = fresh_pool("kafka_crash").await;
    let topics = new_topics("crash").await;
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let (first, second) = ("00000000-0000-0000-0000-0000000000c1", "00000000-0000-0000-0000-0000000000c2");
    publisher.publish(&message(first, json!({}))).await.unwrap();
    // the consumer that crashed: its transaction committed, its offset never did
    let delivery = Delivery {
        topic: topics.channel(topics::ORDER_PAID).unwrap(),
        message_id: first.to_string(),
        key: "o-1".to_string(),
        payload: json!({}),
    };
    let (crashed, _) = consumer(&pool, &topics);
    let outcome = kafka_consumer::apply(&pool, &crashed.name, crashed.handler.as_ref(), &delivery).await.unwrap();
    assert_eq!(outcome, Outcome::Applied);
    drop(crashed);
    publisher.publish(&message(second, json!({}))).await.unwrap();
    // its restart, in the same group with no committed offset, is delivered the message again
    let (restarted, _) = consumer(&pool, &topics);
    let (trigger, task) = start(restarted, &unique("group"));
    eventually("the next message applied", || async { effects(&pool, second).await == 1 }).await;
    trigger.fire();
    task.await.unwrap();
    assert_eq!(effects(&pool, first).await, 1, "the redelivered message is not applied again");
}

#[tokio::test]
async fn the_broker_readiness_check() {
    let cases = [("reachable", bootstrap(), true), ("unreachable", "127.0.0.1:1".to_string(), false)];
    for (case, bootstrap, ready) in cases {
        let producer = kafka::producer(&Broker::plaintext(bootstrap)).unwrap();
        let result = kafka::ping(&producer, Duration::from_secs(2)).await;
        assert_eq!(result.is_ok(), ready, "{case}: {result:?}");
    }
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_applied_and_never_dead_lettered() {
    let pool = fresh_pool("kafka_transient").await;
    let topics = new_topics("transient").await;
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let flaky = "00000000-0000-0000-0000-0000000000f1";
    publisher.publish(&message(flaky, json!({"flaky": true}))).await.unwrap();
    let failures = Arc::new(AtomicU32::new(3));
    let (consumer, metrics) =
        consumer_with(&pool, &topics, RecordEffect { flaky_failures: failures.clone(), ..RecordEffect::default() });
    let (trigger, task) = start(consumer, &unique("group"));
    eventually("the flaky message applied", || async { effects(&pool, flaky).await == 1 }).await;
    trigger.fire();
    task.await.unwrap();
    assert_eq!(failures.load(SeqCst), 0, "it failed three times before it was applied");
    assert_eq!(metrics.dead_letters("test.order-paid"), 0);
}

#[tokio::test]
async fn shutdown_finishes_the_in_flight_message_and_commits_its_offset() {
    let pool = fresh_pool("kafka_shutdown").await;
    let topics = new_topics("shutdown").await;
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let slow = "00000000-0000-0000-0000-0000000000d1";
    publisher.publish(&message(slow, json!({"slow": true}))).await.unwrap();
    let handler = RecordEffect::default();
    let started = handler.slow_started.clone();
    let (consumer, _) = consumer_with(&pool, &topics, handler);
    let group = unique("group");
    let (trigger, task) = start(consumer, &group);
    tokio::time::timeout(WAIT, started.notified()).await.expect("the slow message was not delivered");
    trigger.fire();
    task.await.unwrap();
    assert_eq!(effects(&pool, slow).await, 1, "the in-flight message was finished");
    let topic = topics.channel(topics::ORDER_PAID).unwrap();
    assert_eq!(committed(&group, &topic).await, Offset::Offset(1), "its offset was committed");
}

/// The offset group `group` committed on partition 0 of `topic` (`Offset::Invalid`: none yet).
async fn committed(group: &str, topic: &str) -> Offset {
    let (group, topic) = (group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let reader: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", bootstrap()).set("group.id", &group).create().unwrap();
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&topic, 0);
        let committed = reader.committed_offsets(partitions, Duration::from_secs(10)).unwrap();
        committed.elements()[0].offset()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn offsets_are_committed_on_the_timer_and_only_after_the_effects_transaction() {
    let pool = fresh_pool("kafka_offsets").await;
    let topics = new_topics("offsets").await;
    let topic = topics.channel(topics::ORDER_PAID).unwrap();
    let publisher = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let flaky = "00000000-0000-0000-0000-0000000000e1";
    publisher.publish(&message(flaky, json!({"flaky": true}))).await.unwrap();
    let failures = Arc::new(AtomicU32::new(u32::MAX));
    let (consumer, _) =
        consumer_with(&pool, &topics, RecordEffect { flaky_failures: failures.clone(), ..RecordEffect::default() });
    let group = unique("group");
    let (trigger, task) = start(consumer, &group);
    // received and failing: for three commit intervals its offset stays uncommitted
    eventually("the message delivered", || async { failures.load(SeqCst) < u32::MAX }).await;
    let interval = Duration::from_millis(u64::from(kafka_consumer::COMMIT_INTERVAL_MS));
    tokio::time::sleep(interval * 3).await;
    assert_eq!(effects(&pool, flaky).await, 0);
    assert_eq!(committed(&group, &topic).await, Offset::Invalid, "an offset committed before its effect");
    // applied: the timer commits its offset while the consumer runs on (no shutdown, no message after it)
    failures.store(0, SeqCst);
    eventually("the message applied", || async { effects(&pool, flaky).await == 1 }).await;
    eventually("its offset committed by the timer", || async { committed(&group, &topic).await == Offset::Offset(1) })
        .await;
    trigger.fire();
    task.await.unwrap();
}

#[tokio::test]
async fn the_backlog_gauges_rise_while_the_broker_is_away_and_fall_once_it_is_back() {
    let pool = fresh_pool("kafka_backlog").await;
    let topics = new_topics("backlog").await;
    for order in ["o-1", "o-2", "o-3"] {
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        outbox::append(&tx, topics::ORDER_PAID, order, &json!({"orderNumber": order})).await.unwrap();
        tx.commit().await.unwrap();
    }
    let metrics = OutboxMetrics::register(&prometheus::Registry::new()).unwrap();
    let interval = Duration::from_millis(50);
    // no broker listens there: each send fails after the producer's message timeout and the rows stay
    let away = KafkaPublisher::new(kafka::producer(&Broker::plaintext("127.0.0.1:1")).unwrap(), topics.clone());
    let (trigger, shutdown) = Shutdown::manual();
    let relay = tokio::spawn(outbox::run_relay(pool.clone(), away, interval, metrics.clone(), shutdown));
    eventually("the gauges show three waiting rows", || async { metrics.backlog().pending == 3 }).await;
    assert!(metrics.backlog().oldest_age_seconds > 0.0, "{:?}", metrics.backlog());
    trigger.fire();
    relay.await.unwrap();

    let back = KafkaPublisher::new(kafka::producer(&broker()).unwrap(), topics.clone());
    let (trigger, shutdown) = Shutdown::manual();
    let relay = tokio::spawn(outbox::run_relay(pool.clone(), back, interval, metrics.clone(), shutdown));
    eventually("the gauges fall to zero", || async {
        metrics.backlog() == outbox::Backlog { pending: 0, oldest_age_seconds: 0.0 }
    })
    .await;
    trigger.fire();
    relay.await.unwrap();
    assert_eq!(read_all(&topics.channel(topics::ORDER_PAID).unwrap(), 3).await.len(), 3);
}

/// The settings of a service on `servers` under a fresh topic prefix, with `security`.
fn kafka_args(servers: String, security: KafkaSecurityArgs) -> KafkaArgs {
    KafkaArgs {
        kafka_bootstrap_servers: servers,
        kafka_topic_prefix: unique("secure"),
        kafka_group_id: None,
        outbox_relay_interval_ms: 50,
        kafka_topic_partitions: 1,
        kafka_topic_replication: 1,
        kafka_consumer_instances: 1,
        security,
    }
}

/// A file holding `content`, for the password setting.
fn secret_file(content: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(unique("kafka-password"));
    std::fs::write(&path, content).unwrap();
    path
}

fn sasl(mechanism: SaslMechanism, user: &str, password: &str) -> KafkaSecurityArgs {
    KafkaSecurityArgs {
        kafka_security_protocol: SecurityProtocol::SaslPlaintext,
        kafka_sasl_mechanism: Some(mechanism),
        kafka_sasl_username: Some(user.to_string()),
        kafka_sasl_password_file: Some(secret_file(&format!("{password}\n"))),
        kafka_ssl_ca_location: None,
    }
}

fn tls(ca: Option<String>) -> KafkaSecurityArgs {
    KafkaSecurityArgs {
        kafka_security_protocol: SecurityProtocol::Ssl,
        kafka_ssl_ca_location: ca.map(Into::into),
        ..Default::default()
    }
}

/// Connects as a service does (the topics created through the listener), publishes a message through the
/// relay's publisher and has a saga consumer — its own clients from the same settings — apply it.
async fn round_trip(case: &str, args: &KafkaArgs, pool: &Pool) {
    let connection = args.connect().await.unwrap_or_else(|error| panic!("{case}: {error}"));
    let topics = args.topics();
    let id = unique(case);
    KafkaPublisher::new(connection.producer.clone(), topics.clone())
        .publish(&message(&id, json!({})))
        .await
        .unwrap_or_else(|error| panic!("{case}: {error}"));
    let (consumer, _) = consumer(pool, &topics);
    let (trigger, task) = start_on(connection.broker.clone(), consumer, &unique("secure-group"));
    eventually(&format!("{case}: the message consumed"), || async { effects(pool, &id).await == 1 }).await;
    trigger.fire();
    task.await.unwrap();
    kafka::ping(&connection.producer, Duration::from_secs(10)).await.unwrap_or_else(|error| panic!("{case}: {error}"));
}

/// Connecting fails at once (not after [`kafka::CONNECT_TIMEOUT`]) with an error that says what was refused
/// and which settings to check, never showing the password.
async fn refused(case: &str, args: &KafkaArgs, says: &[&str], password: &str) {
    let started = Instant::now();
    let error = match args.connect().await {
        Ok(_) => panic!("{case}: connected"),
        Err(error) => error,
    };
    assert!(matches!(error, kafka::KafkaError::Refused(_)), "{case}: {error:?}");
    let error = error.to_string();
    for part in says {
        assert!(error.contains(part), "{case}: {error:?} does not say {part:?}");
    }
    assert!(!error.contains(password), "{case}: the error shows the password");
    let waited = started.elapsed();
    assert!(waited < kafka::CONNECT_TIMEOUT / 2, "{case}: refused only after {waited:?}");
}

#[tokio::test]
async fn a_sasl_login_carries_the_saga_and_a_wrong_password_is_refused_saying_so() {
    let servers = test_broker::sasl_bootstrap().unwrap_or_else(|error| panic!("{error}"));
    let pool = fresh_pool("kafka_sasl").await;
    let (user, password) = (test_broker::SASL_USER, test_broker::SASL_PASSWORD);
    for (case, mechanism) in [
        ("plain", SaslMechanism::Plain),
        ("scram_sha_256", SaslMechanism::ScramSha256),
        ("scram_sha_512", SaslMechanism::ScramSha512),
    ] {
        round_trip(case, &kafka_args(servers.clone(), sasl(mechanism, user, password)), &pool).await;
    }
    let wrong = "not-the-password-42";
    let login = ["refused the SASL login", "KAFKA_SASL_PASSWORD_FILE"];
    for (case, mechanism, user) in [
        ("scram_sha_512_wrong_password", SaslMechanism::ScramSha512, user),
        ("plain_wrong_password", SaslMechanism::Plain, user),
        ("scram_unknown_user", SaslMechanism::ScramSha512, "nobody-here"),
    ] {
        refused(case, &kafka_args(servers.clone(), sasl(mechanism, user, wrong)), &login, wrong).await;
    }
}

#[tokio::test]
async fn tls_with_the_brokers_ca_carries_the_saga_and_without_it_the_handshake_is_refused_saying_so() {
    let servers = test_broker::tls_bootstrap().unwrap_or_else(|error| panic!("{error}"));
    let ca = test_broker::tls_ca().unwrap_or_else(|error| panic!("{error}"));
    let pool = fresh_pool("kafka_tls").await;
    round_trip("tls_with_ca", &kafka_args(servers.clone(), tls(Some(ca))), &pool).await;
    let says = ["TLS handshake", "KAFKA_SSL_CA_LOCATION"];
    refused("tls_system_roots", &kafka_args(servers, tls(None)), &says, test_broker::SASL_PASSWORD).await;
}

#[tokio::test]
async fn settings_that_do_not_fit_are_refused_before_any_connection() {
    // a broker that cannot answer: the settings are refused before it is tried
    let args = kafka_args(
        "127.0.0.1:1".into(),
        KafkaSecurityArgs { kafka_sasl_mechanism: Some(SaslMechanism::ScramSha512), ..Default::default() },
    );
    let error = args.connect().await.err().map(|error| error.to_string()).unwrap_or_default();
    assert!(error.contains("KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"), "{error}");
}
