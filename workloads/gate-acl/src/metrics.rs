//! The scan metrics: `gate_scans_total{result,reason}` (each scan answered once; a re-sent scan counts in
//! `gate_scan_replays_total` instead) and `gate_scan_duration_seconds`. Registered in the service's
//! registry, served at `/metrics` by the skeleton. It counts; it decides nothing.

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use crate::domain::scan::{Reason, ScanAnswer};

/// The scan metrics; cheap to clone.
#[derive(Clone)]
pub struct ScanMetrics {
    scans: IntCounterVec,
    replays: IntCounter,
    latency: Histogram,
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
                .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
        )?;
        registry.register(Box::new(scans.clone()))?;
        registry.register(Box::new(replays.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        for reason in Reason::ALL {
            scans.with_label_values(&[reason.verdict().as_str(), reason.as_str()]);
        }
        Ok(ScanMetrics { scans, replays, latency })
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
}
