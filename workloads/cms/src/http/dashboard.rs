//! `GET /dashboard`: the chosen period (the last 30 days by default, in the venue's time zone) and
//! aggregation, the ticketing service's statistics for it, the dashboard view.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::{civil::Date, Timestamp, ToSpan};

use super::answer::{html, Answer};
use super::signed::Signed;
use super::AppState;
use crate::access::Section;
use crate::api::Service;
use crate::model::Stats;
use crate::views::dashboard::{dashboard, PeriodChoice};

/// The period asked for, completed with the defaults: to = today, from = 29 days before `to`; dates that
/// do not parse are replaced by the defaults.
pub fn choice(pairs: &[(String, String)], today: Date) -> PeriodChoice {
    let value = |name: &str| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    let to = value("to").and_then(|to| to.parse::<Date>().ok()).unwrap_or(today);
    let from = value("from").and_then(|from| from.parse::<Date>().ok()).unwrap_or_else(|| to.saturating_sub(29.days()));
    PeriodChoice { from: from.to_string(), to: to.to_string(), monthly: value("by") == Some("month") }
}

/// `GET /dashboard`.
pub async fn show(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Vec<(String, String)>>) -> Answer {
    signed.open(&state, Section::Dashboard)?;
    let today = Timestamp::now().to_zoned(state.settings.display.time_zone.clone()).date();
    let choice = choice(&pairs, today);
    let path = format!("/v1/stats?from={}&to={}", choice.from, choice.to);
    let stats: Stats = signed
        .get(&state, Service::Ticketing, &path)
        .await
        .map_err(|failure| signed.failed(&state, Section::Dashboard, &failure))?;
    Ok(html(StatusCode::OK, dashboard(signed.frame(&state, Section::Dashboard), &stats, &choice)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_defaults_to_the_last_thirty_days() {
        let today: Date = "2026-12-02".parse().unwrap();
        let pairs =
            |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let cases = [
            ("default", pairs(&[]), ("2026-11-03", "2026-12-02", false)),
            (
                "chosen",
                pairs(&[("from", "2026-01-01"), ("to", "2026-06-30"), ("by", "month")]),
                ("2026-01-01", "2026-06-30", true),
            ),
            ("bad_dates", pairs(&[("from", "yesterday"), ("to", "2026-13-01")]), ("2026-11-03", "2026-12-02", false)),
            ("only_to", pairs(&[("to", "2026-02-28")]), ("2026-01-30", "2026-02-28", false)),
        ];
        for (case, query, (from, to, monthly)) in cases {
            assert_eq!(choice(&query, today), PeriodChoice { from: from.into(), to: to.into(), monthly }, "{case}");
        }
    }
}
