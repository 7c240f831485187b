//! The idempotent consumer of the saga: subscribes a group to topics; the messages received at once (up to
//! [`BATCH_MAX`]) have their effects run in ONE database transaction that first records their message ids
//! (`inbox`), the transaction commits, and only then are their offsets stored in the client, which commits the
//! stored offsets to the broker every [`COMMIT_INTERVAL_MS`] (and on a rebalance, and at shutdown within
//! [`CLOSE_TIMEOUT`]): a crash re-delivers at most that interval's applied messages, found applied. A batch
//! that fails is rolled back and its messages applied one by one, each in its own transaction. A permanent
//! failure goes to `<prefix>.dead-letter`; a transient one is retried with backoff. It knows no domain: the
//! service's [`Handler`] does.

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
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::Offset;
use serde_json::Value;

use crate::database::DbError;
use crate::inbox;
use crate::kafka::client::{Broker, BrokerContext, Producer};
use crate::kafka::{KafkaError, MESSAGE_ID_HEADER};
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

/// How often the consumer commits the offsets it stored (each batch's, after its transaction committed), in
/// ms: one offset commit per interval and member instead of one per batch. A crash loses at most this
/// interval's commits, whose messages come again and are found applied (`inbox`).
pub const COMMIT_INTERVAL_MS: u32 = 1_000;

/// How long a stopping consumer waits for the broker to take its last offsets and its leaving the group: with
/// the broker away, shutdown ends after that (the uncommitted messages come again and are found applied).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of a saga consumer of `broker` in group `group_id`: offsets stored by the consumer after the
/// effect's transaction (never by the client on delivery) and committed every [`COMMIT_INTERVAL_MS`], from the
/// earliest message, a short session (see [`SESSION_TIMEOUT_MS`]).
pub fn consumer_config(broker: &Broker, group_id: &str) -> ClientConfig {
    let mut config = broker.client_config();
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", COMMIT_INTERVAL_MS.to_string())
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
        .set("heartbeat.interval.ms", (SESSION_TIMEOUT_MS / 3).to_string());
    config
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl SagaConsumer {
    /// Consumes as group `group_id` from `broker` until `shutdown`, sending dead letters through
    /// `dead_letters` (the service's producer: one librdkafka producer, with its threads and their wake-ups,
    /// per service rather than per consumer); then finishes the in-flight batch, commits the stored offsets
    /// and leaves the group (at most [`CLOSE_TIMEOUT`]) and returns.
    pub async fn run(
        self,
        broker: &Broker,
        group_id: &str,
        dead_letters: &Producer,
        shutdown: Shutdown,
    ) -> Result<(), KafkaError> {
        let consumer: StreamConsumer<BrokerContext> =
            consumer_config(broker, group_id).create_with_context(BrokerContext::default())?;
        let subscribe: Vec<&str> = self.subscribe.iter().map(String::as_str).collect();
        consumer.subscribe(&subscribe)?;
        tracing::info!(consumer = %self.name, topics = ?self.subscribe, "consuming");
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
            if !self.process_batch(&batch, dead_letters, &shutdown).await {
                break;
            }
            // only now, the effects committed: the client commits the stored offsets on its timer
            if let Err(error) = consumer.store_offsets(&next_offsets(&batch)) {
                // a partition taken away meanwhile: its new owner gets the messages again and finds them applied
                tracing::debug!(consumer = %self.name, %error, "storing the offsets failed");
            }
        }
        close(consumer, &self.name).await;
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

/// The offset after each partition's last message of `batch` (messages of a partition come in order).
fn next_offsets(batch: &[BorrowedMessage<'_>]) -> TopicPartitionList {
    let mut offsets = TopicPartitionList::new();
    for message in batch {
        let next = Offset::Offset(message.offset() + 1);
        let noted = match offsets.find_partition(message.topic(), message.partition()) {
            Some(_) => offsets.set_partition_offset(message.topic(), message.partition(), next),
            None => offsets.add_partition_offset(message.topic(), message.partition(), next),
        };
        if let Err(error) = noted {
            tracing::warn!(%error, "noting an offset failed");
        }
    }
    offsets
}

/// Commits `consumer`'s stored offsets and leaves its group, waiting at most [`CLOSE_TIMEOUT`]: librdkafka
/// blocks in both for as long as the broker is away.
async fn close(consumer: StreamConsumer<BrokerContext>, name: &str) {
    let closed = on_thread_within(CLOSE_TIMEOUT, move || {
        let committed = consumer.commit_consumer_state(CommitMode::Sync);
        drop(consumer);
        committed
    });
    match closed.await {
        Some(Ok(()) | Err(rdkafka::error::KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset))) => {}
        Some(Err(error)) => tracing::warn!(consumer = %name, %error, "committing the last offsets failed"),
        None => tracing::warn!(
            consumer = %name,
            seconds = CLOSE_TIMEOUT.as_secs(),
            "the broker did not take the last offsets in time; their messages come again and are found applied"
        ),
    }
}

/// Runs the blocking `work` on a thread of its own and waits for it at most `timeout`: `None` past it (the
/// thread is left to finish, or to end with the process) or when no thread could be started.
async fn on_thread_within<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("kafka-close".to_string()).spawn(move || {
        let _ = sender.send(work());
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no thread to close the consumer");
        return None;
    }
    tokio::time::timeout(timeout, receiver).await.ok()?.ok()
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
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"), "offsets only after the database commit");
    }

    #[tokio::test]
    async fn closing_waits_for_the_client_at_most_its_timeout() {
        let quick = on_thread_within(Duration::from_secs(5), || 7).await;
        assert_eq!(quick, Some(7), "a client that closes in time is waited for");
        let started = std::time::Instant::now();
        let stuck = on_thread_within(Duration::from_millis(200), || std::thread::sleep(Duration::from_secs(30))).await;
        assert_eq!(stuck, None);
        assert!(started.elapsed() < Duration::from_secs(5), "a client blocked by an absent broker is given up");
    }
}
