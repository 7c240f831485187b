//! Plan: what one run must do, read from the pod's environment (the operator's contract) or, for local
//! runs, from a ClusterFetch manifest; credentials always from the environment.
//!
//! No network I/O. Credentials are held in [`Auth`], whose `Debug` never shows them.

use microfleet_crds::{
    clusterfetch::{ClusterFetch, Credentials, SecretKeyRef},
    contract::{env, FetchPlan},
    validate::{validate_manifest, SpecProblem},
};

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required environment variable is unset.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// Where its value should come from.
        hint: String,
    },
    /// The plan JSON or the manifest is malformed.
    #[error("{0}")]
    Bad(String),
    /// The manifest would be refused by the API server or the operator (the checks they share with this run).
    #[error("the manifest would be refused: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SpecProblem>),
}

/// Credentials for one endpoint, resolved from the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// None.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic.
    Basic(String, String),
    /// A header carrying a key.
    ApiKey(String, String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Bearer(_) => "Bearer(<redacted>)",
            Auth::Basic(..) => "Basic(<redacted>)",
            Auth::ApiKey(..) => "ApiKey(<redacted>)",
        })
    }
}

impl Auth {
    /// Adds the credentials to a request.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::ApiKey(header, key) => request.header(header.as_str(), key.as_str()),
        }
    }
}

/// The Kafka sink's secrets, resolved from the environment; `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaSecrets {
    /// SASL user name and password.
    pub sasl: Option<(String, String)>,
    /// The CA certificate(s), PEM.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for KafkaSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |set: bool| if set { "<redacted>" } else { "None" };
        f.debug_struct("KafkaSecrets")
            .field("sasl", &shown(self.sasl.is_some()))
            .field("ca_pem", &shown(self.ca_pem.is_some()))
            .finish()
    }
}

impl KafkaSecrets {
    /// The secrets the Kafka sink of `plan` names, each from its env var (the kubelet fills them from the
    /// `secretKeyRef`s); none without a Kafka sink.
    fn from_env(plan: &FetchPlan, var: &dyn Fn(&str) -> Option<String>) -> Result<KafkaSecrets, ConfigError> {
        let Some(kafka) = &plan.sink.kafka else { return Ok(KafkaSecrets::default()) };
        let get = |name: &'static str, field: &str, secret: &SecretKeyRef| {
            var(name).filter(|v| !v.is_empty()).ok_or_else(|| ConfigError::Missing {
                name,
                hint: format!(
                    "{field} names Secret {:?} key {:?}; in a pod the kubelet fills it",
                    secret.name, secret.key
                ),
            })
        };
        let sasl = match &kafka.sasl {
            Some(sasl) => Some((
                get(env::SINK_KAFKA_SASL_USERNAME, "spec.sink.kafka.sasl.username", &sasl.username)?,
                get(env::SINK_KAFKA_SASL_PASSWORD, "spec.sink.kafka.sasl.password", &sasl.password)?,
            )),
            None => None,
        };
        let ca = kafka.tls.as_ref().and_then(|tls| tls.ca_secret_key_ref.as_ref());
        let ca_pem = ca.map(|ca| get(env::SINK_KAFKA_CA_PEM, "spec.sink.kafka.tls.caSecretKeyRef", ca)).transpose()?;
        Ok(KafkaSecrets { sasl, ca_pem })
    }
}

/// The env var names of one endpoint's credentials.
struct Names {
    bearer: &'static str,
    username: &'static str,
    password: &'static str,
    api_key: &'static str,
    field: &'static str,
}

const SOURCE: Names = Names {
    bearer: env::SOURCE_BEARER_TOKEN,
    username: env::SOURCE_BASIC_USERNAME,
    password: env::SOURCE_BASIC_PASSWORD,
    api_key: env::SOURCE_API_KEY,
    field: "spec.source.credentials",
};
const SINK: Names = Names {
    bearer: env::SINK_BEARER_TOKEN,
    username: env::SINK_BASIC_USERNAME,
    password: env::SINK_BASIC_PASSWORD,
    api_key: env::SINK_API_KEY,
    field: "spec.sink.http.credentials",
};

fn resolve(
    credentials: Option<&Credentials>,
    names: &Names,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Auth, ConfigError> {
    let Some(c) = credentials else { return Ok(Auth::None) };
    let get = |name: &'static str, secret: &SecretKeyRef| {
        var(name).filter(|v| !v.is_empty()).ok_or_else(|| ConfigError::Missing {
            name,
            hint: format!(
                "{} names Secret {:?} key {:?}; in a pod the kubelet fills it",
                names.field, secret.name, secret.key
            ),
        })
    };
    if let Some(token) = &c.bearer_token {
        return Ok(Auth::Bearer(get(names.bearer, token)?));
    }
    if let Some(basic) = &c.basic {
        return Ok(Auth::Basic(get(names.username, &basic.username)?, get(names.password, &basic.password)?));
    }
    if let Some(key) = &c.api_key {
        return Ok(Auth::ApiKey(key.header.clone(), get(names.api_key, &key.secret_key_ref)?));
    }
    Ok(Auth::None)
}

/// A run id for a local run: the time to the nanosecond and the process id, so that two runs started in
/// the same second (even on two machines' clocks in step) never share one.
pub fn local_run_id() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("local-{}-{:09}-{}", now.as_secs(), now.subsec_nanos(), std::process::id())
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Source, sink, retry and checks.
    pub plan: FetchPlan,
    /// The run id (the Job's name in a pod).
    pub run_id: String,
    /// `<namespace>/<name>` of the ClusterFetch.
    pub cluster_fetch: String,
    /// Source credentials.
    pub source_auth: Auth,
    /// Sink credentials.
    pub sink_auth: Auth,
    /// The Kafka sink's secrets.
    pub kafka_secrets: KafkaSecrets,
    /// The item count of the last successful run, for the drop guard (`checks.maxDropPercent`).
    pub last_success_items: Option<u64>,
}

impl RunPlan {
    /// The plan of a run in a pod: everything from the environment (`var` is `std::env::var` in the binary).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<RunPlan, ConfigError> {
        let raw = var(env::FETCH_PLAN).ok_or_else(|| ConfigError::Missing {
            name: env::FETCH_PLAN,
            hint: "the operator's CronJob sets it; for a local run use `run --spec <ClusterFetch yaml>`".into(),
        })?;
        let plan: FetchPlan = serde_json::from_str(&raw)
            .map_err(|e| ConfigError::Bad(format!("{} is not a fetch plan: {e}", env::FETCH_PLAN)))?;
        let run_id = var(env::RUN_ID).filter(|v| !v.is_empty()).ok_or_else(|| ConfigError::Missing {
            name: env::RUN_ID,
            hint: "the operator's CronJob sets it from the Job name".into(),
        })?;
        let cluster_fetch = var(env::CLUSTER_FETCH).unwrap_or_else(|| "unknown/unknown".into());
        Self::with_credentials(plan, run_id, cluster_fetch, var)
    }

    /// The plan of a local run of a ClusterFetch manifest, validated as the API server and the operator would
    /// validate it (defaults applied as the server would).
    pub fn from_manifest(
        yaml: &str,
        run_id: String,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RunPlan, ConfigError> {
        let manifest: serde_json::Value =
            serde_yaml::from_str(yaml).map_err(|e| ConfigError::Bad(format!("not a ClusterFetch manifest: {e}")))?;
        let cf: ClusterFetch = validate_manifest(&manifest).map_err(ConfigError::Invalid)?;
        let plan = FetchPlan {
            source: cf.spec.source.clone(),
            sink: cf.spec.sink.clone(),
            retry: cf.spec.retry.clone(),
            checks: cf.spec.checks.clone(),
        };
        let name = cf.metadata.name.clone().unwrap_or_else(|| "local".into());
        let namespace = cf.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        Self::with_credentials(plan, run_id, format!("{namespace}/{name}"), var)
    }

    fn with_credentials(
        plan: FetchPlan,
        run_id: String,
        cluster_fetch: String,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<RunPlan, ConfigError> {
        let source_auth = resolve(plan.source.credentials.as_ref(), &SOURCE, var)?;
        let sink_auth = resolve(plan.sink.http.as_ref().and_then(|h| h.credentials.as_ref()), &SINK, var)?;
        let kafka_secrets = KafkaSecrets::from_env(&plan, var)?;
        let last_success_items =
            match var(env::LAST_SUCCESS_ITEMS).filter(|v| !v.is_empty()) {
                None => None,
                Some(raw) => Some(raw.trim().parse::<u64>().map_err(|_| {
                    ConfigError::Bad(format!("{} is {raw:?}, not an item count", env::LAST_SUCCESS_ITEMS))
                })?),
            };
        Ok(RunPlan { plan, run_id, cluster_fetch, source_auth, sink_auth, kafka_secrets, last_success_items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
apiVersion: microfleet.io/v1alpha1
kind: ClusterFetch
metadata: {name: promo-users, namespace: promo}
spec:
  schedule: "@daily"
  source:
    url: http://src.test/users
    credentials: {bearerToken: {name: clustering-api, key: token}}
  sink:
    http:
      url: http://sink.test/imports
      credentials: {basic: {username: {name: s, key: u}, password: {name: s, key: p}}}
"#;

    #[test]
    fn credentials_come_from_the_environment_and_never_show() {
        let vars = |name: &str| match name {
            env::SOURCE_BEARER_TOKEN => Some("tok-123".to_string()),
            env::SINK_BASIC_USERNAME => Some("user".to_string()),
            env::SINK_BASIC_PASSWORD => Some("pw-456".to_string()),
            _ => None,
        };
        let plan = RunPlan::from_manifest(MANIFEST, "local-1".into(), &vars).unwrap();
        assert_eq!(plan.source_auth, Auth::Bearer("tok-123".into()));
        assert_eq!(plan.sink_auth, Auth::Basic("user".into(), "pw-456".into()));
        assert_eq!(plan.cluster_fetch, "promo/promo-users");
        assert_eq!(plan.plan.retry.attempts, 5, "defaults applied");
        let shown = format!("{plan:?}");
        assert!(!shown.contains("tok-123") && !shown.contains("pw-456"), "{shown}");
    }

    #[test]
    fn a_missing_credential_names_the_variable_and_the_secret() {
        let error = RunPlan::from_manifest(MANIFEST, "local-1".into(), &|_| None).unwrap_err().to_string();
        assert!(error.contains("MICROFLEET_SOURCE_BEARER_TOKEN is not set"), "{error}");
        assert!(error.contains("\"clustering-api\""), "{error}");
    }

    #[test]
    fn a_manifest_the_api_server_or_the_operator_would_refuse_does_not_run() {
        let vars = |_: &str| Some("x".to_string());
        let cases = [
            (
                "typo",
                MANIFEST.replace("    url: http://src.test", "    itemPth: /users\n    url: http://src.test"),
                "spec.source.itemPth: unknown field; did you mean itemPath?",
            ),
            (
                "schedule",
                MANIFEST.replace("\"@daily\"", "\"0 25 * * *\""),
                "spec.schedule: \"0 25 * * *\" is not a schedule",
            ),
            (
                "time_zone",
                MANIFEST.replace("  schedule:", "  timeZone: Mars/Olympus\n  schedule:"),
                "spec.timeZone: unknown time zone",
            ),
            (
                "batch_size",
                MANIFEST.replace("      url: http://sink.test", "      batchSize: 0\n      url: http://sink.test"),
                "spec.sink.http.batchSize: Invalid value: 0",
            ),
        ];
        for (case, manifest, expected) in cases {
            let error = RunPlan::from_manifest(&manifest, "local-1".into(), &vars).unwrap_err().to_string();
            assert!(error.contains(expected), "{case}: {error}");
        }
    }

    #[test]
    fn the_last_successful_runs_item_count_comes_from_the_environment() {
        let creds = |name: &str| match name {
            env::SOURCE_BEARER_TOKEN | env::SINK_BASIC_USERNAME | env::SINK_BASIC_PASSWORD => Some("x".to_string()),
            _ => None,
        };
        // (case, the variable, the count read, or the start of the error)
        let cases = [
            ("unset", None, Ok(None)),
            ("empty", Some(""), Ok(None)),
            ("a count", Some("25000"), Ok(Some(25_000))),
            ("not a count", Some("lots"), Err("MICROFLEET_LAST_SUCCESS_ITEMS is \"lots\", not an item count")),
        ];
        for (case, value, want) in cases {
            let vars = |name: &str| match name {
                env::LAST_SUCCESS_ITEMS => value.map(str::to_string),
                other => creds(other),
            };
            let got = RunPlan::from_manifest(MANIFEST, "local-1".into(), &vars)
                .map(|p| p.last_success_items)
                .map_err(|e| e.to_string());
            match want {
                Ok(count) => assert_eq!(got, Ok(count), "{case}"),
                Err(start) => assert!(got.as_ref().is_err_and(|e| e.starts_with(start)), "{case}: {got:?}"),
            }
        }
    }

    #[test]
    fn local_run_ids_never_collide() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| local_run_id()).collect();
        assert_eq!(ids.len(), 1000, "two runs in one second got the same id");
        let id = local_run_id();
        assert!(id.starts_with("local-") && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{id}");
    }

    #[test]
    fn the_pod_plan_needs_the_plan_and_the_run_id() {
        let error = RunPlan::from_env(&|_| None).unwrap_err().to_string();
        assert!(error.contains("MICROFLEET_FETCH_PLAN is not set"), "{error}");
        let bad = |name: &str| (name == env::FETCH_PLAN).then(|| "{".to_string());
        assert!(RunPlan::from_env(&bad).unwrap_err().to_string().contains("is not a fetch plan"));
    }
}
