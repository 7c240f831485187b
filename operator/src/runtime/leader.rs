//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): only the holder reconciles.
//!
//! Owns the Lease only; what the leader does is the caller's business.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::{sync::watch, task::JoinHandle};

/// Lease timing, in seconds: a holder that stops renewing loses the Lease after `DURATION`.
const DURATION: u64 = 15;
const GRACE: u64 = 5;

/// A running election.
pub struct Election {
    state: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Election {
    /// Joins the election for Lease `name` in `namespace` as `identity`.
    pub async fn join(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
    ) -> Result<Election, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client, name)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(DURATION)
            .with_grace(GRACE)
            .with_field_manager(format!("microfleet-operator-{identity}"))
            .build()
            .await?;
        let (state, task) = manager.watch().await;
        Ok(Election { state, task })
    }

    /// Waits until this replica leads. Returns false if the election ended first.
    pub async fn acquired(&mut self) -> bool {
        self.state.wait_for(|leading| *leading).await.is_ok()
    }

    /// Resolves when this replica stops leading.
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            let _ = state.wait_for(|leading| !*leading).await;
        }
    }

    /// Leaves the election and frees the Lease so a standby replica takes over at once.
    pub async fn release(self) {
        drop(self.state);
        match self.task.await {
            Ok(Ok(manager)) => {
                if let Err(error) = manager.release().await {
                    tracing::warn!(%error, "could not release the leader Lease");
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "leader election ended with an error"),
            Err(error) => tracing::warn!(%error, "leader election task failed"),
        }
    }
}
