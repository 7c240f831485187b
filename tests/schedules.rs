//! Tier 5: schedules and time zones are accepted exactly when Kubernetes accepts them. Each case's verdict
//! comes from the real API server (`kubectl apply --dry-run=server` of a CronJob with that schedule and time
//! zone) and is compared with the shared validation's (`microfleet_crds::validate`). The table prints with
//! `--nocapture`.

use microfleet_crds::validate::{check_time_zone, parse_schedule};
use microfleet_tests::{admission, cluster};

/// Schedules, each judged with no time zone.
const SCHEDULES: &[&str] = &[
    "0 2 * * *",
    "@hourly",
    "@HOURLY",
    "@daily",
    "@midnight",
    "@annually",
    "@every 24h",
    "@every 1h30m",
    "@every 1.5h",
    "@every 24",
    "@every 1d",
    "0 25 * * *",
    "61 * * * *",
    "*/15 * * * *",
    "*/0 * * * *",
    "5/20 * * * *",
    "0 2 * * MON-FRI",
    "0 2 * * mon",
    "0 2 * * 7",
    "0 0 31 2 *",
    "0 0 1 JAN,dec ?",
    "0 0 2 * * *",
    "0 2 * *",
    "TZ=UTC 0 2 * * *",
    "CRON_TZ=Asia/Jakarta 0 2 * * *",
    "0 2 L * *",
    "0 2 * * 5#3",
    "",
];

/// Time zones, each judged with the schedule "0 2 * * *".
const ZONES: &[&str] = &[
    "Asia/Jakarta",
    "asia/jakarta",
    "UTC",
    "utc",
    "Local",
    "WIB",
    "EST",
    "Etc/GMT+7",
    "America/Argentina/Buenos_Aires",
    "Asia/Jakartaa",
    "../etc/passwd",
    "",
];

/// Kubernetes' verdict on a CronJob with `schedule` and `zone`: Ok, or the server's message.
fn kubernetes(schedule: &str, zone: Option<&str>) -> Result<(), String> {
    let mut spec = serde_json::json!({
        "schedule": schedule,
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "registry.example/c:1"}]
        }}}}
    });
    if let Some(zone) = zone {
        spec["timeZone"] = zone.into();
    }
    let cronjob = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "schedule-case", "namespace": "promo"},
        "spec": spec,
    });
    admission::dry_run(&cronjob.to_string()).map(|_| ())
}

fn verdict(result: &Result<(), String>) -> &'static str {
    if result.is_ok() {
        "accepted"
    } else {
        "refused"
    }
}

#[tokio::test]
async fn schedules_and_time_zones_are_accepted_exactly_when_kubernetes_accepts_them() {
    let client = cluster::client().await;
    cluster::namespace(&client, "promo").await;
    let mut rows = Vec::new();
    for schedule in SCHEDULES {
        let ours = parse_schedule(schedule).map(|_| ());
        rows.push((format!("schedule {schedule:?}"), kubernetes(schedule, None), ours));
    }
    for zone in ZONES {
        rows.push((format!("timeZone {zone:?}"), kubernetes("0 2 * * *", Some(zone)), check_time_zone(zone)));
    }
    println!("| case | Kubernetes | ours | agree |\n|---|---|---|---|");
    let mut disagreements = Vec::new();
    for (case, theirs, ours) in &rows {
        let agree = theirs.is_ok() == ours.is_ok();
        println!("| `{case}` | {} | {} | {} |", verdict(theirs), verdict(ours), if agree { "yes" } else { "NO" });
        if !agree {
            disagreements.push(format!("{case}: Kubernetes {theirs:?}, ours {ours:?}"));
        }
    }
    assert!(disagreements.is_empty(), "the shared validation disagrees with Kubernetes:\n{}", disagreements.join("\n"));
}
