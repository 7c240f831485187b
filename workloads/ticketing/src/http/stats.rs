//! `GET /v1/stats`: the dashboard's counts and its orders and revenue per day and per month.

use axum::extract::State;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::query::QueryParams;

use super::AppState;
use crate::domain::stats::{self, Stats, StatsQuery};
use crate::repository;

/// The figures of the period asked for (`from`, `to`: inclusive days in UTC).
pub async fn get(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let (from, to) = stats::period(&query, today)?;
    let counts = repository::stats_counts(&state.pool).await?;
    let totals = repository::paid_per_day(&state.pool, from, to).await?;
    Ok(Json(stats::stats(counts, from, to, &totals)))
}
