//! Time zones as Kubernetes reads them: the CronJob validation's name rules, no `Local`, and Go's
//! case-sensitive `time.LoadLocation` (here: an exact name of the IANA database jiff carries).
//!
//! Owns the verdict on a time zone name; it must not convert times.

/// What to do about a zone that is refused.
const FIX: &str = "use an IANA name, spelt as the database spells it (names are case-sensitive), such as \
                   \"Asia/Jakarta\" or \"UTC\"";

/// Checks `zone` as the API server checks a CronJob's `spec.timeZone`.
pub fn check_time_zone(zone: &str) -> Result<(), String> {
    if zone.is_empty() {
        return Err(format!("the time zone must be unset or non-empty: {FIX}"));
    }
    if zone.split('/').any(|part| !valid_part(part)) || !known(zone) {
        return Err(format!("unknown time zone {zone:?}: {FIX}"));
    }
    if zone.eq_ignore_ascii_case("Local") {
        return Err(format!("{zone:?} is the controller's own zone, not an explicit one: {FIX}"));
    }
    Ok(())
}

/// The CronJob validation's rule for each `/`-separated part: 1 to 14 of `A-Za-z.-_0-9+`, not `.`, `..` or
/// starting with `-`.
fn valid_part(part: &str) -> bool {
    (1..=14).contains(&part.len())
        && part != "."
        && part != ".."
        && !part.starts_with('-')
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

/// Go's `time.LoadLocation`: `UTC` and `Local` are built in; any other name must be in the database, exactly.
fn known(zone: &str) -> bool {
    zone == "UTC" || zone == "Local" || jiff::tz::db().available().any(|name| name.as_str() == zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_accepted_exactly_when_go_loads_them() {
        let cases: &[(&str, bool)] = &[
            ("Asia/Jakarta", true),
            ("UTC", true),
            ("Etc/GMT+7", true),
            ("America/Argentina/Buenos_Aires", true),
            ("asia/jakarta", false),
            ("utc", false),
            ("Local", false),
            ("local", false),
            ("WIB", false),
            ("Asia/Jakartaa", false),
            ("../etc/passwd", false),
            ("/UTC", false),
            ("", false),
        ];
        for (zone, ok) in cases {
            assert_eq!(check_time_zone(zone).is_ok(), *ok, "{zone:?}: {:?}", check_time_zone(zone));
        }
    }

    #[test]
    fn a_refusal_names_the_zone_and_the_fix() {
        let message = check_time_zone("asia/jakarta").unwrap_err();
        assert!(message.contains("\"asia/jakarta\"") && message.contains("case-sensitive"), "{message}");
    }
}
