//! For tests only: a fresh, empty database per test on the PostgreSQL server `MICROFLEET_PG_URL` names
//! (`scripts/postgres.sh up`), so tests run in parallel without seeing each other's rows. Without the
//! variable it fails, saying how to start the server; it never skips.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The variable naming the test server.
pub const URL_VARIABLE: &str = "MICROFLEET_PG_URL";

/// Creates a database named after `prefix` (plus the process id, a counter and the time) and returns
/// its URL.
pub async fn create(prefix: &str) -> Result<String, String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let server = std::env::var(URL_VARIABLE).map_err(|_| {
        format!("{URL_VARIABLE} is not set: run `eval \"$(scripts/postgres.sh up)\"` (a real PostgreSQL) first")
    })?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{}_{}_{}_{}",
        prefix.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    let (client, connection) = tokio_postgres::connect(&server, NoTls)
        .await
        .map_err(|error| format!("cannot connect to {URL_VARIABLE} (is scripts/postgres.sh up?): {error}"))?;
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.map_err(|error| error.to_string())?;
    drop(client);
    let _ = connection.await;
    Ok(with_database(&server, &name))
}

/// Opens `count` connections of `pool` one after the other and hands them back to it, so that a test's
/// burst of concurrent clients finds them open: on a loaded machine, dozens of connections made at the
/// same moment can outlast the pool's create timeout.
pub async fn warm_up(pool: &deadpool_postgres::Pool, count: usize) -> Result<(), String> {
    let mut open = Vec::with_capacity(count);
    for _ in 0..count {
        open.push(pool.get().await.map_err(|error| format!("cannot open a test connection: {error}"))?);
    }
    Ok(())
}

/// The URL with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_database() {
        let cases = [
            ("plain", "postgres://u:p@127.0.0.1:15432/postgres", "postgres://u:p@127.0.0.1:15432/t1"),
            ("no_database", "postgres://u:p@127.0.0.1:15432", "postgres://u:p@127.0.0.1:15432/t1"),
            ("query_kept", "postgres://u:p@h/postgres?sslmode=disable", "postgres://u:p@h/t1?sslmode=disable"),
        ];
        for (case, url, expected) in cases {
            assert_eq!(with_database(url, "t1"), expected, "{case}");
        }
    }
}
