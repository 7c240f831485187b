//! The command line and settings of `ticketing-service`, each also from an environment variable (twelve-
//! factor); `--help` lists them. Secrets (the database URL; the service's key at the auth service and the
//! broker's SASL password, each read from a file) are never shown or logged.

use clap::{Parser, Subcommand};
use microfleet_common::auth_client::AuthClientArgs;
use microfleet_common::database::DatabaseArgs;
use microfleet_common::kafka::KafkaArgs;
use microfleet_common::migrations::MigrateArgs;
use microfleet_common::service::{LoggingArgs, ServiceArgs};

/// ticketing-service: merchants, events, orders, payments, refunds and tickets, on its own PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "ticketing-service", version)]
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
    /// Serve the HTTP API, expire unpaid orders, relay the outbox to Kafka and consume `access-prepared`, until
    /// SIGTERM
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
    /// Seconds an unpaid order holds its seats before it expires
    #[arg(long, env = "ORDER_HOLD_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u32).range(1..))]
    pub order_hold_seconds: u32,
    /// Seconds between two sweeps that expire unpaid orders
    #[arg(long, env = "EXPIRY_SWEEP_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub expiry_sweep_seconds: u64,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("service", &self.service)
            .field("database", &self.database)
            .field("kafka", &self.kafka)
            .field("auth", &self.auth)
            .field("order_hold_seconds", &self.order_hold_seconds)
            .field("expiry_sweep_seconds", &self.expiry_sweep_seconds)
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
        let own: &[&str] = &["ORDER_HOLD_SECONDS", "EXPIRY_SWEEP_SECONDS"];
        assert_help_lists(Cli::command(), "serve", &[SERVICE_VARIABLES, KAFKA_VARIABLES, AUTH_CLIENT_VARIABLES, own]);
    }
}
