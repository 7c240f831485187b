//! Payment methods (`CASH`, `BANK_TRANSFER`, ...): what a valid new or edited method is, and whether an
//! order may name a method — it must exist and be enabled. Disabling a method keeps the orders placed with it.

use serde::{Deserialize, Serialize};

use super::{check_text, DomainError};

/// A payment method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethod {
    /// Its code (`CASH`), what orders name.
    pub code: String,
    /// Its name for people.
    pub name: String,
    /// Whether new orders may use it.
    pub enabled: bool,
}

/// `POST /v1/payment-methods`: a new method, enabled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPaymentMethod {
    /// Its code: 1 to 50 of `A-Z`, `0-9` and `_`.
    pub code: String,
    /// Its name for people.
    pub name: String,
}

/// `PUT /v1/payment-methods/{code}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PaymentMethodEdit {
    /// Its name for people.
    pub name: String,
    /// Whether new orders may use it.
    pub enabled: bool,
}

/// Checks a new method: its code's shape and its name.
pub fn validate_new_method(method: &NewPaymentMethod) -> Result<(), DomainError> {
    let code = method.code.as_str();
    if code.is_empty()
        || code.len() > 50
        || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DomainError::invalid("code", "must be 1 to 50 of A-Z, 0-9 and _").fix("e.g. E_WALLET"));
    }
    check_text("name", &method.name, 100)
}

/// Checks an edited method's name.
pub fn validate_method_edit(edit: &PaymentMethodEdit) -> Result<(), DomainError> {
    check_text("name", &edit.name, 100)
}

/// Whether a new order may use a method whose stored `enabled` is this (`None`: no such method).
pub fn check_usable(enabled: Option<bool>) -> Result<(), DomainError> {
    match enabled {
        Some(true) => Ok(()),
        Some(false) => Err(DomainError::invalid("paymentMethod", "this payment method is disabled")
            .fix("use an enabled method of GET /v1/payment-methods")),
        None => Err(DomainError::invalid("paymentMethod", "unknown payment method")
            .fix("use an enabled method of GET /v1/payment-methods")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_method_needs_a_code_of_capitals_digits_and_underscores() {
        let cases = [
            ("valid", "E_WALLET_2", "E-wallet", None),
            ("lower_case", "cash", "Cash", Some("code")),
            ("space", "E WALLET", "E-wallet", Some("code")),
            ("empty", "", "Cash", Some("code")),
            ("too_long", &"A".repeat(51), "Cash", Some("code")),
            ("blank_name", "CARD", " ", Some("name")),
        ];
        for (case, code, name, field) in cases {
            let method = NewPaymentMethod { code: code.into(), name: name.into() };
            assert_eq!(validate_new_method(&method).err().map(|e| e.field), field.map(String::from), "{case}");
        }
        let edit = PaymentMethodEdit { name: String::new(), enabled: true };
        assert_eq!(validate_method_edit(&edit).unwrap_err().field, "name");
    }

    #[test]
    fn only_an_enabled_method_is_usable() {
        assert!(check_usable(Some(true)).is_ok());
        let disabled = check_usable(Some(false)).unwrap_err();
        assert_eq!(
            (disabled.field.as_str(), disabled.message.as_str()),
            ("paymentMethod", "this payment method is disabled")
        );
        assert_eq!(check_usable(None).unwrap_err().message, "unknown payment method");
    }
}
