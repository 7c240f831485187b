//! The per-ClusterFetch collector's output, from a cache filled with plain values.

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
