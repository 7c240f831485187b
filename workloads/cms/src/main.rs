//! `ticketing-cms migrate|serve`: the process set-up (settings, logging, the sessions database, the token
//! verifier, the services' client, signals). The pages are in the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use microfleet_cms::api::Backends;
use microfleet_cms::config::{Cli, Command, ServeArgs};
use microfleet_cms::http::{self, AppState, Settings};
use microfleet_cms::schema;
use microfleet_common::auth_client::AuthClient;
use microfleet_common::database;
use microfleet_common::http_metrics::ServiceMetrics;
use microfleet_common::service::{self, Probes, ReadinessCheck};
use microfleet_common::shutdown::Shutdown;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => args.run(&schema::MIGRATIONS).await,
        Command::Serve(args) => serve(*args).await,
    };
    service::exit_code("ticketing-cms", result)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    args.logging.init();
    let display = args.web.display()?;
    let pool = database::connect(&args.database.database_url, args.database.database_pool_size)
        .map_err(|error| error.to_string())?;
    let verifier = AuthClient::new(&args.auth).map_err(|error| error.to_string())?;
    let backends = Backends::new(&args.auth.auth_url, &args.backends.ticketing_url, &args.backends.gate_acl_url)?;
    let metrics = ServiceMetrics::new("cms").map_err(|error| error.to_string())?;
    let settings = Settings {
        display,
        cookie_secure: args.web.cookie_secure,
        session_ttl: args.web.session_ttl(),
        refresh_margin: args.web.refresh_margin(),
    };
    let state = AppState { pool: pool.clone(), backends, verifier: Arc::new(verifier), settings: Arc::new(settings) };
    let database_check = ReadinessCheck {
        name: "database",
        check: Box::new(move || {
            let pool = pool.clone();
            Box::pin(async move { database::ping(&pool).await })
        }),
    };
    let shutdown = Shutdown::on_signals();
    let app = service::router(http::router(state), Probes::new(vec![database_check], metrics));
    let listener = args.service.bind().await?;
    args.service.serve("ticketing-cms", listener, app, shutdown).await?;
    tracing::info!("ticketing-cms stopped");
    Ok(())
}
