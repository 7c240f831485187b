//! `/v1/merchants`: create, list (paged, searched by name), read and rename merchants.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::paging::{Listing, NoFilters, Page};
use serde::Deserialize;

use super::{id, AppState};
use crate::domain::check_text;
use crate::repository::{self, Merchant};

/// The body of `POST /v1/merchants` and `PUT /v1/merchants/{id}`.
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

/// A page of merchants with their event counts.
pub async fn list(
    State(state): State<AppState>,
    Listing(page, NoFilters {}): Listing<NoFilters>,
) -> Result<Json<Page<Merchant>>, ApiError> {
    let (items, total) = repository::list_merchants(&state.pool, &page).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// A merchant with its event count.
pub async fn get(State(state): State<AppState>, Path(merchant_id): Path<String>) -> Result<Json<Merchant>, ApiError> {
    Ok(Json(repository::get_merchant(&state.pool, id("merchantId", &merchant_id)?).await?))
}

/// Renames a merchant: 409 when the name is taken.
pub async fn update(
    State(state): State<AppState>,
    Path(merchant_id): Path<String>,
    JsonBody(body): JsonBody<NewMerchant>,
) -> Result<Json<Merchant>, ApiError> {
    let merchant_id = id("merchantId", &merchant_id)?;
    check_text("name", &body.name, 200)?;
    Ok(Json(repository::rename_merchant(&state.pool, merchant_id, &body.name).await?))
}
