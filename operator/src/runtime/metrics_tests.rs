//! The per-ClusterFetch series' output, from a cache filled with plain values, against the prometheus crate's encoder.

use kube::runtime::{reflector, watcher};
use microfleet_crds::clusterfetch::{ActiveRun, ClusterFetchStatus};
use serde_json::json;

use super::*;
use crate::clusterfetch::fixtures::{at, cluster_fetch, spec};

fn named(name: &str, status: Option<ClusterFetchStatus>, suspend: bool) -> ClusterFetch {
    let mut s = spec();
    s.suspend = suspend;
    let mut cf = cluster_fetch(s);
    cf.metadata.name = Some(name.into());
    cf.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(0)));
    cf.status = status;
    cf
}

fn ready_status() -> ClusterFetchStatus {
    let mut status = ClusterFetchStatus::default();
    crate::conditions::set_condition(&mut status.conditions, "Ready", "True", "Scheduled", "", Some(1), at(0));
    status
}

/// The value of one series in a text page.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn series(metric: &str, name: &str) -> String {
    format!("microfleet_clusterfetch_{metric}{{name=\"{name}\",namespace=\"promo\"}}")
}

#[test]
fn series_are_derived_from_the_cache_at_scrape_time() {
    let (store, mut writer) = reflector::store::<ClusterFetchView>();
    let metrics = Metrics::new().unwrap();
    metrics.register_clusterfetches(store).unwrap();

    let mut ran = ready_status();
    ran.recent_runs = vec![serde_json::from_value(json!({
        "jobName": "ran-1", "outcome": "Failed", "failureClass": "Source", "items": 3, "durationSeconds": 1.5
    }))
    .unwrap()];
    ran.consecutive_failures = 2;
    ran.last_successful_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(60)));
    ran.active = vec![ActiveRun {
        job_name: "ran-2".into(),
        start_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(120))),
        ..Default::default()
    }];
    for cf in [named("fresh", None, false), named("ran", Some(ran), true)] {
        writer.apply_watcher_event(&watcher::Event::Apply(ClusterFetchView::from(&cf)));
    }
    let text = metrics.render();

    // a ClusterFetch without runs: only its creation time and readiness
    let secs = |minutes: i64| at(minutes).as_second() as f64;
    assert_eq!(sample(&text, &series("created_timestamp_seconds", "fresh")), Some(secs(0)));
    assert_eq!(sample(&text, &series("ready", "fresh")), Some(0.0));
    let fresh_lines = text.lines().filter(|l| l.contains("name=\"fresh\"")).count();
    assert_eq!(fresh_lines, 2, "{text}");

    // one with a finished, an active run, and suspended: every series
    let expected = [
        ("ready", 1.0),
        ("suspended", 1.0),
        ("last_success_timestamp_seconds", secs(60)),
        ("last_run_succeeded", 0.0),
        ("consecutive_failures", 2.0),
        ("last_run_items", 3.0),
        ("last_run_duration_seconds", 1.5),
        ("active_runs", 1.0),
        ("oldest_active_run_start_timestamp_seconds", secs(120)),
        ("active_deadline_seconds", spec().active_deadline_seconds as f64),
    ];
    for (metric, value) in expected {
        assert_eq!(sample(&text, &series(metric, "ran")), Some(value), "{metric}\n{text}");
    }

    // deleted from the cache: its series are gone at the next scrape
    writer.apply_watcher_event(&watcher::Event::Delete(ClusterFetchView::from(&named("ran", None, false))));
    assert!(!metrics.render().contains("name=\"ran\""));
}

#[test]
fn a_scrape_of_ten_thousand_idle_cluster_fetches_stays_under_two_megabytes() {
    let (store, mut writer) = reflector::store::<ClusterFetchView>();
    let metrics = Metrics::new().unwrap();
    metrics.register_clusterfetches(store).unwrap();
    for i in 0..10_000 {
        let mut cf = named(&format!("bench-{i:05}"), Some(ready_status()), false);
        cf.metadata.namespace = Some("microfleet-bench".into());
        writer.apply_watcher_event(&watcher::Event::Apply(ClusterFetchView::from(&cf)));
    }
    let bytes = metrics.render().len();
    assert!(bytes <= 2_000_000, "{bytes} bytes");
    assert!(bytes >= 10_000 * 100, "two series per ClusterFetch: {bytes} bytes");
}

#[test]
fn run_counters_count_and_are_forgotten() {
    let metrics = Metrics::new().unwrap();
    let cf = named("ran", None, false);
    let run: RunRecord =
        serde_json::from_value(json!({"jobName": "ran-1", "outcome": "Failed", "failureClass": "Source"})).unwrap();
    metrics.count_finished_runs(&cf, &[run.clone(), run]);
    let line = "microfleet_clusterfetch_runs_total{failure_class=\"Source\",name=\"ran\",namespace=\"promo\",outcome=\"Failed\"}";
    assert_eq!(sample(&metrics.render(), line), Some(2.0));
    metrics.forget_clusterfetch("promo", "ran");
    assert_eq!(sample(&metrics.render(), line), None);
}

/// The page the `prometheus` crate's own `TextEncoder` writes for the same families, built as its metric
/// objects: the authority [`write_clusterfetch_series`] must match byte for byte.
fn encoded_by_the_prometheus_crate(fetches: &[Arc<ClusterFetchView>]) -> String {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
    let label = |name: &str, value: &str| {
        let mut pair = LabelPair::default();
        pair.set_name(name.to_string());
        pair.set_value(value.to_string());
        pair
    };
    let mut sorted = fetches.to_vec();
    sorted.sort_by_key(|cf| (cf.metadata.namespace.clone(), cf.metadata.name.clone()));
    let families: Vec<MetricFamily> = FAMILIES
        .iter()
        .filter_map(|(name, help, value)| {
            let metrics: Vec<Metric> = sorted
                .iter()
                .filter_map(|cf| {
                    let mut gauge = Gauge::default();
                    gauge.set_value(value(cf)?);
                    let mut metric = Metric::default();
                    metric.set_label(vec![
                        label("name", cf.metadata.name.as_deref().unwrap_or_default()),
                        label("namespace", cf.metadata.namespace.as_deref().unwrap_or_default()),
                    ]);
                    metric.set_gauge(gauge);
                    Some(metric)
                })
                .collect();
            if metrics.is_empty() {
                return None;
            }
            let mut family = MetricFamily::default();
            family.set_name(name.to_string());
            family.set_help(help.to_string());
            family.set_field_type(MetricType::GAUGE);
            family.set_metric(metrics);
            Some(family)
        })
        .collect();
    let mut buffer = Vec::new();
    TextEncoder::new().encode(&families, &mut buffer).unwrap();
    String::from_utf8(buffer).unwrap()
}

#[test]
fn the_series_are_written_as_the_prometheus_crates_encoder_writes_them() {
    let mut ran = ready_status();
    ran.recent_runs = vec![serde_json::from_value(json!({
        "jobName": "ran-1", "outcome": "Succeeded", "items": 12345, "durationSeconds": 0.125
    }))
    .unwrap()];
    ran.last_successful_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(at(61)));
    let mut odd = named("odd", None, false);
    // not a valid Kubernetes name, but the text format's escapes must hold for any label value
    odd.metadata.namespace = Some("a\"b\\c\nd".into());
    let fetches: Vec<Arc<ClusterFetchView>> =
        [named("zeta", Some(ready_status()), true), named("alpha", Some(ran), false), odd]
            .iter()
            .map(|cf| Arc::new(ClusterFetchView::from(cf)))
            .collect();
    let mut text = String::new();
    write_clusterfetch_series(&mut text, &fetches);
    assert_eq!(text, encoded_by_the_prometheus_crate(&fetches));
    assert!(text.contains("namespace=\"a\\\"b\\\\c\\nd\""), "{text}");
    let mut none = String::new();
    write_clusterfetch_series(&mut none, &[]);
    assert_eq!(none, "");
}
