//! Tier 3: alert rules and dashboards against real Prometheus tooling — `promtool test rules` for every
//! alert (firing and not firing), every dashboard query parsed by promtool, and every metric a rule or a
//! dashboard uses really exported by the operator (read from its registry, not from a list).

use std::{collections::BTreeSet, process::Command};

use microfleet_operator::{clusterfetch::fetch_view::ClusterFetchView, runtime::metrics::Metrics};
use microfleet_tests::{
    repo_root,
    tools::{chart_dir, promtool, run, scratch, write},
};
use serde_json::{json, Value};

/// The operator rules with the chart's default threshold filled in.
fn operator_rules() -> String {
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap()).unwrap();
    let rate = values["prometheusRule"]["reconcileErrorRate"].as_f64().unwrap();
    std::fs::read_to_string(chart_dir().join("rules/operator.rules.yaml"))
        .unwrap()
        .replace("RECONCILE_ERROR_RATE", &rate.to_string())
}

#[test]
fn operator_alerts_pass_their_promtool_unit_tests() {
    let dir = scratch("alerts");
    write(&dir, "operator.rules.yaml", &operator_rules());
    let tests = std::fs::read_to_string(chart_dir().join("rules/operator.rules.test.yaml")).unwrap();
    let test_file = write(&dir, "operator.rules.test.yaml", &tests);
    let (ok, text) = run(Command::new(promtool()).args(["check", "rules"]).arg(dir.join("operator.rules.yaml")));
    assert!(ok, "{text}");
    let (ok, text) = run(Command::new(promtool()).args(["test", "rules"]).arg(&test_file));
    assert!(ok && text.contains("SUCCESS"), "promtool test rules:\n{text}");
    // every alert has a test case
    let rules: Value = serde_yaml::from_str(&operator_rules()).unwrap();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert!(tests.contains(name), "alert {name} has no promtool test");
    }
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(chart_dir().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        out.push((path.file_name().unwrap().to_string_lossy().to_string(), json));
    }
    assert!(out.len() >= 2);
    out
}

fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn dashboards_are_well_formed() {
    for (name, dashboard) in dashboards() {
        assert!(dashboard["uid"].is_string() && dashboard["title"].is_string(), "{name}");
        let panels = dashboard["panels"].as_array().unwrap();
        let ids: BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "{name}: panel ids must be unique");
        let variables = dashboard["templating"]["list"].as_array().unwrap();
        assert!(
            variables.iter().any(|v| v["type"] == "datasource" && v["name"] == "datasource"),
            "{name}: a datasource variable"
        );
        for panel in panels {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{name}: panel {} uses the datasource variable",
                panel["id"]
            );
            assert!(!panel["targets"].as_array().unwrap().is_empty(), "{name}: panel {} has no query", panel["id"]);
        }
        if name == "clusterfetch.json" {
            let names: Vec<&str> = variables.iter().map(|v| v["name"].as_str().unwrap()).collect();
            assert!(names.contains(&"namespace") && names.contains(&"name"), "{names:?}");
        }
    }
}

#[test]
fn every_dashboard_query_parses() {
    // promtool parses PromQL when it checks a rule file: one recording rule per query
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    for (name, dashboard) in dashboards() {
        for (i, query) in dashboard_queries(&dashboard).into_iter().enumerate() {
            let concrete = query.replace("$namespace", ".*").replace("$name", ".*");
            rules.push_str(&format!(
                "      - record: dashboard:{}:{i}\n        expr: {}\n",
                name.replace(".json", ""),
                serde_json::to_string(&concrete).unwrap()
            ));
        }
    }
    let file = write(&scratch("dashboards"), "queries.rules.yaml", &rules);
    let (ok, text) = run(Command::new(promtool()).args(["check", "rules"]).arg(&file));
    assert!(ok, "a dashboard query does not parse:\n{text}");
}

/// Metric names in a PromQL expression (ours start with microfleet_; process_ ones come from the client).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        if (rest.starts_with("microfleet_") || rest.starts_with("process_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':'))
        {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            names.insert(rest[..end].to_string());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}

/// The example ClusterFetch, as the API would return it.
fn example() -> microfleet_crds::clusterfetch::ClusterFetch {
    let mut cf: microfleet_crds::clusterfetch::ClusterFetch =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("examples/promo-eligible-users.yaml")).unwrap())
            .unwrap();
    cf.metadata.uid = Some("uid".into());
    cf
}

/// The PrometheusRule the operator emits for the example.
fn example_rule() -> Value {
    microfleet_operator::clusterfetch::alerts::build_prometheus_rule(&example(), &Default::default()).unwrap()
}

#[test]
fn cluster_fetch_alerts_fire_when_they_should_and_only_then() {
    let rule = example_rule();
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap().clone();
    let by_name = |name: &str| rules.iter().find(|r| r["alert"] == name).unwrap().clone();
    let stale = microfleet_operator::clusterfetch::alerts::stale_after_seconds(&example());
    assert_eq!(stale, 86_400 + 5400 + 600, "daily schedule + the example's 90-minute deadline + 10 minutes");
    let labels = r#"{namespace="promo", name="promo-eligible-users"}"#;
    let series = |metric: &str, values: &str| json!({"series": format!("{metric}{labels}"), "values": values});
    // what promtool reports for a firing alert: its labels (with the series' own) and rendered annotations
    let fired = |name: &str, value: &str| {
        let rule = by_name(name);
        let mut labels = rule["labels"].clone();
        labels["namespace"] = json!("promo");
        labels["name"] = json!("promo-eligible-users");
        let mut annotations = rule["annotations"].clone();
        for text in annotations.as_object_mut().unwrap().values_mut() {
            *text = json!(text.as_str().unwrap().replace("{{ $value }}", value));
        }
        json!({"exp_labels": labels, "exp_annotations": annotations})
    };
    let healthy = vec![
        series("microfleet_clusterfetch_last_run_succeeded", "1x120"),
        series("microfleet_clusterfetch_consecutive_failures", "0x120"),
        series("microfleet_clusterfetch_last_success_timestamp_seconds", "0+60x120"),
        series("microfleet_clusterfetch_created_timestamp_seconds", "0x120"),
        series("microfleet_clusterfetch_suspended", "0x120"),
        series("microfleet_clusterfetch_active_runs", "0x120"),
        series("microfleet_clusterfetch_oldest_active_run_start_timestamp_seconds", "0x120"),
        series("microfleet_clusterfetch_active_deadline_seconds", "5400x120"),
    ];
    let none = |at: &str, name: &str| json!({"eval_time": at, "alertname": name, "exp_alerts": []});
    let names =
        ["ClusterFetchRunFailed", "ClusterFetchConsecutiveFailures", "ClusterFetchStale", "ClusterFetchRunOverdue"];
    let tests = json!({
        "rule_files": ["cf.rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {"name": "healthy", "interval": "1m", "input_series": healthy,
             "alert_rule_test": names.iter().map(|n| none("2h", n)).collect::<Vec<_>>()},
            {"name": "failing three times in a row", "interval": "1m", "input_series": [
                series("microfleet_clusterfetch_last_run_succeeded", "1x10 0x30"),
                series("microfleet_clusterfetch_consecutive_failures", "0x10 1x10 2x10 3x10"),
             ], "alert_rule_test": [
                none("5m", "ClusterFetchRunFailed"),
                {"eval_time": "15m", "alertname": "ClusterFetchRunFailed", "exp_alerts": [fired("ClusterFetchRunFailed", "0")]},
                none("25m", "ClusterFetchConsecutiveFailures"),
                {"eval_time": "35m", "alertname": "ClusterFetchConsecutiveFailures", "exp_alerts": [fired("ClusterFetchConsecutiveFailures", "3")]},
             ]},
            {"name": "no success within the window, unless suspended", "interval": "1h", "input_series": [
                series("microfleet_clusterfetch_last_success_timestamp_seconds", "0x30"),
                series("microfleet_clusterfetch_created_timestamp_seconds", "0x30"),
                series("microfleet_clusterfetch_suspended", "0x26 1x4"),
             ], "alert_rule_test": [
                none("25h", "ClusterFetchStale"),
                {"eval_time": "26h", "alertname": "ClusterFetchStale", "exp_alerts": [fired("ClusterFetchStale", "0")]},
                none("28h", "ClusterFetchStale"),
             ]},
            {"name": "a run past its deadline", "interval": "10m", "input_series": [
                series("microfleet_clusterfetch_active_runs", "1x20"),
                series("microfleet_clusterfetch_oldest_active_run_start_timestamp_seconds", "0x20"),
                series("microfleet_clusterfetch_active_deadline_seconds", "5400x20"),
             ], "alert_rule_test": [
                none("80m", "ClusterFetchRunOverdue"),
                {"eval_time": "100m", "alertname": "ClusterFetchRunOverdue", "exp_alerts": [fired("ClusterFetchRunOverdue", "1")]},
             ]},
        ],
    });
    let dir = scratch("cf-alerts");
    write(&dir, "cf.rules.yaml", &serde_yaml::to_string(&rule["spec"]).unwrap());
    let file = write(&dir, "cf.rules.test.yaml", &serde_yaml::to_string(&tests).unwrap());
    let (ok, text) = run(Command::new(promtool()).args(["test", "rules"]).arg(&file));
    assert!(ok && text.contains("SUCCESS"), "promtool test rules:\n{text}");
}

#[test]
fn every_metric_used_by_a_rule_or_a_dashboard_is_exported() {
    // an operator registry with every series present: one suspended ClusterFetch with a finished, a
    // successful and an active run, in the cache its series are derived from
    let metrics = Metrics::new().unwrap();
    let mut cf: microfleet_crds::clusterfetch::ClusterFetch =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("examples/promo-eligible-users.yaml")).unwrap())
            .unwrap();
    cf.spec.suspend = true;
    let run: microfleet_crds::clusterfetch::RunRecord = serde_json::from_value(serde_json::json!({
        "jobName": "promo-eligible-users-1", "outcome": "Failed", "failureClass": "Source", "items": 3,
        "durationSeconds": 2.5
    }))
    .unwrap();
    cf.status = Some(
        serde_json::from_value(serde_json::json!({
            "recentRuns": [run.clone()],
            "consecutiveFailures": 1,
            "lastSuccessfulTime": "2026-11-22T02:00:00Z",
            "active": [{"jobName": "promo-eligible-users-2", "trigger": "Scheduled", "startTime": "2026-11-22T03:00:00Z"}],
        }))
        .unwrap(),
    );
    let (store, mut cache) = kube::runtime::reflector::store();
    cache.apply_watcher_event(&kube::runtime::watcher::Event::Apply(ClusterFetchView::from(&cf)));
    metrics.register_clusterfetches(store).unwrap();
    metrics.count_finished_runs(&cf, &[run]);
    drop(metrics.reconcile_started("clusterfetch"));
    metrics.reconcile_failed("clusterfetch", "api");
    let exported: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();

    let mut used = BTreeSet::new();
    let rules: Value = serde_yaml::from_str(&operator_rules()).unwrap();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        used.extend(metric_names(rule["expr"].as_str().unwrap()));
    }
    for rule in example_rule()["spec"]["groups"][0]["rules"].as_array().unwrap() {
        used.extend(metric_names(rule["expr"].as_str().unwrap()));
    }
    for (_, dashboard) in dashboards() {
        for query in dashboard_queries(&dashboard) {
            used.extend(metric_names(&query));
        }
    }
    assert!(used.len() >= 12, "expected the rules and dashboards to use the operator's metrics: {used:?}");
    let missing: Vec<&String> = used.iter().filter(|m| !exported.contains(m.as_str())).collect();
    assert!(missing.is_empty(), "used but not exported: {missing:?}\nexported: {exported:?}");
}

/// The example TicketingService's PrometheusRule, as the operator emits it (with the prometheus-operator).
fn ticketing_rule() -> Value {
    use microfleet_operator::{
        render::render_ticketing_service,
        ticketingservice::{build::BuildConfig, discovery::Discovered},
    };
    let manifest = std::fs::read_to_string(repo_root().join("examples/ticketing-service.yaml")).unwrap();
    let discovered = Discovered { cloud_native_pg: true, prometheus_operator: true, ..Default::default() };
    let yaml =
        render_ticketing_service(&manifest, &discovered, &BuildConfig::new("registry.local/microfleet", "0.1.0"))
            .unwrap();
    microfleet_tests::tools::documents(&yaml).into_iter().find(|d| d["kind"] == "PrometheusRule").unwrap()
}

/// The expected alert of `rule` with the series labels the expression keeps.
fn expected(rule: &Value, series_labels: Value) -> Value {
    let mut labels = rule["labels"].clone();
    for (k, v) in series_labels.as_object().unwrap() {
        labels[k] = v.clone();
    }
    json!({"exp_labels": labels, "exp_annotations": rule["annotations"]})
}

/// Every alert of a TicketingService, firing on the series that should fire it and silent on the others:
/// the cms without a ready target and the auth service without any, 10% of ticketing's requests answered
/// 500 (gate-acl's all 200), the outbox's oldest message ageing 30 s a minute, a dead letter, orders slower
/// than 0.8 s at p99 (scans fast).
#[test]
fn ticketing_service_alerts_pass_their_promtool_unit_tests() {
    let rule = ticketing_rule();
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap().clone();
    let dir = scratch("ticketing-alerts");
    write(&dir, "ticketing.rules.yaml", &serde_yaml::to_string(&rule["spec"]).unwrap());
    let find = |alert: &str, component: Option<&str>| {
        rules
            .iter()
            .find(|r| r["alert"] == alert && component.is_none_or(|c| r["labels"]["component"] == c))
            .unwrap_or_else(|| panic!("no rule {alert} {component:?}"))
            .clone()
    };
    let ns = "namespace=\"ticketing\"";
    let series = |name: &str, labels: &str, values: &str| json!({"series": format!("{name}{{{ns}, {labels}}}"), "values": values});
    let input = vec![
        series("up", "service=\"tickets-ticketing\"", "1x20"),
        series("up", "service=\"tickets-gate-acl\"", "1x20"),
        series("up", "service=\"tickets-cms\"", "0x20"),
        series(
            "ticketing_http_requests_total",
            "service=\"tickets-ticketing\", method=\"POST\", route=\"/v1/orders\", status=\"500\"",
            "0+10x20",
        ),
        series(
            "ticketing_http_requests_total",
            "service=\"tickets-ticketing\", method=\"POST\", route=\"/v1/orders\", status=\"201\"",
            "0+90x20",
        ),
        series(
            "gate_http_requests_total",
            "service=\"tickets-gate-acl\", method=\"POST\", route=\"/v1/scans\", status=\"200\"",
            "0+100x20",
        ),
        series("saga_outbox_oldest_pending_age_seconds", "service=\"tickets-ticketing\"", "0+30x20"),
        series("saga_outbox_oldest_pending_age_seconds", "service=\"tickets-gate-acl\"", "0x20"),
        series(
            "saga_dead_letters_total",
            "service=\"tickets-gate-acl\", consumer=\"order-paid\"",
            "0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        ),
        series(
            "ticketing_http_request_duration_seconds_bucket",
            "service=\"tickets-ticketing\", method=\"POST\", route=\"/v1/orders\", le=\"1\"",
            "0x20",
        ),
        series(
            "ticketing_http_request_duration_seconds_bucket",
            "service=\"tickets-ticketing\", method=\"POST\", route=\"/v1/orders\", le=\"2.5\"",
            "0+10x20",
        ),
        series(
            "ticketing_http_request_duration_seconds_bucket",
            "service=\"tickets-ticketing\", method=\"POST\", route=\"/v1/orders\", le=\"+Inf\"",
            "0+10x20",
        ),
        series(
            "gate_http_request_duration_seconds_bucket",
            "service=\"tickets-gate-acl\", method=\"POST\", route=\"/v1/scans\", le=\"0.1\"",
            "0+50x20",
        ),
        series(
            "gate_http_request_duration_seconds_bucket",
            "service=\"tickets-gate-acl\", method=\"POST\", route=\"/v1/scans\", le=\"+Inf\"",
            "0+50x20",
        ),
    ];
    let unavailable = |component: &str| expected(&find("TicketingComponentUnavailable", Some(component)), json!({}));
    let cases = vec![
        json!({"eval_time": "10m", "alertname": "TicketingComponentUnavailable", "exp_alerts": [
            unavailable("auth"), unavailable("cms"),
        ]}),
        json!({"eval_time": "12m", "alertname": "TicketingErrorRateHigh", "exp_alerts": [
            expected(&find("TicketingErrorRateHigh", Some("ticketing")), json!({})),
        ]}),
        json!({"eval_time": "10m", "alertname": "TicketingSagaBacklog", "exp_alerts": [
            expected(&find("TicketingSagaBacklog", None), json!({})),
        ]}),
        json!({"eval_time": "1m", "alertname": "TicketingSagaBacklog", "exp_alerts": []}),
        json!({"eval_time": "10m", "alertname": "TicketingDeadLetters", "exp_alerts": [
            expected(&find("TicketingDeadLetters", None), json!({})),
        ]}),
        json!({"eval_time": "2m", "alertname": "TicketingDeadLetters", "exp_alerts": []}),
        json!({"eval_time": "12m", "alertname": "TicketingOrderLatencyHigh", "exp_alerts": [
            expected(&find("TicketingOrderLatencyHigh", None), json!({})),
        ]}),
        json!({"eval_time": "12m", "alertname": "TicketingScanLatencyHigh", "exp_alerts": []}),
    ];
    let tested: BTreeSet<&str> = cases.iter().filter_map(|c| c["alertname"].as_str()).collect();
    for rule in &rules {
        assert!(tested.contains(rule["alert"].as_str().unwrap()), "alert {} has no promtool test", rule["alert"]);
    }
    let tests = json!({
        "rule_files": ["ticketing.rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input, "alert_rule_test": cases}],
    });
    let test_file = write(&dir, "ticketing.rules.test.yaml", &serde_yaml::to_string(&tests).unwrap());
    let (ok, text) = run(Command::new(promtool()).args(["test", "rules"]).arg(&test_file));
    assert!(ok && text.contains("SUCCESS"), "promtool test rules:\n{text}");
}
