//! The auth domain as plain values and functions: passwords (`password`), users and roles (`user`), what
//! each role may do (`scopes`, the one roles → scopes table), the
//! login limits (`lockout`), the secrets handed out — refresh tokens and API keys — (`secrets`), and the
//! signing keys with their rotation (`keys`), the keys of the services registered from files
//! (`service_keys`). Nothing here touches the database or the network; the clock is
//! a parameter, so every rule is tested with values.

pub mod api_keys;
pub mod keys;
pub mod lockout;
pub mod password;
pub mod scopes;
pub mod secrets;
pub mod service_keys;
pub mod user;

pub use microfleet_common::refusal::{check_text, DomainError, ErrorKind};
