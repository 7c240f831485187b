//! The scan metrics: `gate_scans_total{result,reason}` (each scan answered once; a re-sent scan counts in
//! `gate_scan_replays_total` instead) and `gate_scan_duration_seconds`; of the group commit (`scan_batcher`),
//! `gate_scan_queue_wait_seconds` (a scan waiting for a worker), `gate_scan_batch_size` and
//! `gate_scan_batch_duration_seconds` (a batch's transaction). Registered in the service's registry, served
//! at `/metrics` by the skeleton. It counts; it decides nothing.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use crate::domain::scan::{Reason, ScanAnswer};

/// The latency buckets of the scan histograms, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The scan metrics; cheap to clone.
#[derive(Clone)]
pub struct ScanMetrics {
    scans: IntCounterVec,
    replays: IntCounter,
    latency: Histogram,
    queue_wait: Histogram,
    batch_size: Histogram,
    batch_duration: Histogram,
}

impl ScanMetrics {
    /// Registers the metrics in `registry`, every (result, reason) pair at zero.
    pub fn register(registry: &Registry) -> Result<ScanMetrics, prometheus::Error> {
        let scans = IntCounterVec::new(
            Opts::new("gate_scans_total", "Scans answered, by result (allow, deny) and reason"),
            &["result", "reason"],
        )?;
        let replays =
            IntCounter::new("gate_scan_replays_total", "Re-sent scans (same device and nonce) answered again")?;
        let latency = Histogram::with_opts(
            HistogramOpts::new("gate_scan_duration_seconds", "Time to answer a scan, verification included")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new("gate_scan_queue_wait_seconds", "Time a verified scan waited for a batch worker")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("gate_scan_batch_size", "Scans recorded in one transaction")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )?;
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "gate_scan_batch_duration_seconds",
                "Time to record one batch of scans (its transaction)",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        for metric in [&latency, &queue_wait, &batch_size, &batch_duration] {
            registry.register(Box::new(metric.clone()))?;
        }
        registry.register(Box::new(scans.clone()))?;
        registry.register(Box::new(replays.clone()))?;
        for reason in Reason::ALL {
            scans.with_label_values(&[reason.verdict().as_str(), reason.as_str()]);
        }
        Ok(ScanMetrics { scans, replays, latency, queue_wait, batch_size, batch_duration })
    }

    /// Records one answered scan and how long it took.
    pub fn observe(&self, answer: &ScanAnswer, replayed: bool, took: Duration) {
        if replayed {
            self.replays.inc();
        } else {
            self.scans.with_label_values(&[answer.result.as_str(), answer.reason.as_str()]).inc();
        }
        self.latency.observe(took.as_secs_f64());
    }

    /// Records how long a scan waited for a batch worker.
    pub fn observe_queue_wait(&self, took: Duration) {
        self.queue_wait.observe(took.as_secs_f64());
    }

    /// Records one batch: how many scans it held and how long its transaction took.
    pub fn observe_batch(&self, scans: usize, took: Duration) {
        self.batch_size.observe(scans as f64);
        self.batch_duration.observe(took.as_secs_f64());
    }
}
