//! How handlers answer: an HTML page with a status, a redirect after a successful form (303, so a reload
//! does not post again), and [`PageError`] — the page shown instead when the session is gone (back to the
//! login), the person may not open something (a friendly 403), a form's CSRF token is wrong, or a service
//! failed.

use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::Markup;

use crate::views::layout;

/// An HTML page (never cached: it shows a person's data).
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 303 to `path`.
pub fn redirect(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A response with a `Set-Cookie` added.
pub fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// What a handler answers instead of its page.
#[derive(Debug)]
pub enum PageError {
    /// No (valid) session: to the login page, clearing the cookie when there was one.
    LoginRequired {
        /// The `Set-Cookie` that clears the stale cookie.
        clear: Option<String>,
    },
    /// A page to show with this status (403, 404, 502, ...).
    Page(StatusCode, Markup),
}

impl PageError {
    /// A page outside the shell.
    pub fn bare(status: StatusCode, title: &str, message: &str) -> PageError {
        PageError::Page(status, layout::bare(title, message))
    }

    /// The form's CSRF token is missing or wrong.
    pub fn csrf() -> PageError {
        PageError::bare(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this session (or it is too old). Go back, reload the page and try again.",
        )
    }

    /// The sessions database or the auth service cannot be reached.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> PageError {
        tracing::warn!(error = %cause, "a page could not be served");
        PageError::bare(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The back office cannot reach a service it needs. Try again in a moment.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::LoginRequired { clear } => {
                let response = redirect("/login");
                match clear {
                    Some(cookie) => with_cookie(response, &cookie),
                    None => response,
                }
            }
            PageError::Page(status, markup) => html(status, markup),
        }
    }
}

impl From<microfleet_common::database::DbError> for PageError {
    fn from(error: microfleet_common::database::DbError) -> PageError {
        PageError::unavailable(&error)
    }
}

/// What handlers return.
pub type Answer = Result<Response, PageError>;
