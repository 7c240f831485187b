//! `ticketing-service migrate|serve`: the process set-up (settings, logging, database, signals). The API is
//! in the library; nothing here decides anything about tickets.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use jiff::SignedDuration;
use microfleet_common::auth_client::AuthClient;
use microfleet_common::database;
use microfleet_common::http_metrics::ServiceMetrics;
use microfleet_common::kafka;
use microfleet_common::kafka_consumer::ConsumerMetrics;
use microfleet_common::outbox::OutboxMetrics;
use microfleet_common::service::{self, Probes, ReadinessCheck};
use microfleet_common::shutdown::Shutdown;
use microfleet_ticketing::config::{Cli, Command, ServeArgs};
use microfleet_ticketing::http::{self, AppState};
use microfleet_ticketing::{saga, schema, sweeper};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => args.run(&schema::MIGRATIONS).await,
        Command::Serve(args) => serve(*args).await,
    };
    microfleet_common::service::exit_code("ticketing-service", result)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    args.logging.init();
    let auth = Arc::new(AuthClient::new(&args.auth).map_err(|error| error.to_string())?);
    let pool = database::connect(&args.database.database_url, args.database.database_pool_size)
        .map_err(|error| error.to_string())?;
    let metrics = ServiceMetrics::new("ticketing").map_err(|error| error.to_string())?;
    let consumer_metrics = ConsumerMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    let outbox_metrics = OutboxMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    let broker = args.kafka.connect().await.map_err(|error| error.to_string())?;
    let ping_pool = pool.clone();
    let database_check = ReadinessCheck {
        name: "database",
        check: Box::new(move || {
            let pool = ping_pool.clone();
            Box::pin(async move { database::ping(&pool).await })
        }),
    };
    let state =
        AppState { pool: pool.clone(), order_hold: SignedDuration::from_secs(i64::from(args.order_hold_seconds)) };
    let app = service::router(
        http::router(state, &auth),
        Probes::new(vec![database_check, kafka::readiness_check(broker.producer.clone())], metrics),
    );
    let listener = args.service.bind().await?;
    let shutdown = Shutdown::on_signals();
    let consumers = saga::consumers(&pool, &args.kafka.topics(), &consumer_metrics);
    let messaging = args.kafka.start(saga::SERVICE, &pool, broker, consumers, outbox_metrics, &shutdown);
    let sweeper = tokio::spawn(sweeper::run(pool, Duration::from_secs(args.expiry_sweep_seconds), shutdown.clone()));
    args.service.serve("ticketing-service", listener, app, shutdown).await?;
    let _ = sweeper.await;
    for task in messaging {
        let _ = task.await;
    }
    tracing::info!("ticketing-service stopped");
    Ok(())
}
