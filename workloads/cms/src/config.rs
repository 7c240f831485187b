//! The command line and settings of `ticketing-cms`, each also from an environment variable (twelve-factor);
//! `--help` lists them. The database URL and the auth service key are secrets: never shown or logged.

use clap::{Parser, Subcommand};
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use microfleet_common::auth_client::AuthClientArgs;
use microfleet_common::database::DatabaseArgs;
use microfleet_common::migrations::MigrateArgs;
use microfleet_common::service::{LoggingArgs, ServiceArgs};

use crate::format::Display;

/// ticketing-cms: the e-ticketing back office, pages rendered on the server; its database holds only sessions.
#[derive(Debug, Parser)]
#[command(name = "ticketing-cms", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The processes of the CMS.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database schema migrations (the sessions table) and exit
    Migrate(MigrateArgs),
    /// Serve the web application until SIGTERM
    Serve(Box<ServeArgs>),
}

/// The services the CMS talks to (the auth service's URL is AUTH_URL, with the token verifier's settings).
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Base URL of ticketing-service, e.g. http://ticketing-service:8080
    #[arg(long, env = "TICKETING_URL")]
    pub ticketing_url: String,
    /// Base URL of gate-acl-service, e.g. http://gate-acl-service:8080
    #[arg(long, env = "GATE_ACL_URL")]
    pub gate_acl_url: String,
}

/// Sessions and display.
#[derive(Debug, Clone, clap::Args)]
pub struct WebArgs {
    /// Mark the session cookie Secure (set it when the CMS is served over HTTPS, as behind the load balancer)
    #[arg(long, env = "COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// Longest a sign-in lasts, seconds (also bounded by the refresh token's lifetime)
    #[arg(long, env = "SESSION_TTL_SECONDS", default_value_t = 8 * 3600)]
    pub session_ttl_seconds: u32,
    /// Refresh the access token when it expires within this many seconds
    #[arg(long, env = "ACCESS_REFRESH_MARGIN_SECONDS", default_value_t = 30)]
    pub access_refresh_margin_seconds: u32,
    /// The venue's time zone: times are shown and entered in it (IANA name)
    #[arg(long, env = "TIME_ZONE", default_value = "UTC")]
    pub time_zone: String,
    /// The label put before amounts
    #[arg(long, env = "CURRENCY_LABEL", default_value = "Rp")]
    pub currency_label: String,
}

impl WebArgs {
    /// The display settings; an unknown time zone is refused.
    pub fn display(&self) -> Result<Display, String> {
        let time_zone =
            TimeZone::get(&self.time_zone).map_err(|error| format!("TIME_ZONE {}: {error}", self.time_zone))?;
        Ok(Display { time_zone, currency: self.currency_label.clone() })
    }

    /// The session lifetime.
    pub fn session_ttl(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.session_ttl_seconds))
    }

    /// The refresh margin.
    pub fn refresh_margin(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.access_refresh_margin_seconds))
    }
}

/// Settings of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// HTTP.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The sessions database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Logging.
    #[command(flatten)]
    pub logging: LoggingArgs,
    /// The auth service and the token verifier.
    #[command(flatten)]
    pub auth: AuthClientArgs,
    /// The other services.
    #[command(flatten)]
    pub backends: BackendArgs,
    /// Sessions and display.
    #[command(flatten)]
    pub web: WebArgs,
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
            "TICKETING_URL",
            "GATE_ACL_URL",
            "COOKIE_SECURE",
            "SESSION_TTL_SECONDS",
            "ACCESS_REFRESH_MARGIN_SECONDS",
            "TIME_ZONE",
            "CURRENCY_LABEL",
        ];
        assert_help_lists(Cli::command(), "serve", &[SERVICE_VARIABLES, AUTH_CLIENT_VARIABLES, own]);
        assert_help_lists(Cli::command(), "migrate", &[&["DATABASE_URL"]]);
    }

    #[test]
    fn an_unknown_time_zone_is_refused() {
        let web = |zone: &str| WebArgs {
            cookie_secure: false,
            session_ttl_seconds: 60,
            access_refresh_margin_seconds: 30,
            time_zone: zone.into(),
            currency_label: "Rp".into(),
        };
        assert!(web("Asia/Jakarta").display().is_ok());
        assert!(web("Mars/Olympus").display().unwrap_err().contains("TIME_ZONE"));
    }
}
