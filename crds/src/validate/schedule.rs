//! Schedules as Kubernetes reads them: robfig/cron v3's `ParseStandard` (five fields, the @-descriptors,
//! `@every <Go duration>`) and the CronJob validation's refusal of `TZ`/`CRON_TZ` in a schedule.
//!
//! Owns the verdict on a schedule and its normalised form; it must not compute run times (the operator's
//! alerts do that from [`Schedule`]).

use std::time::Duration;

/// What to do about a schedule that is refused.
const FIX: &str = "use five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\", a descriptor \
                   (@hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually; lower case), or @every <duration> \
                   such as @every 6h";

/// A schedule the CronJob controller accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Runs when the five fields match; the pattern lists each field's values as numbers (`*` where the field
    /// is a wildcard), so any five-field cron library reads it as the CronJob controller does.
    Fields(String),
    /// `@every <duration>`: runs this far apart (at least one second, as the controller rounds it).
    Every(Duration),
}

/// Parses `schedule` exactly as the API server validates a CronJob's: `cron.ParseStandard`, and no `TZ` in it.
pub fn parse_schedule(schedule: &str) -> Result<Schedule, String> {
    let refuse = |why: String| format!("{schedule:?} is not a schedule the CronJob controller reads ({why}): {FIX}");
    if schedule.contains("TZ") {
        return Err(format!("{schedule:?}: cannot use TZ or CRON_TZ in the schedule: set spec.timeZone instead"));
    }
    if schedule.is_empty() {
        return Err(refuse("empty spec string".into()));
    }
    if schedule.starts_with('@') {
        return descriptor(schedule).map_err(refuse);
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(refuse(format!("expected exactly 5 fields, found {}", fields.len())));
    }
    let mut pattern = Vec::with_capacity(5);
    for (field, bounds) in fields.iter().zip(FIELDS.iter()) {
        pattern.push(bounds.normalise(field).map_err(refuse)?);
    }
    Ok(Schedule::Fields(pattern.join(" ")))
}

/// robfig's `parseDescriptor`: case-sensitive names, or `@every ` and a Go duration.
fn descriptor(descriptor: &str) -> Result<Schedule, String> {
    let fields = match descriptor {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            let Some(duration) = descriptor.strip_prefix("@every ") else {
                return Err(format!("unrecognized descriptor: {descriptor}"));
            };
            let nanos = go_duration_nanos(duration)
                .map_err(|e| format!("failed to parse duration {descriptor}: time: {e} {duration:?}"))?;
            let every = u64::try_from(nanos).unwrap_or(0).max(1_000_000_000);
            return Ok(Schedule::Every(Duration::from_nanos(every)));
        }
    };
    Ok(Schedule::Fields(fields.into()))
}

/// The range and names of one field.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Bounds; 5] = [
    Bounds { min: 0, max: 59, names: &[] },
    Bounds { min: 0, max: 23, names: &[] },
    Bounds { min: 1, max: 31, names: &[] },
    Bounds { min: 1, max: 12, names: &MONTHS },
    Bounds { min: 0, max: 6, names: &DAYS },
];

impl Bounds {
    /// robfig's `getField`: the field's values as a comma list, or `*` when it carries the star bit.
    fn normalise(&self, field: &str) -> Result<String, String> {
        let mut bits = 0u64;
        let mut star = false;
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            let (range_bits, range_star) = self.range(expr)?;
            bits |= range_bits;
            star |= range_star;
        }
        if star {
            return Ok("*".into());
        }
        let values: Vec<String> =
            (self.min..=self.max).filter(|v| bits & (1 << v) != 0).map(|v| v.to_string()).collect();
        // (a field of only commas sets no bit: robfig accepts it, and it never fires)
        Ok(if values.is_empty() { "*".into() } else { values.join(",") })
    }

    /// robfig's `getRange`: `*`, `?`, a number or name, `a-b`, each with an optional `/step`.
    fn range(&self, expr: &str) -> Result<(u64, bool), String> {
        let range_and_step: Vec<&str> = expr.split('/').collect();
        let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
        let (start, mut end, mut star) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
            (self.min, self.max, true)
        } else {
            let start = self.int_or_name(low_and_high[0])?;
            let end = match low_and_high.len() {
                1 => start,
                2 => self.int_or_name(low_and_high[1])?,
                _ => return Err(format!("too many hyphens: {expr}")),
            };
            (start, end, false)
        };
        let step = match range_and_step.len() {
            1 => 1,
            2 => {
                let step = go_atoi(range_and_step[1])?;
                if low_and_high.len() == 1 {
                    end = self.max;
                }
                if step > 1 {
                    star = false;
                }
                step
            }
            _ => return Err(format!("too many slashes: {expr}")),
        };
        if start < self.min {
            return Err(format!("beginning of range ({start}) below minimum ({}): {expr}", self.min));
        }
        if end > self.max {
            return Err(format!("end of range ({end}) above maximum ({}): {expr}", self.max));
        }
        if start > end {
            return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
        }
        if step == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
        let bits = (start..=end).step_by(step as usize).fold(0u64, |bits, v| bits | (1 << v));
        Ok((bits, star))
    }

    fn int_or_name(&self, expr: &str) -> Result<u32, String> {
        let lower = expr.to_ascii_lowercase();
        match self.names.iter().position(|n| *n == lower) {
            Some(i) => Ok(u32::try_from(i).unwrap_or(0) + if self.names.len() == 12 { 1 } else { 0 }),
            None => go_atoi(expr),
        }
    }
}

/// Go's `strconv.Atoi` as robfig's `mustParseInt` uses it: an optional sign and decimal digits, not negative.
fn go_atoi(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: invalid syntax"));
    }
    let value: i128 = digits.parse().map_err(|_| format!("failed to parse int from {expr}: value out of range"))?;
    if expr.starts_with('-') && value != 0 {
        return Err(format!("negative number (-{value}) not allowed: {expr}"));
    }
    // (larger than any field's maximum, so the range check refuses it as robfig does)
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units ns, us, µs, μs, ms, s, m, h; the
/// value in nanoseconds.
fn go_duration_nanos(text: &str) -> Result<i128, &'static str> {
    const INVALID: &str = "invalid duration";
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(INVALID);
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                (Some(&after[..len]), &after[len..])
            }
            None => (None, after),
        };
        if int.is_empty() && fraction.is_none_or(str::is_empty) {
            return Err(INVALID);
        }
        let unit_len = after.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(after.len());
        if unit_len == 0 {
            return Err("missing unit in duration");
        }
        let (unit, after) = after.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err("unknown unit in duration"),
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| INVALID)? };
        let mut value = whole.checked_mul(scale).ok_or(INVALID)?;
        if let Some(fraction) = fraction.filter(|f| !f.is_empty()) {
            let digits = &fraction[..fraction.len().min(18)];
            let numerator: i128 = digits.parse().map_err(|_| INVALID)?;
            value += numerator * scale / 10i128.pow(u32::try_from(digits.len()).unwrap_or(0));
        }
        total = total.checked_add(value).filter(|t| *t <= 1 << 63).ok_or(INVALID)?;
        rest = after;
    }
    if !negative && total > i128::from(i64::MAX) {
        return Err(INVALID);
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_read_as_robfig_parse_standard_reads_them() {
        let fields = |p: &str| Ok(Schedule::Fields(p.into()));
        let every = |secs: u64| Ok(Schedule::Every(Duration::from_secs(secs)));
        let cases: &[(&str, Result<Schedule, ()>)] = &[
            ("0 2 * * *", fields("0 2 * * *")),
            ("*/15 * * * *", fields("0,15,30,45 * * * *")),
            ("0 2 * * MON-FRI", fields("0 2 * * 1,2,3,4,5")),
            ("0 2 * * mon", fields("0 2 * * 1")),
            ("0 0 1 jan,Dec *", fields("0 0 1 1,12 *")),
            ("0 0 31 2 *", fields("0 0 31 2 *")),
            ("5/20 * * * ?", fields("5,25,45 * * * *")),
            ("*/1 * * * *", fields("* * * * *")),
            ("@daily", fields("0 0 * * *")),
            ("@midnight", fields("0 0 * * *")),
            ("@annually", fields("0 0 1 1 *")),
            ("@every 24h", every(86_400)),
            ("@every 1h30m", every(5_400)),
            ("@every 1.5h", every(5_400)),
            ("@every 10ms", every(1)),
            ("@HOURLY", Err(())),
            ("@every", Err(())),
            ("@every 24", Err(())),
            ("@every 1d", Err(())),
            ("@every  1h", Err(())),
            (" @hourly", Err(())),
            ("0 2 * *", Err(())),
            ("0 0 2 * * *", Err(())),
            ("61 * * * *", Err(())),
            ("0 25 * * *", Err(())),
            ("0 2 * * 7", Err(())),
            ("0 2 L * *", Err(())),
            ("0 2 * * 5#3", Err(())),
            ("*/0 * * * *", Err(())),
            ("5-1 * * * *", Err(())),
            ("1-2-3 * * * *", Err(())),
            ("TZ=UTC 0 2 * * *", Err(())),
            ("CRON_TZ=Asia/Jakarta 0 2 * * *", Err(())),
            ("not a cron", Err(())),
            ("", Err(())),
        ];
        for (schedule, expected) in cases {
            let got = parse_schedule(schedule);
            match expected {
                Ok(schedule_form) => assert_eq!(got.as_ref(), Ok(schedule_form), "{schedule:?}"),
                Err(()) => assert!(got.is_err(), "{schedule:?} must be refused, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_says_why_and_how_to_fix_it() {
        let message = parse_schedule("0 25 * * *").unwrap_err();
        assert!(message.contains("end of range (25) above maximum (23)"), "{message}");
        assert!(message.contains("e.g. \"0 2 * * *\""), "{message}");
        assert!(parse_schedule("@HOURLY").unwrap_err().contains("unrecognized descriptor: @HOURLY"));
        assert!(parse_schedule("TZ=UTC 0 2 * * *").unwrap_err().contains("set spec.timeZone"));
    }
}
