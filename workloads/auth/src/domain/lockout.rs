//! The login limits: an account locks for a while after N consecutive failed logins (the person sees until
//! when; an admin can lift it), and a client address may fail at most M times per window, whatever the
//! accounts (against password spraying). Plain functions of the stored counters and the time.

use jiff::{SignedDuration, Timestamp};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Consecutive failures that lock an account.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_for: SignedDuration,
    /// Failures one client address may have in a window.
    pub address_max_failures: u32,
    /// The per-address window.
    pub address_window: SignedDuration,
}

/// Until when an account is locked at `now`, if it is.
pub fn locked_until(locked_until: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    locked_until.filter(|until| *until > now)
}

/// An account's counters after one more failure: (failures, locked until). Reaching the limit locks the
/// account and starts the count again, so after the lock the person has N tries again.
pub fn after_failure(failures: u32, policy: &LoginPolicy, now: Timestamp) -> (u32, Option<Timestamp>) {
    let failures = failures.saturating_add(1);
    if failures >= policy.max_failures {
        (0, Some(now + policy.lock_for))
    } else {
        (failures, None)
    }
}

/// A client address's window after one more failure: (window start, failures in it).
pub fn address_after_failure(
    window: Option<(Timestamp, u32)>,
    policy: &LoginPolicy,
    now: Timestamp,
) -> (Timestamp, u32) {
    match window {
        Some((started, failures)) if now < started + policy.address_window => (started, failures.saturating_add(1)),
        _ => (now, 1),
    }
}

/// When a client address may try again, if it is over its limit at `now`.
pub fn address_blocked_until(
    window: Option<(Timestamp, u32)>,
    policy: &LoginPolicy,
    now: Timestamp,
) -> Option<Timestamp> {
    let (started, failures) = window?;
    let ends = started + policy.address_window;
    (now < ends && failures >= policy.address_max_failures).then_some(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LoginPolicy = LoginPolicy {
        max_failures: 3,
        lock_for: SignedDuration::from_mins(15),
        address_max_failures: 2,
        address_window: SignedDuration::from_mins(5),
    };

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + second).unwrap()
    }

    #[test]
    fn the_nth_failure_locks_and_the_lock_ends() {
        let cases = [("first", 0, (1, None)), ("second", 1, (2, None)), ("third_locks", 2, (0, Some(at(900))))];
        for (case, failures, expected) in cases {
            assert_eq!(after_failure(failures, &POLICY, at(0)), expected, "{case}");
        }
        let lock = Some(at(900));
        assert_eq!(locked_until(lock, at(899)), lock, "still locked");
        assert_eq!(locked_until(lock, at(900)), None, "the lock has ended");
        assert_eq!(locked_until(None, at(0)), None, "never locked");
    }

    #[test]
    fn an_address_is_limited_within_its_window_only() {
        let cases = [
            ("no_failures", None, at(0), None),
            ("one_failure", Some((at(0), 1)), at(10), None),
            ("at_limit", Some((at(0), 2)), at(10), Some(at(300))),
            ("window_over", Some((at(0), 2)), at(300), None),
        ];
        for (case, window, now, expected) in cases {
            assert_eq!(address_blocked_until(window, &POLICY, now), expected, "{case}");
        }
        assert_eq!(address_after_failure(None, &POLICY, at(0)), (at(0), 1));
        assert_eq!(address_after_failure(Some((at(0), 1)), &POLICY, at(10)), (at(0), 2));
        assert_eq!(address_after_failure(Some((at(0), 5)), &POLICY, at(301)), (at(301), 1), "a new window");
    }
}
