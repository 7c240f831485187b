//! The four components of a TicketingService and what each one is: its name in the spec and in child names,
//! its binary, the prefix of its metrics, whether it speaks to the broker, and whom it calls.
//!
//! Pure facts and names; no object is built here.

use microfleet_crds::ticketingservice::{Component, TicketingService, TicketingServiceSpec};

/// The port every service listens on (`LISTEN_ADDR`), for its API, `/healthz`, `/readyz` and `/metrics`.
pub const HTTP_PORT: i32 = 8080;

/// One of the four components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// ticketing-service.
    Ticketing,
    /// gate-acl-service.
    GateAcl,
    /// auth-service.
    Auth,
    /// ticketing-cms.
    Cms,
}

impl ComponentKind {
    /// Every component, in the order status lists them.
    pub const ALL: [ComponentKind; 4] =
        [ComponentKind::Ticketing, ComponentKind::GateAcl, ComponentKind::Auth, ComponentKind::Cms];

    /// The spec field (and status name): `ticketing`, `gateAcl`, `auth`, `cms`.
    pub fn field(self) -> &'static str {
        match self {
            ComponentKind::Ticketing => "ticketing",
            ComponentKind::GateAcl => "gateAcl",
            ComponentKind::Auth => "auth",
            ComponentKind::Cms => "cms",
        }
    }

    /// The suffix of its children's names and its `microfleet.io/component` label: `ticketing`, `gate-acl`,
    /// `auth`, `cms`.
    pub fn suffix(self) -> &'static str {
        match self {
            ComponentKind::Ticketing => "ticketing",
            ComponentKind::GateAcl => "gate-acl",
            ComponentKind::Auth => "auth",
            ComponentKind::Cms => "cms",
        }
    }

    /// The binary (the image's entry point, also `app.kubernetes.io/name`).
    pub fn binary(self) -> &'static str {
        match self {
            ComponentKind::Ticketing => "ticketing-service",
            ComponentKind::GateAcl => "gate-acl-service",
            ComponentKind::Auth => "auth-service",
            ComponentKind::Cms => "ticketing-cms",
        }
    }

    /// The prefix of its HTTP metrics (`<prefix>_http_requests_total`).
    pub fn metrics_prefix(self) -> &'static str {
        match self {
            ComponentKind::Ticketing => "ticketing",
            ComponentKind::GateAcl => "gate",
            ComponentKind::Auth => "auth",
            ComponentKind::Cms => "cms",
        }
    }

    /// Whether it is part of the saga on the broker (relays an outbox, consumes topics).
    pub fn uses_broker(self) -> bool {
        matches!(self, ComponentKind::Ticketing | ComponentKind::GateAcl)
    }

    /// The components it calls over HTTP: every service verifies callers at the auth service; the CMS calls
    /// the three services' APIs.
    pub fn calls(self) -> &'static [ComponentKind] {
        match self {
            ComponentKind::Ticketing | ComponentKind::GateAcl => &[ComponentKind::Auth],
            ComponentKind::Auth => &[],
            ComponentKind::Cms => &[ComponentKind::Ticketing, ComponentKind::GateAcl, ComponentKind::Auth],
        }
    }

    /// The components that call it.
    pub fn callers(self) -> Vec<ComponentKind> {
        ComponentKind::ALL.into_iter().filter(|c| c.calls().contains(&self)).collect()
    }

    /// Its part of the spec.
    pub fn spec(self, spec: &TicketingServiceSpec) -> &Component {
        match self {
            ComponentKind::Ticketing => &spec.ticketing,
            ComponentKind::GateAcl => &spec.gate_acl,
            ComponentKind::Auth => &spec.auth,
            ComponentKind::Cms => &spec.cms,
        }
    }

    /// The name of its Deployment, Service, ConfigMap, PodDisruptionBudget, autoscaler and NetworkPolicy:
    /// `<ts>-<suffix>`; the other components reach it by this name.
    pub fn name(self, ts: &TicketingService) -> String {
        format!("{}-{}", ts.metadata.name.as_deref().unwrap_or_default(), self.suffix())
    }

    /// The in-cluster URL of its API, e.g. `http://tickets-auth:8080`.
    pub fn url(self, ts: &TicketingService) -> String {
        format!("http://{}:{HTTP_PORT}", self.name(ts))
    }

    /// The PostgreSQL database (and owner) name of a CloudNativePG cluster: `ticketing`, `gate_acl`, `auth`,
    /// `cms`.
    pub fn database_name(self) -> String {
        self.suffix().replace('-', "_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_graph_is_the_seeds() {
        assert_eq!(
            ComponentKind::Auth.callers(),
            [ComponentKind::Ticketing, ComponentKind::GateAcl, ComponentKind::Cms]
        );
        assert_eq!(ComponentKind::Ticketing.callers(), [ComponentKind::Cms]);
        assert_eq!(ComponentKind::GateAcl.callers(), [ComponentKind::Cms]);
        assert!(ComponentKind::Cms.callers().is_empty());
        let on_broker: Vec<_> = ComponentKind::ALL.into_iter().filter(|c| c.uses_broker()).collect();
        assert_eq!(on_broker, [ComponentKind::Ticketing, ComponentKind::GateAcl]);
        assert_eq!(ComponentKind::GateAcl.database_name(), "gate_acl");
    }
}
