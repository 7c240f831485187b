//! The services' own keys at the auth service (scope `auth:introspect`, `AUTH_SERVICE_KEY_FILE`): which key
//! each component reads — the Secret key its spec names, else, for a component that introspects API keys
//! (ticketing, gate-acl), its key in the one Secret the operator generates per TicketingService
//! (`<name>-service-keys`, one key per such component, named after its suffix); the CMS accepts access
//! tokens only and needs none — and the keys the auth service's migration registers (every caller's).
//! The generated Secret is built here from keys given to it, created once and never rewritten (immutable);
//! its keys are drawn in the reconcile's write step, never here.
//!
//! Pure: the spec (and, for the Secret, the keys) in; references and objects out. No I/O, no randomness.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use microfleet_crds::{clusterfetch::SecretKeyRef, ticketingservice::TicketingService};

use super::{
    build::{child_meta, BuildError},
    component::ComponentKind,
};

/// The name of the generated Secret: `<ts>-service-keys`.
pub fn secret_name(ts: &TicketingService) -> String {
    format!("{}-service-keys", ts.metadata.name.as_deref().unwrap_or_default())
}

/// The components whose key the operator generates when their spec names none: those that introspect API
/// keys at the auth service.
pub fn generated_components() -> [ComponentKind; 2] {
    [ComponentKind::Ticketing, ComponentKind::GateAcl]
}

/// The Secret key holding a component's own key at the auth service: the spec's, else the generated one
/// (ticketing, gate-acl); `None` for a component that needs none (auth, and the CMS unless its spec names
/// one).
pub fn service_key_ref(ts: &TicketingService, kind: ComponentKind) -> Option<SecretKeyRef> {
    if let Some(named) = &kind.spec(&ts.spec).secrets.auth_service_key {
        return Some(named.clone());
    }
    generated_components()
        .contains(&kind)
        .then(|| SecretKeyRef { name: secret_name(ts), key: kind.suffix().to_string() })
}

/// Whether the operator must generate the Secret: some component relies on it.
pub fn generates_secret(ts: &TicketingService) -> bool {
    generated_components().into_iter().any(|kind| kind.spec(&ts.spec).secrets.auth_service_key.is_none())
}

/// The keys the auth service's migration registers: (the service's name at the auth service — its suffix —,
/// the Secret key), for every caller of the auth service that has one.
pub fn registered_keys(ts: &TicketingService) -> Vec<(&'static str, SecretKeyRef)> {
    ComponentKind::Auth
        .callers()
        .into_iter()
        .filter_map(|kind| service_key_ref(ts, kind).map(|key| (kind.suffix(), key)))
        .collect()
}

/// The generated Secret holding `keys` (by component suffix): immutable, owned by the TicketingService.
pub fn build_service_keys_secret(ts: &TicketingService, keys: BTreeMap<String, String>) -> Result<Secret, BuildError> {
    Ok(Secret {
        metadata: child_meta(ts, secret_name(ts), None, None)?,
        type_: Some("Opaque".into()),
        immutable: Some(true),
        string_data: Some(keys),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticketingservice::fixtures::ticketing_service;

    fn named(name: &str, key: &str) -> Option<SecretKeyRef> {
        Some(SecretKeyRef { name: name.into(), key: key.into() })
    }

    #[test]
    fn a_component_reads_its_named_key_else_the_generated_one_and_the_cms_needs_none() {
        let ts = ticketing_service();
        let generated = |key: &str| named("tickets-service-keys", key);
        assert!(generates_secret(&ts));
        assert_eq!(service_key_ref(&ts, ComponentKind::Ticketing), generated("ticketing"));
        assert_eq!(service_key_ref(&ts, ComponentKind::GateAcl), generated("gate-acl"));
        assert_eq!(service_key_ref(&ts, ComponentKind::Auth), None);
        assert_eq!(service_key_ref(&ts, ComponentKind::Cms), None);
        assert_eq!(
            registered_keys(&ts),
            [("ticketing", generated("ticketing").unwrap()), ("gate-acl", generated("gate-acl").unwrap())]
        );

        let mut own = ts.clone();
        own.spec.ticketing.secrets.auth_service_key = named("mine", "ticketing");
        own.spec.gate_acl.secrets.auth_service_key = named("mine", "gate");
        own.spec.cms.secrets.auth_service_key = named("mine", "cms");
        assert!(!generates_secret(&own), "every key named: nothing generated");
        assert_eq!(service_key_ref(&own, ComponentKind::GateAcl), named("mine", "gate"));
        let names: Vec<&str> = registered_keys(&own).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["ticketing", "gate-acl", "cms"], "the auth service registers the named keys too");
    }

    #[test]
    fn the_secret_is_immutable_owned_and_holds_exactly_the_keys_given() {
        let ts = ticketing_service();
        let keys =
            BTreeMap::from([("gate-acl".to_string(), "k2".to_string()), ("ticketing".to_string(), "k1".to_string())]);
        let secret = build_service_keys_secret(&ts, keys.clone()).unwrap();
        assert_eq!(secret.metadata.name.as_deref(), Some("tickets-service-keys"));
        assert_eq!(secret.immutable, Some(true));
        assert_eq!(secret.string_data, Some(keys));
        let owner = &secret.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("TicketingService", Some(true)));
    }
}
