//! Users of the e-ticketing back office (seed 004's User DB: name, username, email, phone, confirmed) and
//! their roles — admin, merchant operator, cashier, gate staff and the staff list's flags (co-ordinator,
//! internal, user) — and what a valid new user is. The password of a new user is never shown by `Debug`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::password::check_password;
use super::{check_text, DomainError};

/// A role a user holds; access tokens carry them as `roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Administers users, API keys and everything else.
    Admin,
    /// Runs a merchant's events and orders.
    MerchantOperator,
    /// Sells and refunds at the box office (the staff list's "as Cashier").
    Cashier,
    /// Scans tickets at the gates.
    GateStaff,
    /// The staff list's "as Co" (co-ordinator).
    Coordinator,
    /// The staff list's "as Internal" (the organiser's own staff).
    Internal,
    /// The staff list's "as User" (dashboard access only).
    User,
}

impl Role {
    /// The name in tokens and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::MerchantOperator => "merchant_operator",
            Role::Cashier => "cashier",
            Role::GateStaff => "gate_staff",
            Role::Coordinator => "coordinator",
            Role::Internal => "internal",
            Role::User => "user",
        }
    }

    /// The role of a stored name.
    pub fn parse(name: &str) -> Option<Role> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

/// `POST /v1/users`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewUser {
    /// Full name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Whether the account is confirmed (unconfirmed accounts cannot log in).
    #[serde(default)]
    pub confirmed: bool,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// The initial password (hashed at once, never stored or logged).
    pub password: String,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// A user as answered (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id (the tokens' `sub`).
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    pub phone: Option<String>,
    /// Whether the account is confirmed.
    pub confirmed: bool,
    /// Roles.
    pub roles: Vec<Role>,
    /// Consecutive failed logins since the last success or lock.
    pub failed_logins: i32,
    /// Locked until then, when locked.
    pub locked_until: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
}

/// Checks a new user's fields.
pub fn validate_new_user(user: &NewUser) -> Result<(), DomainError> {
    check_text("name", &user.name, 200)?;
    check_text("username", &user.username, 100)?;
    if user.username.chars().any(char::is_whitespace) {
        return Err(DomainError::invalid("username", "must not contain spaces"));
    }
    check_text("email", &user.email, 254)?;
    let at = user.email.split_once('@');
    if !at.is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@')) {
        return Err(DomainError::invalid("email", "must be an e-mail address").fix("e.g. putri@mail.com"));
    }
    if let Some(phone) = &user.phone {
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid("phone", "must be digits, optionally after +").fix("e.g. 6261275564756"));
        }
    }
    check_roles(&user.roles)?;
    check_password("password", &user.password)
}

/// `PUT /v1/users/{id}/roles`: the user's roles from now on (their next access token carries them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolesEdit {
    /// Every role the user holds (none: no access beyond logging in).
    pub roles: Vec<Role>,
}

/// Checks a list of roles: none twice.
pub fn check_roles(roles: &[Role]) -> Result<(), DomainError> {
    for (index, role) in roles.iter().enumerate() {
        if roles[..index].contains(role) {
            return Err(DomainError::invalid(format!("roles[{index}]"), "is listed twice"));
        }
    }
    Ok(())
}

/// The filters of `GET /v1/users` (besides `q`, a part of the name, username or e-mail, and the page).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserFilters {
    /// Only users holding this role.
    #[serde(default)]
    pub role: Option<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> NewUser {
        NewUser {
            name: "Putri Kapasitor".into(),
            username: "putri".into(),
            email: "putri@mail.com".into(),
            phone: Some("6261275564756".into()),
            confirmed: true,
            roles: vec![Role::Cashier, Role::GateStaff],
            password: "a long enough passphrase".into(),
        }
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        let cases: Vec<(&str, NewUser, Option<&str>)> = vec![
            ("valid", user(), None),
            ("blank_name", NewUser { name: " ".into(), ..user() }, Some("name")),
            ("spaced_username", NewUser { username: "pu tri".into(), ..user() }, Some("username")),
            ("bad_email", NewUser { email: "putri".into(), ..user() }, Some("email")),
            ("bad_phone", NewUser { phone: Some("62-12".into()), ..user() }, Some("phone")),
            ("twice", NewUser { roles: vec![Role::Admin, Role::Admin], ..user() }, Some("roles[1]")),
            ("short_password", NewUser { password: "short".into(), ..user() }, Some("password")),
        ];
        for (case, new, field) in cases {
            assert_eq!(validate_new_user(&new).err().map(|e| e.field), field.map(String::from), "{case}");
        }
        assert!(!format!("{:?}", user()).contains("passphrase"));
    }

    #[test]
    fn roles_are_checked_for_repeats() {
        assert!(check_roles(&[]).is_ok());
        assert!(check_roles(&[Role::Cashier, Role::GateStaff]).is_ok());
        let twice = check_roles(&[Role::Cashier, Role::GateStaff, Role::Cashier]).unwrap_err();
        assert_eq!(twice.field, "roles[2]");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [
            Role::Admin,
            Role::MerchantOperator,
            Role::Cashier,
            Role::GateStaff,
            Role::Coordinator,
            Role::Internal,
            Role::User,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
