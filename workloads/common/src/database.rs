//! A service's own PostgreSQL database: the settings (`DATABASE_URL`, pool size), the connection pool, the
//! readiness ping, the error type of every query and [`PipelinedTransaction`] (a transaction whose `BEGIN` and
//! `COMMIT` travel with its statements). It knows no table; the service's repository does.
//!
//! Why `tokio-postgres` + `deadpool-postgres` and not `sqlx`: the services write plain SQL in one repository
//! module each and need no compile-time query checking (so no database at build time) and no ORM; the plain
//! client and its small pool build in a fraction of sqlx's time and dependencies on the 2-core machines here,
//! expose PostgreSQL's own error codes (serialization failures, unique violations) directly, and migrations
//! are a few lines (`migrations.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
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
    /// A statement failed (shown with the server's message and SQLSTATE when it sent one).
    #[error("database: {}", query_message(.0))]
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

    /// The constraint a failed statement violated, when the server named one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::Query(error) => error.as_db_error().and_then(|error| error.constraint()),
            _ => None,
        }
    }

    /// Whether retrying may succeed: the connection failed or broke (closed, an I/O error), the server is
    /// shutting down, restarting or recovering from a crash, is short of resources, or could not serialize
    /// the transaction or found a deadlock ([`transient_sql_state`]).
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Url(_) | DbError::Unexpected(_) => false,
            DbError::Pool(_) => true,
            DbError::Query(error) => {
                let io = std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>());
                error.is_closed() || io || self.sql_state().is_some_and(transient_sql_state)
            }
        }
    }
}

/// Whether a statement refused with this SQLSTATE may succeed when retried: a connection exception (class
/// `08`), an operator intervention — the server shutting down, crashed or starting up (`57P01`, `57P02`,
/// `57P03`; a crash of PostgreSQL ends every session with one of these) —, insufficient resources (class
/// `53`: too many connections, out of memory or disk), a serialization failure or deadlock (`40001`,
/// `40P01`), a lock not available (`55P03`). Anything else (a constraint, a syntax or type error) would fail
/// again.
pub fn transient_sql_state(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03")
}

/// A failed statement as shown: the server's message and SQLSTATE when it sent one (tokio-postgres shows
/// only "db error"); never a parameter value (the server's `detail` is left out).
fn query_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
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

/// A transaction on a pooled connection whose `BEGIN` and `COMMIT` cost no round trip of their own: join
/// [`begin`](Self::begin) with the first statements and [`commit`](Self::commit) with the last ones
/// (`tokio::join!` sends them in that order before awaiting any answer: tokio-postgres pipelines them).
/// Statements joined after a failed one fail too (the server aborted the transaction), and a `COMMIT` after
/// a failed statement rolls back, so a pipeline never half-writes. Finish with [`end`](Self::end), which rolls
/// back a transaction left open by an error; one dropped while open (its request cancelled) closes the
/// connection instead of returning it to the pool, which rolls back on the server. Prepare the statements
/// before the join (a statement prepared inside it is sent after the `COMMIT`), and join with `biased;` to
/// pin the order. `open` is atomic because `begin` and `commit` run inside joins that share `&self`.
pub struct PipelinedTransaction {
    client: Option<Object>,
    open: AtomicBool,
}

impl PipelinedTransaction {
    /// Wraps a pooled connection; nothing is sent yet.
    pub fn new(client: Object) -> Self {
        PipelinedTransaction { client: Some(client), open: AtomicBool::new(false) }
    }

    /// The connection to send the transaction's statements on.
    pub fn client(&self) -> &Object {
        // `client` is only taken by `drop`
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pipelined transaction's connection is taken only on drop"))
    }

    /// Sends `BEGIN`; join it with the transaction's first statements.
    pub async fn begin(&self) -> Result<(), DbError> {
        self.open.store(true, Ordering::SeqCst);
        Ok(self.client().batch_execute("BEGIN").await?)
    }

    /// Sends `COMMIT`; join it with the transaction's last statements (when one of them failed, the server
    /// rolls back instead).
    pub async fn commit(&self) -> Result<(), DbError> {
        let committed = self.client().batch_execute("COMMIT").await;
        // answered, so the transaction is over, committed or not
        self.open.store(false, Ordering::SeqCst);
        Ok(committed?)
    }

    /// Sends `ROLLBACK`; join it with the statements of a transaction that only reads what it did (a probe).
    /// Failing, it leaves the transaction counted open: the connection is then closed, not reused.
    pub async fn rollback(&self) -> Result<(), DbError> {
        self.client().batch_execute("ROLLBACK").await?;
        self.open.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Returns `result`, after rolling back when the transaction is still open (an error before its
    /// `COMMIT`); a connection whose `ROLLBACK` fails is not reused.
    pub async fn end<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if self.open.load(Ordering::SeqCst) {
            // failing, the connection is closed on drop
            let _ = self.rollback().await;
        }
        result
    }
}

impl Drop for PipelinedTransaction {
    fn drop(&mut self) {
        if self.open.load(Ordering::SeqCst) {
            if let Some(client) = self.client.take() {
                // detached from the pool and dropped: the connection closes and the server rolls back
                drop(Object::take(client));
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_or_restart_of_the_server_is_transient_and_a_refused_statement_is_not() {
        let cases = [
            ("admin_shutdown", "57P01", true),
            ("crash_shutdown", "57P02", true),
            ("starting_up", "57P03", true),
            ("connection_failure", "08006", true),
            ("connection_exception", "08000", true),
            ("too_many_connections", "53300", true),
            ("serialization_failure", "40001", true),
            ("deadlock", "40P01", true),
            ("lock_not_available", "55P03", true),
            ("unique_violation", "23505", false),
            ("check_violation", "23514", false),
            ("syntax_error", "42601", false),
            ("undefined_table", "42P01", false),
            ("query_canceled", "57014", false),
        ];
        for (case, code, transient) in cases {
            assert_eq!(transient_sql_state(code), transient, "{case} ({code})");
        }
    }
}
