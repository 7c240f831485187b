//! The Lease rules, pure: what a replica does next given the Lease it observed, its identity, the wall-clock
//! time and the start of its last successful renewal (monotonic), and the Lease specs it writes.
//!
//! No I/O and no clock reads: the caller passes every time in, so the tests fix them.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{api::coordination::v1::LeaseSpec, apimachinery::pkg::apis::meta::v1::MicroTime};
use tokio::time::{Duration, Instant};

/// How long a Lease lasts without renewal (written as `leaseDurationSeconds`).
pub const DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and a standby looks at the Lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);
/// How much sooner than the Lease's end the holder stops writing: covers clock skew between replicas and the
/// time a write takes once it has passed the fence.
pub const MARGIN: Duration = Duration::from_secs(5);
/// The longest a single Lease call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(4);

/// The monotonic instant after which a holder whose last successful renewal started at `renewed` must not
/// write: `renewed + DURATION - MARGIN`.
pub fn deadline(renewed: Instant) -> Instant {
    renewed + DURATION.saturating_sub(MARGIN)
}

/// What a replica does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take the Lease: it is absent, free, expired, or already names this replica.
    Acquire,
    /// Renew the Lease this replica holds.
    Renew,
    /// Another replica holds a live Lease: look again later.
    Wait,
    /// Stop leading: the last renewal is too old, or the Lease is gone or names another holder.
    StepDown,
}

/// Decides the next step. `lease` is the observed Lease spec (`None`: no Lease), `now` the wall-clock time,
/// `renewed` the monotonic start of this replica's last successful write of the Lease while it leads (`None`
/// while it does not lead), `mono_now` the monotonic time.
pub fn decide(
    lease: Option<&LeaseSpec>,
    me: &str,
    now: Timestamp,
    renewed: Option<Instant>,
    mono_now: Instant,
) -> Decision {
    let holder = lease.and_then(|l| l.holder_identity.as_deref()).filter(|h| !h.is_empty());
    match renewed {
        Some(renewed) if mono_now >= deadline(renewed) => Decision::StepDown,
        Some(_) if holder == Some(me) => Decision::Renew,
        Some(_) => Decision::StepDown,
        None => match (lease, holder) {
            (None, _) | (_, None) => Decision::Acquire,
            (_, Some(holder)) if holder == me => Decision::Acquire,
            (Some(lease), Some(_)) if expired(lease, now) => Decision::Acquire,
            _ => Decision::Wait,
        },
    }
}

/// True when the Lease's last renewal (or acquisition) plus its duration lies before `now`.
fn expired(lease: &LeaseSpec, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = lease.renew_time.as_ref().or(lease.acquire_time.as_ref()) else { return true };
    let seconds = lease.lease_duration_seconds.map_or(DURATION.as_secs() as i64, i64::from);
    renewed.checked_add(SignedDuration::from_secs(seconds)).map_or(true, |end| end < now)
}

/// The spec that makes `me` the holder as of `now`, from the observed one (`None`: a new Lease).
/// `leaseTransitions` counts each change of holder.
pub fn acquired(current: Option<&LeaseSpec>, me: &str, now: Timestamp) -> LeaseSpec {
    let transitions = match current {
        None => 0,
        Some(lease) if lease.holder_identity.as_deref() == Some(me) => lease.lease_transitions.unwrap_or(0),
        Some(lease) => lease.lease_transitions.unwrap_or(0).saturating_add(1),
    };
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(DURATION.as_secs() as i32),
        lease_transitions: Some(transitions),
        ..current.cloned().unwrap_or_default()
    }
}

/// The held spec renewed at `now`.
pub fn renewed(current: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec { renew_time: Some(MicroTime(now)), ..current.clone() }
}

/// The held spec with no holder, so a standby takes it at its next look.
pub fn released(current: &LeaseSpec) -> LeaseSpec {
    LeaseSpec { holder_identity: None, ..current.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "replica-a";
    const OTHER: &str = "replica-b";

    /// A row of the decision table: case, observed Lease, my last successful renewal (s after start),
    /// monotonic now (s after start), the decision.
    type DecisionCase = (&'static str, Option<LeaseSpec>, Option<u64>, u64, Decision);

    /// A row of the written-spec table: case, observed spec, the write, its holder and transitions.
    type WriteCase = (&'static str, Option<LeaseSpec>, fn(Option<&LeaseSpec>) -> LeaseSpec, Option<&'static str>, i32);

    /// The wall clock of every case: 1000 s after the epoch.
    fn now() -> Timestamp {
        Timestamp::from_second(1000).unwrap()
    }

    /// A Lease held by `holder`, renewed `ago` seconds before `now()`, lasting 15 s.
    fn held(holder: &str, ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(now() - SignedDuration::from_secs(ago))),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions() {
        let start = Instant::now();
        let secs = Duration::from_secs;
        // (case, observed Lease, my last successful renewal (s after start), monotonic now (s after start), decision)
        let cases: Vec<DecisionCase> = vec![
            ("no_lease_standby_acquires", None, None, 0, Decision::Acquire),
            ("empty_holder_standby_acquires", Some(LeaseSpec::default()), None, 0, Decision::Acquire),
            (
                "blank_holder_standby_acquires",
                Some(LeaseSpec { holder_identity: Some(String::new()), ..held(OTHER, 0) }),
                None,
                0,
                Decision::Acquire,
            ),
            ("live_lease_of_other_standby_waits", Some(held(OTHER, 3)), None, 0, Decision::Wait),
            ("lease_of_other_at_its_end_standby_waits", Some(held(OTHER, 15)), None, 0, Decision::Wait),
            ("expired_lease_of_other_standby_takes_over", Some(held(OTHER, 16)), None, 0, Decision::Acquire),
            (
                "lease_of_other_without_times_is_expired",
                Some(LeaseSpec { holder_identity: Some(OTHER.into()), ..LeaseSpec::default() }),
                None,
                0,
                Decision::Acquire,
            ),
            (
                "longer_lease_of_other_still_live",
                Some(LeaseSpec { lease_duration_seconds: Some(60), ..held(OTHER, 30) }),
                None,
                0,
                Decision::Wait,
            ),
            ("lease_naming_me_standby_acquires", Some(held(ME, 3)), None, 0, Decision::Acquire),
            ("leader_renews_recent_lease", Some(held(ME, 2)), Some(0), 2, Decision::Renew),
            ("leader_renews_just_before_deadline", Some(held(ME, 9)), Some(0), 9, Decision::Renew),
            ("leader_steps_down_at_deadline", Some(held(ME, 10)), Some(0), 10, Decision::StepDown),
            ("leader_resumed_after_stop_steps_down", Some(held(ME, 0)), Some(0), 60, Decision::StepDown),
            ("leader_sees_other_holder_steps_down", Some(held(OTHER, 1)), Some(0), 2, Decision::StepDown),
            ("leader_sees_no_holder_steps_down", Some(LeaseSpec::default()), Some(0), 2, Decision::StepDown),
            ("leader_sees_lease_deleted_steps_down", None, Some(0), 2, Decision::StepDown),
        ];
        for (case, lease, renewed, mono_now, want) in cases {
            let got = decide(lease.as_ref(), ME, now(), renewed.map(|s| start + secs(s)), start + secs(mono_now));
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn deadline_is_duration_less_margin_after_the_renewal() {
        let start = Instant::now();
        assert_eq!(deadline(start), start + Duration::from_secs(10));
    }

    #[test]
    fn written_specs() {
        // (case, observed spec, spec written, want holder, want transitions)
        let cases: Vec<WriteCase> = vec![
            ("new_lease_starts_at_zero_transitions", None, |c| acquired(c, ME, now()), Some(ME), 0),
            (
                "takeover_counts_a_transition",
                Some(LeaseSpec { lease_transitions: Some(4), ..held(OTHER, 20) }),
                |c| acquired(c, ME, now()),
                Some(ME),
                5,
            ),
            (
                "taking_a_free_lease_counts_a_transition",
                Some(LeaseSpec { lease_transitions: Some(4), ..LeaseSpec::default() }),
                |c| acquired(c, ME, now()),
                Some(ME),
                5,
            ),
            (
                "reacquiring_my_own_lease_is_no_transition",
                Some(LeaseSpec { lease_transitions: Some(4), ..held(ME, 20) }),
                |c| acquired(c, ME, now()),
                Some(ME),
                4,
            ),
            (
                "renewal_keeps_holder_and_transitions",
                Some(LeaseSpec { lease_transitions: Some(4), ..held(ME, 2) }),
                |c| renewed(c.unwrap(), now()),
                Some(ME),
                4,
            ),
            (
                "release_clears_the_holder",
                Some(LeaseSpec { lease_transitions: Some(4), ..held(ME, 2) }),
                |c| released(c.unwrap()),
                None,
                4,
            ),
        ];
        for (case, current, write, holder, transitions) in cases {
            let spec = write(current.as_ref());
            assert_eq!(spec.holder_identity.as_deref(), holder, "{case}");
            assert_eq!(spec.lease_transitions.unwrap_or(0), transitions, "{case}");
            if holder.is_some() {
                assert_eq!(spec.renew_time, Some(MicroTime(now())), "{case}");
                assert_eq!(spec.lease_duration_seconds, Some(15), "{case}");
            }
        }
    }
}
