//! The auth metrics: `auth_events_total{kind,outcome}` — every grant, refusal and revocation, the same
//! events as the `audit_events` rows. Registered in the service's registry, served at `/metrics` by the
//! skeleton. It counts; it decides nothing.

use prometheus::{IntCounterVec, Opts, Registry};

use crate::repository::{AuditKind, Outcome};

/// The auth metrics; cheap to clone.
#[derive(Clone)]
pub struct AuthMetrics {
    events: IntCounterVec,
}

impl AuthMetrics {
    /// Registers the metrics in `registry`, every (kind, outcome) pair at zero.
    pub fn register(registry: &Registry) -> Result<AuthMetrics, prometheus::Error> {
        let events = IntCounterVec::new(
            Opts::new("auth_events_total", "Grants, refusals and revocations, by kind and outcome"),
            &["kind", "outcome"],
        )?;
        registry.register(Box::new(events.clone()))?;
        for kind in AuditKind::ALL {
            for outcome in [Outcome::Granted, Outcome::Refused, Outcome::Revoked] {
                events.with_label_values(&[kind.as_str(), outcome.as_str()]);
            }
        }
        Ok(AuthMetrics { events })
    }

    /// Counts one event.
    pub fn count(&self, kind: AuditKind, outcome: Outcome) {
        self.events.with_label_values(&[kind.as_str(), outcome.as_str()]).inc();
    }
}
