//! For tests only: the real Kafka broker `MICROFLEET_KAFKA_BOOTSTRAP` names (`scripts/kafka.sh up`) — and its
//! SASL_PLAINTEXT and SSL listeners, with their test user and CA —, and names unique to one test (topic
//! prefixes, consumer groups) so tests run in parallel. Without a variable it fails, saying how to start the
//! broker; it never skips. It builds no client.

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the test broker.
pub const BOOTSTRAP_VARIABLE: &str = "MICROFLEET_KAFKA_BOOTSTRAP";

/// The variable naming the test broker's SASL_PLAINTEXT listener.
pub const SASL_BOOTSTRAP_VARIABLE: &str = "MICROFLEET_KAFKA_SASL_BOOTSTRAP";
/// The variable naming the test broker's SSL listener.
pub const TLS_BOOTSTRAP_VARIABLE: &str = "MICROFLEET_KAFKA_TLS_BOOTSTRAP";
/// The variable naming the PEM file of the CA that signed the SSL listener's certificate.
pub const TLS_CA_VARIABLE: &str = "MICROFLEET_KAFKA_TLS_CA";
/// The SASL listener's user that may do anything (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512).
pub const SASL_USER: &str = "microfleet";
/// The password of the SASL listener's users (a test broker on 127.0.0.1; not a secret).
pub const SASL_PASSWORD: &str = "microfleet-test-password";

/// The test broker's bootstrap address.
pub fn bootstrap() -> Result<String, String> {
    variable(BOOTSTRAP_VARIABLE)
}

/// The test broker's SASL_PLAINTEXT listener.
pub fn sasl_bootstrap() -> Result<String, String> {
    variable(SASL_BOOTSTRAP_VARIABLE)
}

/// The test broker's SSL listener.
pub fn tls_bootstrap() -> Result<String, String> {
    variable(TLS_BOOTSTRAP_VARIABLE)
}

/// The PEM file of the CA that signed the SSL listener's certificate.
pub fn tls_ca() -> Result<String, String> {
    variable(TLS_CA_VARIABLE)
}

fn variable(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: run scripts/test.sh, or `eval \"$(scripts/kafka.sh up)\"` first"))
}

/// `prefix` made unique to this process and call.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
