//! The command line and settings of `auth-service`, each also from an environment variable (twelve-factor);
//! `--help` lists them. Secrets (the database URL, the signing keys, the bootstrap password, the services'
//! keys) come from files
//! or hidden variables and are never shown or logged.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use jiff::SignedDuration;
use microfleet_common::database::DatabaseArgs;
use microfleet_common::migrations::MigrateArgs;
use microfleet_common::service::{LoggingArgs, ServiceArgs};

use crate::domain::lockout::LoginPolicy;
use crate::domain::password::HashCost;

/// auth-service: users, login, access and refresh tokens, API keys, on its own PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "auth-service", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The processes of the service.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database schema migrations, create the bootstrap admin if configured and absent, register
    /// the services' keys of SERVICE_KEYS_DIR, and exit
    Migrate(MigrateCommand),
    /// Serve the HTTP API (login, tokens, users, API keys, introspection, JWKS) until SIGTERM
    Serve(ServeArgs),
}

/// Settings of `migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateCommand {
    /// The database and logging.
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// The first admin.
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Password hashing.
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// The services' pre-provisioned keys.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
}

/// The keys of the services that call the introspection, provisioned before the auth service runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceKeysArgs {
    /// Directory of service keys to register (mounted Secrets): one file per service, named after it (e.g.
    /// ticketing), holding its key (mf_<8 hex>_<64 hex>); registered with scope auth:introspect only, once; a
    /// new key in a file revokes the one registered before under that name
    #[arg(long, env = "SERVICE_KEYS_DIR")]
    pub service_keys_dir: Option<PathBuf>,
}

/// The first admin, created when absent (by `migrate` and at `serve`'s start).
#[derive(Debug, Clone, clap::Args)]
pub struct BootstrapArgs {
    /// Username of the first admin (with BOOTSTRAP_ADMIN_PASSWORD_FILE; nothing is created without both)
    #[arg(long, env = "BOOTSTRAP_ADMIN_USERNAME")]
    pub bootstrap_admin_username: Option<String>,
    /// File holding the first admin's password (a mounted Secret; at least 12 characters)
    #[arg(long, env = "BOOTSTRAP_ADMIN_PASSWORD_FILE")]
    pub bootstrap_admin_password_file: Option<String>,
}

/// The Argon2id cost of password hashes (OWASP's recommendation by default).
#[derive(Debug, Clone, clap::Args)]
pub struct HashingArgs {
    /// Argon2id memory per hash, KiB
    #[arg(long, env = "PASSWORD_HASH_MEMORY_KIB", default_value_t = HashCost::OWASP.memory_kib)]
    pub password_hash_memory_kib: u32,
    /// Argon2id passes
    #[arg(long, env = "PASSWORD_HASH_ITERATIONS", default_value_t = HashCost::OWASP.iterations)]
    pub password_hash_iterations: u32,
    /// Argon2id lanes
    #[arg(long, env = "PASSWORD_HASH_PARALLELISM", default_value_t = HashCost::OWASP.parallelism)]
    pub password_hash_parallelism: u32,
}

impl HashingArgs {
    /// The cost.
    pub fn cost(&self) -> HashCost {
        HashCost {
            memory_kib: self.password_hash_memory_kib,
            iterations: self.password_hash_iterations,
            parallelism: self.password_hash_parallelism,
        }
    }
}

/// Access and refresh tokens.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Ed25519 private key files (PKCS#8 PEM or base64 seed; a mounted Secret), comma-separated, oldest
    /// first: all verify and are published in the JWKS; the active one (default: the last) signs
    #[arg(long, env = "SIGNING_KEY_FILES", value_delimiter = ',', required = true)]
    pub signing_key_files: Vec<String>,
    /// The one of SIGNING_KEY_FILES that signs (default: the last); during a rotation, the old key stays
    /// active until the new one has been published for the verifiers' AUTH_JWKS_MAX_AGE_SECONDS
    #[arg(long, env = "ACTIVE_SIGNING_KEY_FILE")]
    pub active_signing_key_file: Option<String>,
    /// The `iss` of access tokens
    #[arg(long, env = "TOKEN_ISSUER", default_value = "microfleet-auth")]
    pub token_issuer: String,
    /// The `aud` of access tokens
    #[arg(long, env = "TOKEN_AUDIENCE", default_value = "microfleet")]
    pub token_audience: String,
    /// Lifetime of access tokens, seconds
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECONDS", default_value_t = 300)]
    pub access_token_ttl_seconds: u32,
    /// Lifetime of refresh tokens, seconds
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECONDS", default_value_t = 14 * 24 * 3600)]
    pub refresh_token_ttl_seconds: u32,
}

/// The login limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// Consecutive failed logins that lock an account
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// How long a locked account stays locked, seconds (an admin can unlock it earlier)
    #[arg(long, env = "LOGIN_LOCK_SECONDS", default_value_t = 900)]
    pub login_lock_seconds: u32,
    /// Failed logins one client address may make per window, whatever the accounts
    #[arg(long, env = "LOGIN_ADDRESS_MAX_FAILURES", default_value_t = 20)]
    pub login_address_max_failures: u32,
    /// The per-address window, seconds
    #[arg(long, env = "LOGIN_ADDRESS_WINDOW_SECONDS", default_value_t = 300)]
    pub login_address_window_seconds: u32,
    /// Take the client address from the first X-Forwarded-For entry (only behind a load balancer that sets it)
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
}

impl LoginArgs {
    /// The limits.
    pub fn policy(&self) -> LoginPolicy {
        LoginPolicy {
            max_failures: self.login_max_failures.max(1),
            lock_for: SignedDuration::from_secs(i64::from(self.login_lock_seconds)),
            address_max_failures: self.login_address_max_failures.max(1),
            address_window: SignedDuration::from_secs(i64::from(self.login_address_window_seconds)),
        }
    }
}

/// Settings of `serve`.
#[derive(Debug, clap::Args)]
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
    /// Tokens.
    #[command(flatten)]
    pub tokens: TokenArgs,
    /// Login limits.
    #[command(flatten)]
    pub login: LoginArgs,
    /// Password hashing.
    #[command(flatten)]
    pub hashing: HashingArgs,
    /// The first admin.
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
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
    fn help_lists_every_setting_and_its_variable() {
        let own: &[&str] = &[
            "SIGNING_KEY_FILES",
            "ACTIVE_SIGNING_KEY_FILE",
            "TOKEN_ISSUER",
            "TOKEN_AUDIENCE",
            "ACCESS_TOKEN_TTL_SECONDS",
            "REFRESH_TOKEN_TTL_SECONDS",
            "LOGIN_MAX_FAILURES",
            "LOGIN_LOCK_SECONDS",
            "LOGIN_ADDRESS_MAX_FAILURES",
            "LOGIN_ADDRESS_WINDOW_SECONDS",
            "TRUST_FORWARDED_FOR",
            "PASSWORD_HASH_MEMORY_KIB",
            "PASSWORD_HASH_ITERATIONS",
            "PASSWORD_HASH_PARALLELISM",
            "BOOTSTRAP_ADMIN_USERNAME",
            "BOOTSTRAP_ADMIN_PASSWORD_FILE",
        ];
        assert_help_lists(Cli::command(), "serve", &[SERVICE_VARIABLES, own]);
        let migrate: &[&str] = &[
            "DATABASE_URL",
            "BOOTSTRAP_ADMIN_USERNAME",
            "BOOTSTRAP_ADMIN_PASSWORD_FILE",
            "PASSWORD_HASH_MEMORY_KIB",
            "SERVICE_KEYS_DIR",
        ];
        assert_help_lists(Cli::command(), "migrate", &[migrate]);
    }
}
