//! The dashboard's figures (`GET /v1/stats`): the period asked for (inclusive days in UTC, the last 30 days
//! by default, at most 3 years) and the orders and revenue per day and per month with every bucket of the
//! period present, zeros included, so a chart needs no gap filling. Orders are counted on the day they were
//! paid; revenue is their total price minus what was refunded of them. The counting itself is SQL in the
//! repository; this module only decides the period and lays out the buckets.

use jiff::civil::Date;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};

use super::DomainError;

/// Days in the default period.
pub const DEFAULT_DAYS: i32 = 30;
/// The longest period, in years.
pub const MAX_YEARS: i16 = 3;

/// The query of `GET /v1/stats`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatsQuery {
    /// The first day (UTC), inclusive.
    #[serde(default)]
    pub from: Option<Date>,
    /// The last day (UTC), inclusive.
    #[serde(default)]
    pub to: Option<Date>,
}

/// The period (first and last day, inclusive) a query asks for on `today`: `to` defaults to today, `from`
/// to 29 days before `to`; `from` after `to`, or more than [`MAX_YEARS`] before it, is refused naming `from`.
pub fn period(query: &StatsQuery, today: Date) -> Result<(Date, Date), DomainError> {
    let to = query.to.unwrap_or(today);
    let from = match query.from {
        Some(from) => from,
        None => to.checked_sub((DEFAULT_DAYS - 1).days()).map_err(|_| DomainError::invalid("to", "is out of range"))?,
    };
    if from > to {
        return Err(DomainError::invalid("from", "must not be after to"));
    }
    let earliest = to.checked_sub(MAX_YEARS.years()).map_err(|_| DomainError::invalid("to", "is out of range"))?;
    if from < earliest {
        return Err(DomainError::invalid("from", format!("the period is at most {MAX_YEARS} years")));
    }
    Ok((from, to))
}

/// What was paid on one day, as the repository counts it (days without orders are absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotals {
    /// The day (UTC).
    pub day: Date,
    /// Orders paid that day.
    pub orders: i64,
    /// Their total price minus what was refunded of them.
    pub revenue: i64,
}

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayBucket {
    /// The day (`2026-11-05`).
    pub day: Date,
    /// Orders paid that day.
    pub orders: i64,
    /// Their revenue.
    pub revenue: i64,
}

/// One month of the chart (only the days of the period count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthBucket {
    /// The month (`2026-11`).
    pub month: String,
    /// Orders paid in the month's days of the period.
    pub orders: i64,
    /// Their revenue.
    pub revenue: i64,
}

/// The counts that are not per day: they cover all time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Merchants.
    pub merchants: i64,
    /// Events.
    pub events: i64,
    /// Distinct e-mail addresses with a paid order, ever.
    pub customers: i64,
}

/// The answer of `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Merchants (all time).
    pub merchants: i64,
    /// Events (all time).
    pub events: i64,
    /// Customers with a paid order (all time).
    pub customers: i64,
    /// Orders paid in the period.
    pub orders: i64,
    /// Their revenue.
    pub revenue: i64,
    /// Every day of the period, in order.
    pub by_day: Vec<DayBucket>,
    /// Every month the period touches, in order.
    pub by_month: Vec<MonthBucket>,
}

/// The figures of the period `from..=to`: every day and month present, the days' totals put in their
/// buckets (totals outside the period are ignored).
pub fn stats(counts: Counts, from: Date, to: Date, totals: &[DayTotals]) -> Stats {
    let mut by_day: Vec<DayBucket> = Vec::new();
    let mut by_month: Vec<MonthBucket> = Vec::new();
    for day in from.series(1.day()).take_while(|day| *day <= to) {
        let (orders, revenue) = totals
            .iter()
            .filter(|total| total.day == day)
            .fold((0, 0), |(orders, revenue), total| (orders + total.orders, revenue + total.revenue));
        let month = format!("{:04}-{:02}", day.year(), day.month());
        match by_month.last_mut() {
            Some(last) if last.month == month => {
                last.orders += orders;
                last.revenue += revenue;
            }
            _ => by_month.push(MonthBucket { month, orders, revenue }),
        }
        by_day.push(DayBucket { day, orders, revenue });
    }
    Stats {
        merchants: counts.merchants,
        events: counts.events,
        customers: counts.customers,
        orders: by_day.iter().map(|bucket| bucket.orders).sum(),
        revenue: by_day.iter().map(|bucket| bucket.revenue).sum(),
        by_day,
        by_month,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn period_defaults_to_the_last_30_days_and_is_at_most_3_years() {
        let today = date(2026, 12, 2);
        let cases = [
            ("default", None, None, Ok((date(2026, 11, 3), date(2026, 12, 2)))),
            ("to_only", None, Some(date(2026, 1, 30)), Ok((date(2026, 1, 1), date(2026, 1, 30)))),
            ("from_only", Some(date(2026, 12, 1)), None, Ok((date(2026, 12, 1), date(2026, 12, 2)))),
            ("one_day", Some(date(2026, 5, 5)), Some(date(2026, 5, 5)), Ok((date(2026, 5, 5), date(2026, 5, 5)))),
            ("three_years", Some(date(2023, 12, 2)), None, Ok((date(2023, 12, 2), date(2026, 12, 2)))),
            ("longer", Some(date(2023, 12, 1)), None, Err("from")),
            ("reversed", Some(date(2026, 5, 6)), Some(date(2026, 5, 5)), Err("from")),
        ];
        for (case, from, to, expected) in cases {
            let result = period(&StatsQuery { from, to }, today).map_err(|error| error.field);
            assert_eq!(result, expected.map_err(String::from), "{case}");
        }
    }

    #[test]
    fn every_day_and_month_of_the_period_is_present() {
        let counts = Counts { merchants: 2, events: 3, customers: 4 };
        let totals = [
            DayTotals { day: date(2026, 10, 30), orders: 9, revenue: 900 }, // before the period
            DayTotals { day: date(2026, 10, 31), orders: 2, revenue: 300 },
            DayTotals { day: date(2026, 11, 2), orders: 1, revenue: 0 }, // paid and refunded
            DayTotals { day: date(2026, 11, 2), orders: 1, revenue: 50 },
        ];
        let got = stats(counts, date(2026, 10, 31), date(2026, 11, 3), &totals);
        let day = |day, orders, revenue| DayBucket { day, orders, revenue };
        assert_eq!(
            got.by_day,
            vec![
                day(date(2026, 10, 31), 2, 300),
                day(date(2026, 11, 1), 0, 0),
                day(date(2026, 11, 2), 2, 50),
                day(date(2026, 11, 3), 0, 0),
            ]
        );
        let month = |month: &str, orders, revenue| MonthBucket { month: month.into(), orders, revenue };
        assert_eq!(got.by_month, vec![month("2026-10", 2, 300), month("2026-11", 2, 50)]);
        assert_eq!((got.orders, got.revenue), (4, 350));
        assert_eq!((got.merchants, got.events, got.customers), (2, 3, 4));
    }

    #[test]
    fn a_three_year_period_has_a_bucket_per_day_and_month() {
        let got = stats(Counts { merchants: 0, events: 0, customers: 0 }, date(2023, 12, 2), date(2026, 12, 2), &[]);
        assert_eq!(got.by_day.len(), 1097, "2024 is a leap year");
        assert_eq!(got.by_month.len(), 37);
        assert_eq!(got.by_month.first().map(|m| m.month.as_str()), Some("2023-12"));
        assert_eq!(got.by_month.last().map(|m| m.month.as_str()), Some("2026-12"));
        assert_eq!(serde_json::to_value(&got.by_day[0]).unwrap()["day"], "2023-12-02");
    }
}
