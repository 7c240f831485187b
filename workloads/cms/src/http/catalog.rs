//! Merchants, events (with areas and approval) and payment methods: list, create, edit, approve — each
//! change a call to the ticketing service with the person's token; a refusal shows the form again with the
//! error at its field.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::Form;
use serde_json::json;

use super::answer::{html, redirect, Answer};
use super::signed::{form_status, Signed};
use super::AppState;
use crate::access::{Action, Section};
use crate::api::{segment, ApiFailure, Service};
use crate::forms::{event_body, map_area_field, FormValues};
use crate::listing::Listing;
use crate::model::{Event, Merchant, Page, PaymentMethod};
use crate::views::events as view;
use crate::views::setup;

type Pairs = Vec<(String, String)>;

async fn merchants_page(
    state: &AppState,
    signed: &Signed,
    listing: &Listing,
    values: &FormValues,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let path = format!("/v1/merchants{}", listing.api_query());
    let list: Page<Merchant> = signed
        .get(state, Service::Ticketing, &path)
        .await
        .map_err(|failure| signed.failed(state, Section::Merchants, &failure))?;
    Ok(html(status, view::merchants(signed.frame(state, Section::Merchants), listing, &list, values, failure)))
}

/// `GET /merchants`.
pub async fn merchants(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Merchants)?;
    merchants_page(&state, &signed, &Listing::from_query(&pairs, &[]), &FormValues::default(), None, StatusCode::OK)
        .await
}

/// `POST /merchants`.
pub async fn create_merchant(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Pairs>) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Merchants, Action::EditCatalog)?;
    let body = json!({"name": values.get("name").trim()});
    match signed.call(&state, Service::Ticketing, Method::POST, "/v1/merchants", Some(&body)).await {
        Ok(_) => Ok(redirect("/merchants")),
        Err(failure) => {
            merchants_page(
                &state,
                &signed,
                &Listing::from_query(&[], &[]),
                &values,
                Some(&failure),
                form_status(&failure),
            )
            .await
        }
    }
}

/// `GET /merchants/{id}/edit`.
pub async fn edit_merchant(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Answer {
    signed.allow(&state, Section::Merchants, Action::EditCatalog)?;
    let merchant: Merchant = signed
        .get(&state, Service::Ticketing, &format!("/v1/merchants/{id}"))
        .await
        .map_err(|failure| signed.failed(&state, Section::Merchants, &failure))?;
    let values = FormValues::default().with("name", merchant.name);
    Ok(html(StatusCode::OK, view::merchant_edit(signed.frame(&state, Section::Merchants), id, &values, None)))
}

/// `POST /merchants/{id}`.
pub async fn update_merchant(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Merchants, Action::EditCatalog)?;
    let body = json!({"name": values.get("name").trim()});
    match signed.call(&state, Service::Ticketing, Method::PUT, &format!("/v1/merchants/{id}"), Some(&body)).await {
        Ok(_) => Ok(redirect("/merchants")),
        Err(failure) => Ok(html(
            form_status(&failure),
            view::merchant_edit(signed.frame(&state, Section::Merchants), id, &values, Some(&failure)),
        )),
    }
}

/// `GET /events`.
pub async fn events(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Events)?;
    let listing = Listing::from_query(&pairs, &["approval", "merchantId"]);
    let list: Page<Event> = signed
        .get(&state, Service::Ticketing, &format!("/v1/events{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(&state, Section::Events, &failure))?;
    Ok(html(StatusCode::OK, view::events(signed.frame(&state, Section::Events), &listing, &list)))
}

async fn event_of(state: &AppState, signed: &Signed, id: i64) -> Result<Event, super::answer::PageError> {
    signed
        .get(state, Service::Ticketing, &format!("/v1/events/{id}"))
        .await
        .map_err(|failure| signed.failed(state, Section::Events, &failure))
}

async fn event_page(
    state: &AppState,
    signed: &Signed,
    id: i64,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let event = event_of(state, signed, id).await?;
    let merchant: Option<Merchant> =
        signed.get(state, Service::Ticketing, &format!("/v1/merchants/{}", event.merchant_id)).await.ok();
    Ok(html(status, view::event(signed.frame(state, Section::Events), &event, merchant.as_ref(), failure)))
}

/// `GET /events/{id}`.
pub async fn event(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Answer {
    signed.open(&state, Section::Events)?;
    event_page(&state, &signed, id, None, StatusCode::OK).await
}

async fn merchant_choices(state: &AppState, signed: &Signed) -> Result<Vec<Merchant>, super::answer::PageError> {
    let page: Page<Merchant> = signed
        .get(state, Service::Ticketing, "/v1/merchants?page=1&perPage=100")
        .await
        .map_err(|failure| signed.failed(state, Section::Events, &failure))?;
    Ok(page.items)
}

/// `GET /events/new`.
pub async fn new_event(State(state): State<AppState>, signed: Signed) -> Answer {
    signed.allow(&state, Section::Events, Action::EditCatalog)?;
    let merchants = merchant_choices(&state, &signed).await?;
    Ok(html(
        StatusCode::OK,
        view::event_form(signed.frame(&state, Section::Events), None, &merchants, &FormValues::default(), None),
    ))
}

/// `POST /events`.
pub async fn create_event(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Pairs>) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Events, Action::EditCatalog)?;
    let outcome = match event_body(&values, &state.settings.display, true) {
        Ok((body, rows)) => signed
            .call(&state, Service::Ticketing, Method::POST, "/v1/events", Some(&body))
            .await
            .map_err(|failure| map_area_field(failure, &rows)),
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(created) => Ok(redirect(&format!("/events/{}", created["id"].as_i64().unwrap_or_default()))),
        Err(failure) => {
            let merchants = merchant_choices(&state, &signed).await?;
            Ok(html(
                form_status(&failure),
                view::event_form(signed.frame(&state, Section::Events), None, &merchants, &values, Some(&failure)),
            ))
        }
    }
}

/// `GET /events/{id}/edit`.
pub async fn edit_event(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Answer {
    signed.allow(&state, Section::Events, Action::EditCatalog)?;
    let event = event_of(&state, &signed, id).await?;
    let values = view::event_values(&event, &state.settings.display);
    Ok(html(StatusCode::OK, view::event_form(signed.frame(&state, Section::Events), Some(id), &[], &values, None)))
}

/// `POST /events/{id}`.
pub async fn update_event(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Events, Action::EditCatalog)?;
    let outcome = match event_body(&values, &state.settings.display, false) {
        Ok((body, rows)) => signed
            .call(&state, Service::Ticketing, Method::PUT, &format!("/v1/events/{id}"), Some(&body))
            .await
            .map_err(|failure| map_area_field(failure, &rows)),
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(_) => Ok(redirect(&format!("/events/{id}"))),
        Err(failure) => Ok(html(
            form_status(&failure),
            view::event_form(signed.frame(&state, Section::Events), Some(id), &[], &values, Some(&failure)),
        )),
    }
}

/// `POST /events/{id}/approve`.
pub async fn approve_event(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    signed.csrf(&FormValues(pairs))?;
    signed.allow(&state, Section::Events, Action::ApproveEvents)?;
    match signed
        .call(&state, Service::Ticketing, Method::POST, &format!("/v1/events/{id}/approve"), Some(&json!({})))
        .await
    {
        Ok(_) => Ok(redirect(&format!("/events/{id}"))),
        Err(failure) => event_page(&state, &signed, id, Some(&failure), form_status(&failure)).await,
    }
}

async fn methods_page(
    state: &AppState,
    signed: &Signed,
    values: &FormValues,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let methods: Vec<PaymentMethod> = signed
        .get(state, Service::Ticketing, "/v1/payment-methods")
        .await
        .map_err(|failure| signed.failed(state, Section::PaymentMethods, &failure))?;
    Ok(html(status, setup::payment_methods(signed.frame(state, Section::PaymentMethods), &methods, values, failure)))
}

/// `GET /payment-methods`.
pub async fn payment_methods(State(state): State<AppState>, signed: Signed) -> Answer {
    signed.open(&state, Section::PaymentMethods)?;
    methods_page(&state, &signed, &FormValues::default(), None, StatusCode::OK).await
}

/// `POST /payment-methods`.
pub async fn create_payment_method(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Pairs>) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::PaymentMethods, Action::EditCatalog)?;
    let body = json!({"code": values.get("code").trim(), "name": values.get("name").trim()});
    match signed.call(&state, Service::Ticketing, Method::POST, "/v1/payment-methods", Some(&body)).await {
        Ok(_) => Ok(redirect("/payment-methods")),
        Err(failure) => methods_page(&state, &signed, &values, Some(&failure), form_status(&failure)).await,
    }
}

/// `POST /payment-methods/{code}`: rename, enable or disable.
pub async fn update_payment_method(
    State(state): State<AppState>,
    signed: Signed,
    Path(code): Path<String>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::PaymentMethods, Action::EditCatalog)?;
    let body = json!({"name": values.get("name").trim(), "enabled": values.checked("enabled")});
    match signed
        .call(&state, Service::Ticketing, Method::PUT, &format!("/v1/payment-methods/{}", segment(&code)), Some(&body))
        .await
    {
        Ok(_) => Ok(redirect("/payment-methods")),
        Err(failure) => {
            methods_page(&state, &signed, &FormValues::default(), Some(&failure), form_status(&failure)).await
        }
    }
}
