//! The saga services' side of the broker: the Kafka settings every saga service takes, the idempotent
//! producer, the [`KafkaPublisher`] the outbox relay publishes through, the broker readiness check and the
//! saga topics. It owns no table and decides nothing about the messages it carries.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use super::client::{Broker, BrokerContext, Producer, Refusal};
use super::security::{KafkaSecurityArgs, KafkaSettingsError};
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
    /// TLS and SASL.
    #[command(flatten)]
    pub security: KafkaSecurityArgs,
}

/// How long a service waits at start-up for the brokers to answer (a refused login or TLS handshake ends
/// the wait at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The brokers a service reached at start-up, and its producer.
#[derive(Clone)]
pub struct KafkaConnection {
    /// The brokers (every other client of the service is configured from them).
    pub broker: Broker,
    /// The service's producer (the relay's; the readiness check pings through it).
    pub producer: Producer,
}

impl KafkaArgs {
    /// The topic names under the configured prefix.
    pub fn topics(&self) -> Topics {
        Topics::new(&self.kafka_topic_prefix)
    }

    /// The brokers with the checked security settings (the password file read); refused settings name the
    /// setting and the fix.
    pub fn broker(&self) -> Result<Broker, KafkaSettingsError> {
        Ok(Broker::new(&self.kafka_bootstrap_servers, self.security.resolve()?))
    }

    /// Checks the settings, waits for the brokers to answer (at most [`CONNECT_TIMEOUT`]; a refused login or
    /// TLS handshake fails at once, saying which), creates the saga topics that are missing, and returns the
    /// service's producer.
    pub async fn connect(&self) -> Result<KafkaConnection, KafkaError> {
        let broker = self.broker()?;
        let producer = producer(&broker)?;
        wait_for_broker(&broker, &producer, CONNECT_TIMEOUT).await?;
        ensure_topics(&broker, &self.topics(), self.kafka_topic_partitions, self.kafka_topic_replication).await?;
        Ok(KafkaConnection { broker, producer })
    }

    /// Starts the relay of `pool`'s outbox (setting `outbox_metrics`) and each consumer (group
    /// `<group id>.<consumer name>`, the group id defaulting to `service`; `kafka_consumer_instances` members
    /// each; their dead letters go through the connection's producer, the relay's: one producer per service);
    /// they stop at `shutdown`. Await the handles to finish their in-flight work.
    pub fn start(
        &self,
        service: &str,
        pool: &Pool,
        connection: KafkaConnection,
        consumers: Vec<SagaConsumer>,
        outbox_metrics: OutboxMetrics,
        shutdown: &Shutdown,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let KafkaConnection { broker, producer } = connection;
        let publisher = KafkaPublisher::new(producer.clone(), self.topics());
        let interval = Duration::from_millis(self.outbox_relay_interval_ms);
        let relay = outbox::run_relay(pool.clone(), publisher, interval, outbox_metrics, shutdown.clone());
        let mut tasks = vec![tokio::spawn(relay)];
        let group_id = self.kafka_group_id.as_deref().unwrap_or(service);
        for consumer in consumers {
            // the consumer's dead-letter series is scraped at 0 from the start, so alerts see it rise
            consumer.metrics.dead_letters(&consumer.name);
            for _ in 0..self.kafka_consumer_instances {
                let (broker, group, shutdown) =
                    (broker.clone(), format!("{group_id}.{}", consumer.name), shutdown.clone());
                let (consumer, dead_letters) = (consumer.clone(), producer.clone());
                tasks.push(tokio::spawn(async move {
                    let name = consumer.name.clone();
                    if let Err(error) = consumer.run(&broker, &group, &dead_letters, shutdown).await {
                        tracing::error!(consumer = %name, %error, "consumer stopped");
                    }
                }));
            }
        }
        tasks
    }
}

/// A Kafka client that could not be made, or brokers that could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The TLS or SASL settings do not fit together, or a file they name cannot serve.
    #[error(transparent)]
    Settings(#[from] KafkaSettingsError),
    /// The client configuration was refused.
    #[error("kafka client: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// The broker refused the SASL login or the TLS handshake.
    #[error("{0}")]
    Refused(Refusal),
    /// The brokers did not answer in time.
    #[error("the brokers {servers} did not answer within {seconds} s: {reason}")]
    Unreachable {
        /// The bootstrap servers.
        servers: String,
        /// How long they were waited for.
        seconds: u64,
        /// The last error.
        reason: String,
    },
    /// A topic could not be created.
    #[error("cannot create topic {0}: {1}")]
    Topic(String, RDKafkaErrorCode),
}

/// An idempotent producer (`acks=all`) on `broker`: a retried send is written once, in order per partition.
pub fn producer(broker: &Broker) -> Result<Producer, KafkaError> {
    let mut config = broker.client_config();
    config.set("enable.idempotence", "true").set("acks", "all").set("message.timeout.ms", "10000");
    Ok(Producer::create(&config)?)
}

/// Waits until `broker` answers `producer` (a metadata fetch), at most `timeout`; a refused login or TLS
/// handshake fails at once.
pub async fn wait_for_broker(broker: &Broker, producer: &Producer, timeout: Duration) -> Result<(), KafkaError> {
    let start = Instant::now();
    loop {
        let error = match fetch_metadata(producer, Duration::from_secs(1)).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if let Some(refusal) = producer.refusal() {
            return Err(KafkaError::Refused(refusal));
        }
        if start.elapsed() >= timeout {
            let (servers, seconds) = (broker.servers().to_string(), timeout.as_secs());
            return Err(KafkaError::Unreachable { servers, seconds, reason: error });
        }
    }
}

async fn fetch_metadata(producer: &Producer, timeout: Duration) -> Result<(), String> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || producer.inner().client().fetch_metadata(None, timeout).map(|_| ()))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}

/// Publishes outbox rows to their broker topic: key = the row's key, the message id in a header.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: Producer,
    topics: Topics,
}

impl KafkaPublisher {
    /// A publisher on `producer` under these topic names.
    pub fn new(producer: Producer, topics: Topics) -> KafkaPublisher {
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
            .inner()
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error.to_string())?;
        Ok(())
    }
}

/// Whether the broker answers a metadata request within `timeout` (for `/readyz`); when it does not, why
/// (a refused login or TLS handshake says so).
pub async fn ping(producer: &Producer, timeout: Duration) -> Result<(), String> {
    fetch_metadata(producer, timeout).await.map_err(|error| match producer.refusal() {
        Some(refusal) => refusal.to_string(),
        None => format!("the broker did not answer: {error}"),
    })
}

/// The `/readyz` check of the broker: a metadata fetch within 2 s.
pub fn readiness_check(producer: Producer) -> ReadinessCheck {
    ReadinessCheck {
        name: "broker",
        check: Box::new(move || {
            let producer = producer.clone();
            Box::pin(async move { ping(&producer, Duration::from_secs(2)).await })
        }),
    }
}

/// Creates every saga topic under `topics` (and its dead-letter topic) that does not exist yet, on `broker`.
pub async fn ensure_topics(
    broker: &Broker,
    topics: &Topics,
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<BrokerContext> = broker.client_config().create_with_context(BrokerContext::default())?;
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
