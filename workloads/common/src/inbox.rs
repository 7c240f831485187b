//! The idempotent consumer's table: a consumer records each message id it applies, in the same transaction
//! as the effect, so a message delivered twice has its effect once. It does not read from the broker.

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

/// Records that `consumer` applies `message_id`, in the caller's transaction: `true` the first time, `false`
/// when it was applied before (then skip the effect and acknowledge the message).
pub async fn first_delivery(tx: &impl GenericClient, consumer: &str, message_id: &str) -> Result<bool, DbError> {
    let insert = tx
        .prepare_cached("INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .await?;
    let inserted = tx.execute(&insert, &[&consumer, &message_id]).await?;
    Ok(inserted == 1)
}
