//! For tests only: the real Kafka broker `MICROFLEET_KAFKA_BOOTSTRAP` names (`scripts/kafka.sh up`), and names
//! unique to one test (topic prefixes, consumer groups) so tests run in parallel. Without the variable it
//! fails, saying how to start the broker; it never skips. It builds no client.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the test broker.
pub const BOOTSTRAP_VARIABLE: &str = "MICROFLEET_KAFKA_BOOTSTRAP";

/// The test broker's bootstrap address.
pub fn bootstrap() -> Result<String, String> {
    std::env::var(BOOTSTRAP_VARIABLE).map_err(|_| {
        format!("{BOOTSTRAP_VARIABLE} is not set: run scripts/test.sh, or `eval \"$(scripts/kafka.sh up)\"` first")
    })
}

/// `prefix` made unique to this process and call.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
