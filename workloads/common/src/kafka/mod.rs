//! Kafka for Microfleet's binaries. `security` holds the TLS and SASL settings and `client` the one place
//! every client's configuration is made (feature `kafka-client`: the services and the fetcher's sink); with
//! `kafka`, `connection` is the saga services' side of the broker (their settings, producer, outbox
//! publisher, readiness check and topics), re-exported here.

pub mod client;
#[cfg(feature = "kafka")]
mod connection;
pub mod security;

#[cfg(feature = "kafka")]
pub use connection::{
    ensure_topics, ping, producer, readiness_check, wait_for_broker, KafkaArgs, KafkaConnection, KafkaError,
    KafkaPublisher, CONNECT_TIMEOUT, MESSAGE_ID_HEADER, OUTBOX_TOPIC_HEADER,
};
