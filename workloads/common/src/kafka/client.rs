//! The one place Kafka clients are configured (the services' and the fetcher sink's): a [`Broker`] (bootstrap
//! servers and checked security settings) gives every producer, consumer and admin client its base
//! `ClientConfig`, and each client
//! a [`BrokerContext`] that logs the client's errors through `tracing` and keeps why the broker refused a SASL
//! login or a TLS handshake — which librdkafka reports only there (a call waiting on the broker just times
//! out). It sends nothing and holds no secret but inside the configs it makes.

use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError as RdKafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;

use super::security::KafkaSecurity;

/// The services' producer: a future producer and its [`BrokerContext`] (shared; librdkafka keeps no way to
/// reach it back).
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer<BrokerContext>,
    context: BrokerContext,
}

impl Producer {
    /// A producer configured by `config` (from [`Broker::client_config`]).
    pub fn create(config: &ClientConfig) -> Result<Producer, RdKafkaError> {
        let context = BrokerContext::default();
        Ok(Producer { inner: config.create_with_context(context.clone())?, context })
    }

    /// The rdkafka producer.
    pub fn inner(&self) -> &FutureProducer<BrokerContext> {
        &self.inner
    }

    /// Why the broker last refused this producer, if it did.
    pub fn refusal(&self) -> Option<Refusal> {
        self.context.refusal()
    }
}

/// The brokers and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    servers: String,
    security: KafkaSecurity,
}

impl Broker {
    /// The brokers at `servers` (comma-separated `host:port`), reached with `security`.
    pub fn new(servers: impl Into<String>, security: KafkaSecurity) -> Broker {
        Broker { servers: servers.into(), security }
    }

    /// The brokers at `servers`, reached without TLS or SASL.
    pub fn plaintext(servers: impl Into<String>) -> Broker {
        Broker::new(servers, KafkaSecurity::default())
    }

    /// The bootstrap servers.
    pub fn servers(&self) -> &str {
        &self.servers
    }

    /// The base configuration of every client: `bootstrap.servers`, and the security settings.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.servers);
        self.security.apply(&mut config);
        config
    }
}

/// Why the broker refused a client: its SASL login, or the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The SASL login was refused (wrong user name, password or mechanism).
    Login(String),
    /// The TLS handshake failed (an unknown CA, a name mismatch, TLS against a plain-text listener).
    Tls(String),
}

impl Refusal {
    /// What was refused: `SASL login` or `TLS handshake`.
    pub fn what(&self) -> &'static str {
        match self {
            Refusal::Login(_) => "SASL login",
            Refusal::Tls(_) => "TLS handshake",
        }
    }

    /// librdkafka's reason.
    pub fn reason(&self) -> &str {
        match self {
            Refusal::Login(reason) | Refusal::Tls(reason) => reason,
        }
    }
}

/// The services' message: the refusal and the settings to check (`KAFKA_*`).
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Login(reason) => write!(
                f,
                "the broker refused the SASL login ({reason}): check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and the password in KAFKA_SASL_PASSWORD_FILE"
            ),
            Refusal::Tls(reason) => write!(
                f,
                "the TLS handshake with the broker failed ({reason}): check KAFKA_SECURITY_PROTOCOL and KAFKA_SSL_CA_LOCATION (the CA that signed the brokers' certificates)"
            ),
        }
    }
}

/// The context of each client: logs its errors and keeps its last refusal (see [`Refusal`]).
#[derive(Debug, Clone, Default)]
pub struct BrokerContext {
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl BrokerContext {
    /// Why the broker last refused this client, if it did.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal.lock().ok().and_then(|refusal| refusal.clone())
    }
}

impl ClientContext for BrokerContext {
    fn error(&self, error: RdKafkaError, reason: &str) {
        let refusal = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication) => Some(Refusal::Login(reason.to_string())),
            Some(RDKafkaErrorCode::SSL) => Some(Refusal::Tls(reason.to_string())),
            _ => None,
        };
        match refusal {
            Some(refusal) => {
                // librdkafka's reason names the mechanism and the broker, never the password; what to check is
                // the caller's to say (its settings have their own names)
                tracing::error!(refused = refusal.what(), reason, "the broker refused the Kafka client");
                if let Ok(mut last) = self.refusal.lock() {
                    *last = Some(refusal);
                }
            }
            None => tracing::warn!(%error, reason, "Kafka client error"),
        }
    }
}

impl ConsumerContext for BrokerContext {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::security::{SaslLogin, SaslMechanism, SecurityProtocol};

    #[test]
    fn every_client_config_carries_the_servers_and_the_security_settings() {
        let login = SaslLogin::new(SaslMechanism::Plain, "ticketing", "pa55");
        let security = KafkaSecurity { protocol: SecurityProtocol::SaslSsl, sasl: Some(login), ca: None };
        let config = Broker::new("a:9092,b:9092", security).client_config();
        assert_eq!(config.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(Broker::plaintext("a:9092").client_config().get("security.protocol"), Some("PLAINTEXT"));
    }

    #[test]
    fn a_refused_login_or_handshake_is_kept_and_other_errors_are_not() {
        let context = BrokerContext::default();
        context.error(RdKafkaError::Global(RDKafkaErrorCode::AllBrokersDown), "1/1 brokers are down");
        assert_eq!(context.refusal(), None);
        context.error(RdKafkaError::Global(RDKafkaErrorCode::Authentication), "invalid credentials");
        assert_eq!(context.refusal(), Some(Refusal::Login("invalid credentials".into())));
        context.error(RdKafkaError::Global(RDKafkaErrorCode::SSL), "certificate verify failed");
        let refusal = context.refusal().map(|refusal| refusal.to_string()).unwrap_or_default();
        assert!(
            refusal.contains("certificate verify failed") && refusal.contains("KAFKA_SSL_CA_LOCATION"),
            "{refusal}"
        );
    }
}
