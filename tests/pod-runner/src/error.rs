//! The runner's error types. Display texts of [`ConfigError`] are the kubelet's own messages, since they end
//! up in container statuses that tests and operators read.

/// Why a container cannot be configured yet (reported as `CreateContainerConfigError` or, for volumes,
/// `ContainerCreating`, and retried).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A Secret the container needs does not exist.
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    /// A ConfigMap the container needs does not exist.
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    /// A key is missing from a Secret.
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKeyMissing {
        /// The key asked for.
        key: String,
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// A key is missing from a ConfigMap.
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKeyMissing {
        /// The key asked for.
        key: String,
        /// The ConfigMap's namespace.
        namespace: String,
        /// The ConfigMap's name.
        name: String,
    },
    /// A downward-API field this runner does not know.
    #[error("unsupported fieldPath: {0}")]
    UnsupportedField(String),
    /// A downward-API resource this runner does not know.
    #[error("unsupported resource: {0}")]
    UnsupportedResource(String),
    /// A volume mount names a volume the pod does not have, or one of a kind this runner cannot mount.
    #[error("{0}")]
    Volume(String),
    /// The securityContext cannot be honoured (e.g. runAsNonRoot without a non-root user).
    #[error("{0}")]
    Security(String),
    /// The API server could not be asked (retried like a missing object).
    #[error("{0}")]
    Api(String),
}

/// Why the runner itself cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The kubeconfig could not be loaded or the client built.
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// Registering the Node failed.
    #[error("cannot register node {node}: {source}")]
    Register {
        /// The node name.
        node: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The pod network's settings are invalid.
    #[error("{0}")]
    Network(#[source] NetworkError),
    /// The work directory or the CA file could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a pod could not be put on the pod network (reported as `ContainerCreating` with this message).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// `--pod-cidr` is not `a.b.c.d/n` with n in 8..=30.
    #[error("invalid pod CIDR {0:?}: expected the bridge's address and prefix, like 10.88.0.1/16")]
    Cidr(String),
    /// Every address of the pod CIDR is taken.
    #[error("the pod CIDR has no free address")]
    Exhausted,
    /// An `ip` command failed.
    #[error("failed to set up the pod network: `ip {0}`: {1}")]
    Command(String, String),
    /// The pod's resolv.conf could not be written.
    #[error("cannot write {0}: {1}")]
    File(std::path::PathBuf, #[source] std::io::Error),
}
