//! The errors a reconcile can end with; the error policy retries all of them with per-object backoff.

use crate::{clusterfetch::build::BuildError, runtime::leader::NotLeading};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed (transient: retried with backoff).
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// A child object could not be built (the ClusterFetch lacks metadata the API always sets).
    #[error("cannot build child objects: {0}")]
    Build(#[from] BuildError),
    /// A TicketingService's child could not be built (it lacks metadata the API always sets).
    #[error("cannot build child objects: {0}")]
    BuildTicketing(#[from] crate::ticketingservice::build::BuildError),
    /// A write was held back: this replica does not surely hold the leader Lease (retried; a replica that
    /// lost the Lease stops soon after).
    #[error("{0}")]
    NotLeading(#[from] NotLeading),
    /// No randomness could be had from the operating system (for the services' generated keys).
    #[error("cannot generate a key: {0}")]
    Random(String),
}

impl Error {
    /// A short label for the `microfleet_reconcile_errors_total` metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "client",
            Error::Build(_) | Error::BuildTicketing(_) => "build",
            Error::NotLeading(_) => "not_leading",
            Error::Random(_) => "random",
        }
    }
}
