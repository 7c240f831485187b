//! The background sweeper of `serve`: every interval it expires the unpaid orders whose hold has ended,
//! releasing their seats, until shutdown. The rule and the SQL are the repository's.

use std::time::Duration;

use deadpool_postgres::Pool;
use jiff::Timestamp;
use microfleet_common::shutdown::Shutdown;

use crate::http::orders::EXPIRY_BATCH;
use crate::repository;

/// Runs until `shutdown`; a failed sweep is logged and retried at the next tick.
pub async fn run(pool: Pool, every: Duration, shutdown: Shutdown) {
    let stop = shutdown.requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
        loop {
            match repository::expire_orders(&pool, Timestamp::now(), EXPIRY_BATCH).await {
                Ok(expired) if expired.is_empty() => break,
                Ok(expired) => {
                    tracing::info!(count = expired.len(), "expired unpaid orders");
                    if expired.len() < EXPIRY_BATCH as usize {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "expiring unpaid orders failed; retrying at the next sweep");
                    break;
                }
            }
        }
    }
}
