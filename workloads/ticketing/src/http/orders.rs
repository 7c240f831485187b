//! `/v1/orders`: place an order (holding seats), list orders, read one, confirm its payment, refund it; the
//! refunds list; and the admin call that expires unpaid orders now (the background sweeper does the same on
//! a timer).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use microfleet_common::api_error::ApiError;
use microfleet_common::json_body::JsonBody;
use microfleet_common::paging::{Listing, Page};
use serde::Serialize;

use super::AppState;
use crate::domain::order::{
    self, NewOrder, Order, OrderFilters, OrderSummary, PaymentConfirmation, RefundFilters, RefundRequest, RefundSummary,
};
use crate::repository;

/// Most orders one expiry call expires (the sweeper repeats).
pub const EXPIRY_BATCH: i64 = 1000;

/// Places an order: 201 with the pending order, 409 when an area has too few seats left; 200 with the order
/// placed before when the request is sent again with the same `clientReference`.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let wanted = order::validate_new_order(&body)?;
    let (placed, created) =
        repository::create_order(&state.pool, &body, &wanted, Timestamp::now(), state.order_hold).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(placed)))
}

/// A page of orders (no items or tickets: `GET /v1/orders/{number}` has them).
pub async fn list(
    State(state): State<AppState>,
    Listing(page, filters): Listing<OrderFilters>,
) -> Result<Json<Page<OrderSummary>>, ApiError> {
    let (items, total) = repository::list_orders(&state.pool, &page, &filters).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// A page of refunds.
pub async fn refunds(
    State(state): State<AppState>,
    Listing(page, filters): Listing<RefundFilters>,
) -> Result<Json<Page<RefundSummary>>, ApiError> {
    let (items, total) = repository::list_refunds(&state.pool, &page, &filters).await?;
    Ok(Json(Page::new(items, total, &page)))
}

/// Reads an order by number.
pub async fn get(State(state): State<AppState>, Path(number): Path<String>) -> Result<Json<Order>, ApiError> {
    Ok(Json(repository::get_order(&state.pool, &number).await?))
}

/// Confirms the payment of a pending order: tickets are issued.
pub async fn confirm_payment(
    State(state): State<AppState>,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<PaymentConfirmation>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(repository::confirm_payment(&state.pool, &number, body.amount, Timestamp::now()).await?))
}

/// Requests the refund of a paid order.
pub async fn refund(
    State(state): State<AppState>,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<RefundRequest>,
) -> Result<Json<Order>, ApiError> {
    Ok(Json(repository::refund_order(&state.pool, &number, body.amount, Timestamp::now()).await?))
}

/// The answer of `POST /v1/admin/expire-orders`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expired {
    /// The numbers of the orders expired by this call.
    pub expired: Vec<String>,
}

/// Expires the unpaid orders whose hold has ended, releasing their seats.
pub async fn expire(State(state): State<AppState>) -> Result<Json<Expired>, ApiError> {
    let expired = repository::expire_orders(&state.pool, Timestamp::now(), EXPIRY_BATCH).await?;
    Ok(Json(Expired { expired }))
}
