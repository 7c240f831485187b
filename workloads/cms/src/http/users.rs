//! Users and staff, through the auth service with the person's token: the users list, the new-user form,
//! confirming and unlocking, setting roles, and the staff list (users with a column per role).

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::Form;
use serde_json::json;

use super::answer::{html, redirect, Answer};
use super::signed::{form_status, Signed};
use super::AppState;
use crate::access::{Action, Section};
use crate::api::{ApiFailure, Service};
use crate::forms::{user_body, FormValues};
use crate::listing::Listing;
use crate::model::{Page, User};
use crate::views::users as view;

type Pairs = Vec<(String, String)>;

async fn users_page(
    state: &AppState,
    signed: &Signed,
    listing: &Listing,
    failure: Option<&ApiFailure>,
    status: StatusCode,
) -> Answer {
    let list: Page<User> = signed
        .get(state, Service::Auth, &format!("/v1/users{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(state, Section::Users, &failure))?;
    Ok(html(status, view::users(signed.frame(state, Section::Users), listing, &list, failure)))
}

/// `GET /users`.
pub async fn users(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Users)?;
    users_page(&state, &signed, &Listing::from_query(&pairs, &["role"]), None, StatusCode::OK).await
}

/// `GET /users/new`.
pub async fn new_user(State(state): State<AppState>, signed: Signed) -> Answer {
    signed.allow(&state, Section::Users, Action::ManageUsers)?;
    Ok(html(
        StatusCode::OK,
        view::user_form(signed.frame(&state, Section::Users), &FormValues::default().with("confirmed", "on"), None),
    ))
}

/// `POST /users`.
pub async fn create(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Pairs>) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Users, Action::ManageUsers)?;
    match signed.call(&state, Service::Auth, Method::POST, "/v1/users", Some(&user_body(&values))).await {
        Ok(_) => Ok(redirect("/users")),
        Err(failure) => Ok(html(
            form_status(&failure),
            view::user_form(signed.frame(&state, Section::Users), &values, Some(&failure)),
        )),
    }
}

async fn user_action(state: &AppState, signed: &Signed, pairs: Pairs, path: String) -> Answer {
    signed.csrf(&FormValues(pairs))?;
    signed.allow(state, Section::Users, Action::ManageUsers)?;
    match signed.call(state, Service::Auth, Method::POST, &path, Some(&json!({}))).await {
        Ok(_) => Ok(redirect("/users")),
        Err(failure) => {
            users_page(state, signed, &Listing::from_query(&[], &[]), Some(&failure), form_status(&failure)).await
        }
    }
}

/// `POST /users/{id}/confirm`.
pub async fn confirm(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    user_action(&state, &signed, pairs, format!("/v1/users/{id}/confirm")).await
}

/// `POST /users/{id}/unlock`.
pub async fn unlock(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    user_action(&state, &signed, pairs, format!("/v1/users/{id}/unlock")).await
}

/// `GET /users/{id}/roles`.
pub async fn roles(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Answer {
    signed.allow(&state, Section::Users, Action::ManageUsers)?;
    let user: User = signed
        .get(&state, Service::Auth, &format!("/v1/users/{id}"))
        .await
        .map_err(|failure| signed.failed(&state, Section::Users, &failure))?;
    let values = FormValues(user.roles.iter().map(|role| ("roles".to_string(), role.clone())).collect());
    Ok(html(StatusCode::OK, view::roles_form(signed.frame(&state, Section::Users), &user, &values, None)))
}

/// `POST /users/{id}/roles`.
pub async fn set_roles(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> Answer {
    let values = FormValues(pairs);
    signed.csrf(&values)?;
    signed.allow(&state, Section::Users, Action::ManageUsers)?;
    let body = json!({"roles": values.all("roles")});
    match signed.call(&state, Service::Auth, Method::PUT, &format!("/v1/users/{id}/roles"), Some(&body)).await {
        Ok(_) => Ok(redirect("/users")),
        Err(failure) => {
            let user: User = signed
                .get(&state, Service::Auth, &format!("/v1/users/{id}"))
                .await
                .map_err(|failure| signed.failed(&state, Section::Users, &failure))?;
            Ok(html(
                form_status(&failure),
                view::roles_form(signed.frame(&state, Section::Users), &user, &values, Some(&failure)),
            ))
        }
    }
}

/// `GET /staff`.
pub async fn staff(State(state): State<AppState>, signed: Signed, Query(pairs): Query<Pairs>) -> Answer {
    signed.open(&state, Section::Staff)?;
    let listing = Listing::from_query(&pairs, &["role"]);
    let list: Page<User> = signed
        .get(&state, Service::Auth, &format!("/v1/users{}", listing.api_query()))
        .await
        .map_err(|failure| signed.failed(&state, Section::Staff, &failure))?;
    Ok(html(StatusCode::OK, view::staff(signed.frame(&state, Section::Staff), &listing, &list)))
}
