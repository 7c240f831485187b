//! Validate: what the API server cannot check because it depends on the cluster — a database the spec asks
//! CloudNativePG for when CloudNativePG is not installed. (The spec's own rules are the CRD's schema and CEL,
//! `microfleet_crds::validate` applies them offline.)
//!
//! Pure: the spec and what discovery found in, the problems out, each naming the field and the fix.

use microfleet_crds::ticketingservice::TicketingService;
pub use microfleet_crds::validate::SpecProblem;

use super::{component::ComponentKind, discovery::Discovered};

/// The problems of `ts` in a cluster where discovery found `discovered`.
pub fn validate(ts: &TicketingService, discovered: &Discovered) -> Result<(), Vec<SpecProblem>> {
    let problems: Vec<SpecProblem> = ComponentKind::ALL
        .into_iter()
        .filter(|kind| kind.spec(&ts.spec).database.cloud_native_pg.is_some() && !discovered.cloud_native_pg)
        .map(|kind| SpecProblem {
            reason: "CloudNativePGMissing",
            field: format!("spec.{}.database.cloudNativePG", kind.field()),
            message: "CloudNativePG (postgresql.cnpg.io/v1 Cluster) is not installed: install its operator, or name an existing database with urlSecretKeyRef".into(),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
