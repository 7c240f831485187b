//! A service's own PostgreSQL database: the settings (`DATABASE_URL`, pool size), the connection pool, the
//! readiness ping and the error type of every query. It knows no table; the service's repository does.
//!
//! Why `tokio-postgres` + `deadpool-postgres` and not `sqlx`: the services write plain SQL in one repository
//! module each and need no compile-time query checking (so no database at build time) and no ORM; the plain
//! client and its small pool build in a fraction of sqlx's time and dependencies on the 2-core machines here,
//! expose PostgreSQL's own error codes (serialization failures, unique violations) directly, and migrations
//! are a few lines (`migrations.rs`).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// The database settings every service takes, from the environment.
#[derive(clap::Args, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the service's own database, e.g. postgres://user:password@host:5432/ticketing
    /// (holds a password: set it from a Secret; it is never logged)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Most connections the service opens to its database
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: usize,
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &"<redacted>")
            .field("database_pool_size", &self.database_pool_size)
            .finish()
    }
}

/// A failed database operation.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse (the message names the problem, never the password).
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Url(String),
    /// No connection could be had from the pool (the server is down or unreachable).
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// A stored value the code does not know (a row written by a newer version, or edited by hand).
    #[error("unexpected stored value: {0}")]
    Unexpected(String),
}

impl DbError {
    /// The SQLSTATE of a failed statement, when the server sent one (e.g. `23505` unique violation).
    pub fn sql_state(&self) -> Option<&str> {
        match self {
            DbError::Query(error) => error.code().map(|code| code.code()),
            _ => None,
        }
    }

    /// Whether retrying may succeed: the connection failed, or the server could not serialize the
    /// transaction or found a deadlock.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Url(_) | DbError::Unexpected(_) => false,
            DbError::Pool(_) => true,
            DbError::Query(error) => error.is_closed() || matches!(self.sql_state(), Some("40001" | "40P01")),
        }
    }
}

/// Opens the pool (connections are made lazily, so this succeeds while the server is down).
pub fn connect(url: &str, max_size: usize) -> Result<Pool, DbError> {
    let config: tokio_postgres::Config = url.parse().map_err(|error: tokio_postgres::Error| {
        // the parser's messages name the bad part, not the value
        DbError::Url(error.to_string())
    })?;
    let mut config = config;
    config.connect_timeout(Duration::from_secs(5));
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|error| DbError::Url(error.to_string()))
}

/// Whether the database answers `SELECT 1` within a second (for `/readyz`).
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let check = async {
        let client = pool.get().await.map_err(|error| error.to_string())?;
        client.simple_query("SELECT 1").await.map_err(|error| error.to_string())?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(1), check)
        .await
        .unwrap_or_else(|_| Err("the database did not answer within 1 s".to_string()))
}
