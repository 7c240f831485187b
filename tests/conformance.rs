//! Tier 3: every object the operator emits, and the CRDs, against the upstream Kubernetes OpenAPI schemas
//! (`kubernetes-validate --strict`, Kubernetes 1.30 and 1.35). `scripts/test.sh` installs the tool. The
//! PrometheusRules load in Prometheus (`promtool check rules`); the other kinds of optional APIs a
//! TicketingService emits (KafkaTopic, Cluster, HTTPRoute, ServiceMonitor) are checked against their own CRDs
//! by the API server in `tests/catalogue.rs`.

use microfleet_operator::{
    clusterfetch::build::BuildConfig,
    render::{render, render_ticketing_service},
    ticketingservice::{build::BuildConfig as TicketingBuildConfig, discovery::Discovered, topics::TOPIC_SUFFIXES},
};
use microfleet_tests::{repo_root, tools::validate_kubernetes};

const VERSIONS: [&str; 2] = ["1.30.0", "1.35.0"];

fn rendered_objects() -> Vec<(String, String)> {
    let config = BuildConfig::new("registry.local/microfleet-fetcher:0.1.0");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let manifest = std::fs::read_to_string(&path).unwrap();
        if !manifest.contains("kind: ClusterFetch") {
            continue;
        }
        // with a run-now request, so the run-now Job is rendered too
        let with_run_now =
            manifest.replacen("metadata:\n", "metadata:\n  annotations:\n    microfleet.io/run-now: \"1\"\n", 1);
        let yaml = render(&with_run_now, &config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((path.display().to_string(), yaml));
    }
    let minimal = "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: m}\nspec:\n  schedule: '@hourly'\n  source: {url: 'https://a.example/u', format: ndjson}\n  sink: {http: {url: 'https://b.example/i'}}\n";
    out.push(("minimal".into(), render(minimal, &config).unwrap()));
    out
}

#[test]
fn every_emitted_object_is_valid_kubernetes() {
    let dir = tempdir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (i, (source, yaml)) in rendered_objects().into_iter().enumerate() {
        for line in yaml.lines().filter(|l| l.starts_with("kind: ")) {
            kinds.insert(line.trim_start_matches("kind: ").to_string());
        }
        // the PrometheusRule is not an upstream kind: promtool checks it (tests/alerts.rs runs its tests)
        let docs = microfleet_tests::tools::documents(&yaml);
        let (core, rules): (Vec<_>, Vec<_>) = docs.iter().partition(|d| d["kind"] != "PrometheusRule");
        for rule in rules {
            let file = microfleet_tests::tools::write(
                &dir,
                &format!("rule-{i}.yaml"),
                &serde_yaml::to_string(&rule["spec"]).unwrap(),
            );
            let (ok, text) = microfleet_tests::tools::run(
                std::process::Command::new(microfleet_tests::tools::promtool()).args(["check", "rules"]).arg(&file),
            );
            assert!(ok, "{source}: the PrometheusRule does not load in Prometheus:\n{text}");
        }
        let yaml: String = core.iter().map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap())).collect();
        let file = dir.join(format!("rendered-{i}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        for version in VERSIONS {
            if let Err(e) = validate_kubernetes(&file, version) {
                failures.push(format!("{source} @ {version}: {e}"));
            }
        }
    }
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["CronJob", "Job", "PrometheusRule"], "kinds checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_crds_are_valid_kubernetes() {
    for entry in std::fs::read_dir(repo_root().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            for version in VERSIONS {
                validate_kubernetes(&path, version).unwrap_or_else(|e| panic!("{} @ {version}: {e}", path.display()));
            }
        }
    }
}

#[test]
fn the_validator_refuses_a_broken_object() {
    // Negative control: proves the tool really checks, so the tests above can fail.
    let dir = tempdir();
    let (_, yaml) = rendered_objects().remove(0);
    let file = dir.join("broken.yaml");
    std::fs::write(&file, yaml.replacen("backoffLimit: 0", "backoffLimit: zero", 1)).unwrap();
    assert!(validate_kubernetes(&file, VERSIONS[0]).is_err());
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "microfleet-conformance-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example TicketingService's children, rendered as the operator emits them in a cluster without any
/// optional API (its CloudNativePG database swapped for a URL Secret) and in one with all of them.
fn rendered_ticketing_children() -> Vec<(String, String)> {
    let config = TicketingBuildConfig::new("registry.local/microfleet", "0.1.0");
    let manifest = std::fs::read_to_string(repo_root().join("examples/ticketing-service.yaml")).unwrap();
    let without_cnpg = manifest
        .replace("cloudNativePG: {instances: 2, storageSize: 2Gi}", "urlSecretKeyRef: {name: auth-db, key: url}");
    assert_ne!(without_cnpg, manifest, "the example's CloudNativePG database moved: update this test");
    let everything =
        Discovered { strimzi_topics: true, cloud_native_pg: true, gateway_api: true, prometheus_operator: true };
    let with_strimzi_and_gateway = manifest
        .replace("    replicationFactor: 3\n", "    replicationFactor: 3\n    strimziCluster: events\n")
        .replace(
            "    ingressClassName: nginx\n",
            "    ingressClassName: nginx\n    gateway: {name: public, namespace: gateways}\n",
        );
    vec![
        ("bare cluster".into(), render_ticketing_service(&without_cnpg, &Discovered::default(), &config).unwrap()),
        (
            "every optional API".into(),
            render_ticketing_service(&with_strimzi_and_gateway, &everything, &config).unwrap(),
        ),
    ]
}

/// The kinds of the optional APIs (not upstream Kubernetes kinds).
const OPTIONAL_KINDS: [&str; 5] = ["KafkaTopic", "Cluster", "HTTPRoute", "ServiceMonitor", "PrometheusRule"];

#[test]
fn every_object_a_ticketing_service_emits_is_valid_kubernetes() {
    let dir = tempdir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (i, (source, yaml)) in rendered_ticketing_children().into_iter().enumerate() {
        let docs = microfleet_tests::tools::documents(&yaml);
        for doc in &docs {
            kinds.insert(doc["kind"].as_str().unwrap().to_string());
        }
        for rule in docs.iter().filter(|d| d["kind"] == "PrometheusRule") {
            let file = microfleet_tests::tools::write(
                &dir,
                &format!("ts-rule-{i}.yaml"),
                &serde_yaml::to_string(&rule["spec"]).unwrap(),
            );
            let (ok, text) = microfleet_tests::tools::run(
                std::process::Command::new(microfleet_tests::tools::promtool()).args(["check", "rules"]).arg(&file),
            );
            assert!(ok, "{source}: the PrometheusRule does not load in Prometheus:\n{text}");
        }
        let core: String = docs
            .iter()
            .filter(|d| !OPTIONAL_KINDS.contains(&d["kind"].as_str().unwrap_or_default()))
            .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
            .collect();
        let file = dir.join(format!("ts-rendered-{i}.yaml"));
        std::fs::write(&file, &core).unwrap();
        for version in VERSIONS {
            if let Err(e) = validate_kubernetes(&file, version) {
                failures.push(format!("{source} @ {version}: {e}"));
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "Cluster",
            "ConfigMap",
            "Deployment",
            "HTTPRoute",
            "HorizontalPodAutoscaler",
            "Ingress",
            "Job",
            "KafkaTopic",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceMonitor"
        ],
        "kinds checked"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_operator_provisions_every_topic_the_services_use() {
    let services = microfleet_common::topics::Topics::new("ticketing").all();
    let operator: Vec<String> = TOPIC_SUFFIXES.iter().map(|suffix| format!("ticketing.{suffix}")).collect();
    assert_eq!(operator, services, "operator/src/ticketingservice/topics.rs and workloads/common/src/topics.rs differ");
}

/// The openAPIV3Schema of `kind` at `api_version` in the CRD files of `dirs` (each `<group>_<plural>.yaml`).
fn crd_schema(dirs: &[String], api_version: &str, kind: &str) -> Option<serde_json::Value> {
    let (group, version) = api_version.split_once('/')?;
    for dir in dirs {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let crd: serde_json::Value = serde_yaml::from_str(&text).ok()?;
            if crd.pointer("/spec/group").and_then(|g| g.as_str()) != Some(group)
                || crd.pointer("/spec/names/kind").and_then(|k| k.as_str()) != Some(kind)
            {
                continue;
            }
            let versions = crd.pointer("/spec/versions")?.as_array()?;
            let served = versions.iter().find(|v| v["name"] == version)?;
            return served.pointer("/schema/openAPIV3Schema").cloned();
        }
    }
    None
}

fn optional_crd_dirs() -> Vec<String> {
    ["MICROFLEET_OPTIONAL_CRDS", "MICROFLEET_PROMETHEUS_OPERATOR_CRDS"]
        .iter()
        .map(|var| {
            std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: eval \"$(scripts/tools.sh)\" first"))
        })
        .collect()
}

/// HTTPRoute, CloudNativePG Cluster, ServiceMonitor and PrometheusRule against their own CRDs (the Gateway
/// API v1.2.1, CloudNativePG v1.25.1 and prometheus-operator v0.85.0 schemas and CEL rules, applied as the
/// API server does by `microfleet_crds::validate::check_against_crd_schema`). Strimzi is not a Go module
/// and its CRDs are not fetched: the KafkaTopic is checked by the builders' unit tests only.
#[test]
fn a_ticketing_service_s_optional_kinds_pass_their_own_crds() {
    let dirs = optional_crd_dirs();
    let (_, yaml) = rendered_ticketing_children().remove(1);
    let mut checked = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for doc in microfleet_tests::tools::documents(&yaml) {
        let kind = doc["kind"].as_str().unwrap().to_string();
        if !OPTIONAL_KINDS.contains(&kind.as_str()) || kind == "KafkaTopic" {
            continue;
        }
        let schema = crd_schema(&dirs, doc["apiVersion"].as_str().unwrap(), &kind)
            .unwrap_or_else(|| panic!("no CRD of {} {kind} in {dirs:?}", doc["apiVersion"]));
        if let Err(problems) = microfleet_crds::validate::check_against_crd_schema(&schema, &doc) {
            failures.push(format!("{kind} {}: {problems:?}", doc["metadata"]["name"]));
        }
        checked.insert(kind);
    }
    assert_eq!(checked.into_iter().collect::<Vec<_>>(), ["Cluster", "HTTPRoute", "PrometheusRule", "ServiceMonitor"]);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // negative control: the check refuses what the CRDs refuse
    let route = crd_schema(&dirs, "gateway.networking.k8s.io/v1", "HTTPRoute").unwrap();
    let docs = microfleet_tests::tools::documents(&yaml);
    let mut bad = docs.iter().find(|d| d["kind"] == "HTTPRoute").unwrap().clone();
    bad["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Glob".into();
    assert!(microfleet_crds::validate::check_against_crd_schema(&route, &bad).is_err(), "an unknown path type");
    let cluster = crd_schema(&dirs, "postgresql.cnpg.io/v1", "Cluster").unwrap();
    let mut bad = docs.iter().find(|d| d["kind"] == "Cluster").unwrap().clone();
    bad["spec"]["instances"] = 0.into();
    assert!(microfleet_crds::validate::check_against_crd_schema(&cluster, &bad).is_err(), "no instance");
}

/// The environment variables a `--help` lists (`[env: NAME=...]`), and the ones its usage line requires
/// (`--flag <NAME>`, the options without a default).
fn help_variables(binary: &std::path::Path, command: &str) -> (std::collections::BTreeSet<String>, Vec<String>) {
    let (ok, help) = microfleet_tests::tools::run(std::process::Command::new(binary).args([command, "--help"]));
    assert!(ok, "{} {command} --help:\n{help}", binary.display());
    let known = help
        .split("[env: ")
        .skip(1)
        .map(|rest| rest.split(['=', ']']).next().unwrap_or_default().to_string())
        .collect();
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap_or_default();
    let required = usage
        .split('<')
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(name, _)| name.to_string()))
        .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    (known, required)
}

/// The operator's environment contract with the binaries it runs (`operator/src/ticketingservice/config.rs`),
/// checked against the binaries themselves: every variable a component gets (its ConfigMap's, its Secrets')
/// is one its `serve` reads, every variable only its migration Job gets is one `migrate` reads, and every
/// variable `serve` and `migrate` require is given — for the example, and for the example with TLS and SASL
/// to the broker; the topic Job's variables are the services' (`ticketing` reads them all). The CMS is
/// checked once its workload (`workloads/cms`, binary `ticketing-cms`) is in the workspace.
#[test]
fn every_variable_a_component_gets_is_one_its_binary_reads_and_none_it_requires_is_missing() {
    use microfleet_operator::ticketingservice::{
        component::ComponentKind,
        config::{config_data, migrate_env_vars, secret_env_vars},
    };
    let manifest = std::fs::read_to_string(repo_root().join("examples/ticketing-service.yaml")).unwrap();
    let mut value: serde_json::Value = serde_yaml::from_str(&manifest).unwrap();
    let plain = microfleet_crds::validate::validate_ticketing_service_manifest(&value).unwrap();
    value["spec"]["kafka"]["tls"] = serde_json::json!({"caSecretKeyRef": {"name": "kafka-ca", "key": "ca.crt"}});
    value["spec"]["kafka"]["sasl"] = serde_json::json!({
        "mechanism": "SCRAM-SHA-512",
        "username": {"name": "kafka-user", "key": "username"},
        "password": {"name": "kafka-user", "key": "password"},
    });
    let secured = microfleet_crds::validate::validate_ticketing_service_manifest(&value).unwrap();
    let mut kinds = vec![ComponentKind::Ticketing, ComponentKind::GateAcl, ComponentKind::Auth];
    if repo_root().join("workloads/cms").exists() {
        kinds.push(ComponentKind::Cms);
    }
    let mut failures = Vec::new();
    for kind in kinds {
        let binary = microfleet_tests::operator::binary(kind.binary());
        let name = kind.binary();
        let (serve_known, serve_required) = help_variables(&binary, "serve");
        let (migrate_known, migrate_required) = help_variables(&binary, "migrate");
        for (spec, ts) in [("example", &plain), ("example with TLS and SASL", &secured)] {
            let ours: Vec<String> = config_data(ts, kind)
                .into_keys()
                .chain(secret_env_vars(ts, kind).into_iter().map(|e| e.name))
                .collect();
            for variable in migrate_env_vars(ts, kind).into_iter().map(|e| e.name) {
                if !migrate_known.contains(&variable) {
                    failures
                        .push(format!("{spec}: {name}: its migration gets {variable}, which `migrate` does not read"));
                }
            }
            for variable in &ours {
                if !serve_known.contains(variable) {
                    failures.push(format!("{spec}: {name}: the operator sets {variable}, which `serve` does not read"));
                }
            }
            for variable in serve_required.iter().chain(&migrate_required) {
                if !ours.contains(variable) {
                    failures.push(format!("{spec}: {name}: requires {variable}, which the operator does not set"));
                }
            }
            if kind == ComponentKind::Ticketing {
                // the topic Job's script reads the broker's settings under the services' names
                let mut stored = ts.clone();
                stored.metadata.uid = Some("uid".into());
                let job = microfleet_operator::ticketingservice::topics::build_topics_job(&stored).unwrap();
                let pod = job.spec.unwrap().template.spec.unwrap();
                for variable in pod.containers[0].env.iter().flatten().map(|e| &e.name) {
                    if variable != "LOG_DIR" && !serve_known.contains(variable) {
                        failures.push(format!("{spec}: the topic Job gets {variable}, which the services do not read"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
