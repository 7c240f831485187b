//! Prometheus metrics of the operator: reconcile counters and the per-ClusterFetch gauges the alerts use.
//!
//! Owns the registry; knows nothing of HTTP (the server renders [`Metrics::render`]).

use std::time::Instant;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use microfleet_crds::{
    clusterfetch::{ClusterFetch, ClusterFetchStatus, RunOutcome, RunRecord},
    contract::FailureClass,
};

/// Every metric the operator exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    reconcile_errors: IntCounterVec,
    reconcile_duration: HistogramVec,
    reconciles_in_flight: IntGaugeVec,
    /// 1 while this replica holds the leader Lease.
    pub leader: IntGauge,
    watch_healthy: IntGaugeVec,
    watch_errors: IntCounterVec,
    last_success: GaugeVec,
    last_run: GaugeVec,
    last_run_succeeded: IntGaugeVec,
    consecutive_failures: IntGaugeVec,
    last_run_items: IntGaugeVec,
    last_run_duration: GaugeVec,
    active_runs: IntGaugeVec,
    oldest_active_start: GaugeVec,
    active_deadline: IntGaugeVec,
    suspended: IntGaugeVec,
    created: GaugeVec,
    ready: IntGaugeVec,
    runs: IntCounterVec,
    notifications: IntCounterVec,
}

const CF_LABELS: [&str; 2] = ["namespace", "name"];

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &CF_LABELS);
        let int_gauge = |name: &str, help: &str| IntGaugeVec::new(Opts::new(name, help), &CF_LABELS);
        let metrics = Metrics {
            reconciles: IntCounterVec::new(
                Opts::new("microfleet_reconciles_total", "Reconciles run, by controller"),
                &["controller"],
            )?,
            reconcile_errors: IntCounterVec::new(
                Opts::new("microfleet_reconcile_errors_total", "Reconciles that failed, by controller and error kind"),
                &["controller", "error"],
            )?,
            reconcile_duration: HistogramVec::new(
                HistogramOpts::new("microfleet_reconcile_duration_seconds", "Time one reconcile took")
                    .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["controller"],
            )?,
            reconciles_in_flight: IntGaugeVec::new(
                Opts::new("microfleet_reconciles_in_flight", "Reconciles running now, by controller"),
                &["controller"],
            )?,
            leader: IntGauge::new("microfleet_leader", "1 while this replica holds the leader Lease")?,
            watch_healthy: IntGaugeVec::new(
                Opts::new(
                    "microfleet_watch_healthy",
                    "1 while the watch of a resource lists and watches, 0 while it fails",
                ),
                &["resource"],
            )?,
            watch_errors: IntCounterVec::new(
                Opts::new("microfleet_watch_errors_total", "Failed lists or watches, by resource"),
                &["resource"],
            )?,
            last_success: gauge(
                "microfleet_clusterfetch_last_success_timestamp_seconds",
                "Unix time the last successful run finished (0: never)",
            )?,
            last_run: gauge(
                "microfleet_clusterfetch_last_run_timestamp_seconds",
                "Unix time the last run finished (0: never)",
            )?,
            last_run_succeeded: int_gauge(
                "microfleet_clusterfetch_last_run_succeeded",
                "1 if the last finished run succeeded, 0 if it failed, -1 if none finished yet",
            )?,
            consecutive_failures: int_gauge(
                "microfleet_clusterfetch_consecutive_failures",
                "Failed runs since the last success",
            )?,
            last_run_items: int_gauge("microfleet_clusterfetch_last_run_items", "Items of the last finished run")?,
            last_run_duration: gauge(
                "microfleet_clusterfetch_last_run_duration_seconds",
                "Duration of the last finished run",
            )?,
            active_runs: int_gauge("microfleet_clusterfetch_active_runs", "Runs in progress")?,
            oldest_active_start: gauge(
                "microfleet_clusterfetch_oldest_active_run_start_timestamp_seconds",
                "Unix time the oldest active run started (0: none active)",
            )?,
            active_deadline: int_gauge(
                "microfleet_clusterfetch_active_deadline_seconds",
                "spec.activeDeadlineSeconds: how long a run may take",
            )?,
            suspended: int_gauge("microfleet_clusterfetch_suspended", "1 if spec.suspend is true")?,
            created: gauge(
                "microfleet_clusterfetch_created_timestamp_seconds",
                "Unix time the ClusterFetch was created",
            )?,
            ready: int_gauge("microfleet_clusterfetch_ready", "1 if the Ready condition is True")?,
            runs: IntCounterVec::new(
                Opts::new(
                    "microfleet_clusterfetch_runs_total",
                    "Finished runs seen by this replica, by outcome and failure class",
                ),
                &["namespace", "name", "outcome", "failure_class"],
            )?,
            notifications: IntCounterVec::new(
                Opts::new("microfleet_clusterfetch_notifications_total", "Failure notifiers started"),
                &CF_LABELS,
            )?,
            registry,
        };
        for collector in metrics.collectors() {
            metrics.registry.register(collector)?;
        }
        // process_resident_memory_bytes, process_cpu_seconds_total, … (Linux)
        metrics.registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(metrics)
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.reconciles.clone()),
            Box::new(self.reconcile_errors.clone()),
            Box::new(self.reconcile_duration.clone()),
            Box::new(self.reconciles_in_flight.clone()),
            Box::new(self.leader.clone()),
            Box::new(self.watch_healthy.clone()),
            Box::new(self.watch_errors.clone()),
            Box::new(self.last_success.clone()),
            Box::new(self.last_run.clone()),
            Box::new(self.last_run_succeeded.clone()),
            Box::new(self.consecutive_failures.clone()),
            Box::new(self.last_run_items.clone()),
            Box::new(self.last_run_duration.clone()),
            Box::new(self.active_runs.clone()),
            Box::new(self.oldest_active_start.clone()),
            Box::new(self.active_deadline.clone()),
            Box::new(self.suspended.clone()),
            Box::new(self.created.clone()),
            Box::new(self.ready.clone()),
            Box::new(self.runs.clone()),
            Box::new(self.notifications.clone()),
        ]
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "could not encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// Starts timing a reconcile of `controller`; the time is recorded when the guard drops.
    pub fn reconcile_started(&self, controller: &'static str) -> ReconcileTimer {
        self.reconciles.with_label_values(&[controller]).inc();
        let in_flight = self.reconciles_in_flight.with_label_values(&[controller]);
        in_flight.inc();
        ReconcileTimer { histogram: self.reconcile_duration.clone(), in_flight, controller, start: Instant::now() }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, controller: &str, error: &str) {
        self.reconcile_errors.with_label_values(&[controller, error]).inc();
    }

    /// Marks the watch of `resource` healthy (or not).
    pub fn watch_healthy(&self, resource: &str, healthy: bool) {
        self.watch_healthy.with_label_values(&[resource]).set(i64::from(healthy));
    }

    /// Counts a failed list or watch of `resource` and marks it unhealthy.
    pub fn watch_failed(&self, resource: &str) {
        self.watch_errors.with_label_values(&[resource]).inc();
        self.watch_healthy(resource, false);
    }

    /// Sets the gauges of one ClusterFetch from its new status, and counts its newly finished runs.
    pub fn observe_clusterfetch(&self, cf: &ClusterFetch, status: &ClusterFetchStatus, newly_finished: &[RunRecord]) {
        let namespace = cf.metadata.namespace.clone().unwrap_or_default();
        let name = cf.metadata.name.clone().unwrap_or_default();
        let labels = [namespace.as_str(), name.as_str()];
        let seconds = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.as_ref().map_or(0.0, |t| t.0.as_millisecond() as f64 / 1000.0)
        };
        self.last_success.with_label_values(&labels).set(seconds(&status.last_successful_time));
        let latest = status.recent_runs.first();
        self.last_run.with_label_values(&labels).set(latest.map_or(0.0, |r| seconds(&r.completion_time)));
        self.last_run_succeeded.with_label_values(&labels).set(match latest.map(|r| r.outcome) {
            None => -1,
            Some(RunOutcome::Succeeded) => 1,
            Some(RunOutcome::Failed) => 0,
        });
        self.consecutive_failures.with_label_values(&labels).set(i64::from(status.consecutive_failures));
        self.last_run_items.with_label_values(&labels).set(latest.and_then(|r| r.items).unwrap_or(0));
        self.last_run_duration.with_label_values(&labels).set(latest.and_then(|r| r.duration_seconds).unwrap_or(0.0));
        self.active_runs.with_label_values(&labels).set(status.active.len() as i64);
        self.oldest_active_start
            .with_label_values(&labels)
            .set(status.active.first().map_or(0.0, |a| seconds(&a.start_time)));
        self.active_deadline.with_label_values(&labels).set(cf.spec.active_deadline_seconds);
        self.suspended.with_label_values(&labels).set(i64::from(cf.spec.suspend));
        self.created.with_label_values(&labels).set(seconds(&cf.metadata.creation_timestamp));
        let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        self.ready.with_label_values(&labels).set(i64::from(ready));
        for run in newly_finished {
            let outcome = match run.outcome {
                RunOutcome::Succeeded => "Succeeded",
                RunOutcome::Failed => "Failed",
            };
            let class = run.failure_class.map(|c| format!("{c:?}")).unwrap_or_default();
            self.runs.with_label_values(&[namespace.as_str(), name.as_str(), outcome, class.as_str()]).inc();
        }
    }

    /// Counts a notifier started for a ClusterFetch.
    pub fn notification_dispatched(&self, namespace: &str, name: &str) {
        self.notifications.with_label_values(&[namespace, name]).inc();
    }

    /// Drops every series of a deleted ClusterFetch.
    pub fn forget_clusterfetch(&self, namespace: &str, name: &str) {
        let labels = [namespace, name];
        for gauge in
            [&self.last_success, &self.last_run, &self.last_run_duration, &self.oldest_active_start, &self.created]
        {
            let _ = gauge.remove_label_values(&labels);
        }
        for gauge in [
            &self.last_run_succeeded,
            &self.consecutive_failures,
            &self.last_run_items,
            &self.active_runs,
            &self.active_deadline,
            &self.suspended,
            &self.ready,
        ] {
            let _ = gauge.remove_label_values(&labels);
        }
        let _ = self.notifications.remove_label_values(&labels);
        let _ = self.runs.remove_label_values(&[namespace, name, "Succeeded", ""]);
        for class in FailureClass::ALL {
            let _ = self.runs.remove_label_values(&[namespace, name, "Failed", &format!("{class:?}")]);
        }
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer {
    histogram: HistogramVec,
    in_flight: prometheus::IntGauge,
    controller: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.with_label_values(&[self.controller]).observe(self.start.elapsed().as_secs_f64());
        self.in_flight.dec();
    }
}
