//! Schema migrations, run by a service's one-off `migrate` admin process: plain SQL files, applied in
//! order, each once, recorded in `schema_migrations` with their SHA-256; an applied file that was edited
//! afterwards is refused. All pending files run in one transaction under an advisory lock, so two `migrate`
//! processes at once are safe and a failing file leaves nothing applied. It must not be run by `serve`.

use deadpool_postgres::Pool;
use sha2::{Digest, Sha256};

use crate::database::{self, DatabaseArgs, DbError};
use crate::service::LoggingArgs;

/// One SQL file: a version that sorts in application order (`0001_ticketing`) and its statements.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Sorts in application order; recorded once applied.
    pub version: &'static str,
    /// The statements (several, separated by `;`).
    pub sql: &'static str,
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// A migration that was applied has changed since.
    #[error("migration {version} was applied with a different content: add a new migration instead of editing it")]
    Edited {
        /// The edited migration's version.
        version: String,
    },
    /// The list is not in strictly increasing version order.
    #[error("migration versions must increase: {0} comes after {1}")]
    OutOfOrder(&'static str, &'static str),
}

impl From<tokio_postgres::Error> for MigrationError {
    fn from(error: tokio_postgres::Error) -> Self {
        MigrationError::Database(DbError::Query(error))
    }
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Applies the migrations not applied yet; returns the versions it applied.
pub async fn apply(pool: &Pool, migrations: &[Migration]) -> Result<Vec<&'static str>, MigrationError> {
    for pair in migrations.windows(2) {
        if pair[1].version <= pair[0].version {
            return Err(MigrationError::OutOfOrder(pair[1].version, pair[0].version));
        }
    }
    let mut client = pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))", &[]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version TEXT PRIMARY KEY,
            checksum TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let mut applied = Vec::new();
    for migration in migrations {
        let sum = checksum(migration.sql);
        let row =
            tx.query_opt("SELECT checksum FROM schema_migrations WHERE version = $1", &[&migration.version]).await?;
        match row {
            Some(row) if row.get::<_, String>(0) == sum => continue,
            Some(_) => return Err(MigrationError::Edited { version: migration.version.to_string() }),
            None => {
                tx.batch_execute(migration.sql).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    &[&migration.version, &sum],
                )
                .await?;
                applied.push(migration.version);
            }
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Settings of a service's `migrate` process: its database and its logging.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Logging.
    #[command(flatten)]
    pub logging: LoggingArgs,
}

impl MigrateArgs {
    /// The `migrate` process: starts logging, connects, applies `migrations` and logs which ran.
    pub async fn run(self, migrations: &[Migration]) -> Result<(), String> {
        self.logging.init();
        let pool = database::connect(&self.database.database_url, 1).map_err(|error| error.to_string())?;
        let applied = apply(&pool, migrations).await.map_err(|error| error.to_string())?;
        tracing::info!(applied = ?applied, "database schema up to date");
        Ok(())
    }
}
