//! For tests only: a service's command line documents its settings — a subcommand's `--help` lists each
//! setting's environment variable (`env: NAME`), the names the operator's environment contract relies on.
//! The variables of the settings groups every service flattens are named here once. Panics naming every
//! variable missing; owns nothing else.

/// The variables of the service skeleton's settings (`ServiceArgs`, `LoggingArgs`) and of the database
/// (`DatabaseArgs`).
pub const SERVICE_VARIABLES: &[&str] =
    &["LISTEN_ADDR", "SHUTDOWN_GRACE_SECONDS", "LOG_FORMAT", "DATABASE_URL", "DATABASE_POOL_SIZE"];

/// The variables of the saga services' broker settings (`KafkaArgs` and its `KafkaSecurityArgs`).
#[cfg(feature = "kafka")]
pub const KAFKA_VARIABLES: &[&str] = &[
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC_PREFIX",
    "KAFKA_GROUP_ID",
    "OUTBOX_RELAY_INTERVAL_MS",
    "KAFKA_TOPIC_PARTITIONS",
    "KAFKA_TOPIC_REPLICATION",
    "KAFKA_CONSUMER_INSTANCES",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CA_LOCATION",
];

/// The variables of the auth service's client settings (`AuthClientArgs`).
#[cfg(feature = "auth-client")]
pub const AUTH_CLIENT_VARIABLES: &[&str] = &[
    "AUTH_URL",
    "AUTH_SERVICE_KEY_FILE",
    "AUTH_ISSUER",
    "AUTH_AUDIENCE",
    "AUTH_CACHE_TTL_SECONDS",
    "AUTH_JWKS_MIN_REFRESH_SECONDS",
    "AUTH_JWKS_MAX_AGE_SECONDS",
];

/// Asserts that the long `--help` of `subcommand` of `command` lists `env: NAME` for every variable of
/// `groups` (the shared groups above and the service's own); the panic names all that are missing.
pub fn assert_help_lists(mut command: clap::Command, subcommand: &str, groups: &[&[&str]]) {
    let help = command
        .find_subcommand_mut(subcommand)
        .unwrap_or_else(|| panic!("no subcommand {subcommand}"))
        .render_long_help()
        .to_string();
    let missing: Vec<&str> = groups
        .iter()
        .flat_map(|group| group.iter().copied())
        .filter(|v| !help.contains(&format!("env: {v}")))
        .collect();
    assert!(missing.is_empty(), "`{subcommand} --help` does not list {missing:?}:\n{help}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{database::DatabaseArgs, service::LoggingArgs, service::ServiceArgs};

    /// The variables of the settings group `A`, from its own definition.
    fn variables_of<A: clap::Args>() -> Vec<String> {
        let command = A::augment_args(clap::Command::new("settings"));
        command.get_arguments().filter_map(|arg| arg.get_env()).map(|env| env.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_shared_groups_name_exactly_the_variables_of_their_settings() {
        let mut service =
            [variables_of::<ServiceArgs>(), variables_of::<LoggingArgs>(), variables_of::<DatabaseArgs>()].concat();
        let mut named: Vec<String> = SERVICE_VARIABLES.iter().map(|v| v.to_string()).collect();
        service.sort();
        named.sort();
        assert_eq!(service, named);
        #[cfg(feature = "kafka")]
        assert_eq!(variables_of::<crate::kafka::KafkaArgs>(), KAFKA_VARIABLES);
        #[cfg(feature = "auth-client")]
        assert_eq!(variables_of::<crate::auth_client::AuthClientArgs>(), AUTH_CLIENT_VARIABLES);
    }

    #[derive(clap::Parser)]
    enum Cli {
        /// Serve.
        Serve(ServiceArgs),
    }

    #[test]
    #[should_panic(expected = "does not list [\"NOT_A_SETTING\"]")]
    fn a_variable_the_help_does_not_list_is_named() {
        use clap::CommandFactory;
        assert_help_lists(Cli::command(), "serve", &[&["LISTEN_ADDR"], &["NOT_A_SETTING"]]);
    }
}
