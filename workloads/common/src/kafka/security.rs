//! How a client reaches a broker that requires TLS and/or SASL: the services' settings
//! (`KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD_FILE`,
//! `KAFKA_SSL_CA_LOCATION`) and their validation at start-up (errors name the setting and the fix), the checked
//! [`KafkaSecurity`] (which the fetcher's sink builds from its ClusterFetch's spec and Secrets instead), and
//! the client properties it becomes. It reads the password file and never shows the password: not in `Debug`,
//! not in an error, not in a log line. It builds no client (`client` does).

use std::path::{Path, PathBuf};

use rdkafka::config::ClientConfig;

/// Kafka's `security.protocol`: TLS or not, SASL or not.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Neither TLS nor SASL.
    #[default]
    #[value(name = "PLAINTEXT")]
    Plaintext,
    /// TLS, no SASL.
    #[value(name = "SSL")]
    Ssl,
    /// SASL without TLS (the password travels in clear with PLAIN).
    #[value(name = "SASL_PLAINTEXT")]
    SaslPlaintext,
    /// SASL over TLS.
    #[value(name = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The name Kafka clients use.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol with TLS or not, and SASL or not.
    pub fn of(tls: bool, sasl: bool) -> SecurityProtocol {
        match (tls, sasl) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        }
    }

    /// Whether it authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    /// Whether it speaks TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// Kafka's `sasl.mechanism`: the ones the services speak.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN: the password itself is sent (use it with SASL_SSL).
    #[value(name = "PLAIN")]
    Plain,
    /// SCRAM-SHA-256.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The name Kafka clients use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The broker security settings every saga service takes, from the environment (flattened into
/// `KafkaArgs`). [`KafkaSecurityArgs::resolve`] checks them and reads the password file.
#[derive(clap::Args, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurityArgs {
    /// How the clients talk to the brokers: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL", value_enum, ignore_case = true, default_value_t = SecurityProtocol::Plaintext)]
    pub kafka_security_protocol: SecurityProtocol,
    /// SASL mechanism (with SASL_PLAINTEXT or SASL_SSL): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    #[arg(long, env = "KAFKA_SASL_MECHANISM", value_enum, ignore_case = true)]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name (with SASL_PLAINTEXT or SASL_SSL)
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    /// File holding the SASL password (with SASL_PLAINTEXT or SASL_SSL; a mounted Secret; one final line
    /// break is ignored)
    #[arg(long, env = "KAFKA_SASL_PASSWORD_FILE")]
    pub kafka_sasl_password_file: Option<PathBuf>,
    /// PEM file of the CA(s) that signed the brokers' certificates (with SSL or SASL_SSL; without it, the
    /// system's roots)
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<PathBuf>,
}

impl std::fmt::Debug for KafkaSecurityArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // nothing secret here (the password is in a file), but say so explicitly: no field is left to chance
        f.debug_struct("KafkaSecurityArgs")
            .field("kafka_security_protocol", &self.kafka_security_protocol)
            .field("kafka_sasl_mechanism", &self.kafka_sasl_mechanism)
            .field("kafka_sasl_username", &self.kafka_sasl_username)
            .field("kafka_sasl_password_file", &self.kafka_sasl_password_file)
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .finish()
    }
}

/// Settings that do not fit together, or a file that cannot serve; the message names the setting and the fix
/// (never the password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaSettingsError {
    /// A setting that only means something with another protocol.
    #[error("{setting} is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which {lacks}: set KAFKA_SECURITY_PROTOCOL={wanted}, or unset {setting}")]
    Unused {
        /// The setting.
        setting: &'static str,
        /// The protocol in force.
        protocol: &'static str,
        /// What the protocol does not do.
        lacks: &'static str,
        /// The protocol(s) the setting needs.
        wanted: &'static str,
    },
    /// A setting the protocol needs.
    #[error("KAFKA_SECURITY_PROTOCOL={protocol} needs {setting}: {fix}")]
    Missing {
        /// The setting.
        setting: &'static str,
        /// The protocol in force.
        protocol: &'static str,
        /// How to give it.
        fix: &'static str,
    },
    /// A file setting whose file cannot serve.
    #[error("{setting} {path}: {problem}: {fix}")]
    File {
        /// The setting.
        setting: &'static str,
        /// The file it names.
        path: String,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        fix: &'static str,
    },
}

/// The SASL login of the clients.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslLogin {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    password: String,
}

impl SaslLogin {
    /// A login; `password` is kept out of `Debug`.
    pub fn new(mechanism: SaslMechanism, username: impl Into<String>, password: impl Into<String>) -> SaslLogin {
        SaslLogin { mechanism, username: username.into(), password: password.into() }
    }
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The CA(s) that signed the brokers' certificates, when not the system's roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedCa {
    /// A PEM file (`ssl.ca.location`): the services' `KAFKA_SSL_CA_LOCATION`.
    File(PathBuf),
    /// PEM text (`ssl.ca.pem`): the fetcher's CA from its Secret.
    Pem(String),
}

/// Checked security settings, the password read: what every client is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    /// TLS or not, SASL or not.
    pub protocol: SecurityProtocol,
    /// The login, with SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<SaslLogin>,
    /// The CA, with SSL and SASL_SSL (`None`: the system's roots).
    pub ca: Option<TrustedCa>,
}

impl KafkaSecurity {
    /// Sets `security.protocol` and the SASL and TLS properties on `config`.
    pub fn apply(&self, config: &mut ClientConfig) {
        config.set("security.protocol", self.protocol.as_str());
        if let Some(login) = &self.sasl {
            config
                .set("sasl.mechanism", login.mechanism.as_str())
                .set("sasl.username", &login.username)
                .set("sasl.password", &login.password);
        }
        match &self.ca {
            Some(TrustedCa::File(file)) => config.set("ssl.ca.location", file.display().to_string()),
            Some(TrustedCa::Pem(pem)) => config.set("ssl.ca.pem", pem),
            None => config,
        };
    }
}

const SASL_PROTOCOLS: &str = "SASL_SSL (or SASL_PLAINTEXT)";
const TLS_PROTOCOLS: &str = "SSL or SASL_SSL";
const MOUNT_THE_SECRET: &str = "mount the Secret key holding it there (or fix the path)";

impl KafkaSecurityArgs {
    /// The checked settings, the password read from its file. A SASL setting without a SASL protocol, a CA
    /// without TLS, a SASL protocol without its mechanism, user name or password file, an unreadable or
    /// empty password file, or a CA file without a PEM certificate is refused.
    pub fn resolve(&self) -> Result<KafkaSecurity, KafkaSettingsError> {
        let protocol = self.kafka_security_protocol;
        let name = protocol.as_str();
        if !protocol.uses_sasl() {
            let set = [
                ("KAFKA_SASL_MECHANISM", self.kafka_sasl_mechanism.is_some()),
                ("KAFKA_SASL_USERNAME", self.kafka_sasl_username.is_some()),
                ("KAFKA_SASL_PASSWORD_FILE", self.kafka_sasl_password_file.is_some()),
            ];
            if let Some((setting, _)) = set.into_iter().find(|(_, set)| *set) {
                let lacks = "does not authenticate with SASL";
                return Err(KafkaSettingsError::Unused { setting, protocol: name, lacks, wanted: SASL_PROTOCOLS });
            }
        }
        if !protocol.uses_tls() && self.kafka_ssl_ca_location.is_some() {
            let (setting, lacks) = ("KAFKA_SSL_CA_LOCATION", "does not use TLS");
            let wanted = if protocol.uses_sasl() { "SASL_SSL" } else { TLS_PROTOCOLS };
            return Err(KafkaSettingsError::Unused { setting, protocol: name, lacks, wanted });
        }
        let sasl = if protocol.uses_sasl() { Some(self.login(name)?) } else { None };
        if let Some(ca) = &self.kafka_ssl_ca_location {
            check_ca_file(ca)?;
        }
        Ok(KafkaSecurity { protocol, sasl, ca: self.kafka_ssl_ca_location.clone().map(TrustedCa::File) })
    }

    fn login(&self, protocol: &'static str) -> Result<SaslLogin, KafkaSettingsError> {
        let missing = |setting, fix| KafkaSettingsError::Missing { setting, protocol, fix };
        let mechanism = self
            .kafka_sasl_mechanism
            .ok_or_else(|| missing("KAFKA_SASL_MECHANISM", "set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))?;
        let username = self
            .kafka_sasl_username
            .clone()
            .filter(|username| !username.trim().is_empty())
            .ok_or_else(|| missing("KAFKA_SASL_USERNAME", "set it to the broker user's name"))?;
        let file = self.kafka_sasl_password_file.as_ref().ok_or_else(|| {
            missing("KAFKA_SASL_PASSWORD_FILE", "set it to a file holding the password (a mounted Secret key)")
        })?;
        Ok(SaslLogin::new(mechanism, username, read_password(file)?))
    }
}

/// The password in `file`, without one final line break; the error never holds the file's content.
fn read_password(file: &Path) -> Result<String, KafkaSettingsError> {
    let error = |problem: String, fix| KafkaSettingsError::File {
        setting: "KAFKA_SASL_PASSWORD_FILE",
        path: file.display().to_string(),
        problem,
        fix,
    };
    let content =
        std::fs::read_to_string(file).map_err(|e| error(format!("cannot read it ({})", e.kind()), MOUNT_THE_SECRET))?;
    let password = content.strip_suffix('\n').map(|rest| rest.strip_suffix('\r').unwrap_or(rest)).unwrap_or(&content);
    if password.is_empty() {
        return Err(error("the file is empty".into(), "put the broker user's password in the Secret key"));
    }
    Ok(password.to_string())
}

/// Whether `file` can be read and holds a PEM certificate (librdkafka would refuse it less clearly).
fn check_ca_file(file: &Path) -> Result<(), KafkaSettingsError> {
    let error = |problem: String, fix| KafkaSettingsError::File {
        setting: "KAFKA_SSL_CA_LOCATION",
        path: file.display().to_string(),
        problem,
        fix,
    };
    let content =
        std::fs::read_to_string(file).map_err(|e| error(format!("cannot read it ({})", e.kind()), MOUNT_THE_SECRET))?;
    if !content.contains("-----BEGIN CERTIFICATE-----") {
        return Err(error(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            "point it at the PEM file of the CA that signed the brokers' certificates",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "s3cret-pa55word";

    fn file(name: &str, content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("microfleet-kafka-security-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    fn sasl(protocol: SecurityProtocol, password_file: PathBuf) -> KafkaSecurityArgs {
        KafkaSecurityArgs {
            kafka_security_protocol: protocol,
            kafka_sasl_mechanism: Some(SaslMechanism::ScramSha512),
            kafka_sasl_username: Some("ticketing".into()),
            kafka_sasl_password_file: Some(password_file),
            kafka_ssl_ca_location: None,
        }
    }

    #[test]
    fn valid_settings_become_client_properties() {
        let password = file("password", &format!("{PASSWORD}\n"));
        let ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        let sasl_ssl = KafkaSecurityArgs {
            kafka_ssl_ca_location: Some(ca.clone()),
            ..sasl(SecurityProtocol::SaslSsl, password.clone())
        };
        type Case<'a> = (&'a str, KafkaSecurityArgs, &'a [(&'a str, &'a str)]);
        let cases: [Case<'_>; 4] = [
            ("plaintext", KafkaSecurityArgs::default(), &[("security.protocol", "PLAINTEXT")]),
            (
                "ssl_system_roots",
                KafkaSecurityArgs { kafka_security_protocol: SecurityProtocol::Ssl, ..Default::default() },
                &[("security.protocol", "SSL")],
            ),
            (
                "sasl_plaintext",
                sasl(SecurityProtocol::SaslPlaintext, password.clone()),
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "SCRAM-SHA-512"),
                    ("sasl.username", "ticketing"),
                    ("sasl.password", PASSWORD),
                ],
            ),
            (
                "sasl_ssl_with_ca",
                sasl_ssl,
                &[
                    ("security.protocol", "SASL_SSL"),
                    ("sasl.password", PASSWORD),
                    ("ssl.ca.location", ca.to_str().unwrap()),
                ],
            ),
        ];
        for (case, args, expected) in cases {
            let security = args.resolve().unwrap_or_else(|error| panic!("{case}: {error}"));
            let mut config = ClientConfig::new();
            security.apply(&mut config);
            for (key, value) in expected {
                assert_eq!(config.get(key), Some(*value), "{case}: {key}");
            }
            let absent: &[&str] = if security.sasl.is_none() { &["sasl.mechanism", "sasl.password"] } else { &[] };
            for key in absent {
                assert_eq!(config.get(key), None, "{case}: {key}");
            }
            assert!(!format!("{security:?} {args:?}").contains(PASSWORD), "{case}: Debug shows the password");
        }
    }

    #[test]
    fn the_protocol_follows_tls_and_sasl() {
        let cases = [
            (false, false, SecurityProtocol::Plaintext),
            (true, false, SecurityProtocol::Ssl),
            (false, true, SecurityProtocol::SaslPlaintext),
            (true, true, SecurityProtocol::SaslSsl),
        ];
        for (tls, sasl, expected) in cases {
            let protocol = SecurityProtocol::of(tls, sasl);
            assert_eq!(protocol, expected, "tls {tls}, sasl {sasl}");
            assert_eq!((protocol.uses_tls(), protocol.uses_sasl()), (tls, sasl));
        }
    }

    #[test]
    fn a_ca_given_as_pem_text_is_set_as_such() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let security = KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl: Some(SaslLogin::new(SaslMechanism::ScramSha256, "fetcher", PASSWORD)),
            ca: Some(TrustedCa::Pem(pem.into())),
        };
        let mut config = ClientConfig::new();
        security.apply(&mut config);
        assert_eq!(config.get("ssl.ca.pem"), Some(pem));
        assert_eq!(config.get("ssl.ca.location"), None);
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert!(!format!("{security:?}").contains(PASSWORD));
    }

    #[test]
    fn a_windows_line_break_and_no_line_break_are_both_read() {
        for (case, content) in [("crlf", format!("{PASSWORD}\r\n")), ("none", PASSWORD.to_string())] {
            let security = sasl(SecurityProtocol::SaslPlaintext, file(case, &content)).resolve().unwrap();
            assert_eq!(security.sasl.map(|login| login.password), Some(PASSWORD.to_string()), "{case}");
        }
    }

    #[test]
    fn settings_that_do_not_fit_are_refused_naming_the_setting_and_the_fix() {
        let password = file("refused-password", PASSWORD);
        let not_pem = file("not-pem", "hello");
        let plaintext = KafkaSecurityArgs::default();
        let cases: [(&str, KafkaSecurityArgs, &[&str]); 9] = [
            (
                "mechanism_without_sasl_protocol",
                KafkaSecurityArgs { kafka_sasl_mechanism: Some(SaslMechanism::Plain), ..plaintext.clone() },
                &[
                    "KAFKA_SASL_MECHANISM is set",
                    "KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
                    "set KAFKA_SECURITY_PROTOCOL=SASL_SSL",
                ],
            ),
            (
                "password_file_with_ssl",
                KafkaSecurityArgs {
                    kafka_security_protocol: SecurityProtocol::Ssl,
                    kafka_sasl_password_file: Some(password.clone()),
                    ..plaintext.clone()
                },
                &["KAFKA_SASL_PASSWORD_FILE is set", "is SSL", "unset KAFKA_SASL_PASSWORD_FILE"],
            ),
            (
                "ca_without_tls",
                KafkaSecurityArgs {
                    kafka_ssl_ca_location: Some(not_pem.clone()),
                    ..sasl(SecurityProtocol::SaslPlaintext, password.clone())
                },
                &[
                    "KAFKA_SSL_CA_LOCATION is set",
                    "SASL_PLAINTEXT, which does not use TLS",
                    "KAFKA_SECURITY_PROTOCOL=SASL_SSL",
                ],
            ),
            (
                "sasl_without_mechanism",
                KafkaSecurityArgs { kafka_sasl_mechanism: None, ..sasl(SecurityProtocol::SaslSsl, password.clone()) },
                &["KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"],
            ),
            (
                "sasl_without_username",
                KafkaSecurityArgs {
                    kafka_sasl_username: Some(" ".into()),
                    ..sasl(SecurityProtocol::SaslPlaintext, password.clone())
                },
                &["needs KAFKA_SASL_USERNAME"],
            ),
            (
                "sasl_without_password_file",
                KafkaSecurityArgs {
                    kafka_sasl_password_file: None,
                    ..sasl(SecurityProtocol::SaslPlaintext, password.clone())
                },
                &["needs KAFKA_SASL_PASSWORD_FILE", "mounted Secret"],
            ),
            (
                "password_file_missing",
                sasl(SecurityProtocol::SaslPlaintext, PathBuf::from("/nonexistent/kafka-password")),
                &["KAFKA_SASL_PASSWORD_FILE /nonexistent/kafka-password: cannot read it", "mount the Secret"],
            ),
            ("password_file_empty", sasl(SecurityProtocol::SaslPlaintext, file("empty", "\n")), &["the file is empty"]),
            (
                "ca_not_pem",
                KafkaSecurityArgs {
                    kafka_security_protocol: SecurityProtocol::Ssl,
                    kafka_ssl_ca_location: Some(not_pem),
                    ..plaintext
                },
                &["KAFKA_SSL_CA_LOCATION", "holds no PEM certificate"],
            ),
        ];
        for (case, args, says) in cases {
            let error = args.resolve().expect_err(case).to_string();
            for part in says {
                assert!(error.contains(part), "{case}: {error:?} does not say {part:?}");
            }
            assert!(!error.contains(PASSWORD), "{case}: the error shows the password");
        }
    }
}
