//! `microfleet-fetcher`: `notify` sends a failed run's notification (the operator's notifier Job runs it).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use microfleet_common::telemetry;
use microfleet_crds::contract::{env, FailureClass};
use microfleet_fetcher::{http, notify, retry};

#[derive(Parser)]
#[command(name = "microfleet-fetcher", version, about = "The workload a ClusterFetch runs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send the failure notification described by MICROFLEET_NOTIFICATION to MICROFLEET_NOTIFY_WEBHOOK_URL.
    Notify {
        /// Attempts in all, the first included.
        #[arg(long, default_value_t = notify::POLICY.attempts)]
        attempts: u32,
        /// Delay before the first retry, in milliseconds (doubles each retry, capped at 30s).
        #[arg(long, default_value_t = notify::POLICY.initial.as_millis() as u64)]
        initial_backoff_ms: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(std::env::var(env::LOG_FORMAT).map(|f| f == "json").unwrap_or(false));
    http::install_crypto_provider();
    match cli.command {
        Command::Notify { attempts, initial_backoff_ms } => {
            let policy = notify::POLICY;
            let initial = std::time::Duration::from_millis(initial_backoff_ms);
            run_notify(retry::Policy { attempts, initial, max: policy.max.max(initial) }).await
        }
    }
}

async fn run_notify(policy: retry::Policy) -> ExitCode {
    let outgoing = match notify::Outgoing::from_env(|name| std::env::var(name).ok()) {
        Ok(outgoing) => outgoing,
        Err(error) => {
            tracing::error!(%error, "cannot send the notification");
            return ExitCode::from(FailureClass::Config.exit_code() as u8);
        }
    };
    let client = match http::client(std::time::Duration::from_secs(10), std::time::Duration::from_secs(30)) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    let run = outgoing.notification.run_id.clone();
    match notify::send(&client, &outgoing, policy).await {
        Ok(()) => {
            tracing::info!(run, host = outgoing.url.host_str(), "notification delivered");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(run, %error, "notification not delivered");
            ExitCode::from(FailureClass::Sink.exit_code() as u8)
        }
    }
}
