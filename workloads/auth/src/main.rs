//! `auth-service migrate|serve`: the process set-up (settings, logging, keys, database, the bootstrap admin,
//! the services' keys, signals). The API is in the library; nothing here decides who may do what.

use std::process::ExitCode;

use clap::Parser;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::config::{BootstrapArgs, Cli, Command, MigrateCommand, ServeArgs};
use microfleet_auth::domain::keys::SigningKeys;
use microfleet_auth::domain::password::{check_password, PasswordHashing};
use microfleet_auth::http::{self, AppState, Settings};
use microfleet_auth::metrics::AuthMetrics;
use microfleet_auth::repository::ServiceKeyChange;
use microfleet_auth::{repository, schema, service_keys};
use microfleet_common::database;
use microfleet_common::http_metrics::ServiceMetrics;
use microfleet_common::service::{self, Probes, ReadinessCheck};
use microfleet_common::shutdown::Shutdown;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Migrate(args) => migrate(args).await,
        Command::Serve(args) => serve(args).await,
    };
    microfleet_common::service::exit_code("auth-service", result)
}

async fn migrate(args: MigrateCommand) -> Result<(), String> {
    let hashing = PasswordHashing::new(args.hashing.cost()).map_err(|error| error.to_string())?;
    let database = args.migrate.database.clone();
    args.migrate.run(&schema::MIGRATIONS).await?;
    let pool = database::connect(&database.database_url, 1).map_err(|error| error.to_string())?;
    bootstrap(&pool, &args.bootstrap, &hashing).await?;
    let Some(dir) = &args.service_keys.service_keys_dir else { return Ok(()) };
    let registered =
        service_keys::register_dir(&pool, dir, Timestamp::now()).await.map_err(|error| error.to_string())?;
    for key in registered {
        match key.change {
            ServiceKeyChange::Present => tracing::info!(name = key.name, prefix = key.prefix, "service key present"),
            ServiceKeyChange::Registered { revoked, .. } => {
                let revoked: Vec<String> = revoked.into_iter().map(|old| old.prefix).collect();
                tracing::info!(name = key.name, prefix = key.prefix, ?revoked, "service key registered");
            }
        }
    }
    Ok(())
}

/// Creates the first admin when configured and absent.
async fn bootstrap(
    pool: &deadpool_postgres::Pool,
    args: &BootstrapArgs,
    hashing: &PasswordHashing,
) -> Result<(), String> {
    let (Some(username), Some(file)) = (&args.bootstrap_admin_username, &args.bootstrap_admin_password_file) else {
        return Ok(());
    };
    let password = std::fs::read_to_string(file)
        .map_err(|error| format!("cannot read BOOTSTRAP_ADMIN_PASSWORD_FILE {file}: {}", error.kind()))?;
    let password = password.trim_end_matches(['\r', '\n']);
    check_password("BOOTSTRAP_ADMIN_PASSWORD_FILE", password).map_err(|error| error.to_string())?;
    let hash = hashing.hash(password).map_err(|error| error.to_string())?;
    let created = repository::bootstrap_admin(pool, username, &hash, Timestamp::now())
        .await
        .map_err(|error| error.to_string())?;
    if created {
        tracing::info!(username, "bootstrap admin created");
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    args.logging.init();
    let keys = SigningKeys::load(&args.tokens.signing_key_files, args.tokens.active_signing_key_file.as_deref())
        .map_err(|error| error.to_string())?;
    let hashing = PasswordHashing::new(args.hashing.cost()).map_err(|error| error.to_string())?;
    let pool = database::connect(&args.database.database_url, args.database.database_pool_size)
        .map_err(|error| error.to_string())?;
    bootstrap(&pool, &args.bootstrap, &hashing).await?;
    let metrics = ServiceMetrics::new("auth").map_err(|error| error.to_string())?;
    let auth_metrics = AuthMetrics::register(&metrics.registry).map_err(|error| error.to_string())?;
    tracing::info!(kids = ?keys.kids(), signing = keys.signer().kid(), "token signing keys loaded");
    let settings = Settings {
        issuer: args.tokens.token_issuer.clone(),
        audience: args.tokens.token_audience.clone(),
        access_ttl: SignedDuration::from_secs(i64::from(args.tokens.access_token_ttl_seconds)),
        refresh_ttl: SignedDuration::from_secs(i64::from(args.tokens.refresh_token_ttl_seconds)),
        policy: args.login.policy(),
        trust_forwarded_for: args.login.trust_forwarded_for,
    };
    let state =
        AppState::new(pool.clone(), keys, hashing, settings, auth_metrics).map_err(|error| error.to_string())?;
    let ping_pool = pool.clone();
    let database_check = ReadinessCheck {
        name: "database",
        check: Box::new(move || {
            let pool = ping_pool.clone();
            Box::pin(async move { database::ping(&pool).await })
        }),
    };
    let shutdown = Shutdown::on_signals();
    let app = service::router(http::router(state), Probes::new(vec![database_check], metrics));
    let listener = args.service.bind().await?;
    args.service.serve("auth-service", listener, app, shutdown).await?;
    tracing::info!("auth-service stopped");
    Ok(())
}
