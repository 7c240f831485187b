//! The one table of what each role may do: `scopes_of(roles)` gives the scopes (names in
//! `microfleet_common::scopes`) that a user's access tokens carry as `scopes`. Services check those scopes
//! only, so this table is the single place where a role's rights are decided. Pure; no I/O.

use microfleet_common::scopes::{
    ALL, GATE_ADMIN, GATE_READ, GATE_SCAN, TICKETING_CATALOG, TICKETING_ORDERS, TICKETING_READ, TICKETING_REFUNDS,
};

use super::user::Role;

/// The scopes one role grants.
pub fn scopes_of_role(role: Role) -> &'static [&'static str] {
    match role {
        Role::Admin => &ALL,
        Role::MerchantOperator => &[TICKETING_READ, TICKETING_CATALOG, TICKETING_ORDERS, GATE_READ],
        Role::Cashier => &[TICKETING_READ, TICKETING_ORDERS, TICKETING_REFUNDS],
        Role::Coordinator => &[TICKETING_READ, GATE_READ, GATE_ADMIN],
        Role::GateStaff => &[GATE_READ, GATE_SCAN],
        Role::Internal | Role::User => &[],
    }
}

/// The scopes a user with these roles holds: the union of their roles' scopes, each once, in the order of
/// `microfleet_common::scopes::ALL`.
pub fn scopes_of(roles: &[Role]) -> Vec<String> {
    ALL.iter()
        .filter(|scope| roles.iter().any(|role| scopes_of_role(*role).contains(scope)))
        .map(|scope| (*scope).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_grants_exactly_the_contracts_scopes() {
        let cases: [(&str, &[Role], &[&str]); 10] = [
            (
                "admin",
                &[Role::Admin],
                &[
                    "ticketing:read",
                    "ticketing:catalog",
                    "ticketing:approve",
                    "ticketing:orders",
                    "ticketing:refunds",
                    "ticketing:admin",
                    "gate:read",
                    "gate:admin",
                    "gate:scan",
                    "auth:users",
                    "auth:keys",
                ],
            ),
            (
                "merchant_operator",
                &[Role::MerchantOperator],
                &["ticketing:read", "ticketing:catalog", "ticketing:orders", "gate:read"],
            ),
            ("cashier", &[Role::Cashier], &["ticketing:read", "ticketing:orders", "ticketing:refunds"]),
            ("coordinator", &[Role::Coordinator], &["ticketing:read", "gate:read", "gate:admin"]),
            ("gate_staff", &[Role::GateStaff], &["gate:read", "gate:scan"]),
            ("internal", &[Role::Internal], &[]),
            ("user", &[Role::User], &[]),
            ("no_roles", &[], &[]),
            (
                "cashier_and_gate_staff_once_each",
                &[Role::GateStaff, Role::Cashier, Role::GateStaff],
                &["ticketing:read", "ticketing:orders", "ticketing:refunds", "gate:read", "gate:scan"],
            ),
            (
                "operator_and_coordinator",
                &[Role::Coordinator, Role::MerchantOperator],
                &["ticketing:read", "ticketing:catalog", "ticketing:orders", "gate:read", "gate:admin"],
            ),
        ];
        for (case, roles, expected) in cases {
            assert_eq!(scopes_of(roles), expected, "{case}");
        }
    }

    #[test]
    fn no_role_grants_introspection() {
        let every_role = [
            Role::Admin,
            Role::MerchantOperator,
            Role::Cashier,
            Role::GateStaff,
            Role::Coordinator,
            Role::Internal,
            Role::User,
        ];
        assert!(!scopes_of(&every_role).iter().any(|scope| scope == "auth:introspect"));
    }
}
