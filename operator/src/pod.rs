//! What every pod the operator emits shares, whatever the controller: the restricted Pod Security profile
//! (a non-root user, no privilege escalation, no capabilities, the runtime's seccomp profile, a read-only
//! root), where they run (node selector, tolerations), environment variables from values and from Secrets, and the short hashes and truncations that
//! keep child names within Kubernetes' limits.
//!
//! Pure: values in, objects out. Which pods exist, and what they run, is each controller's `build`.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, PodSecurityContext, PodSpec, SeccompProfile, SecretKeySelector,
    SecurityContext, Volume,
};
use microfleet_crds::{clusterfetch::SecretKeyRef, ticketingservice::Placement};
use sha2::{Digest, Sha256};

/// Sets the pod's `nodeSelector` and `tolerations` from `placement` (none: the pod's stay unset).
pub fn place(pod: &mut PodSpec, placement: Option<&Placement>) {
    let Some(placement) = placement else { return };
    pod.node_selector = (!placement.node_selector.is_empty()).then(|| placement.node_selector.clone());
    pod.tolerations = (!placement.tolerations.is_empty()).then(|| placement.tolerations.clone());
}

/// A pod of one `container` with `volumes` under the restricted profile, without a service account token or
/// service links, placed by `placement`.
pub fn restricted_pod(container: Container, volumes: Vec<Volume>, placement: Option<&Placement>) -> PodSpec {
    let mut pod = PodSpec {
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(restricted_pod_security()),
        containers: vec![container],
        volumes: Some(volumes),
        ..Default::default()
    };
    place(&mut pod, placement);
    pod
}

/// UID/GID the workloads run as (the "nonroot" user of distroless images).
pub const NON_ROOT_ID: i64 = 65532;

/// The pod-level half of the restricted profile: a non-root user and group (also the volumes' group), the
/// runtime's seccomp profile.
pub fn restricted_pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NON_ROOT_ID),
        run_as_group: Some(NON_ROOT_ID),
        // Secret volumes group-owned by it: their files (mode 0440 and the like) readable by the user above
        fs_group: Some(NON_ROOT_ID),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// The container-level half of the restricted profile: no privilege escalation, no capabilities, a read-only
/// root file system.
pub fn restricted_container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// An environment variable with a plain value.
pub fn plain_env(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value), ..Default::default() }
}

/// An environment variable read from a key of a Secret (which must exist).
pub fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The first 8 hex digits of the SHA-256 of `value`: a stable, short name suffix.
pub fn short_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// `value` cut to at most `max` bytes (at a character boundary), without a trailing '-' or '.'.
pub fn truncate(value: &str, max: usize) -> &str {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].trim_end_matches(['-', '.'])
}
