//! The real control plane of the tests (`scripts/cluster.sh up`, or any cluster `KUBECONFIG` names): a client,
//! the CRDs installed by server-side apply, namespaces, `kubectl`, and waiting for a condition. A missing
//! cluster fails the test with how to start one; nothing here skips.

use std::{process::Command, time::Duration};

use k8s_openapi::{
    api::core::v1::Namespace, apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{Patch, PatchParams},
    runtime::wait::{await_condition, conditions},
    Api, Client,
};

/// The field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "microfleet-tests";

/// A client of the cluster `KUBECONFIG` names; panics with how to start one when there is none.
pub async fn client() -> Client {
    if std::env::var_os("KUBECONFIG").is_none() {
        panic!("no cluster: run scripts/test.sh, or `eval \"$(scripts/cluster.sh up)\"` and run the tests again");
    }
    Client::try_default().await.unwrap_or_else(|e| panic!("KUBECONFIG names no reachable cluster: {e}"))
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
