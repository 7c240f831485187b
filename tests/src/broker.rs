//! The real Kafka broker of the tests (`scripts/kafka.sh up`): its address, and names unique to one test run.
//! Owns no client: each test builds the clients it needs.

/// The broker's bootstrap address, from `MICROFLEET_KAFKA_BOOTSTRAP`; panics with how to start one.
pub fn bootstrap() -> String {
    std::env::var("MICROFLEET_KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("no Kafka broker: run scripts/test.sh, or `eval \"$(scripts/kafka.sh up)\"` and run the tests again")
    })
}

/// `prefix` made unique to this process and call, for topics, groups and transactional ids.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
