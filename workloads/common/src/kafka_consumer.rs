//! The idempotent consumer of the saga: subscribes a group to topics with manual offsets; the messages received
//! at once (up to [`BATCH_MAX`]) have their effects run in ONE database transaction that first records their
//! message ids (`inbox`), the transaction commits, and only then the offsets (sent without waiting; the last
//! ones waited for at shutdown). A batch that fails is rolled back and its messages applied one by one, each
//! in its own transaction. A permanent failure goes
//! to `<prefix>.dead-letter`; a transient one is retried with backoff. It knows no domain: the service's
//! [`Handler`] does.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use futures::future::BoxFuture;
use futures::FutureExt as _;
use prometheus::{IntCounterVec, Opts, Registry};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::util::Timeout;
use rdkafka::Offset;
use serde_json::Value;

use crate::database::DbError;
use crate::inbox;
use crate::kafka::client::{Broker, BrokerContext, Producer};
use crate::kafka::{self, KafkaError, MESSAGE_ID_HEADER};
use crate::refusal::RepositoryError;
use crate::shutdown::Shutdown;
use crate::topics::Topics;

/// A message as the handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The broker topic it came from.
    pub topic: String,
    /// The outbox message id (the dedup key).
    pub message_id: String,
    /// The partitioning key.
    pub key: String,
    /// The JSON body.
    pub payload: Value,
}

impl Delivery {
    /// The body read as `T`; a body that is not a `T` is a permanent error (it goes to the dead letters).
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|error| HandlerError::Permanent(format!("not a valid message: {error}")))
    }
}

/// Why a message's effect failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retrying cannot help (a malformed message, a refused command): it goes to the dead-letter topic.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Retrying may help (the database is down): the message is retried, its offset not committed.
    #[error("transient: {0}")]
    Transient(String),
}

impl From<DbError> for HandlerError {
    fn from(error: DbError) -> Self {
        if error.is_transient() {
            HandlerError::Transient(error.to_string())
        } else {
            HandlerError::Permanent(error.to_string())
        }
    }
}

impl From<RepositoryError> for HandlerError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Database(error) => error.into(),
            RepositoryError::Rejected(error) => HandlerError::Permanent(error.to_string()),
        }
    }
}

/// The effect of a message, run inside the consumer's transaction (write through `tx`, never the pool).
pub trait Handler: Send + Sync {
    /// Applies `delivery`; the consumer commits `tx` when this returns `Ok`.
    fn handle<'a>(&'a self, tx: &'a Transaction<'a>, delivery: &'a Delivery)
        -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its effect was applied and committed.
    Applied,
    /// It was applied before (a re-delivery): nothing was done.
    Duplicate,
}

/// Runs `handler` on `delivery` in one transaction that first records the message id for `consumer`, and
/// commits it. The offset is the caller's business.
pub async fn apply(
    pool: &Pool,
    consumer: &str,
    handler: &dyn Handler,
    delivery: &Delivery,
) -> Result<Outcome, HandlerError> {
    let applied = apply_batch(pool, consumer, handler, std::slice::from_ref(delivery)).await?;
    Ok(if applied == 1 { Outcome::Applied } else { Outcome::Duplicate })
}

/// Most messages applied in one transaction: the ones the consumer has received when it starts a batch.
pub const BATCH_MAX: usize = 64;

/// Runs `handler` on each of `deliveries` in order, in ONE transaction that first records their message ids
/// for `consumer` (a message applied before, or listed twice, has its effect once), and commits it; any
/// failure rolls the whole batch back. Returns how many effects were applied. The offsets are the caller's
/// business.
pub async fn apply_batch(
    pool: &Pool,
    consumer: &str,
    handler: &dyn Handler,
    deliveries: &[Delivery],
) -> Result<usize, HandlerError> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    let ids: Vec<&str> = deliveries.iter().map(|delivery| delivery.message_id.as_str()).collect();
    let mut first = inbox::first_deliveries(&tx, consumer, &ids).await?;
    let mut applied = 0;
    for delivery in deliveries {
        if first.remove(&delivery.message_id) {
            handler.handle(&tx, delivery).await?;
            applied += 1;
        }
    }
    tx.commit().await.map_err(DbError::from)?;
    Ok(applied)
}

/// The consumer's counters.
#[derive(Clone)]
pub struct ConsumerMetrics {
    dead_letters: IntCounterVec,
}

impl ConsumerMetrics {
    /// Registers `saga_dead_letters_total{consumer}` in `registry`.
    pub fn register(registry: &Registry) -> Result<ConsumerMetrics, prometheus::Error> {
        let dead_letters = IntCounterVec::new(
            Opts::new("saga_dead_letters_total", "Messages sent to the dead-letter topic"),
            &["consumer"],
        )?;
        registry.register(Box::new(dead_letters.clone()))?;
        Ok(ConsumerMetrics { dead_letters })
    }

    /// How many messages `consumer` sent to the dead-letter topic (its series shows 0 from this call on).
    pub fn dead_letters(&self, consumer: &str) -> u64 {
        self.dead_letters.with_label_values(&[consumer]).get()
    }
}

/// One consumer: its group, topics, database and handler. A clone is another member of the same group (it
/// shares the handler), which the broker gives its own partitions.
#[derive(Clone)]
pub struct SagaConsumer {
    /// Its name in `processed_messages` and the metrics (one per effect, e.g. `gate-acl.order-paid`).
    pub name: String,
    /// The database its effects write.
    pub pool: Pool,
    /// The topic names (for the dead-letter topic).
    pub topics: Topics,
    /// The broker topics it reads.
    pub subscribe: Vec<String>,
    /// The effect.
    pub handler: Arc<dyn Handler>,
    /// Its counters.
    pub metrics: ConsumerMetrics,
}

impl SagaConsumer {
    /// `service`'s consumers over `pool`, one per `(effect, outbox topic it reads, handler)`, each named
    /// `<service>.<effect>`.
    pub fn all_of(
        service: &str,
        pool: &Pool,
        topics: &Topics,
        metrics: &ConsumerMetrics,
        effects: Vec<(&str, &str, Arc<dyn Handler>)>,
    ) -> Vec<SagaConsumer> {
        effects
            .into_iter()
            .map(|(effect, topic, handler)| SagaConsumer {
                name: format!("{service}.{effect}"),
                pool: pool.clone(),
                topics: topics.clone(),
                subscribe: topics.channel(topic).into_iter().collect(),
                handler,
                metrics: metrics.clone(),
            })
            .collect()
    }
}

/// How long the group coordinator waits for a member that stopped heartbeating (a crashed or killed
/// process: a stopped one leaves the group) before it hands the member's partitions to the others, in ms.
/// The client default, 45 s, stalls the group's partitions that long after every crash (and a restarted
/// member's join waits that long); this is the broker's minimum (`group.min.session.timeout.ms`).
pub const SESSION_TIMEOUT_MS: u32 = 6_000;

/// The settings of a saga consumer of `broker` in group `group_id`: manual offsets, from the earliest
/// message, a short session (see [`SESSION_TIMEOUT_MS`]).
pub fn consumer_config(broker: &Broker, group_id: &str) -> ClientConfig {
    let mut config = broker.client_config();
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", (SESSION_TIMEOUT_MS / 3).to_string());
    config
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl SagaConsumer {
    /// Consumes as group `group_id` from `broker` until `shutdown`; then finishes the in-flight message,
    /// commits its offset and returns.
    pub async fn run(self, broker: &Broker, group_id: &str, shutdown: Shutdown) -> Result<(), KafkaError> {
        let consumer: StreamConsumer<BrokerContext> =
            consumer_config(broker, group_id).create_with_context(BrokerContext::default())?;
        let subscribe: Vec<&str> = self.subscribe.iter().map(String::as_str).collect();
        consumer.subscribe(&subscribe)?;
        let dead_letters = kafka::producer(broker)?;
        tracing::info!(consumer = %self.name, topics = ?self.subscribe, "consuming");
        // the next offset of each partition's last processed message: committed without waiting after each
        // batch (a lost commit only re-delivers applied messages), and waited for once at shutdown
        let mut processed = TopicPartitionList::new();
        loop {
            let message = tokio::select! {
                biased;
                _ = shutdown.clone().requested() => break,
                message = consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(consumer = %self.name, %error, "receiving failed; retrying");
                    tokio::time::sleep(BACKOFF_FIRST).await;
                    continue;
                }
            };
            // the messages already received join the batch; none is waited for
            let mut batch = vec![message];
            while batch.len() < BATCH_MAX {
                match consumer.recv().now_or_never() {
                    Some(Ok(message)) => batch.push(message),
                    Some(Err(error)) => {
                        tracing::warn!(consumer = %self.name, %error, "receiving failed; applying what came");
                        break;
                    }
                    None => break,
                }
            }
            if !self.process_batch(&batch, &dead_letters, &shutdown).await {
                break;
            }
            let mut batch_offsets = TopicPartitionList::new();
            for message in &batch {
                let next = Offset::Offset(message.offset() + 1);
                let noted = [&mut processed, &mut batch_offsets].into_iter().try_for_each(|offsets| {
                    match offsets.find_partition(message.topic(), message.partition()) {
                        Some(_) => offsets.set_partition_offset(message.topic(), message.partition(), next),
                        None => offsets.add_partition_offset(message.topic(), message.partition(), next),
                    }
                });
                if let Err(error) = noted {
                    tracing::warn!(consumer = %self.name, %error, "noting an offset failed");
                }
            }
            if let Err(error) = consumer.commit(&batch_offsets, CommitMode::Async) {
                // the messages come again (a rebalance, the broker away) and are found applied: no harm
                tracing::warn!(consumer = %self.name, %error, "committing the offsets failed");
            }
        }
        if processed.count() > 0 {
            if let Err(error) = consumer.commit(&processed, CommitMode::Sync) {
                tracing::warn!(consumer = %self.name, %error, "committing the last offsets failed");
            }
        }
        tracing::info!(consumer = %self.name, "stopped consuming");
        Ok(())
    }

    /// Applies a batch of messages in one transaction; when that fails (or a message cannot be read), each
    /// one by one ([`Self::process`]). `true`: commit their offsets; `false`: shutdown interrupted the retries.
    async fn process_batch(&self, batch: &[BorrowedMessage<'_>], dead_letters: &Producer, shutdown: &Shutdown) -> bool {
        if batch.len() > 1 {
            let deliveries: Result<Vec<Delivery>, HandlerError> = batch.iter().map(delivery).collect();
            let result = match deliveries {
                Ok(deliveries) => apply_batch(&self.pool, &self.name, self.handler.as_ref(), &deliveries).await,
                Err(error) => Err(error),
            };
            match result {
                Ok(applied) => {
                    tracing::debug!(consumer = %self.name, messages = batch.len(), applied, "batch processed");
                    return true;
                }
                Err(error) => {
                    tracing::debug!(consumer = %self.name, %error, "batch rolled back; applying its messages one by one")
                }
            }
        }
        for message in batch {
            if !self.process(message, dead_letters, shutdown).await {
                return false;
            }
        }
        true
    }

    /// Applies one message until it is applied, a duplicate or dead-lettered (`true`: commit its offset), or
    /// shutdown interrupts the retries of a transient failure (`false`: leave the offset).
    async fn process(&self, message: &BorrowedMessage<'_>, dead_letters: &Producer, shutdown: &Shutdown) -> bool {
        let mut backoff = BACKOFF_FIRST;
        loop {
            let result = match delivery(message) {
                Ok(delivery) => apply(&self.pool, &self.name, self.handler.as_ref(), &delivery).await,
                Err(error) => Err(error),
            };
            match result {
                Ok(outcome) => {
                    tracing::debug!(consumer = %self.name, ?outcome, "message processed");
                    return true;
                }
                Err(HandlerError::Permanent(error)) => match self.dead_letter(message, &error, dead_letters).await {
                    Ok(()) => return true,
                    Err(send_error) => {
                        tracing::warn!(consumer = %self.name, %send_error, "dead-lettering failed; retrying")
                    }
                },
                Err(HandlerError::Transient(error)) => {
                    tracing::warn!(consumer = %self.name, %error, backoff_ms = backoff.as_millis() as u64, "retrying");
                }
            }
            tokio::select! {
                _ = shutdown.clone().requested() => return false,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn dead_letter(&self, message: &BorrowedMessage<'_>, error: &str, producer: &Producer) -> Result<(), String> {
        let mut headers = OwnedHeaders::new()
            .insert(Header { key: "error", value: Some(error) })
            .insert(Header { key: "source-topic", value: Some(message.topic()) })
            .insert(Header { key: "consumer", value: Some(self.name.as_str()) });
        if let Some(message_id) = header(message, MESSAGE_ID_HEADER) {
            headers = headers.insert(Header { key: MESSAGE_ID_HEADER, value: Some(message_id.as_str()) });
        }
        let topic = self.topics.dead_letter();
        let mut record = FutureRecord::<[u8], [u8]>::to(&topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        producer
            .inner()
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .map_err(|(error, _)| error.to_string())?;
        self.metrics.dead_letters.with_label_values(&[self.name.as_str()]).inc();
        tracing::warn!(consumer = %self.name, %error, %topic, "message dead-lettered");
        Ok(())
    }
}

fn header(message: &BorrowedMessage<'_>, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// The message as a [`Delivery`]; a message without a message id or with a body that is not JSON is
/// permanently unprocessable.
fn delivery(message: &BorrowedMessage<'_>) -> Result<Delivery, HandlerError> {
    let message_id = header(message, MESSAGE_ID_HEADER)
        .ok_or_else(|| HandlerError::Permanent(format!("no {MESSAGE_ID_HEADER} header")))?;
    let payload = serde_json::from_slice(message.payload().unwrap_or_default())
        .map_err(|error| HandlerError::Permanent(format!("the body is not JSON: {error}")))?;
    Ok(Delivery {
        topic: message.topic().to_string(),
        message_id,
        key: message.key().map(|key| String::from_utf8_lossy(key).into_owned()).unwrap_or_default(),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_members_partitions_move_within_seconds() {
        let config = consumer_config(&Broker::plaintext("127.0.0.1:9092"), "group");
        let session: u32 = config.get("session.timeout.ms").and_then(|ms| ms.parse().ok()).unwrap_or(45_000);
        let heartbeat: u32 = config.get("heartbeat.interval.ms").and_then(|ms| ms.parse().ok()).unwrap_or(3_000);
        assert!(session <= 10_000, "a killed consumer's partitions wait {session} ms for another member");
        assert!(heartbeat * 3 <= session, "at least three heartbeats per session");
        assert_eq!(config.get("enable.auto.commit"), Some("false"), "offsets only after the database commit");
    }
}
