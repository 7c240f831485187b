//! Tier 5: the invalid-manifest catalogue (`tests/invalid/*.yaml`) judged by the real API server
//! (`kubectl apply --dry-run=server`) and then the operator's own checks.
//!
//! Every file names, in its header, who must refuse it (`schema` or `cel`: the API server; `operator`: the
//! operator, after the server accepted it) and a piece of the message the user sees. The examples must pass
//! both. The CRD's CEL rules are compiled, and their cost checked, by the server when the CRD is applied.
//! The shared validation of the fetcher's local run and `render` (`admission::local`) must reach the same
//! verdict on every file, with the same piece of message.

use std::path::{Path, PathBuf};

use microfleet_tests::{
    admission::{self, Stage},
    cluster, repo_root,
};
use serde::Deserialize;
use serde_json::Value;

/// The `.yaml` files of `dir` (not its subdirectories), sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}:")).map(|v| v.trim().to_string()))
}

/// The cluster with the CRDs installed and the namespaces the manifests name.
async fn ready_cluster(namespaces: &[&str]) {
    let client = cluster::client().await;
    cluster::install_crds(&client).await;
    for namespace in namespaces {
        cluster::namespace(&client, namespace).await;
    }
}

#[tokio::test]
async fn every_invalid_manifest_is_refused_by_the_api_server_or_the_operator_with_its_message() {
    ready_cluster(&["promo"]).await;
    let files = yaml_files(&repo_root().join("tests/invalid"));
    assert!(files.len() >= 20, "the catalogue must hold at least 20 manifests, has {}", files.len());
    let mut failures = Vec::new();
    let mut per_stage = std::collections::BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let stage: Stage = header(&text, "expect-stage").expect("expect-stage header").parse().unwrap();
        let expected = header(&text, "expect-error").expect("expect-error header");
        *per_stage.entry(format!("{stage:?}")).or_insert(0) += 1;
        match admission::check(&text) {
            Ok(_) => failures.push(format!("{name}: accepted, expected refusal by the {stage:?} ({expected})")),
            Err(rejection) if rejection.stage != stage => {
                failures.push(format!("{name}: expected the {stage:?} to refuse it, got {rejection}"))
            }
            Err(rejection) if !rejection.messages.iter().any(|m| m.contains(&expected)) => {
                failures.push(format!("{name}: message lacks {expected:?}: {rejection}"))
            }
            Err(_) => {}
        }
        match admission::local(&text) {
            Ok(_) => failures.push(format!("{name}: accepted by the local validation, expected {expected:?}")),
            Err(messages) if !messages.iter().any(|m| m.contains(&expected)) => {
                failures.push(format!("{name}: the local validation's messages lack {expected:?}: {messages:?}"))
            }
            Err(_) => {}
        }
    }
    println!("catalogue: {} manifests, by stage {per_stage:?}", files.len());
    assert!(failures.is_empty(), "catalogue mismatches:\n{}", failures.join("\n"));
}

/// The TicketingService catalogue (`tests/invalid/ticketingservice/*.yaml`): every file refused by the API
/// server (its schema or a CEL rule) with its message, and by the shared local admission with the same piece.
#[tokio::test]
async fn every_invalid_ticketing_service_is_refused_by_the_api_server_with_its_message() {
    ready_cluster(&["ticketing"]).await;
    let files = yaml_files(&repo_root().join("tests/invalid/ticketingservice"));
    assert!(files.len() >= 15, "the TicketingService catalogue must hold at least 15 manifests, has {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let stage: Stage = header(&text, "expect-stage").expect("expect-stage header").parse().unwrap();
        let expected = header(&text, "expect-error").expect("expect-error header");
        match admission::check_ticketing_service(&text) {
            Ok(_) => failures.push(format!("{name}: accepted, expected refusal by the {stage:?} ({expected})")),
            Err(rejection) if rejection.stage != stage => {
                failures.push(format!("{name}: expected the {stage:?} to refuse it, got {rejection}"))
            }
            Err(rejection) if !rejection.messages.iter().any(|m| m.contains(&expected)) => {
                failures.push(format!("{name}: message lacks {expected:?}: {rejection}"))
            }
            Err(_) => {}
        }
        match admission::local_ticketing_service(&text) {
            Ok(_) => failures.push(format!("{name}: accepted by the local admission, expected {expected:?}")),
            Err(messages) if !messages.iter().any(|m| m.contains(&expected)) => {
                failures.push(format!("{name}: the local admission's messages lack {expected:?}: {messages:?}"))
            }
            Err(_) => {}
        }
    }
    println!("TicketingService catalogue: {} manifests", files.len());
    assert!(failures.is_empty(), "catalogue mismatches:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn the_ticketing_service_example_passes_and_the_server_fills_in_the_defaults() {
    ready_cluster(&["ticketing"]).await;
    let text = std::fs::read_to_string(repo_root().join("examples/ticketing-service.yaml")).unwrap();
    let stored = admission::check_ticketing_service(&text).unwrap_or_else(|r| panic!("the example: {r}"));
    let local = admission::local_ticketing_service(&text).unwrap_or_else(|r| panic!("the example (local): {r:?}"));
    assert_eq!(stored.pointer("/spec/kafka/topicsJobImage"), Some(&Value::from("apache/kafka:4.1.1")));
    assert_eq!(stored.pointer("/spec/network/databasePort"), Some(&Value::from(5432)));
    assert_eq!(stored.pointer("/spec/alerts/scanP99Milliseconds"), Some(&Value::from(300)));
    assert_eq!(stored.pointer("/spec/alerts/orderP99Milliseconds"), Some(&Value::from(800)));
    let server_spec: microfleet_crds::ticketingservice::TicketingServiceSpec =
        serde_json::from_value(stored["spec"].clone()).unwrap();
    assert_eq!(server_spec, local.spec, "the local admission fills in the same defaults as the server");
}

#[tokio::test]
async fn examples_pass_the_api_server_and_the_operator() {
    ready_cluster(&["promo"]).await;
    let files = yaml_files(&repo_root().join("examples"));
    assert!(!files.is_empty());
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let manifest = Value::deserialize(doc).unwrap();
            if manifest.get("kind").and_then(Value::as_str) != Some("ClusterFetch") {
                continue;
            }
            let json = serde_json::to_string(&manifest).unwrap();
            admission::check(&json).unwrap_or_else(|r| panic!("{}: {r}", file.display()));
            admission::local(&json).unwrap_or_else(|r| panic!("{} (local validation): {r:?}", file.display()));
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the examples to hold ClusterFetches, found {checked}");
}

const MINIMAL: &str = "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: m, namespace: promo}\nspec:\n  schedule: '@daily'\n  source: {url: 'https://a.example/users'}\n  sink: {http: {url: 'https://b.example/imports'}}\n";

#[tokio::test]
async fn a_minimal_manifest_passes_and_the_server_fills_in_the_defaults() {
    ready_cluster(&["promo"]).await;
    let stored = admission::check(MINIMAL).unwrap();
    assert_eq!(stored.pointer("/spec/concurrencyPolicy"), Some(&Value::from("Forbid")));
    assert_eq!(stored.pointer("/spec/activeDeadlineSeconds"), Some(&Value::from(3600)));
    assert_eq!(stored.pointer("/spec/checks/minItems"), Some(&Value::from(1)));
    assert_eq!(stored.pointer("/spec/retry/attempts"), Some(&Value::from(5)));
}

/// Where the old in-process replay disagreed with the server: explicit nulls for optional fields are
/// accepted (and read by the operator as absent); unknown fields and upper-case names are refused.
#[tokio::test]
async fn the_server_decides_explicit_nulls_unknown_fields_and_names() {
    ready_cluster(&["promo"]).await;
    let nulls = "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: nulls, namespace: promo}\nspec:\n  schedule: '@daily'\n  source: {url: 'https://a.example/users', pagination: null, credentials: null, body: null}\n  sink: {http: {url: 'https://b.example/imports'}}\n  checks: {maxItems: null}\n";
    admission::check(nulls).unwrap_or_else(|r| panic!("explicit nulls must pass: {r}"));

    let typo = MINIMAL.replace("source: {url:", "source: {cursorPth: '/next', url:");
    let refused = admission::check(&typo).unwrap_err();
    assert_eq!(refused.stage, Stage::Server);
    assert!(refused.messages[0].contains("unknown field \"spec.source.cursorPth\""), "{refused}");
    let local = admission::local(&typo).unwrap_err();
    assert_eq!(local, ["UnknownField: spec.source.cursorPth: unknown field; known fields are body, credentials, format, headers, itemPath, method, pagination, timeouts, totalHeader, totalPath, url"]);
    admission::local(nulls).unwrap_or_else(|r| panic!("explicit nulls must pass the local validation: {r:?}"));

    let upper = MINIMAL.replace("name: m,", "name: Promo-Users,");
    let refused = admission::check(&upper).unwrap_err();
    assert_eq!(refused.stage, Stage::Server);
    assert!(refused.messages[0].contains("a lowercase RFC 1123 subdomain"), "{refused}");
    let local = admission::local(&upper).unwrap_err();
    assert!(local[0].contains("a lowercase RFC 1123 subdomain"), "{local:?}");
}

fn rules_of(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        for rule in rules {
            let message = rule.get("message").and_then(Value::as_str).unwrap_or_default();
            assert!(!message.is_empty(), "rule at {path} has no message: {rule}");
            out.push((path.to_string(), rule["rule"].as_str().unwrap_or_default().to_string()));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rules_of(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        rules_of(items, &format!("{path}[]"), out);
    }
}

/// The server compiles each CEL rule and checks its cost when the CRD is applied (`install_crds` fails
/// otherwise); here, that every rule carries a message for the user.
#[tokio::test]
async fn the_server_accepts_the_crds_and_every_cel_rule_has_a_message() {
    ready_cluster(&[]).await;
    for file in ["crds/clusterfetches.microfleet.io.yaml", "crds/ticketingservices.microfleet.io.yaml"] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let crd: Value = serde_yaml::from_str(&text).unwrap();
        let schema = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").expect("openAPIV3Schema");
        let mut rules = Vec::new();
        rules_of(schema, "", &mut rules);
        assert!(rules.len() >= 15, "expected {file} to carry its CEL rules, found {}", rules.len());
    }
}
