//! A service's refusals: [`DomainError`] (a rule said no, naming the request field at fault), the
//! [`RepositoryError`] of a repository call (a refusal or the database), and their HTTP answers (400, 404,
//! 409, 503 or 500). The rules themselves live in each service's `domain`; nothing here decides anything.

use crate::api_error::ApiError;
use crate::database::DbError;

/// What kind of refusal a [`DomainError`] is (answered as 400, 404 or 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A field's value is invalid whatever the state.
    Invalid,
    /// What a field names does not exist.
    NotFound,
    /// Valid, but the current state forbids it (sold out, already paid, sale closed).
    Conflict,
}

/// A refused request: the field at fault, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DomainError {
    /// The kind of refusal.
    pub kind: ErrorKind,
    /// The request field at fault (`items[0].quantity`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to succeed, when known.
    pub fix: Option<String>,
}

impl DomainError {
    /// An invalid field value.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError { kind: ErrorKind::Invalid, field: field.into(), message: message.into(), fix: None }
    }

    /// A field naming something that does not exist.
    pub fn not_found(field: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError { kind: ErrorKind::NotFound, field: field.into(), message: message.into(), fix: None }
    }

    /// A request the current state forbids.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError { kind: ErrorKind::Conflict, field: field.into(), message: message.into(), fix: None }
    }

    /// Adds how to fix it.
    pub fn fix(mut self, fix: impl Into<String>) -> DomainError {
        self.fix = Some(fix.into());
        self
    }
}

/// Checks that a text field is not blank and at most `max` characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// Why a repository call failed: a refusal by the rules, or the database.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// Refused by a domain rule (nothing was written).
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// The database failed (nothing was written).
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<tokio_postgres::Error> for RepositoryError {
    fn from(error: tokio_postgres::Error) -> Self {
        RepositoryError::Database(DbError::Query(error))
    }
}

impl From<deadpool_postgres::PoolError> for RepositoryError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        RepositoryError::Database(DbError::Pool(error))
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let answer = match error.kind {
            ErrorKind::Invalid => ApiError::bad_request(error.field, error.message),
            ErrorKind::NotFound => ApiError::not_found(error.field, error.message),
            ErrorKind::Conflict => ApiError::conflict(error.field, error.message),
        };
        match error.fix {
            Some(fix) => answer.fix(fix),
            None => answer,
        }
    }
}

impl From<RepositoryError> for ApiError {
    fn from(error: RepositoryError) -> Self {
        match error {
            RepositoryError::Rejected(refusal) => refusal.into(),
            RepositoryError::Database(error) if error.is_transient() => ApiError::unavailable(&error),
            RepositoryError::Database(error) => ApiError::internal(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_kind_of_refusal_gets_its_status_and_keeps_the_field() {
        let cases = [
            ("invalid", DomainError::invalid("name", "x"), StatusCode::BAD_REQUEST),
            ("not_found", DomainError::not_found("eventId", "x"), StatusCode::NOT_FOUND),
            ("conflict", DomainError::conflict("orderNumber", "x").fix("y"), StatusCode::CONFLICT),
        ];
        for (case, refusal, status) in cases {
            let field = refusal.field.clone();
            let answer = ApiError::from(refusal);
            assert_eq!((answer.status, answer.field.as_deref()), (status, Some(field.as_str())), "{case}");
        }
    }
}
