//! The transactional outbox: a service writes the message it must send in the same transaction as the
//! change it announces ([`append`]); a relay later publishes unpublished rows in order and marks them
//! ([`relay_batch`] with a [`Publisher`]), and after a pass (at most once a second) sets the backlog gauges
//! ([`OutboxMetrics`]).
//! Delivery is at-least-once: a crash between publishing and marking re-publishes, so consumers deduplicate
//! by `message_id` (see `inbox`). The broker client is not here.

use deadpool_postgres::{GenericClient, Pool};
use prometheus::{Gauge, IntGauge, Registry};
use serde_json::Value;
use tokio_postgres::Statement;

use crate::database::DbError;
use crate::migrations::Migration;

/// The `outbox` table; list it among the service's migrations, before the service's own.
pub const MIGRATION: Migration = Migration {
    version: "0000_outbox",
    sql: "CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        message_id UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
        topic TEXT NOT NULL CHECK (topic <> ''),
        message_key TEXT NOT NULL,
        payload JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        published_at TIMESTAMPTZ
    );
    CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;",
};

/// A message read back from the outbox, to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// The row's position: the order of writing.
    pub id: i64,
    /// Unique per message; consumers record it to apply a message once.
    pub message_id: String,
    /// The logical topic (`order.paid`); the relay maps it to the broker's topic name.
    pub topic: String,
    /// The partitioning key (an order number): messages with one key stay in order.
    pub key: String,
    /// The message body.
    pub payload: Value,
}

/// Writes a message in the caller's transaction (pass the transaction, never the pool); returns its
/// message id.
pub async fn append(tx: &impl GenericClient, topic: &str, key: &str, payload: &Value) -> Result<String, DbError> {
    let insert = append_statement(tx).await?;
    append_with(tx, &insert, topic, key, payload).await
}

/// The statement [`append_with`] runs, prepared on this connection (once: it is cached): prepare it before
/// sending the append in a pipeline.
pub async fn append_statement(client: &impl GenericClient) -> Result<Statement, DbError> {
    Ok(client
        .prepare_cached(
            "INSERT INTO outbox (topic, message_key, payload) VALUES ($1, $2, $3) RETURNING message_id::text",
        )
        .await?)
}

/// [`append`] with its statement prepared by [`append_statement`]: sends the message as soon as it is polled.
pub async fn append_with(
    tx: &impl GenericClient,
    insert: &Statement,
    topic: &str,
    key: &str,
    payload: &Value,
) -> Result<String, DbError> {
    let row = tx.query_one(insert, &[&topic, &key, payload]).await?;
    Ok(row.get(0))
}

/// Where the relay publishes: the broker (`kafka::KafkaPublisher`) or a test's recorder.
pub trait Publisher {
    /// Publishes one message; an error stops the batch, and the message is retried later.
    fn publish(&self, message: &OutboxMessage) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Publishes up to `limit` unpublished messages in the order written, all sent before any is awaited, and
/// marks the published ones up to the first failure; rows another relay is publishing are skipped. Returns how
/// many were marked.
pub async fn relay_batch(pool: &Pool, publisher: &impl Publisher, limit: i64) -> Result<usize, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let unpublished = tx
        .prepare_cached(
            "SELECT id, message_id::text, topic, message_key, payload FROM outbox
             WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .await?;
    let rows = tx.query(&unpublished, &[&limit]).await?;
    let messages: Vec<OutboxMessage> = rows
        .iter()
        .map(|row| OutboxMessage {
            id: row.get(0),
            message_id: row.get(1),
            topic: row.get(2),
            key: row.get(3),
            payload: row.get(4),
        })
        .collect();
    // all sent at once (the producer batches them and keeps each partition's order); the ones before the
    // first failure are marked, the rest are published again in a later pass (consumers deduplicate)
    if messages.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let outcomes = futures::future::join_all(messages.iter().map(|message| publisher.publish(message))).await;
    let mut published = Vec::with_capacity(messages.len());
    for (message, outcome) in messages.iter().zip(outcomes) {
        if let Err(error) = outcome {
            let (topic, message_id) = (&message.topic, &message.message_id);
            tracing::warn!(%topic, %message_id, %error, "publishing failed; retried later");
            break;
        }
        published.push(message.id);
    }
    let mark = tx.prepare_cached("UPDATE outbox SET published_at = now() WHERE id = ANY($1)").await?;
    tx.execute(&mark, &[&published]).await?;
    tx.commit().await?;
    Ok(published.len())
}

/// The messages waiting to be published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// How many rows are unpublished.
    pub pending: i64,
    /// The age in seconds of the oldest unpublished row; 0 when none waits.
    pub oldest_age_seconds: f64,
}

/// The outbox's backlog now.
pub async fn backlog(client: &impl GenericClient) -> Result<Backlog, DbError> {
    let row = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
             FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await?;
    Ok(Backlog { pending: row.get(0), oldest_age_seconds: row.get(1) })
}

/// The relay's gauges of the backlog, set after each pass: `saga_outbox_pending_messages` and
/// `saga_outbox_oldest_pending_age_seconds`. Cheap to clone.
#[derive(Clone)]
pub struct OutboxMetrics {
    pending: IntGauge,
    oldest_age: Gauge,
}

impl OutboxMetrics {
    /// Registers the gauges in `registry` (the service's, served at `/metrics`).
    pub fn register(registry: &Registry) -> Result<OutboxMetrics, prometheus::Error> {
        let pending = IntGauge::new("saga_outbox_pending_messages", "Outbox rows not yet published to the broker")?;
        let oldest_age = Gauge::new(
            "saga_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not yet published (0 when none waits)",
        )?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(oldest_age.clone()))?;
        Ok(OutboxMetrics { pending, oldest_age })
    }

    /// The backlog the gauges show now.
    pub fn backlog(&self) -> Backlog {
        Backlog { pending: self.pending.get(), oldest_age_seconds: self.oldest_age.get() }
    }

    fn set(&self, backlog: Backlog) {
        self.pending.set(backlog.pending);
        self.oldest_age.set(backlog.oldest_age_seconds);
    }
}

/// How often the relay reads the backlog for its gauges (a count over the unpublished rows).
const BACKLOG_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The relay: publishes a batch every `interval` until `shutdown`, setting `metrics` to the backlog after
/// a pass at most every [`BACKLOG_EVERY`]; the batch in flight when shutdown comes is finished (its published rows marked) before
/// returning. Database failures are logged and retried.
pub async fn run_relay(
    pool: Pool,
    publisher: impl Publisher,
    interval: std::time::Duration,
    metrics: OutboxMetrics,
    shutdown: crate::shutdown::Shutdown,
) {
    const BATCH: i64 = 500;
    let mut backlog_read: Option<tokio::time::Instant> = None;
    loop {
        let pass = relay_batch(&pool, &publisher, BATCH).await;
        if backlog_read.is_none_or(|read| read.elapsed() >= BACKLOG_EVERY) {
            backlog_read = Some(tokio::time::Instant::now());
            match pool.get().await.map_err(DbError::from) {
                Ok(client) => match backlog(&client).await {
                    Ok(backlog) => metrics.set(backlog),
                    Err(error) => tracing::debug!(%error, "reading the outbox backlog failed"),
                },
                Err(error) => tracing::debug!(%error, "reading the outbox backlog failed"),
            }
        }
        match pass {
            // a full batch: more may be waiting
            Ok(published) if published as i64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "outbox relay pass failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.clone().requested() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("outbox relay stopped");
}
