//! The command line and settings of `gate-acl-service`, each also from an environment variable (twelve-
//! factor); `--help` lists them. Secrets (the database URL, the service's key at the auth service and the
//! broker's SASL password — each read from a file —, the signing key) are never shown or logged.

use clap::{Parser, Subcommand};
use microfleet_common::auth_client::AuthClientArgs;
use microfleet_common::database::DatabaseArgs;
use microfleet_common::kafka::KafkaArgs;
use microfleet_common::migrations::MigrateArgs;
use microfleet_common::service::{LoggingArgs, ServiceArgs};

/// gate-acl-service: the access-control list at the venue gates, on its own PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "gate-acl-service", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The processes of the service.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database schema migrations and exit (a one-off admin process, before `serve`)
    Migrate(MigrateArgs),
    /// Serve the HTTP API (access list administration and the gates' scans), relay the outbox to Kafka and
    /// consume `event-approved` and `order-paid`, until SIGTERM
    Serve(Box<ServeArgs>),
}

/// Settings of `serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// HTTP.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Logging.
    #[command(flatten)]
    pub logging: LoggingArgs,
    /// The broker of the saga.
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The auth service that authenticates callers (access tokens and API keys with scopes).
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// Ed25519 private key that signs QR codes: PKCS#8 PEM, or the base64 of its 32-byte seed (set it from a
    /// Secret; `openssl genpkey -algorithm ed25519` makes one)
    #[arg(long, env = "SIGNING_KEY", hide_env_values = true)]
    pub signing_key: String,
    /// Most scans recorded in one transaction (group commit: the scans waiting when a worker is free)
    #[arg(long, env = "SCAN_BATCH_MAX", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub scan_batch_max: u32,
    /// Workers recording batches of scans at the same time (each holds one database connection while it does)
    #[arg(long, env = "SCAN_BATCH_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub scan_batch_workers: u32,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("service", &self.service)
            .field("database", &self.database)
            .field("kafka", &self.kafka)
            .field("auth", &self.auth)
            .field("signing_key", &"<redacted>")
            .field("scan_batch_max", &self.scan_batch_max)
            .field("scan_batch_workers", &self.scan_batch_workers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use microfleet_common::test_cli::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_help_lists_every_setting_and_its_variable() {
        let own: &[&str] = &["SIGNING_KEY", "SCAN_BATCH_MAX", "SCAN_BATCH_WORKERS"];
        assert_help_lists(Cli::command(), "serve", &[SERVICE_VARIABLES, KAFKA_VARIABLES, AUTH_CLIENT_VARIABLES, own]);
    }
}
