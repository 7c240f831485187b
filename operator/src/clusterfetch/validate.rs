//! Validate: the checks of a ClusterFetch spec that admission (OpenAPI + CEL) cannot make.
//!
//! Pure: takes the spec, returns the problems, each naming the field and the fix. No I/O.

use croner::{
    parser::{CronParser, Seconds, Year},
    Cron,
};
use microfleet_crds::clusterfetch::ClusterFetchSpec;

/// One thing wrong with a spec that the operator cannot act on until the spec changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecProblem {
    /// Reason for the condition and the Event, e.g. `InvalidSchedule`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.schedule`.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Checks everything about the spec that the CRD schema and CEL rules leave to the operator.
pub fn validate_spec(spec: &ClusterFetchSpec) -> Result<(), Vec<SpecProblem>> {
    let mut problems = Vec::new();
    if let Err(message) = parse_schedule(&spec.schedule) {
        problems.push(SpecProblem { reason: "InvalidSchedule", field: "spec.schedule", message });
    }
    if let Some(zone) = &spec.time_zone {
        if jiff::tz::TimeZone::get(zone).is_err() || zone.starts_with(['/', '.']) || zone.eq_ignore_ascii_case("local")
        {
            problems.push(SpecProblem {
                reason: "InvalidTimeZone",
                field: "spec.timeZone",
                message: format!("unknown time zone {zone:?}: use an IANA name such as \"Asia/Jakarta\" or \"UTC\""),
            });
        }
    }
    if spec.sink.kafka.is_some() {
        problems.push(SpecProblem {
            reason: "UnsupportedSink",
            field: "spec.sink.kafka",
            message: "the Kafka sink is not supported by this operator version yet: use spec.sink.http".into(),
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Parses a schedule the way the CronJob controller reads it: five fields or an @-descriptor.
pub fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    let trimmed = schedule.trim();
    let fix = "use five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\", or @hourly/@daily/@weekly/@monthly/@yearly";
    if trimmed.starts_with('@') {
        let known = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];
        if !known.iter().any(|k| k.eq_ignore_ascii_case(trimmed)) {
            return Err(format!("unknown descriptor {trimmed:?}: {fix}"));
        }
    } else if trimmed.split_whitespace().count() != 5 {
        return Err(format!("{schedule:?} has {} fields, not 5: {fix}", trimmed.split_whitespace().count()));
    } else if trimmed.chars().any(|c| matches!(c, 'L' | 'W' | '#' | 'l' | 'w')) && !has_only_names(trimmed) {
        return Err(format!(
            "{schedule:?} uses L, W or # (Quartz extensions the CronJob controller does not read): {fix}"
        ));
    }
    let pattern = if trimmed.eq_ignore_ascii_case("@midnight") { "@daily" } else { trimmed };
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("{schedule:?} is not a valid cron expression ({e}): {fix}"))
}

/// True when every letter in the expression belongs to a month or weekday name (JAN, MON, …).
fn has_only_names(expr: &str) -> bool {
    const NAMES: [&str; 19] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN", "MON", "TUE", "WED",
        "THU", "FRI", "SAT",
    ];
    let upper = expr.to_ascii_uppercase();
    let mut rest = upper.clone();
    for name in NAMES {
        rest = rest.replace(name, "");
    }
    !rest.chars().any(|c| c.is_ascii_alphabetic()) && !upper.contains('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let cases: &[(&str, bool)] = &[
            ("0 2 * * *", true),
            ("*/15 * * * *", true),
            ("0 2 * * MON-FRI", true),
            ("0 0 1 JAN *", true),
            ("@daily", true),
            ("@midnight", true),
            ("@HOURLY", true),
            ("@every 5m", false),
            ("0 2 * *", false),
            ("0 0 2 * * *", false),
            ("61 * * * *", false),
            ("0 25 * * *", false),
            ("0 2 L * *", false),
            ("0 2 * * 5#3", false),
            ("not a cron", false),
            ("", false),
        ];
        for (schedule, ok) in cases {
            assert_eq!(parse_schedule(schedule).is_ok(), *ok, "schedule {schedule:?}");
        }
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;
    use crate::clusterfetch::fixtures::spec;

    #[test]
    fn problems_name_the_field_and_the_fix() {
        let mut s = spec();
        assert_eq!(validate_spec(&s), Ok(()));
        s.schedule = "0 25 * * *".into();
        s.time_zone = Some("Mars/Olympus".into());
        let problems = validate_spec(&s).unwrap_err();
        let reasons: Vec<_> = problems.iter().map(|p| (p.reason, p.field)).collect();
        assert_eq!(reasons, [("InvalidSchedule", "spec.schedule"), ("InvalidTimeZone", "spec.timeZone")]);
        assert!(problems[0].message.contains("e.g. \"0 2 * * *\""));
        assert!(problems[1].message.contains("IANA"));
        for zone in ["UTC", "Asia/Jakarta", "America/Argentina/Buenos_Aires"] {
            s.schedule = "@daily".into();
            s.time_zone = Some(zone.into());
            assert_eq!(validate_spec(&s), Ok(()), "{zone}");
        }
        for zone in ["Local", "../etc/passwd", "/UTC"] {
            s.time_zone = Some(zone.into());
            assert!(validate_spec(&s).is_err(), "{zone}");
        }
    }
}
