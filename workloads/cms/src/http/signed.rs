//! The signed-in person of a request: the session cookie → the session row → its access token, refreshed
//! first when it is about to expire (under the row's lock, so two pages at once never both use the one-time
//! refresh token) → verified against the auth service's JWKS → the [`Viewer`] with their scopes. Without a
//! valid session the request goes to the login page. Also here: the scope checks that answer the friendly
//! 403, the CSRF check of every form, and the service calls made with the person's token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use microfleet_common::auth_client::AuthError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::answer::PageError;
use super::AppState;
use crate::access::{Action, Section, Viewer};
use crate::api::{ApiFailure, Service};
use crate::forms::FormValues;
use crate::repository::{self, Session};
use crate::session::{cookie, csrf_matches, digest, needs_refresh, set_cookie, SESSION_COOKIE};
use crate::views::{layout, Frame};

/// The signed-in person and their session.
pub struct Signed {
    /// Who they are and what they may do.
    pub viewer: Viewer,
    /// Their session (CSRF token, access token).
    pub session: Session,
}

/// The `Set-Cookie` that clears the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    set_cookie(SESSION_COOKIE, "", SignedDuration::ZERO, secure)
}

/// The session, its access token refreshed at the auth service when it expires within the margin; `None`
/// when the session is gone or the auth service refused the refresh (the session is then deleted).
async fn refreshed(state: &AppState, id_digest: &str, now: Timestamp) -> Result<Option<Session>, PageError> {
    let mut client = state.pool.get().await.map_err(microfleet_common::database::DbError::from)?;
    let tx = client.transaction().await.map_err(microfleet_common::database::DbError::from)?;
    let Some(current) = repository::lock(&tx, id_digest).await? else {
        return Ok(None);
    };
    if !needs_refresh(current.access_expires_at, now, state.settings.refresh_margin) {
        tx.commit().await.map_err(microfleet_common::database::DbError::from)?;
        return Ok(Some(current));
    }
    match state.backends.refresh(&current.refresh_token).await {
        Ok(pair) => {
            let expires = now + SignedDuration::from_secs(pair.expires_in);
            repository::store_tokens(&tx, id_digest, &pair.access_token, expires, &pair.refresh_token).await?;
            tx.commit().await.map_err(microfleet_common::database::DbError::from)?;
            tracing::debug!(user = current.user_id, "access token refreshed");
            Ok(Some(Session {
                access_token: pair.access_token,
                access_expires_at: expires,
                refresh_token: pair.refresh_token,
                ..current
            }))
        }
        Err(failure) if failure.status.is_some_and(|status| (400..500).contains(&status)) => {
            repository::delete(&tx, id_digest).await?;
            tx.commit().await.map_err(microfleet_common::database::DbError::from)?;
            tracing::info!(user = current.user_id, reason = failure.message, "session ended: the refresh was refused");
            Ok(None)
        }
        Err(failure) => Err(PageError::unavailable(&failure)),
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Signed, PageError> {
        let secure = state.settings.cookie_secure;
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(PageError::LoginRequired { clear: None });
        };
        let gone = || PageError::LoginRequired { clear: Some(clear_session_cookie(secure)) };
        let id_digest = digest(id);
        let now = Timestamp::now();
        let Some(mut session) = repository::find(&state.pool, &id_digest, now).await? else {
            return Err(gone());
        };
        if needs_refresh(session.access_expires_at, now, state.settings.refresh_margin) {
            session = refreshed(state, &id_digest, now).await?.ok_or_else(gone)?;
        }
        match state.verifier.verify_token(&session.access_token).await {
            Ok(principal) => Ok(Signed { viewer: Viewer { username: session.username.clone(), principal }, session }),
            Err(AuthError::Unavailable(cause)) => Err(PageError::unavailable(&cause)),
            Err(refusal) => {
                tracing::info!(user = session.user_id, %refusal, "session ended: its access token was refused");
                repository::end(&state.pool, &id_digest).await?;
                Err(gone())
            }
        }
    }
}

impl Signed {
    /// The page frame with `active` highlighted.
    pub fn frame<'a>(&'a self, state: &'a AppState, active: Section) -> Frame<'a> {
        Frame { viewer: &self.viewer, csrf: &self.session.csrf_token, active, display: &state.settings.display }
    }

    fn forbidden(&self, state: &AppState, section: Section, what: &str, scope: &str) -> PageError {
        tracing::info!(user = self.session.user_id, scope, "page refused: scope missing");
        PageError::Page(StatusCode::FORBIDDEN, layout::forbidden(self.frame(state, section), what, scope))
    }

    /// 403 unless they may open `section`.
    pub fn open(&self, state: &AppState, section: Section) -> Result<(), PageError> {
        if self.viewer.may_open(section) {
            Ok(())
        } else {
            Err(self.forbidden(
                state,
                section,
                &format!("the {} page", section.title().to_lowercase()),
                section.scope(),
            ))
        }
    }

    /// 403 unless they may do `action` (shown within `section`).
    pub fn allow(&self, state: &AppState, section: Section, action: Action) -> Result<(), PageError> {
        if self.viewer.may(action) {
            Ok(())
        } else {
            Err(self.forbidden(state, section, "this action", action.scope()))
        }
    }

    /// 403 unless the form carries this session's CSRF token.
    pub fn csrf(&self, values: &FormValues) -> Result<(), PageError> {
        if csrf_matches(&self.session.csrf_token, Some(values.get("csrf"))) {
            Ok(())
        } else {
            tracing::warn!(user = self.session.user_id, "form refused: CSRF token missing or wrong");
            Err(PageError::csrf())
        }
    }

    /// A call to `service` with the person's token.
    pub async fn call(
        &self,
        state: &AppState,
        service: Service,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiFailure> {
        state.backends.call(service, method, path, &self.session.access_token, body).await
    }

    /// A `GET` read as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        state: &AppState,
        service: Service,
        path: &str,
    ) -> Result<T, ApiFailure> {
        state.backends.get(service, path, &self.session.access_token).await
    }

    /// The page for a failed read in `section`: back to the login when the token was refused, the friendly
    /// 403 when the service says the scope is missing, else an error page with the service's message.
    pub fn failed(&self, state: &AppState, section: Section, failure: &ApiFailure) -> PageError {
        match failure.status {
            Some(401) => PageError::LoginRequired { clear: Some(clear_session_cookie(state.settings.cookie_secure)) },
            Some(403) => self.forbidden(state, section, "this", &failure.message),
            Some(404) => PageError::Page(
                StatusCode::NOT_FOUND,
                layout::error(self.frame(state, section), "Not found", &failure.message),
            ),
            _ => PageError::Page(
                StatusCode::BAD_GATEWAY,
                layout::error(self.frame(state, section), "Something went wrong", &failure.message),
            ),
        }
    }
}

/// The status a form shown again with a service's refusal answers with (its 4xx, else 502).
pub fn form_status(failure: &ApiFailure) -> StatusCode {
    failure
        .status
        .and_then(|status| StatusCode::from_u16(status).ok())
        .filter(StatusCode::is_client_error)
        .unwrap_or(StatusCode::BAD_GATEWAY)
}
