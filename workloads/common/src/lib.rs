//! What every Microfleet binary (the operator and the workloads) shares: logging set-up and SIGTERM
//! handling. With the `service` feature, what every ticketing service repeats: the HTTP service skeleton
//! (`service`, `http_metrics`, `api_error`, `json_body`, `query`, `paging`, `credentials`, `refusal`), its PostgreSQL database (`database`,
//! `migrations`) and the messaging tables (`outbox`, `inbox`); for their tests, `test_cli`, `test_database`, `test_process` and `test_request`.
//! With `kafka`, the saga's messaging over the broker (`kafka`: the relay's publisher; `kafka_consumer`: the
//! idempotent consumer), and for tests `test_broker`; `topics` names its channels. With `kafka-client` alone,
//! `kafka::security` and `kafka::client`: the broker's TLS and SASL settings and the clients' configuration
//! (the fetcher's Kafka sink).
//! With `signing`, Ed25519 keys from a Secret (`signing_key`); with `jwt`, EdDSA JSON Web Tokens (`jwt`) and the
//! introspection's wire types (`auth_wire`) and the scopes' names (`scopes`); with
//! `auth-client`, the verifier of the auth service's tokens and API keys (`auth_client`).
//! With `api-key`, the API keys' one format and their generation (`api_key`).
//! `plain_http` is a dependency-free GET for local checks of admin endpoints. Nothing domain-specific belongs here.

pub mod plain_http;
pub mod shutdown;
pub mod telemetry;

#[cfg(feature = "service")]
pub mod api_error;
#[cfg(feature = "api-key")]
pub mod api_key;
#[cfg(feature = "auth-client")]
pub mod auth_client;
#[cfg(feature = "jwt")]
pub mod auth_wire;
#[cfg(feature = "service")]
pub mod credentials;
#[cfg(feature = "service")]
pub mod database;
#[cfg(feature = "service")]
pub mod http_metrics;
#[cfg(feature = "service")]
pub mod inbox;
#[cfg(feature = "service")]
pub mod json_body;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "kafka-client")]
pub mod kafka;
#[cfg(feature = "kafka")]
pub mod kafka_consumer;
#[cfg(feature = "service")]
pub mod migrations;
#[cfg(feature = "service")]
pub mod outbox;
#[cfg(feature = "service")]
pub mod paging;
#[cfg(feature = "service")]
pub mod query;
#[cfg(feature = "service")]
pub mod refusal;
#[cfg(feature = "jwt")]
pub mod scopes;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "signing")]
pub mod signing_key;
#[cfg(feature = "kafka")]
pub mod test_broker;
#[cfg(feature = "service")]
pub mod test_cli;
#[cfg(feature = "service")]
pub mod test_database;
#[cfg(feature = "service")]
pub mod test_process;
#[cfg(feature = "service")]
pub mod test_request;
#[cfg(feature = "service")]
pub mod topics;
