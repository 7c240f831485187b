//! The real control plane for tests that need one: a client from `KUBECONFIG` (a missing cluster fails the
//! test with what to run, never a silent skip), a namespace per test, and wait-for-condition helpers with
//! timeouts. It assumes the pod runner (tests/pod-runner) serves the node; it must not start processes.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

/// The image the pod runner maps to `microfleet-testbox`.
pub const TESTBOX_IMAGE: &str = "microfleet-testbox:e2e";

/// The node the pod runner registers (`MICROFLEET_NODE_NAME`, default `microfleet-node`).
pub fn node_name() -> String {
    std::env::var("MICROFLEET_NODE_NAME").unwrap_or_else(|_| "microfleet-node".into())
}

/// A client of the cluster in `KUBECONFIG`, after checking the pod runner's node is Ready.
pub async fn client() -> Client {
    let no_cluster = "no cluster: run scripts/test.sh or scripts/cluster.sh up (and set KUBECONFIG)";
    let path = std::env::var("KUBECONFIG").unwrap_or_else(|_| panic!("{no_cluster}"));
    assert!(std::path::Path::new(&path).exists(), "{no_cluster}: {path} does not exist");
    let client = Client::try_default().await.unwrap_or_else(|e| panic!("{no_cluster}: {e}"));
    let node =
        Api::<Node>::all(client.clone()).get_opt(&node_name()).await.unwrap_or_else(|e| panic!("{no_cluster}: {e}"));
    let ready = node
        .as_ref()
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    assert!(
        ready,
        "node {} is missing or not Ready: start the pod runner (tests/pod-runner; scripts/node.sh)",
        node_name()
    );
    client
}

/// A namespace of one test, made ready for pods (its default ServiceAccount exists).
pub struct TestNamespace {
    /// The client.
    pub client: Client,
    /// The namespace's name.
    pub name: String,
}

impl TestNamespace {
    /// Creates `<prefix>-<unique suffix>` and waits for its default ServiceAccount.
    pub async fn new(prefix: &str) -> TestNamespace {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let client = client().await;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("{prefix}-{:x}{}", nanos % 0xfffff, COUNTER.fetch_add(1, Ordering::SeqCst));
        let namespace: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("a namespace object");
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        wait_for(&accounts, "default", Duration::from_secs(30), "the default ServiceAccount", |_| true).await;
        TestNamespace { client, name }
    }

    /// An API of this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Creates an object from JSON in this namespace.
    pub async fn create<K>(&self, object: serde_json::Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + Debug,
    {
        let object: K = serde_json::from_value(object).unwrap_or_else(|e| panic!("bad test object: {e}"));
        self.api::<K>().create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("create failed: {e}"))
    }

    /// Deletes the namespace (its pods are stopped by the runner as it goes).
    pub async fn delete(self) {
        let _ = Api::<Namespace>::all(self.client).delete(&self.name, &DeleteParams::default()).await;
    }
}

/// Polls `name` every 200 ms until `condition` holds, and returns it; panics after `timeout` with `what` and
/// the object as last seen.
pub async fn wait_for<K>(api: &Api<K>, name: &str, timeout: Duration, what: &str, condition: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + Debug,
{
    let started = Instant::now();
    let mut last = None;
    loop {
        match api.get_opt(name).await {
            Ok(Some(object)) if condition(&object) => return object,
            Ok(seen) => last = seen,
            Err(error) => eprintln!("get {name}: {error}"),
        }
        if started.elapsed() > timeout {
            let seen = last.map(|o| serde_json::to_string_pretty(&o).unwrap_or_default());
            panic!(
                "timed out after {timeout:?} waiting for {what} of {name}; last seen:\n{}",
                seen.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A TCP port free on 127.0.0.1 right now (pods share the host network).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}
