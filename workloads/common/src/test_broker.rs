//! For tests only: the real Kafka broker `MICROFLEET_KAFKA_BOOTSTRAP` names (`scripts/kafka.sh up`) — and its
//! SASL_PLAINTEXT and SSL listeners, with their test user and CA —, and names unique to one test (topic
//! prefixes, consumer groups) so tests run in parallel. Without a variable it fails, saying how to start the
//! broker; it never skips. For a fault that must not reach the shared broker (pausing it), [`OwnBroker`]: a
//! broker of one test's own, started by the same script on free ports in a scratch folder. It builds no client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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

/// The variable that pins the first of the ports of a test's own broker ([`OwnBroker`]; it takes that port and
/// the three after it). Unset, free ports are found.
pub const OWN_PORT_VARIABLE: &str = "MICROFLEET_TEST_OWN_KAFKA_PORT";

/// How long the own broker's controller waits for the broker's heartbeat before fencing it, in ms: longer than
/// the pauses of a test. Past Kafka's default 9 s, a single-node broker resumed from a pause was fenced, and a
/// service started then could not check its topics for a minute.
pub const OWN_BROKER_SESSION_MS: u32 = 60_000;

/// A Kafka broker of one test's own: `scripts/kafka.sh up` with its own ports ([`OWN_PORT_VARIABLE`] or free
/// ones) and a scratch folder in the temp folder, without the pod listener, fenced by its controller only after
/// [`OWN_BROKER_SESSION_MS`] without a heartbeat. The test may pause it
/// ([`OwnBroker::pause`]); dropped, it is stopped (`scripts/kafka.sh down`) and its folder deleted (kept, with its log, when the
/// test fails).
pub struct OwnBroker {
    dir: PathBuf,
    port: u16,
}

impl OwnBroker {
    /// Starts the broker and waits until it serves (seconds: a JVM starts); blocking. Fails with the script's
    /// output.
    pub fn start() -> Result<OwnBroker, String> {
        let port = match std::env::var(OWN_PORT_VARIABLE) {
            Ok(port) => port.parse().map_err(|error| format!("{OWN_PORT_VARIABLE}={port}: {error}"))?,
            Err(_) => free_ports(4)?,
        };
        let broker = OwnBroker { dir: std::env::temp_dir().join(unique("microfleet-own-kafka")), port };
        broker.script("up")?;
        Ok(broker)
    }

    /// Its bootstrap address (its plain-text listener).
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Freezes the broker process (SIGSTOP): its sockets stay open and its peers get no answer, as with a
    /// broker that hangs or a network partition. It runs again when the guard is dropped (also when the test
    /// fails: declare the guard after the test's own clients, whose closing would wait for the frozen broker).
    pub fn pause(&self) -> Result<Paused<'_>, String> {
        self.signal("-STOP")?;
        Ok(Paused(self))
    }

    fn signal(&self, signal: &str) -> Result<(), String> {
        let pid_file = self.dir.join("kafka.pid");
        let pid = std::fs::read_to_string(&pid_file).map_err(|error| format!("{}: {error}", pid_file.display()))?;
        let sent = Command::new("kill").args([signal, pid.trim()]).status();
        match sent {
            Ok(status) if status.success() => Ok(()),
            other => Err(format!("kill {signal} {}: {other:?}", pid.trim())),
        }
    }

    fn script(&self, command: &str) -> Result<(), String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
        let output = Command::new(&script)
            .arg(command)
            .env("MICROFLEET_KAFKA_PORT", self.port.to_string())
            .env("MICROFLEET_KAFKA_DIR", &self.dir)
            .env("MICROFLEET_KAFKA_BROKER_SESSION_MS", OWN_BROKER_SESSION_MS.to_string())
            .env_remove("MICROFLEET_KAFKA_POD_ADDR")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("{}: {error}", script.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("scripts/kafka.sh {command} failed: {}", String::from_utf8_lossy(&output.stderr)))
        }
    }
}

/// A paused [`OwnBroker`]: dropped, the broker runs again (SIGCONT).
pub struct Paused<'a>(&'a OwnBroker);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.signal("-CONT") {
            eprintln!("resuming the own broker: {error}");
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.script("down");
        if std::thread::panicking() {
            eprintln!("the own broker's log is kept in {}", self.dir.join("kafka.log").display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The first of `count` consecutive ports nothing listens on now, below the kernel's ephemeral range (32768
/// and up on Linux): a port of that range, free while its server is stopped or paused, may be taken meanwhile
/// as the local port of some outgoing connection, and the server restarted could not listen again.
pub fn free_ports(count: u16) -> Result<u16, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut state = (u64::from(std::process::id()) << 32) | u64::from(nanos);
    for _ in 0..1_000 {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) | 1);
        let first = 20_000 + ((state >> 33) % 12_000) as u16;
        if (0..count).all(|offset| TcpListener::bind(("127.0.0.1", first + offset)).is_ok()) {
            return Ok(first);
        }
    }
    Err(format!("no {count} consecutive free ports in 20000..32000"))
}
