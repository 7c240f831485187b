//! `microfleet-fetcher`: `run` fetches and delivers one ClusterFetch run; `notify` sends a failed run's
//! notification (the operator's notifier Job runs it).

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use microfleet_common::{shutdown::Shutdown, telemetry};
use microfleet_crds::contract::{env, FailureClass, RECEIVER_MAY_HOLD_LIST};
use microfleet_fetcher::{
    conformance, http, notify,
    plan::{self, ConfigError, RunPlan},
    progress::{Reporter, Stats},
    report, retry,
    run::{run, RunFailure},
    sink::{file::FileSink, http::HttpSink, kafka::KafkaSink, Sink},
};

#[derive(Parser)]
#[command(name = "microfleet-fetcher", version, about = "The workload a ClusterFetch runs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one fetch: from MICROFLEET_FETCH_PLAN (in a pod) or from a ClusterFetch manifest (locally).
    Run(RunArgs),
    /// Send the failure notification described by MICROFLEET_NOTIFICATION to MICROFLEET_NOTIFY_WEBHOOK_URL.
    Notify {
        /// Attempts in all, the first included.
        #[arg(long, default_value_t = notify::POLICY.attempts)]
        attempts: u32,
        /// Delay before the first retry, in milliseconds (doubles each retry, capped at 30s).
        #[arg(long, default_value_t = notify::POLICY.initial.as_millis() as u64)]
        initial_backoff_ms: u64,
    },
    /// Check a receiver against the receiver protocol (batches, commit, abort): one PASS/FAIL line per rule.
    /// It commits small lists of its own: run it against a test instance, never the production one.
    CheckReceiver {
        /// The receiver's base URL, as in spec.sink.http.url.
        #[arg(long)]
        url: String,
        /// Time allowed for each request, in seconds.
        #[arg(long, default_value_t = 10)]
        timeout_seconds: u64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A ClusterFetch manifest to run locally, exactly as its pod would (credentials still come from the
    /// MICROFLEET_SOURCE_*/MICROFLEET_SINK_* variables).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Deliver to this file as NDJSON (staged, renamed into place on success) instead of spec.sink.
    #[arg(long, conflicts_with = "stdout")]
    sink_file: Option<PathBuf>,
    /// Deliver to stdout as NDJSON instead of spec.sink.
    #[arg(long)]
    stdout: bool,
    /// Where to write the run summary (the pod's termination-message path).
    #[arg(long, env = "MICROFLEET_TERMINATION_LOG")]
    termination_log: Option<PathBuf>,
    /// A Prometheus Pushgateway to push the run's figures to, every 15 s and at the end.
    #[arg(long, env = "MICROFLEET_PUSHGATEWAY_URL")]
    pushgateway_url: Option<String>,
    /// Seconds between progress log lines.
    #[arg(long, default_value_t = 5)]
    progress_seconds: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = std::env::var(env::LOG_FORMAT).map(|f| f == "json").unwrap_or(false);
    match &cli.command {
        // the data goes to stdout: the logs must not
        Command::Run(RunArgs { stdout: true, .. }) => telemetry::init_stderr(json),
        _ => telemetry::init(json),
    }
    http::install_crypto_provider();
    match cli.command {
        Command::Run(args) => ExitCode::from(run_fetch(args).await),
        Command::Notify { attempts, initial_backoff_ms } => {
            let initial = Duration::from_millis(initial_backoff_ms);
            run_notify(retry::Policy { attempts, initial, max: notify::POLICY.max.max(initial) }).await
        }
        Command::CheckReceiver { url, timeout_seconds } => run_check_receiver(&url, timeout_seconds).await,
    }
}

async fn run_check_receiver(url: &str, timeout_seconds: u64) -> ExitCode {
    let timeout = Duration::from_secs(timeout_seconds.max(1));
    let client = match http::client(timeout, timeout) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    let prefix = plan::local_run_id().replacen("local", "conformance", 1);
    let checks = conformance::check_receiver(&client, url, &prefix).await;
    print!("{}", conformance::report(url, &checks));
    match checks.iter().all(|c| c.failure.is_none()) {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

async fn run_fetch(args: RunArgs) -> u8 {
    let start = std::time::Instant::now();
    let shutdown = Shutdown::on_signals();
    let stats = Arc::new(Stats::default());
    let var = |name: &str| std::env::var(name).ok();
    let plan = match &args.spec {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Bad(format!("cannot read {}: {e}", path.display())))
            .and_then(|yaml| RunPlan::from_manifest(&yaml, var(env::RUN_ID).unwrap_or_else(plan::local_run_id), &var)),
        None => RunPlan::from_env(&var),
    };
    let (result, run_id, cluster_fetch) = match plan {
        Err(error) => (
            Err(RunFailure { class: FailureClass::Config, message: error.to_string() }),
            var(env::RUN_ID).unwrap_or_default(),
            String::new(),
        ),
        Ok(plan) => {
            tracing::info!(run = %plan.run_id, cluster_fetch = %plan.cluster_fetch, "run starting");
            let result = fetch(&plan, &args, stats.clone(), shutdown).await;
            (result, plan.run_id, plan.cluster_fetch)
        }
    };
    let summary = report::summary(&run_id, &result, &stats, start.elapsed());
    if let Some(path) = &args.termination_log {
        report::write_termination_message(path, &summary);
    }
    match &result {
        Ok(items) => {
            tracing::info!(run = %run_id, items, summary = %serde_json::to_string(&summary).unwrap_or_default(), "run succeeded")
        }
        Err(failure) => {
            tracing::error!(run = %run_id, class = ?failure.class, error = %failure.message, summary = %serde_json::to_string(&summary).unwrap_or_default(), "run failed")
        }
    }
    // (the client is built only when there is a Pushgateway: building one loads the system's roots)
    let pushgateway =
        args.pushgateway_url.as_ref().map(|base| (base, http::client(Duration::from_secs(5), Duration::from_secs(10))));
    if let Some((base, Ok(client))) = pushgateway {
        report::push(
            &client,
            base,
            &cluster_fetch,
            report::pushgateway_body(Some(&summary), &stats, report::now_seconds()),
        )
        .await;
    }
    report::exit_code(&summary)
}

async fn fetch(plan: &RunPlan, args: &RunArgs, stats: Arc<Stats>, shutdown: Shutdown) -> Result<u64, RunFailure> {
    let config = |message: String| RunFailure { class: FailureClass::Config, message };
    let timeouts = &plan.plan.source.timeouts;
    let secs = |n: i32| Duration::from_secs(u64::try_from(n.max(1)).unwrap_or(1));
    let client = http::client(secs(timeouts.connect_seconds), secs(timeouts.request_seconds))
        .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
    let sink = if args.stdout {
        Sink::File(FileSink::new(None).map_err(|f| config(f.to_string()))?)
    } else if let Some(path) = &args.sink_file {
        Sink::File(FileSink::new(Some(path.clone())).map_err(|f| config(f.to_string()))?)
    } else if let Some(spec) = &plan.plan.sink.http {
        let policy = retry::Policy::from_spec(&plan.plan.retry);
        Sink::Http(
            HttpSink::new(client.clone(), spec, &plan.run_id, plan.sink_auth.clone(), policy, stats.clone())
                .map_err(|f| config(f.to_string()))?,
        )
    } else if let Some(spec) = &plan.plan.sink.kafka {
        let policy = retry::Policy::from_spec(&plan.plan.retry);
        Sink::Kafka(
            KafkaSink::new(spec, &plan.run_id, &plan.cluster_fetch, &plan.kafka_secrets, policy, stats.clone())
                .map_err(|f| config(f.to_string()))?,
        )
    } else {
        return Err(config("spec.sink names no sink: set spec.sink.http or spec.sink.kafka".into()));
    };
    let _reporter = Reporter::start(stats.clone(), Duration::from_secs(args.progress_seconds.max(1)), !args.stdout);
    let _pusher = args.pushgateway_url.clone().map(|base| {
        report::Pusher::start(client.clone(), base, plan.cluster_fetch.clone(), stats.clone(), Duration::from_secs(15))
    });
    let aborter = sink.aborter();
    let result = tokio::select! {
        result = run(plan, &client, sink, stats.clone()) => result,
        _ = shutdown.requested() => Err(match aborter.commit_started() {
            false => RunFailure {
                class: FailureClass::Interrupted,
                message: "stopped by SIGTERM before the list was complete; the staged delivery was aborted".into(),
            },
            true => RunFailure {
                class: FailureClass::CommitUnknown,
                message: format!("stopped by SIGTERM while committing: {RECEIVER_MAY_HOLD_LIST}"),
            },
        }),
    };
    if let Err(failure) = &result {
        aborter.abort(&failure.message).await;
    }
    result
}

async fn run_notify(policy: retry::Policy) -> ExitCode {
    let outgoing = match notify::Outgoing::from_env(|name| std::env::var(name).ok()) {
        Ok(outgoing) => outgoing,
        Err(error) => {
            tracing::error!(%error, "cannot send the notification");
            return ExitCode::from(FailureClass::Config.exit_code() as u8);
        }
    };
    let client = match http::client(Duration::from_secs(10), Duration::from_secs(30)) {
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
