//! `POST /v1/merchants`: create a merchant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use serde::Deserialize;

use super::AppState;
use crate::domain::check_text;
use crate::repository::{self, Merchant};

/// The body of `POST /v1/merchants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewMerchant {
    /// The merchant's unique name.
    pub name: String,
}

/// Creates a merchant: 201, or 409 when the name is taken.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewMerchant>,
) -> Result<(StatusCode, Json<Merchant>), ApiError> {
    check_text("name", &body.name, 200)?;
    let merchant = repository::create_merchant(&state.pool, &body.name).await?;
    Ok((StatusCode::CREATED, Json(merchant)))
}
