//! What a signed-in person may see and do, pure: the CMS's sections (the seed's menus) with the scope each
//! needs to open, and the actions inside them with theirs — the contract's scope table read from the CMS's
//! side. The services check the same scopes again; this only decides what to show and what to answer 403 to.

use microfleet_common::auth_client::Principal;
use microfleet_common::scopes;

/// A menu of the CMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Counts and the orders/revenue chart.
    Dashboard,
    /// Merchants.
    Merchants,
    /// Events with their areas and approval.
    Events,
    /// Staff working an event, with their work windows and QR codes (gate-acl).
    EventStaff,
    /// Back-office staff with their roles (auth users).
    Staff,
    /// Work windows and their approval (gate-acl shifts).
    Schedules,
    /// Orders.
    Orders,
    /// Refunds.
    Refunds,
    /// Users: create, confirm, set roles.
    Users,
    /// Payment methods (the seed's "Setup").
    PaymentMethods,
}

/// Every section, in menu order.
pub const SECTIONS: [Section; 10] = [
    Section::Dashboard,
    Section::Merchants,
    Section::Events,
    Section::EventStaff,
    Section::Staff,
    Section::Schedules,
    Section::Orders,
    Section::Refunds,
    Section::Users,
    Section::PaymentMethods,
];

impl Section {
    /// The menu label.
    pub fn title(self) -> &'static str {
        match self {
            Section::Dashboard => "Dashboard",
            Section::Merchants => "Merchants",
            Section::Events => "Events",
            Section::EventStaff => "Event staff",
            Section::Staff => "Staff",
            Section::Schedules => "Schedules",
            Section::Orders => "Orders",
            Section::Refunds => "Refunds",
            Section::Users => "Users",
            Section::PaymentMethods => "Payment methods",
        }
    }

    /// The section's path.
    pub fn path(self) -> &'static str {
        match self {
            Section::Dashboard => "/dashboard",
            Section::Merchants => "/merchants",
            Section::Events => "/events",
            Section::EventStaff => "/event-staff",
            Section::Staff => "/staff",
            Section::Schedules => "/schedules",
            Section::Orders => "/orders",
            Section::Refunds => "/refunds",
            Section::Users => "/users",
            Section::PaymentMethods => "/payment-methods",
        }
    }

    /// The scope needed to open it.
    pub fn scope(self) -> &'static str {
        match self {
            Section::Dashboard | Section::Merchants | Section::Events | Section::Orders | Section::PaymentMethods => {
                scopes::TICKETING_READ
            }
            Section::EventStaff | Section::Schedules => scopes::GATE_READ,
            Section::Staff | Section::Users => scopes::AUTH_USERS,
            Section::Refunds => scopes::TICKETING_REFUNDS,
        }
    }

    /// The menu group it is shown under.
    pub fn group(self) -> &'static str {
        match self {
            Section::Dashboard => "Overview",
            Section::Merchants | Section::Events | Section::EventStaff => "Events",
            Section::Staff | Section::Schedules => "Staff",
            Section::Orders | Section::Refunds => "Sales",
            Section::Users | Section::PaymentMethods => "Setup",
        }
    }
}

/// Something that changes data, with the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or edit merchants, events, areas and payment methods.
    EditCatalog,
    /// Approve events.
    ApproveEvents,
    /// Create event staff and their work windows, approve schedules.
    ManageGate,
    /// Refund an order.
    Refund,
    /// Create and confirm users, set their roles, unlock them.
    ManageUsers,
}

impl Action {
    /// The scope it needs.
    pub fn scope(self) -> &'static str {
        match self {
            Action::EditCatalog => scopes::TICKETING_CATALOG,
            Action::ApproveEvents => scopes::TICKETING_APPROVE,
            Action::ManageGate => scopes::GATE_ADMIN,
            Action::Refund => scopes::TICKETING_REFUNDS,
            Action::ManageUsers => scopes::AUTH_USERS,
        }
    }
}

/// The signed-in person as the pages see them.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their login name.
    pub username: String,
    /// Their verified token's content.
    pub principal: Principal,
}

impl Viewer {
    /// Whether they may open `section`.
    pub fn may_open(&self, section: Section) -> bool {
        self.principal.may(section.scope())
    }

    /// Whether they may do `action`.
    pub fn may(&self, action: Action) -> bool {
        self.principal.may(action.scope())
    }

    /// The sections they may open, in menu order.
    pub fn menu(&self) -> Vec<Section> {
        SECTIONS.into_iter().filter(|section| self.may_open(*section)).collect()
    }
}

#[cfg(test)]
pub(crate) fn viewer_with(roles: &[&str], scopes: &[&str]) -> Viewer {
    Viewer {
        username: "putri".into(),
        principal: Principal {
            subject: "7".into(),
            roles: roles.iter().map(|role| role.to_string()).collect(),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
            expires_at: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_follows_the_scopes() {
        let cashier = viewer_with(&["cashier"], &["ticketing:read", "ticketing:orders", "ticketing:refunds"]);
        assert_eq!(
            cashier.menu(),
            vec![
                Section::Dashboard,
                Section::Merchants,
                Section::Events,
                Section::Orders,
                Section::Refunds,
                Section::PaymentMethods
            ]
        );
        assert!(!cashier.may(Action::EditCatalog));
        assert!(cashier.may(Action::Refund));
        let gate = viewer_with(&["gate_staff"], &["gate:read", "gate:scan"]);
        assert_eq!(gate.menu(), vec![Section::EventStaff, Section::Schedules]);
        assert!(!gate.may_open(Section::Refunds), "gate staff cannot open refunds");
        assert!(!gate.may(Action::ManageGate));
        let nobody = viewer_with(&["user"], &[]);
        assert!(nobody.menu().is_empty());
        assert!(viewer_with(&["admin"], &[]).menu().is_empty(), "scopes decide, not role names");
    }

    #[test]
    fn every_scope_opens_every_section() {
        let admin = viewer_with(&["admin"], &scopes::ALL);
        assert_eq!(admin.menu(), SECTIONS.to_vec());
        assert!(admin.may(Action::ManageUsers));
    }

    #[test]
    fn every_section_has_a_distinct_path() {
        for (index, section) in SECTIONS.iter().enumerate() {
            assert!(SECTIONS[..index].iter().all(|other| other.path() != section.path()), "{section:?}");
        }
    }
}
