//! `POST /v1/scans` (gate key): a gate device's scan. The code is verified first, with no database read (a
//! forged, altered, not-yet-valid or expired code is denied there); a valid one is then decided against
//! the access list. A re-sent scan (same device and nonce) gets the same answer. The code is never logged.

use std::time::Instant;

use axum::extract::State;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;

use super::AppState;
use crate::domain::scan::{self, ScanAnswer, ScanRequest};
use crate::repository::{RepositoryError, Scanned};

/// Answers a scan: 200 with allow or deny and the reason.
pub async fn scan(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ScanRequest>,
) -> Result<Json<ScanAnswer>, ApiError> {
    let started = Instant::now();
    let now = Timestamp::now();
    scan::validate(&body, now)?;
    let scanned = answer(&state, &body, now).await?;
    state.metrics.observe(&scanned.answer, scanned.replayed, started.elapsed());
    tracing::debug!(
        gate_id = body.gate_id,
        device_id = %body.device_id,
        reason = scanned.answer.reason.as_str(),
        replayed = scanned.replayed,
        "scan answered"
    );
    Ok(Json(scanned.answer))
}

/// The answer to a validated scan: verified first (a code that fails is answered without touching the
/// database), then decided and recorded against the access list, in the batch it lands in.
pub async fn answer(state: &AppState, request: &ScanRequest, now: Timestamp) -> Result<Scanned, RepositoryError> {
    match scan::check_offline(state.keys.verify(&request.qr), request.scanned_at) {
        Err((reason, claims)) => {
            Ok(Scanned { answer: ScanAnswer::new(request, claims.as_ref(), reason), replayed: false })
        }
        Ok(claims) => state.scans.record(request, &claims, now).await,
    }
}
