//! The API server's audit log (`$MICROFLEET_CLUSTER_DIR/audit.log`, written by `scripts/cluster.sh`: every
//! write, at Metadata level): who wrote what, and when. Reads the file; writes only a marker ConfigMap.

use std::{path::PathBuf, time::Duration};

use k8s_openapi::{api::core::v1::ConfigMap, jiff::Timestamp};
use kube::{Api, Client};
use serde_json::Value;

use crate::cluster;

/// One write the audit log recorded.
#[derive(Debug, Clone)]
pub struct Audited {
    /// The client's User-Agent.
    pub user_agent: String,
    /// create, update, patch, delete, ...
    pub verb: String,
    /// The resource (plural), e.g. `leases`.
    pub resource: String,
    /// The object's name.
    pub name: String,
    /// The response's HTTP status.
    pub code: u64,
    /// When the server received the request.
    pub received: Timestamp,
}

/// The audit log: `$MICROFLEET_CLUSTER_DIR/audit.log`, else next to the kubeconfig.
pub fn path() -> PathBuf {
    let dir = std::env::var_os("MICROFLEET_CLUSTER_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap_or_default());
        kubeconfig.parent().map(PathBuf::from).unwrap_or_default()
    });
    let path = dir.join("audit.log");
    assert!(path.exists(), "no audit log at {} (scripts/cluster.sh writes it)", path.display());
    path
}

/// Every write in `namespace` up to now: writes a marker ConfigMap and waits until the audit log (batched,
/// and throttled on a busy API server) has recorded it, so that every earlier write is in.
pub async fn writes_in(client: &Client, namespace: &str) -> Vec<Audited> {
    let marker = format!("audit-marker-{}", Timestamp::now().as_nanosecond());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let object: ConfigMap = serde_json::from_value(serde_json::json!({"metadata": {"name": marker}}))
        .unwrap_or_else(|e| panic!("marker: {e}"));
    cluster::apply(&configmaps, &object).await;
    let mut entries = Vec::new();
    cluster::eventually("the audit log records the marker", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(path()).unwrap_or_default();
        entries = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|e| e["objectRef"]["namespace"] == namespace)
            .collect();
        std::future::ready(entries.iter().any(|e| e["objectRef"]["name"] == marker.as_str()))
    })
    .await;
    entries
        .iter()
        .map(|e| Audited {
            user_agent: e["userAgent"].as_str().unwrap_or_default().to_string(),
            verb: e["verb"].as_str().unwrap_or_default().to_string(),
            resource: e["objectRef"]["resource"].as_str().unwrap_or_default().to_string(),
            name: e["objectRef"]["name"].as_str().unwrap_or_default().to_string(),
            code: e["responseStatus"]["code"].as_u64().unwrap_or_default(),
            received: e["requestReceivedTimestamp"]
                .as_str()
                .unwrap_or_default()
                .parse()
                .unwrap_or(Timestamp::UNIX_EPOCH),
        })
        .collect()
}
