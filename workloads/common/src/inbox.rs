//! The idempotent consumer's table: a consumer records each message id it applies, in the same transaction
//! as the effect, so a message delivered twice has its effect once. It does not read from the broker.

use std::collections::HashSet;

use deadpool_postgres::GenericClient;

use crate::database::DbError;
use crate::migrations::Migration;

/// The `processed_messages` table; list it among the service's migrations, before the service's own.
pub const MIGRATION: Migration = Migration {
    version: "0000_processed_messages",
    sql: "CREATE TABLE processed_messages (
        consumer TEXT NOT NULL,
        message_id TEXT NOT NULL,
        processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
    );",
};

/// Records that `consumer` applies `message_ids`, in the caller's transaction, in one statement: the ids
/// delivered for the first time (each once, however often it is listed); the others were applied before
/// (skip their effect and acknowledge them).
pub async fn first_deliveries(
    tx: &impl GenericClient,
    consumer: &str,
    message_ids: &[&str],
) -> Result<HashSet<String>, DbError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO processed_messages (consumer, message_id) SELECT $1, unnest($2::text[])
             ON CONFLICT DO NOTHING RETURNING message_id",
        )
        .await?;
    let inserted = tx.query(&insert, &[&consumer, &message_ids]).await?;
    Ok(inserted.iter().map(|row| row.get(0)).collect())
}
