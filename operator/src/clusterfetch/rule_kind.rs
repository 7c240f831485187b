//! Rule kind: what this process knows about the PrometheusRule kind — served or not, since when, and how
//! many times that changed — from API discovery and from applies the API server answered 404.
//!
//! Pure state: answers in, the current knowledge out. No client, no clock of its own (the caller passes the
//! instant). The count of changes is part of every reconcile's inputs (`read::inputs_digest`): a reconcile
//! that settled while the kind was missing (or while discovery and the apply disagreed) is never taken as
//! settled once the kind changed, and the controller's poll reconciles everything when the count moves.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long an answer that the kind is missing is reused before discovery is asked again.
const MISSING_REUSE: Duration = Duration::from_secs(2);
/// How long an answer that the kind is served is reused before discovery is asked again.
const PRESENT_REUSE: Duration = Duration::from_secs(300);

/// The kind as last known: served or not, and the number of changes seen since this process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Known {
    /// True when the PrometheusRule kind is served.
    pub present: bool,
    /// How many times `present` changed (the first answer is not a change).
    pub changes: u64,
}

#[derive(Debug, Default)]
struct State {
    /// The last answer and when it came.
    last: Option<(bool, Instant)>,
    changes: u64,
}

/// What this process knows about the PrometheusRule kind.
#[derive(Debug, Default)]
pub struct RuleKind {
    state: Mutex<State>,
}

impl RuleKind {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The last answer while it is fresh enough at `now` (missing: 2 s, served: 5 min); `None` when
    /// discovery must be asked.
    pub fn reuse(&self, now: Instant) -> Option<Known> {
        let state = self.state();
        let (present, at) = state.last?;
        let within = if present { PRESENT_REUSE } else { MISSING_REUSE };
        (now.saturating_duration_since(at) < within).then_some(Known { present, changes: state.changes })
    }

    /// Records an answer at `now`: `Some(served)` from discovery or an apply, `None` when discovery gave
    /// none (an error): then the last answer stands, or, before any, the kind is taken as served (the apply
    /// then tells).
    pub fn observe(&self, answer: Option<bool>, now: Instant) -> Known {
        let mut state = self.state();
        let previous = state.last.map(|(present, _)| present);
        let present = answer.or(previous).unwrap_or(true);
        if previous.is_some_and(|was| was != present) {
            state.changes = state.changes.wrapping_add(1);
        }
        state.last = Some((present, now));
        Known { present, changes: state.changes }
    }

    /// How many times the kind changed so far.
    pub fn changes(&self) -> u64 {
        self.state().changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_reused_briefly_when_missing_and_for_minutes_when_served() {
        let kind = RuleKind::default();
        let t0 = Instant::now();
        assert_eq!(kind.reuse(t0), None, "nothing known yet");
        assert_eq!(kind.observe(Some(false), t0), Known { present: false, changes: 0 }, "a first answer is no change");
        assert_eq!(kind.reuse(t0 + Duration::from_secs(1)), Some(Known { present: false, changes: 0 }));
        assert_eq!(kind.reuse(t0 + Duration::from_secs(3)), None);
        kind.observe(Some(true), t0 + Duration::from_secs(3));
        assert_eq!(kind.reuse(t0 + Duration::from_secs(200)), Some(Known { present: true, changes: 1 }));
        assert_eq!(kind.reuse(t0 + Duration::from_secs(400)), None);
    }

    #[test]
    fn every_change_counts_also_one_an_apply_reports_against_discovery() {
        let kind = RuleKind::default();
        let t0 = Instant::now();
        kind.observe(Some(false), t0);
        // the CRD is installed: discovery lists the kind, but the first apply is answered 404
        assert_eq!(kind.observe(Some(true), t0).changes, 1);
        assert_eq!(kind.observe(Some(false), t0), Known { present: false, changes: 2 });
        // discovery, asked again, lists it: a third change, so what settled at the second is looked at again
        assert_eq!(kind.observe(Some(true), t0), Known { present: true, changes: 3 });
        assert_eq!(kind.observe(Some(true), t0).changes, 3, "the same answer is no change");
        assert_eq!(kind.changes(), 3);
    }

    #[test]
    fn an_unclear_answer_keeps_the_last_one_and_says_served_before_any() {
        let kind = RuleKind::default();
        let t0 = Instant::now();
        assert_eq!(kind.observe(None, t0), Known { present: true, changes: 0 });
        kind.observe(Some(false), t0);
        assert_eq!(kind.observe(None, t0), Known { present: false, changes: 1 });
    }
}
