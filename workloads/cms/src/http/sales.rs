//! Orders and refunds: the orders list and an order's detail (with its event for the area names), the
//! refund's confirmation page and the refund itself (only after that confirmation, with the amount shown
//! there), and the refunds list.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::Form;

use super::answer::{html, redirect, Answer, PageError};
use super::signed::{form_status, Signed};
use super::AppState;
use crate::access::{Action, Section};
use crate::api::{segment, ApiFailure, Service};
use crate::forms::{refund_body, FormValues};
use crate::listing::Listing;
use crate::model::{Event, Order, OrderRow, Page, RefundRow};
use crate::views::orders as view;

type Pairs = Vec<(String, String)>;

/// `GET /orders`.
pub async fn orders(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Orders)?;
    let listing = Listing::from_query(&pairs, &["state", "eventId"]);
    let list: Page<OrderRow> = signed
        .get(&state, Service::Ticketing, &format!("/v1/orders{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(&state, Section::Orders, &failure))?;
    Ok(html(StatusCode::OK, view::orders(signed.frame(&state, Section::Orders), &listing, &list)))
}

async fn order_of(state: &AppState, signed: &Signed, number: &str) -> Result<Order, PageError> {
    signed
        .get(state, Service::Ticketing, &format!("/v1/orders/{}", segment(number)))
        .await
        .map_err(|failure| signed.failed(state, Section::Orders, &failure))
}

async fn order_page(
    state: &AppState,
    signed: &Signed,
    number: &str,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let order = order_of(state, signed, number).await?;
    let event: Option<Event> =
        signed.get(state, Service::Ticketing, &format!("/v1/events/{}", order.event_id)).await.ok();
    Ok(html(status, view::order(signed.frame(state, Section::Orders), &order, event.as_ref(), failure)))
}

/// `GET /orders/{number}`.
pub async fn order(State(state): State<AppState>, signed: Signed, Path(number): Path<String>) -> Answer {
    signed.open(&state, Section::Orders)?;
    order_page(&state, &signed, &number, None, StatusCode::OK).await
}

/// `GET /orders/{number}/refund`: the confirmation step.
pub async fn confirm_refund(State(state): State<AppState>, signed: Signed, Path(number): Path<String>) -> Answer {
    signed.allow(&state, Section::Refunds, Action::Refund)?;
    let order = order_of(&state, &signed, &number).await?;
    if !view::refundable(&order) {
        return Ok(redirect(&format!("/orders/{}", segment(&number))));
    }
    Ok(html(StatusCode::OK, view::refund_confirm(signed.frame(&state, Section::Orders), &order, None)))
}

/// `POST /orders/{number}/refund`: the refund, after the confirmation.
pub async fn refund(
    State(state): State<AppState>,
    signed: Signed,
    Path(number): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Refunds, Action::Refund)?;
    let outcome = match refund_body(&values) {
        Ok(body) => {
            signed
                .call(
                    &state,
                    Service::Ticketing,
                    Method::POST,
                    &format!("/v1/orders/{}/refund", segment(&number)),
                    Some(&body),
                )
                .await
        }
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(_) => {
            tracing::info!(user = signed.session.user_id, order = number, "refund requested");
            Ok(redirect(&format!("/orders/{}", segment(&number))))
        }
        Err(failure) => order_page(&state, &signed, &number, Some(&failure), form_status(&failure)).await,
    }
}

/// `GET /refunds`.
pub async fn refunds(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Refunds)?;
    let listing = Listing::from_query(&pairs, &["state"]);
    let list: Page<RefundRow> = signed
        .get(&state, Service::Ticketing, &format!("/v1/refunds{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(&state, Section::Refunds, &failure))?;
    Ok(html(StatusCode::OK, view::refunds(signed.frame(&state, Section::Refunds), &listing, &list)))
}
