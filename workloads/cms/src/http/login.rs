//! Signing in and out: the login form (its CSRF token in a cookie of its own, as there is no session yet),
//! the login through the auth service (its refusal shown next to the field it names), the new session (a
//! random id in an HttpOnly, SameSite=Strict cookie; the tokens stay in the database), the home page that
//! opens the first section the person may see, and logout (the refresh tokens revoked, the session deleted).

use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Form;
use jiff::{SignedDuration, Timestamp};

use super::answer::{html, redirect, with_cookie, Answer, PageError};
use super::signed::{clear_session_cookie, Signed};
use super::AppState;
use crate::forms::FormValues;
use crate::repository::{self, Session};
use crate::session::{cookie, csrf_matches, digest, new_secret, set_cookie, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use crate::views::layout;

/// The browser's address as the CMS saw it ("unknown" outside a real server, as in tests).
pub struct PeerAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerAddress, Self::Rejection> {
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
        Ok(PeerAddress(address.unwrap_or_else(|| "unknown".to_string())))
    }
}

fn secret() -> Result<String, PageError> {
    new_secret().map_err(|error| PageError::unavailable(&error))
}

/// The login page with a fresh form token (and its cookie), `status`, the name typed and the error.
fn login_page(state: &AppState, status: StatusCode, username: &str, error: Option<(&str, &str)>) -> Answer {
    let csrf = secret()?;
    let response = html(status, layout::login(&csrf, username, error));
    Ok(with_cookie(
        response,
        &set_cookie(LOGIN_CSRF_COOKIE, &csrf, SignedDuration::from_hours(1), state.settings.cookie_secure),
    ))
}

/// `GET /login`.
pub async fn form(State(state): State<AppState>) -> Answer {
    login_page(&state, StatusCode::OK, "", None)
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    PeerAddress(address): PeerAddress,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Answer {
    let values = FormValues(pairs);
    if !csrf_matches(cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default(), Some(values.get("csrf"))) {
        tracing::warn!("login refused: CSRF token missing or wrong");
        return Err(PageError::csrf());
    }
    let username = values.get("username").trim();
    let pair = match state.backends.login(username, values.get("password"), &address).await {
        Ok(pair) => pair,
        Err(failure) => {
            let status =
                failure.status.and_then(|status| StatusCode::from_u16(status).ok()).unwrap_or(StatusCode::BAD_GATEWAY);
            let field = failure.field.as_deref().unwrap_or("");
            return login_page(&state, status, username, Some((field, &failure.message)));
        }
    };
    let principal =
        state.verifier.verify_token(&pair.access_token).await.map_err(|error| PageError::unavailable(&error))?;
    let now = Timestamp::now();
    let lifetime = state.settings.session_ttl.min(SignedDuration::from_secs(pair.refresh_expires_in));
    let id = secret()?;
    let session = Session {
        id_digest: digest(&id),
        user_id: principal.subject.clone(),
        username: username.to_string(),
        csrf_token: secret()?,
        access_token: pair.access_token,
        access_expires_at: now + SignedDuration::from_secs(pair.expires_in),
        refresh_token: pair.refresh_token,
        expires_at: now + lifetime,
    };
    repository::create(&state.pool, &session, now).await?;
    if let Err(error) = repository::purge_ended(&state.pool, now).await {
        tracing::warn!(%error, "purging ended sessions failed");
    }
    tracing::info!(user = principal.subject, "signed in");
    let secure = state.settings.cookie_secure;
    let response = with_cookie(redirect("/"), &set_cookie(SESSION_COOKIE, &id, lifetime, secure));
    Ok(with_cookie(response, &set_cookie(LOGIN_CSRF_COOKIE, "", SignedDuration::ZERO, secure)))
}

/// `GET /`: the first section the person may open (a friendly 403 when none).
pub async fn home(signed: Signed) -> Answer {
    match signed.viewer.menu().first() {
        Some(section) => Ok(redirect(section.path())),
        None => Err(PageError::bare(
            StatusCode::FORBIDDEN,
            "Nothing to show yet",
            "Your account has no role that opens a page of the back office. Ask an administrator to set up your roles.",
        )),
    }
}

/// `POST /logout`: revokes the login's refresh tokens at the auth service and deletes the session.
pub async fn logout(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Vec<(String, String)>>) -> Answer {
    signed.csrf(&FormValues(pairs))?;
    if let Err(failure) = state.backends.logout(&signed.session.refresh_token).await {
        tracing::warn!(error = %failure, "revoking the refresh token at logout failed");
    }
    repository::end(&state.pool, &signed.session.id_digest).await?;
    tracing::info!(user = signed.session.user_id, "signed out");
    Ok(with_cookie(redirect("/login"), &clear_session_cookie(state.settings.cookie_secure)))
}
