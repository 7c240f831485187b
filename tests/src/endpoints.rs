//! A Service seen from the host, as kube-proxy sees it: the addresses of its ready endpoints, read from its
//! EndpointSlices and refreshed in the background. The host cannot reach ClusterIPs (the pod runner DNATs
//! only packets that come from its bridge) but reaches the pods' own addresses on the bridge; following the
//! endpoints is what a Service does for its clients (a pod that stops is dropped once it terminates, a new
//! one joins once ready). Owns no HTTP client.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, RwLock,
};
use std::time::Duration;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{api::ListParams, Api, Client};

/// How often the endpoints are read again.
const REFRESH: Duration = Duration::from_millis(250);

/// The ready endpoints (`ip:port`) of one Service, kept current by a background task.
pub struct Endpoints {
    addresses: Arc<RwLock<Vec<String>>>,
    next: AtomicUsize,
    task: tokio::task::JoinHandle<()>,
}

/// The ready, not terminating endpoints of the slices, as `ip:port` (the slices' first port), sorted.
pub fn ready_addresses(slices: &[EndpointSlice]) -> Vec<String> {
    let mut out: Vec<String> = slices
        .iter()
        .flat_map(|slice| {
            let port = slice.ports.iter().flatten().find_map(|p| p.port).unwrap_or_default();
            slice
                .endpoints
                .iter()
                .filter(|e| {
                    let conditions = e.conditions.as_ref();
                    conditions.and_then(|c| c.ready) != Some(false)
                        && conditions.and_then(|c| c.terminating) != Some(true)
                })
                .flat_map(move |e| e.addresses.iter().map(move |a| format!("{a}:{port}")))
        })
        .collect();
    out.sort();
    out
}

impl Endpoints {
    /// Follows the endpoints of `service` in `namespace`.
    pub async fn follow(client: Client, namespace: &str, service: &str) -> Endpoints {
        let api: Api<EndpointSlice> = Api::namespaced(client, namespace);
        let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        let read = |api: Api<EndpointSlice>, params: ListParams| async move {
            api.list(&params).await.map(|list| ready_addresses(&list.items))
        };
        let addresses = Arc::new(RwLock::new(read(api.clone(), params.clone()).await.unwrap_or_default()));
        let shared = addresses.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                if let Ok(now) = read(api.clone(), params.clone()).await {
                    if let Ok(mut held) = shared.write() {
                        *held = now;
                    }
                }
            }
        });
        Endpoints { addresses, next: AtomicUsize::new(0), task }
    }

    /// The next ready endpoint, round robin; `None` while there is none.
    pub fn pick(&self) -> Option<String> {
        let addresses = self.addresses.read().ok()?;
        if addresses.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % addresses.len();
        Some(addresses[index].clone())
    }

    /// Every ready endpoint now.
    pub fn all(&self) -> Vec<String> {
        self.addresses.read().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}
