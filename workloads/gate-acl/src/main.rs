//! `gate-acl-service migrate|serve`: the process set-up (settings, logging, keys, database, signals). The
//! API is in the library; nothing here decides anything about access.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use microfleet_common::auth_client::AuthClient;
use microfleet_common::database;
use microfleet_common::http_metrics::ServiceMetrics;
use microfleet_common::kafka;
use microfleet_common::kafka_consumer::ConsumerMetrics;
use microfleet_common::outbox::OutboxMetrics;
use microfleet_common::service::{self, Probes, ReadinessCheck};
use microfleet_common::shutdown::Shutdown;
use microfleet_gate_acl::config::{Cli, Command, ServeArgs};
use microfleet_gate_acl::domain::token::Keyring;
use microfleet_gate_acl::http::{self, AppState};
use microfleet_gate_acl::metrics::ScanMetrics;
use microfleet_gate_acl::scan_batcher::ScanBatcher;
use microfleet_gate_acl::{saga, schema};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => args.run(&schema::MIGRATIONS).await,
        Command::Serve(args) => serve(*args).await,
    };
    microfleet_common::service::exit_code("gate-acl-service", result)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    args.logging.init();
    let auth = Arc::new(AuthClient::new(&args.auth).map_err(|error| error.to_string())?);
    let keys = Keyring::parse(&args.signing_key).map_err(|error| error.to_string())?;
    let pool = database::connect(&args.database.database_url, args.database.database_pool_size)
        .map_err(|error| error.to_string())?;
    let metrics = ServiceMetrics::new("gate").map_err(|error| error.to_string())?;
    let consumer_metrics = ConsumerMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    let outbox_metrics = OutboxMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    let broker = args.kafka.connect().await.map_err(|error| error.to_string())?;
    let scan_metrics = ScanMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    let ping_pool = pool.clone();
    let database_check = ReadinessCheck {
        name: "database",
        check: Box::new(move || {
            let pool = ping_pool.clone();
            Box::pin(async move { database::ping(&pool).await })
        }),
    };
    tracing::info!(kid = keys.kid(), "QR signing key loaded");
    let shutdown = Shutdown::on_signals();
    let consumers = saga::consumers(&pool, &args.kafka.topics(), &consumer_metrics);
    let broker_check = kafka::readiness_check(broker.producer.clone());
    let messaging = args.kafka.start(saga::SERVICE, &pool, broker, consumers, outbox_metrics, &shutdown);
    let scans = ScanBatcher::start(
        pool.clone(),
        args.scan_batch_max as usize,
        args.scan_batch_workers as usize,
        scan_metrics.clone(),
    );
    let state = AppState { pool, keys: Arc::new(keys), metrics: scan_metrics, scans };
    let app = service::router(http::router(state, &auth), Probes::new(vec![database_check, broker_check], metrics));
    let listener = args.service.bind().await?;
    args.service.serve("gate-acl-service", listener, app, shutdown).await?;
    for task in messaging {
        let _ = task.await;
    }
    tracing::info!("gate-acl-service stopped");
    Ok(())
}
