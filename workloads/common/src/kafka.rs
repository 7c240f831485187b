//! The broker side of the outbox: the Kafka settings every saga service takes, the idempotent producer, the
//! [`KafkaPublisher`] the outbox relay publishes through, and the broker readiness check. It owns no table
//! and decides nothing about the messages it carries.

use std::time::Duration;

use deadpool_postgres::Pool;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::kafka_consumer::SagaConsumer;
use crate::outbox::{self, OutboxMessage, OutboxMetrics, Publisher};
use crate::service::ReadinessCheck;
use crate::shutdown::Shutdown;
use crate::topics::Topics;

/// The header carrying the outbox message id (consumers deduplicate by it).
pub const MESSAGE_ID_HEADER: &str = "message-id";
/// The header carrying the outbox topic (`order.paid`).
pub const OUTBOX_TOPIC_HEADER: &str = "outbox-topic";

/// The Kafka settings every saga service takes, from the environment.
#[derive(clap::Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap_servers: String,
    /// Prefix of every saga topic (`<prefix>.order-paid`, `<prefix>.dead-letter`, ...)
    #[arg(long, env = "KAFKA_TOPIC_PREFIX", default_value = "ticketing")]
    pub kafka_topic_prefix: String,
    /// Prefix of this service's consumer groups, each `<prefix>.<consumer>` (default: the service's name)
    #[arg(long, env = "KAFKA_GROUP_ID")]
    pub kafka_group_id: Option<String>,
    /// Milliseconds between two outbox relay passes
    #[arg(long, env = "OUTBOX_RELAY_INTERVAL_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub outbox_relay_interval_ms: u64,
    /// Partitions of each saga topic the service creates when it is missing
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_topic_partitions: i32,
    /// Replication factor of each saga topic the service creates when it is missing
    #[arg(long, env = "KAFKA_TOPIC_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_topic_replication: i32,
    /// Members each consumer runs in its group: the broker spreads the topic's partitions among them, so that
    /// many partitions are applied at once (each partition's messages still in order)
    #[arg(long, env = "KAFKA_CONSUMER_INSTANCES", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub kafka_consumer_instances: u32,
}

impl KafkaArgs {
    /// The topic names under the configured prefix.
    pub fn topics(&self) -> Topics {
        Topics::new(&self.kafka_topic_prefix)
    }

    /// The service's producer, after creating the saga topics that are missing.
    pub async fn connect(&self) -> Result<FutureProducer, KafkaError> {
        let bootstrap = &self.kafka_bootstrap_servers;
        ensure_topics(bootstrap, &self.topics(), self.kafka_topic_partitions, self.kafka_topic_replication).await?;
        producer(bootstrap)
    }

    /// Starts the relay of `pool`'s outbox (setting `outbox_metrics`) and each consumer (group
    /// `<group id>.<consumer name>`, the group id defaulting to `service`; `kafka_consumer_instances` members
    /// each); they stop at `shutdown`. Await the handles to finish their in-flight work.
    pub fn start(
        &self,
        service: &str,
        pool: &Pool,
        producer: FutureProducer,
        consumers: Vec<SagaConsumer>,
        outbox_metrics: OutboxMetrics,
        shutdown: &Shutdown,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let publisher = KafkaPublisher::new(producer, self.topics());
        let interval = Duration::from_millis(self.outbox_relay_interval_ms);
        let relay = outbox::run_relay(pool.clone(), publisher, interval, outbox_metrics, shutdown.clone());
        let mut tasks = vec![tokio::spawn(relay)];
        let group_id = self.kafka_group_id.as_deref().unwrap_or(service);
        for consumer in consumers {
            // the consumer's dead-letter series is scraped at 0 from the start, so alerts see it rise
            consumer.metrics.dead_letters(&consumer.name);
            for _ in 0..self.kafka_consumer_instances {
                let (bootstrap, group, shutdown) =
                    (self.kafka_bootstrap_servers.clone(), format!("{group_id}.{}", consumer.name), shutdown.clone());
                let consumer = consumer.clone();
                tasks.push(tokio::spawn(async move {
                    let name = consumer.name.clone();
                    if let Err(error) = consumer.run(&bootstrap, &group, shutdown).await {
                        tracing::error!(consumer = %name, %error, "consumer stopped");
                    }
                }));
            }
        }
        tasks
    }
}

/// A Kafka client that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client configuration was refused.
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// A topic could not be created.
    #[error("cannot create topic {0}: {1}")]
    Topic(String, RDKafkaErrorCode),
}

/// An idempotent producer (`acks=all`): a retried send is written once, in order per partition.
pub fn producer(bootstrap: &str) -> Result<FutureProducer, KafkaError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "10000")
        .create()?)
}

/// Publishes outbox rows to their broker topic: key = the row's key, the message id in a header.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    topics: Topics,
}

impl KafkaPublisher {
    /// A publisher on `producer` under these topic names.
    pub fn new(producer: FutureProducer, topics: Topics) -> KafkaPublisher {
        KafkaPublisher { producer, topics }
    }
}

impl Publisher for KafkaPublisher {
    async fn publish(&self, message: &OutboxMessage) -> Result<(), String> {
        let topic = self
            .topics
            .channel(&message.topic)
            .ok_or_else(|| format!("no broker topic for outbox topic {}", message.topic))?;
        let payload = message.payload.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: MESSAGE_ID_HEADER, value: Some(message.message_id.as_str()) })
            .insert(Header { key: OUTBOX_TOPIC_HEADER, value: Some(message.topic.as_str()) });
        let record = FutureRecord::to(&topic).key(&message.key).payload(&payload).headers(headers);
        self.producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error.to_string())?;
        Ok(())
    }
}

/// Whether the broker answers a metadata request within `timeout` (for `/readyz`).
pub async fn ping(producer: &FutureProducer, timeout: Duration) -> Result<(), String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).map(|_| ()))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| format!("the broker did not answer: {error}"))
}

/// The `/readyz` check of the broker: a metadata fetch within 2 s.
pub fn readiness_check(producer: FutureProducer) -> ReadinessCheck {
    ReadinessCheck {
        name: "broker",
        check: Box::new(move || {
            let producer = producer.clone();
            Box::pin(async move { ping(&producer, Duration::from_secs(2)).await })
        }),
    }
}

/// Creates every saga topic under `topics` (and its dead-letter topic) that does not exist yet.
pub async fn ensure_topics(
    bootstrap: &str,
    topics: &Topics,
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", bootstrap).create()?;
    let names = topics.all();
    let new: Vec<NewTopic<'_>> =
        names.iter().map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(replication))).collect();
    for result in admin.create_topics(&new, &AdminOptions::new()).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(KafkaError::Topic(name, code)),
        }
    }
    Ok(())
}
