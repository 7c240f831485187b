//! `/v1/payment-methods`: list them (not paged: there are few), add one, rename, enable or disable one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;

use super::AppState;
use crate::domain::payment::{self, NewPaymentMethod, PaymentMethod, PaymentMethodEdit};
use crate::repository;

/// Every payment method, by code.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<PaymentMethod>>, ApiError> {
    Ok(Json(repository::list_payment_methods(&state.pool).await?))
}

/// Adds an enabled payment method: 201, or 409 when the code is taken.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewPaymentMethod>,
) -> Result<(StatusCode, Json<PaymentMethod>), ApiError> {
    payment::validate_new_method(&body)?;
    Ok((StatusCode::CREATED, Json(repository::create_payment_method(&state.pool, &body).await?)))
}

/// Renames, enables or disables a payment method.
pub async fn update(
    State(state): State<AppState>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<PaymentMethodEdit>,
) -> Result<Json<PaymentMethod>, ApiError> {
    payment::validate_method_edit(&body)?;
    Ok(Json(repository::edit_payment_method(&state.pool, &code, &body).await?))
}
