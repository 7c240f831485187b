//! Prometheus metrics of the operator: reconcile counters, and the per-ClusterFetch series the alerts and
//! dashboards use, derived at scrape time from the controller's cache (no gauge held per object).
//!
//! Owns the registry; knows nothing of HTTP (the server renders [`Metrics::render`]). A per-ClusterFetch
//! series is exported only while it says something: `created_timestamp_seconds` and `ready` always; the
//! last-run series once a run has finished; `last_success_timestamp_seconds` once one succeeded; the
//! active-run series while a run is active; `suspended` while suspended. The rules and dashboards read an
//! absent series as "none"/"not" (see charts/microfleet/rules and dashboards).

use std::{
    fmt::Write,
    sync::{Arc, OnceLock},
    time::Instant,
};

use kube::runtime::reflector::Store;
use prometheus::{
    core::Collector, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use microfleet_crds::{
    clusterfetch::{ClusterFetch, RunOutcome, RunRecord},
    contract::FailureClass,
};

use crate::clusterfetch::fetch_view::ClusterFetchView;

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
    runs: IntCounterVec,
    /// The controller's cache the per-ClusterFetch series are written from at each scrape.
    clusterfetches: Arc<OnceLock<Store<ClusterFetchView>>>,
}

impl Metrics {
    /// Creates and registers every metric (the per-ClusterFetch series come with
    /// [`Metrics::register_clusterfetches`]).
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
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
            runs: IntCounterVec::new(
                Opts::new(
                    "microfleet_clusterfetch_runs_total",
                    "Finished runs seen by this replica, by outcome and failure class",
                ),
                &["namespace", "name", "outcome", "failure_class"],
            )?,
            registry,
            clusterfetches: Arc::default(),
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.reconciles.clone()),
            Box::new(metrics.reconcile_errors.clone()),
            Box::new(metrics.reconcile_duration.clone()),
            Box::new(metrics.reconciles_in_flight.clone()),
            Box::new(metrics.leader.clone()),
            Box::new(metrics.watch_healthy.clone()),
            Box::new(metrics.watch_errors.clone()),
            Box::new(metrics.runs.clone()),
        ];
        for collector in collectors {
            metrics.registry.register(collector)?;
        }
        // process_resident_memory_bytes, process_cpu_seconds_total, … (Linux)
        metrics.registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(metrics)
    }

    /// Exports the per-ClusterFetch series of the objects in `fetches` (read at every scrape). A second
    /// cache is refused (`AlreadyReg`).
    pub fn register_clusterfetches(&self, fetches: Store<ClusterFetchView>) -> prometheus::Result<()> {
        self.clusterfetches.set(fetches).map_err(|_| prometheus::Error::AlreadyReg)
    }

    /// The registry, then the per-ClusterFetch series, in the Prometheus text format. The per-ClusterFetch
    /// series are written straight from the cache into the page ([`write_clusterfetch_series`]): a scrape
    /// at 10,000 objects builds no intermediate metric objects, only the page itself.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "could not encode metrics");
        }
        let mut text = String::from_utf8(buffer).unwrap_or_default();
        if let Some(fetches) = self.clusterfetches.get() {
            write_clusterfetch_series(&mut text, &fetches.state());
        }
        text
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

    /// Counts the newly finished runs of one ClusterFetch.
    pub fn count_finished_runs(&self, cf: &ClusterFetch, newly_finished: &[RunRecord]) {
        let namespace = cf.metadata.namespace.as_deref().unwrap_or_default();
        let name = cf.metadata.name.as_deref().unwrap_or_default();
        for run in newly_finished {
            let outcome = match run.outcome {
                RunOutcome::Succeeded => "Succeeded",
                RunOutcome::Failed => "Failed",
            };
            let class = run.failure_class.map(|c| format!("{c:?}")).unwrap_or_default();
            self.runs.with_label_values(&[namespace, name, outcome, class.as_str()]).inc();
        }
    }

    /// Drops the run counters of a deleted ClusterFetch.
    pub fn forget_clusterfetch(&self, namespace: &str, name: &str) {
        let _ = self.runs.remove_label_values(&[namespace, name, "Succeeded", ""]);
        for class in FailureClass::ALL {
            let _ = self.runs.remove_label_values(&[namespace, name, "Failed", &format!("{class:?}")]);
        }
    }
}

/// One per-ClusterFetch gauge family: name, help, and its value for a ClusterFetch (`None`: no series).
type Family = (&'static str, &'static str, fn(&ClusterFetchView) -> Option<f64>);

/// The per-ClusterFetch series: only those the rules, dashboards and tests read.
const FAMILIES: [Family; 11] = [
    ("microfleet_clusterfetch_created_timestamp_seconds", "Unix time the ClusterFetch was created", |cf| {
        Some(cf.metadata.creation_timestamp.as_ref().map_or(0.0, |t| t.0.as_millisecond() as f64 / 1000.0))
    }),
    ("microfleet_clusterfetch_ready", "1 if the Ready condition is True", |cf| {
        Some(f64::from(u8::from(cf.summary.ready)))
    }),
    ("microfleet_clusterfetch_suspended", "1 while spec.suspend is true (no series otherwise)", |cf| {
        cf.summary.suspended.then_some(1.0)
    }),
    (
        "microfleet_clusterfetch_last_success_timestamp_seconds",
        "Unix time the last successful run finished (no series before one)",
        |cf| cf.summary.last_success,
    ),
    (
        "microfleet_clusterfetch_last_run_succeeded",
        "1 if the last finished run succeeded, 0 if it failed (no series before a run finished)",
        |cf| cf.summary.last_run.map(|r| if r.succeeded { 1.0 } else { 0.0 }),
    ),
    (
        "microfleet_clusterfetch_consecutive_failures",
        "Failed runs since the last success (no series before a run finished)",
        |cf| {
            let s = &cf.summary;
            (s.last_run.is_some() || s.consecutive_failures > 0).then_some(f64::from(s.consecutive_failures))
        },
    ),
    ("microfleet_clusterfetch_last_run_items", "Items of the last finished run", |cf| {
        cf.summary.last_run?.items.map(|n| n as f64)
    }),
    ("microfleet_clusterfetch_last_run_duration_seconds", "Duration of the last finished run", |cf| {
        cf.summary.last_run?.duration_seconds
    }),
    ("microfleet_clusterfetch_active_runs", "Runs in progress (no series while none is)", |cf| {
        (cf.summary.active_runs > 0).then_some(f64::from(cf.summary.active_runs))
    }),
    (
        "microfleet_clusterfetch_oldest_active_run_start_timestamp_seconds",
        "Unix time the oldest active run started (no series while none is active)",
        |cf| cf.summary.oldest_active_start,
    ),
    (
        "microfleet_clusterfetch_active_deadline_seconds",
        "spec.activeDeadlineSeconds: how long a run may take (while a run is active)",
        |cf| cf.summary.oldest_active_start.map(|_| cf.summary.active_deadline_seconds as f64),
    ),
];

/// Appends the per-ClusterFetch gauge families of `fetches` to `text`, in the text format the `prometheus`
/// crate's `TextEncoder` writes (HELP and TYPE lines, labels in name order, values as Rust prints an `f64`),
/// each family's series in namespace, name order. A family without any series is left out, as the encoder
/// leaves out an empty family.
fn write_clusterfetch_series(text: &mut String, fetches: &[Arc<ClusterFetchView>]) {
    // two series each (created, ready) when idle, ~100 bytes a series: one allocation, no doubling
    text.reserve(fetches.len() * 200);
    let mut fetches: Vec<&ClusterFetchView> = fetches.iter().map(Arc::as_ref).collect();
    fetches.sort_unstable_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_deref())
            .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
    });
    for (name, help, value) in FAMILIES {
        let mut series = fetches.iter().filter_map(|cf| Some((*cf, value(cf)?))).peekable();
        if series.peek().is_none() {
            continue;
        }
        // writing to a String cannot fail
        let _ = write!(text, "# HELP {name} {}\n# TYPE {name} gauge\n", escape(help, false));
        for (cf, value) in series {
            let _ = writeln!(
                text,
                "{name}{{name=\"{}\",namespace=\"{}\"}} {value}",
                escape(cf.metadata.name.as_deref().unwrap_or_default(), true),
                escape(cf.metadata.namespace.as_deref().unwrap_or_default(), true),
            );
        }
    }
}

/// Escapes a HELP text (`\\` and newlines) or a label value (also `"`) as the text format requires.
fn escape(text: &str, label_value: bool) -> std::borrow::Cow<'_, str> {
    let needs_escape = text.contains(['\\', '\n']) || (label_value && text.contains('"'));
    if !needs_escape {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' if label_value => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
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

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
