//! The ticketing domain as plain values and functions: what a valid event or order is, order numbers,
//! totals, state transitions and sale windows. Nothing here touches the database, the network or the clock
//! (the time is a parameter), so every rule is tested with values.

pub mod event;
pub mod order;

/// What kind of refusal a [`DomainError`] is (the HTTP layer maps it to 400, 404 or 409).
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
