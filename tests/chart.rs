//! Tier 3: the Helm chart — lint, render with default values and with every optional part on, every
//! rendered object against the upstream Kubernetes schemas (1.30 and 1.35), the values schema refusing
//! bad values, the CRDs in sync, and the properties platform teams rely on (restricted pods, probes,
//! leader election, least-privilege RBAC).

use std::process::Command;

use microfleet_tests::{
    repo_root,
    tools::{self, chart_dir, documents, helm, render_chart, run, scratch, validate_kubernetes, write, ALL_ON},
};
use serde_json::Value;

const VERSIONS: [&str; 2] = ["1.30.0", "1.35.0"];

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn the_chart_lints_with_default_values_and_with_everything_on() {
    for sets in [&[][..], ALL_ON] {
        let mut command = Command::new(helm());
        command.args(["lint", "--strict"]).arg(chart_dir());
        for set in sets {
            command.args(["--set", set]);
        }
        let (ok, text) = run(&mut command);
        assert!(ok && text.contains("0 chart(s) failed"), "helm lint {sets:?}:\n{text}");
    }
}

#[test]
fn every_rendered_object_is_valid_kubernetes() {
    let dir = scratch("chart");
    for (label, sets) in [("default", &[][..]), ("all-on", ALL_ON)] {
        let rendered = render_chart(sets).unwrap_or_else(|e| panic!("helm template {label}: {e}"));
        let docs = documents(&rendered);
        // kinds the upstream schemas know go to kubernetes-validate; the prometheus-operator kinds are
        // checked by what reads them (promtool for rules, the Service's labels and ports for monitors)
        let (core, monitoring): (Vec<&Value>, Vec<&Value>) =
            docs.iter().partition(|d| d["apiVersion"] != "monitoring.coreos.com/v1");
        let core_yaml: String = core.iter().map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap())).collect();
        let file = write(&dir, &format!("{label}.yaml"), &core_yaml);
        for version in VERSIONS {
            validate_kubernetes(&file, version).unwrap_or_else(|e| panic!("{label} @ {version}:\n{e}"));
        }
        if label == "all-on" {
            assert_eq!(monitoring.len(), 2, "a ServiceMonitor and a PrometheusRule");
        } else {
            assert!(monitoring.is_empty());
        }
    }
}

#[test]
fn the_prometheus_rule_and_service_monitor_are_usable() {
    let docs = documents(&render_chart(ALL_ON).unwrap());
    let rule = kind(&docs, "PrometheusRule")[0];
    assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let dir = scratch("chart-rules");
    let file = write(&dir, "rules.yaml", &serde_yaml::to_string(&rule["spec"]).unwrap());
    let (ok, text) = run(Command::new(tools::promtool()).args(["check", "rules"]).arg(&file));
    assert!(ok, "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS: 5 rules found"), "{text}");

    let monitor = kind(&docs, "ServiceMonitor")[0];
    let service = kind(&docs, "Service")[0];
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
    let selector = monitor["spec"]["selector"]["matchLabels"].as_object().unwrap();
    for (k, v) in selector {
        assert_eq!(&service["metadata"]["labels"][k], v, "the ServiceMonitor must select the metrics Service");
    }
    let port = &monitor["spec"]["endpoints"][0]["port"];
    assert!(service["spec"]["ports"].as_array().unwrap().iter().any(|p| &p["name"] == port));
}

#[test]
fn dashboards_ship_as_configmaps_for_the_grafana_sidecar() {
    let docs = documents(&render_chart(ALL_ON).unwrap());
    let maps = kind(&docs, "ConfigMap");
    assert_eq!(maps.len(), 3, "the operator's, ClusterFetch's and the ticketing saga's");
    for map in maps {
        assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
        let (name, json) = map["data"].as_object().unwrap().iter().next().unwrap();
        let dashboard: Value = serde_json::from_str(json.as_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(dashboard["panels"].as_array().is_some_and(|p| !p.is_empty()), "{name}");
    }
}

#[test]
fn the_operator_runs_restricted_with_probes_and_leader_election() {
    let docs = documents(&render_chart(&[]).unwrap());
    let deployment = kind(&docs, "Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env: Vec<&str> = container["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    for name in ["POD_NAME", "POD_NAMESPACE", "MICROFLEET_FETCHER_IMAGE", "MICROFLEET_LEASE_NAME"] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
    assert!(!env.contains(&"MICROFLEET_NO_LEADER_ELECTION"));
    assert_eq!(kind(&docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"], 1);
}

#[test]
fn rbac_is_least_privilege() {
    let docs = documents(&render_chart(&[]).unwrap());
    for role in docs.iter().filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role") {
        for rule in role["rules"].as_array().unwrap() {
            let resources: Vec<&str> = rule["resources"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let verbs: Vec<&str> = rule["verbs"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            if resources.contains(&"secrets") {
                // the generated service keys' Secret, created once; no Secret is ever read
                assert_eq!((resources.as_slice(), verbs.as_slice()), (&["secrets"][..], &["create"][..]), "{rule}");
            }
            assert!(!resources.contains(&"*") && !verbs.contains(&"*"), "no wildcards: {rule}");
            assert!(!verbs.contains(&"deletecollection"), "nothing the operator never does: {rule}");
            if verbs.contains(&"delete") {
                // its own rules, and a TicketingService's children it no longer wants; never data (clusters, topics)
                let prunable = [
                    "prometheusrules",
                    "horizontalpodautoscalers",
                    "ingresses",
                    "networkpolicies",
                    "httproutes",
                    "servicemonitors",
                ];
                assert!(
                    resources.iter().all(|r| prunable.contains(r)),
                    "the operator deletes only what it prunes: {rule}"
                );
            }
            if resources.contains(&"leases") {
                assert_eq!(role["kind"], "Role", "Lease access is namespaced");
                assert_eq!(role["metadata"]["namespace"], "microfleet-system");
            }
        }
    }
    let scoped = documents(&render_chart(&["watchNamespace=promo"]).unwrap());
    assert!(kind(&scoped, "ClusterRole").is_empty(), "watching one namespace needs no cluster-wide role");
}

#[test]
fn bad_values_fail_with_a_clear_message() {
    let rows: &[(&str, &str)] = &[
        ("replicaCount=0", "at '/replicaCount': minimum: got 0, want 1"),
        (
            "image.pullPolicy=Sometimes",
            "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
        ),
        ("concurrency=0", "at '/concurrency': minimum: got 0, want 1"),
        ("serviceMonitor.interval=often", "at '/serviceMonitor/interval': 'often' does not match pattern"),
        ("watchNamespace=Not_A_Namespace", "at '/watchNamespace': 'Not_A_Namespace' does not match pattern"),
        ("unknownKey=1", "additional properties 'unknownKey' not allowed"),
    ];
    for (set, message) in rows {
        let error = render_chart(&[set]).expect_err(set);
        assert!(error.contains(message), "{set}: expected {message:?} in\n{error}");
    }
}

#[test]
fn the_chart_crds_are_the_generated_ones() {
    for entry in std::fs::read_dir(repo_root().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let copy = chart_dir().join("crds").join(path.file_name().unwrap());
            let (a, b) = (std::fs::read_to_string(&path).unwrap(), std::fs::read_to_string(&copy).unwrap_or_default());
            assert!(
                a == b,
                "{} differs from {}: copy it over (scripts/test.sh checks this too)",
                copy.display(),
                path.display()
            );
        }
    }
}

#[test]
fn the_notes_tell_what_to_do_next() {
    let notes = std::fs::read_to_string(chart_dir().join("templates/NOTES.txt")).unwrap();
    for hint in ["get pods", "create secret", "run-now", "describe cf", "serviceMonitor.enabled=true"] {
        assert!(notes.contains(hint), "NOTES.txt should say how to {hint}");
    }
}
