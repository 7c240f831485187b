//! A container's identity and root filesystem from its and its pod's securityContext (runAsUser,
//! runAsGroup, supplementalGroups, fsGroup, runAsNonRoot, readOnlyRootFilesystem), checked the way the kubelet
//! checks them. Pure: applying them is `process.rs`'s job.

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::error::ConfigError;

/// The user a container runs as (root when the securityContext names none: the "image" has no user).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid (0 unless runAsGroup says otherwise, as for an image without a passwd entry).
    pub gid: u32,
    /// Supplemental groups (the pod's supplementalGroups and fsGroup).
    pub groups: Vec<u32>,
}

/// What the container runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The user, or `None` for root with the runner's own groups.
    pub user: Option<User>,
    /// The root filesystem is mounted read-only for it.
    pub read_only_root: bool,
}

/// The container's identity; `runAsNonRoot` without a non-root user is the kubelet's config error.
pub fn identity(pod: &Pod, container: &Container, kubelet_name: &str) -> Result<Identity, ConfigError> {
    let pod_context = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let context = container.security_context.as_ref();
    let uid = context.and_then(|c| c.run_as_user).or(pod_context.and_then(|c| c.run_as_user));
    let gid = context.and_then(|c| c.run_as_group).or(pod_context.and_then(|c| c.run_as_group));
    let non_root = context.and_then(|c| c.run_as_non_root).or(pod_context.and_then(|c| c.run_as_non_root));
    if non_root == Some(true) {
        match uid {
            None => {
                return Err(ConfigError::Security(format!(
                    "container has runAsNonRoot and image will run as root (pod: {kubelet_name:?}, container: {})",
                    container.name
                )))
            }
            Some(0) => {
                return Err(ConfigError::Security(format!(
                    "container's runAsUser breaks non-root policy (pod: {kubelet_name:?}, container: {})",
                    container.name
                )))
            }
            Some(_) => {}
        }
    }
    let id = |value: i64| u32::try_from(value).map_err(|_| ConfigError::Security(format!("invalid id {value}")));
    let mut groups: Vec<u32> = Vec::new();
    if let Some(pod_context) = pod_context {
        for group in pod_context.supplemental_groups.iter().flatten().chain(pod_context.fs_group.iter()) {
            groups.push(id(*group)?);
        }
    }
    let user = match (uid, gid) {
        (None, None) if groups.is_empty() => None,
        (uid, gid) => Some(User { uid: id(uid.unwrap_or(0))?, gid: id(gid.unwrap_or(0))?, groups }),
    };
    let read_only_root = context.and_then(|c| c.read_only_root_filesystem) == Some(true);
    Ok(Identity { user, read_only_root })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SecurityContext};

    fn pod(context: PodSecurityContext) -> Pod {
        Pod { spec: Some(PodSpec { security_context: Some(context), ..PodSpec::default() }), ..Pod::default() }
    }
    fn container(context: SecurityContext) -> Container {
        Container { name: "c".into(), security_context: Some(context), ..Container::default() }
    }

    #[test]
    fn container_settings_override_the_pods() {
        let pod = pod(PodSecurityContext {
            run_as_user: Some(1000),
            run_as_group: Some(2000),
            run_as_non_root: Some(true),
            fs_group: Some(3000),
            ..PodSecurityContext::default()
        });
        let c = container(SecurityContext {
            run_as_user: Some(65532),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        });
        let id = identity(&pod, &c, "p_ns(u)").unwrap();
        assert_eq!(id.user, Some(User { uid: 65532, gid: 2000, groups: vec![3000] }));
        assert!(id.read_only_root);
        assert_eq!(identity(&Pod::default(), &Container::default(), "p").unwrap().user, None);
    }

    #[test]
    fn run_as_non_root_needs_a_non_root_user() {
        let non_root = pod(PodSecurityContext { run_as_non_root: Some(true), ..PodSecurityContext::default() });
        let err = identity(&non_root, &container(SecurityContext::default()), "p_ns(u)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", container: c)"
        );
        let root = container(SecurityContext { run_as_user: Some(0), ..SecurityContext::default() });
        let err = identity(&non_root, &root, "p_ns(u)").unwrap_err();
        assert_eq!(err.to_string(), "container's runAsUser breaks non-root policy (pod: \"p_ns(u)\", container: c)");
    }
}
