//! Alerts: the PrometheusRule of one ClusterFetch — the last run failed; no success within the window
//! the schedule implies (stale); too many failures in a row; a run still active past its deadline.
//!
//! Pure: values in, the object out (as JSON, since PrometheusRule is not a built-in kind). No I/O.

use std::collections::BTreeMap;

use croner::parser::{CronParser, Seconds, Year};
use jiff::{tz::TimeZone, SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};
use microfleet_crds::clusterfetch::{ClusterFetch, Severity};
use serde_json::{json, Value};

use super::{
    build::child_labels,
    validate::{parse_schedule, Schedule},
};

/// Added to the schedule's longest gap and the run deadline before a ClusterFetch counts as stale.
const STALE_GRACE_SECONDS: i64 = 600;
/// Where the gap between runs is measured from: a fixed instant, so the rule does not change by itself.
const GAP_REFERENCE: &str = "2025-01-01T00:00:00Z";

/// The API group/version and kind of the object [`build_prometheus_rule`] returns.
pub const PROMETHEUS_RULE_API_VERSION: &str = "monitoring.coreos.com/v1";

/// Name of the PrometheusRule of a ClusterFetch.
pub fn rule_name(cf_name: &str) -> String {
    format!("{cf_name}-alerts")
}

/// The longest gap between two consecutive runs of `schedule` in `zone`, over the runs in the eight years
/// after a fixed reference instant (at most 1000 runs); an `@every` schedule's interval.
pub fn longest_gap(schedule: &Schedule, zone: &TimeZone) -> Option<SignedDuration> {
    let pattern = match schedule {
        Schedule::Every(interval) => return SignedDuration::try_from(*interval).ok(),
        Schedule::Fields(pattern) => pattern,
    };
    let schedule =
        CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build().parse(pattern).ok()?;
    let start: Timestamp = GAP_REFERENCE.parse().ok()?;
    let end = start.checked_add(SignedDuration::from_hours(24 * 366 * 8)).ok()?;
    let mut previous: Option<Timestamp> = None;
    let mut longest: Option<SignedDuration> = None;
    for next in schedule.iter_after(start.to_zoned(zone.clone())).take(1000) {
        let next = next.timestamp();
        if let Some(previous) = previous {
            let gap = next.duration_since(previous);
            if longest.is_none_or(|l| gap > l) {
                longest = Some(gap);
            }
        }
        if next > end {
            break;
        }
        previous = Some(next);
    }
    longest
}

/// Seconds without a success after which the ClusterFetch is stale.
pub fn stale_after_seconds(cf: &ClusterFetch) -> i64 {
    if let Some(seconds) = cf.spec.alerts.stale_after_seconds {
        return seconds;
    }
    let zone = cf.spec.time_zone.as_deref().and_then(|z| TimeZone::get(z).ok()).unwrap_or(TimeZone::UTC);
    let gap = parse_schedule(&cf.spec.schedule).ok().and_then(|cron| longest_gap(&cron, &zone));
    gap.map_or(86_400, |g| g.as_secs()) + cf.spec.active_deadline_seconds + STALE_GRACE_SECONDS
}

/// The PrometheusRule of `cf`, owned by it; `extra_labels` go on the object (e.g. `release:` for
/// kube-prometheus-stack's rule selector). `None` when spec.alerts.enabled is false.
pub fn build_prometheus_rule(cf: &ClusterFetch, extra_labels: &BTreeMap<String, String>) -> Option<Value> {
    let alerts = &cf.spec.alerts;
    if !alerts.enabled {
        return None;
    }
    let namespace = cf.namespace()?;
    let name = cf.name_any();
    let owner = cf.controller_owner_ref(&())?;
    let selector = format!("{{namespace=\"{namespace}\", name=\"{name}\"}}");
    let severity = match alerts.severity {
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    };
    let stale = stale_after_seconds(cf);
    let labels = |severity: &str| {
        let mut labels: BTreeMap<String, String> = alerts.labels.clone();
        labels.insert("severity".into(), severity.into());
        labels
    };
    let subject = format!("ClusterFetch {namespace}/{name}");
    let rules = vec![
        json!({
            "alert": "ClusterFetchRunFailed",
            "expr": format!("microfleet_clusterfetch_last_run_succeeded{selector} == 0"),
            "labels": labels(severity),
            "annotations": {
                "summary": format!("The last run of {subject} failed"),
                "description": format!("kubectl -n {namespace} describe clusterfetch {name} shows why (status.recentRuns and Events); the failure notification was sent to spec.notify."),
            },
        }),
        json!({
            "alert": "ClusterFetchConsecutiveFailures",
            "expr": format!("microfleet_clusterfetch_consecutive_failures{selector} >= {}", alerts.consecutive_failures),
            "labels": labels("critical"),
            "annotations": {
                "summary": format!("{subject} failed {{{{ $value }}}} times in a row"),
                "description": "The consumers of the list are working from stale data. Check the source and sink services.",
            },
        }),
        json!({
            "alert": "ClusterFetchStale",
            "expr": format!(
                "(time() - (microfleet_clusterfetch_last_success_timestamp_seconds{selector} > microfleet_clusterfetch_created_timestamp_seconds{selector} or microfleet_clusterfetch_created_timestamp_seconds{selector})) > {stale} unless microfleet_clusterfetch_suspended{selector} == 1"
            ),
            "labels": labels(severity),
            "annotations": {
                "summary": format!("{subject} has not succeeded for over {stale}s"),
                "description": format!("No successful run within the window its schedule {:?} implies ({stale}s, spec.alerts.staleAfterSeconds overrides it).", cf.spec.schedule),
            },
        }),
        json!({
            "alert": "ClusterFetchRunOverdue",
            "expr": format!(
                "microfleet_clusterfetch_active_runs{selector} > 0 and (time() - microfleet_clusterfetch_oldest_active_run_start_timestamp_seconds{selector}) > microfleet_clusterfetch_active_deadline_seconds{selector}"
            ),
            "labels": labels(severity),
            "annotations": {
                "summary": format!("A run of {subject} is still active past spec.activeDeadlineSeconds"),
                "description": "The Job should have been stopped at its deadline; its pod may be stuck terminating or the node lost.",
            },
        }),
    ];
    let mut object_labels = child_labels(cf, None);
    object_labels.extend(extra_labels.clone());
    Some(json!({
        "apiVersion": PROMETHEUS_RULE_API_VERSION,
        "kind": "PrometheusRule",
        "metadata": {
            "name": rule_name(&name),
            "namespace": namespace,
            "labels": object_labels,
            "ownerReferences": [owner],
        },
        "spec": { "groups": [{ "name": format!("microfleet-clusterfetch-{namespace}-{name}"), "rules": rules }] },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusterfetch::fixtures::{cluster_fetch, spec};

    #[test]
    fn the_gap_follows_the_schedule_and_its_time_zone() {
        let rows = [
            ("0 2 * * *", "UTC", 86_400),
            ("*/15 * * * *", "UTC", 900),
            ("0 2 * * MON-FRI", "UTC", 3 * 86_400),
            ("0 2 1 * *", "UTC", 31 * 86_400),
            ("0 2 * * *", "America/New_York", 86_400 + 3600), // the autumn DST change makes one day longer
            ("0 0 29 2 *", "UTC", 1461 * 86_400),             // leap days: four years apart
            ("@every 1h30m", "UTC", 5400),
            ("*/20 * * * 1", "UTC", 6 * 86_400 + 1200), // the day-of-week restricts the wildcard days
        ];
        for (schedule, zone, seconds) in rows {
            let cron = parse_schedule(schedule).unwrap();
            let gap = longest_gap(&cron, &TimeZone::get(zone).unwrap()).unwrap();
            assert_eq!(gap.as_secs(), seconds, "{schedule} in {zone}");
        }
    }

    #[test]
    fn the_rule_carries_four_alerts_for_this_cluster_fetch() {
        let mut s = spec();
        s.alerts.labels.insert("team".into(), "promo".into());
        let extra = BTreeMap::from([("release".to_string(), "kube-prometheus-stack".to_string())]);
        let rule = build_prometheus_rule(&cluster_fetch(s), &extra).unwrap();
        assert_eq!(rule["metadata"]["name"], "promo-users-alerts");
        assert_eq!(rule["metadata"]["labels"]["release"], "kube-prometheus-stack");
        assert_eq!(rule["metadata"]["ownerReferences"][0]["kind"], "ClusterFetch");
        let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["ClusterFetchRunFailed", "ClusterFetchConsecutiveFailures", "ClusterFetchStale", "ClusterFetchRunOverdue"]
        );
        for rule in rules {
            assert!(rule["expr"].as_str().unwrap().contains(r#"{namespace="promo", name="promo-users"}"#));
            assert_eq!(rule["labels"]["team"], "promo");
        }
        assert_eq!(rules[0]["labels"]["severity"], "warning");
        assert_eq!(rules[1]["labels"]["severity"], "critical");
        // daily at 02:00 Jakarta (no DST): one day + the 1h deadline + 10 minutes
        assert!(rules[2]["expr"].as_str().unwrap().contains(&format!("> {}", 86_400 + 3600 + 600)));
    }

    #[test]
    fn alerts_can_be_tuned_or_switched_off() {
        let mut s = spec();
        s.alerts.severity = Severity::Critical;
        s.alerts.consecutive_failures = 5;
        s.alerts.stale_after_seconds = Some(7200);
        let rule = build_prometheus_rule(&cluster_fetch(s.clone()), &BTreeMap::new()).unwrap();
        let rules = &rule["spec"]["groups"][0]["rules"];
        assert_eq!(rules[0]["labels"]["severity"], "critical");
        assert!(rules[1]["expr"].as_str().unwrap().ends_with(">= 5"));
        assert!(rules[2]["expr"].as_str().unwrap().contains("> 7200"));
        s.alerts.enabled = false;
        assert!(build_prometheus_rule(&cluster_fetch(s), &BTreeMap::new()).is_none());
    }
}
