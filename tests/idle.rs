//! Tier 5: an operator with nothing to change writes nothing — against the real control plane of `KUBECONFIG`
//! (`scripts/cluster.sh up`), read back from the API server's audit log (`$MICROFLEET_CLUSTER_DIR/audit.log`).
//!
//! Twenty ClusterFetches are brought in line by one `microfleet-operator run` process; a second process (a
//! restart: its first pass over objects already in line), then touches that change no input (an unrelated
//! annotation on every ClusterFetch), then an idle window must cost no write at all: no CronJob apply, no
//! status patch, no Event. Uses its own namespace and a free admin port; cheap enough for CI (~1 min).

use std::{path::PathBuf, time::Duration};

use kube::{
    api::{Patch, PatchParams},
    Api,
};
use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_tests::{
    audit,
    cluster::{self, eventually},
    operator::{self, OperatorProcess},
};

/// How many ClusterFetches the test keeps in line.
const COUNT: usize = 20;

fn cluster_fetch(namespace: &str, i: usize) -> ClusterFetch {
    let yaml = format!(
        r#"
apiVersion: microfleet.io/v1alpha1
kind: ClusterFetch
metadata: {{name: idle-{i:02}, namespace: {namespace}}}
spec:
  schedule: "0 0 1 1 *"
  source: {{url: "http://clustering.{namespace}.svc:8080/users"}}
  sink: {{http: {{url: "http://platform.{namespace}.svc:8080/imports"}}}}
"#
    );
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("idle-{i:02}: {e}"))
}

/// The value of `microfleet_reconciles_total` of a process (0 while it does not answer).
fn reconciles(process: &OperatorProcess) -> f64 {
    process
        .metrics()
        .and_then(|m| operator::sample(&m, "microfleet_reconciles_total{controller=\"clusterfetch\"}"))
        .unwrap_or(0.0)
}

/// Waits until the process has reconciled at least `at_least` times and then stopped for 3 s.
async fn settled(process: &OperatorProcess, at_least: f64) {
    eventually("the operator reconciles and settles", Duration::from_secs(120), || async {
        let before = reconciles(process);
        tokio::time::sleep(Duration::from_secs(3)).await;
        before >= at_least && reconciles(process) == before
    })
    .await;
}

/// Every ClusterFetch has a Ready status for its generation.
async fn all_ready(cfs: &Api<ClusterFetch>) -> bool {
    let Ok(list) = cfs.list(&Default::default()).await else { return false };
    list.items.len() == COUNT
        && list.items.iter().all(|cf| {
            cf.status.as_ref().is_some_and(|s| {
                s.observed_generation == cf.metadata.generation
                    && s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
}

#[tokio::test]
async fn an_operator_with_nothing_to_change_writes_nothing() {
    let client = cluster::client().await;
    cluster::install_crds(&client).await;
    let namespace = format!("mf-idle-{}", std::process::id());
    cluster::namespace(&client, &namespace).await;
    let cfs: Api<ClusterFetch> = Api::namespaced(client.clone(), &namespace);
    for i in 0..COUNT {
        cluster::apply(&cfs, &cluster_fetch(&namespace, i)).await;
    }
    let binary = operator::binary("microfleet-operator");
    let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap_or_default());
    let start = |identity: &str| {
        let args = ["--no-leader-election", "--watch-namespace", namespace.as_str()];
        OperatorProcess::start(&binary, &kubeconfig, &namespace, identity, &args)
    };

    // the first process brings everything in line: a CronJob and a status each
    let first = start("idle-first");
    eventually("every ClusterFetch is Ready", Duration::from_secs(120), || all_ready(&cfs)).await;
    settled(&first, COUNT as f64).await;
    let writes = audit::writes_in(&client, &namespace).await;
    let by_first: Vec<_> = writes.iter().filter(|w| w.user_agent == first.user_agent()).collect();
    let count = |resource: &str| by_first.iter().filter(|w| w.resource == resource && w.code < 300).count();
    assert!(count("cronjobs") >= COUNT && count("clusterfetches") >= COUNT, "{by_first:#?}");
    assert!(
        by_first.len() <= 2 * COUNT + 4,
        "one CronJob apply and one status write each (a few retries aside): {} writes",
        by_first.len()
    );
    drop(first);

    // a restart: the new process's first pass, then touches that change no input, then idle
    let second = start("idle-second");
    settled(&second, COUNT as f64).await;
    let touch = serde_json::json!({"metadata": {"annotations": {"idle-test/touched": "1"}}});
    for i in 0..COUNT {
        cfs.patch(&format!("idle-{i:02}"), &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
    }
    settled(&second, 2.0 * COUNT as f64).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = audit::writes_in(&client, &namespace).await;
    let by_second: Vec<_> = writes.iter().filter(|w| w.user_agent == second.user_agent()).collect();
    assert!(by_second.is_empty(), "an operator with nothing to change wrote: {by_second:#?}");
    assert!(all_ready(&cfs).await);
}
