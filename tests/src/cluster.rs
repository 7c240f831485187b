//! The real control plane of the tests (`scripts/cluster.sh up`, or any cluster `KUBECONFIG` names) and the
//! pod runner's node (`scripts/node.sh`): clients, the CRDs installed by server-side apply, a namespace per
//! test, `kubectl`, and waiting for a condition with a timeout. A missing cluster or node fails the test with
//! how to start one; nothing here skips, and nothing here starts processes.

use std::{
    fmt::Debug,
    future::Future,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::{Namespace, Node, ServiceAccount},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
    Api, Client, Resource,
};
use serde::de::DeserializeOwned;

/// The field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "microfleet-tests";

/// The image the pod runner maps to `microfleet-testbox`.
pub const TESTBOX_IMAGE: &str = "microfleet-testbox:e2e";

const NO_CLUSTER: &str =
    "no cluster: run scripts/test.sh, or `eval \"$(scripts/cluster.sh up)\"` and run the tests again";

/// The node the pod runner registers (`MICROFLEET_NODE_NAME`, default `microfleet-node`).
pub fn node_name() -> String {
    std::env::var("MICROFLEET_NODE_NAME").unwrap_or_else(|_| "microfleet-node".into())
}

/// A client of the cluster `KUBECONFIG` names; panics with how to start one when there is none.
pub async fn client() -> Client {
    let path = std::env::var("KUBECONFIG").unwrap_or_else(|_| panic!("{NO_CLUSTER}"));
    assert!(std::path::Path::new(&path).exists(), "{NO_CLUSTER}: {path} does not exist");
    Client::try_default().await.unwrap_or_else(|e| panic!("{NO_CLUSTER}: {e}"))
}

/// A client, after checking that the pod runner's node is Ready (for tests that run pods).
pub async fn node_client() -> Client {
    let client = client().await;
    let node =
        Api::<Node>::all(client.clone()).get_opt(&node_name()).await.unwrap_or_else(|e| panic!("{NO_CLUSTER}: {e}"));
    let ready = node
        .as_ref()
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    assert!(ready, "node {} is missing or not Ready: start the pod runner (scripts/node.sh up)", node_name());
    client
}

/// Server-side applies `object` (forcing, as one field manager) and returns what the server stored.
pub async fn apply<K>(api: &Api<K>, object: &K) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_else(|| panic!("{object:?} has no name"));
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .unwrap_or_else(|e| panic!("applying {name}: {e}"))
}

/// Installs the committed CRDs (`crds/*.yaml`, as a user applies them) and waits until the server serves
/// them. The server compiles every CEL rule and refuses a CRD whose rules exceed its cost budget.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = crate::repo_root().join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let yaml = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = apply(&crds, &crd).await.metadata.name.unwrap_or_default();
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not established within 30 s"))
            .unwrap_or_else(|e| panic!("watching CRD {name}: {e}"));
    }
}

/// Creates namespace `name` if it is not there.
pub async fn namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
        .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
    apply(&namespaces, &object).await;
}

/// `kubectl` (on PATH: `scripts/cluster.sh env` puts the one built with the control plane first), with
/// the tests' KUBECONFIG.
pub fn kubectl() -> Command {
    Command::new("kubectl")
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
        let client = node_client().await;
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

/// Polls `check` every 200 ms until it holds; panics with `what` after `within`. Returns how long it took.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
