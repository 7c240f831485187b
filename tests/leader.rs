//! Tier 5: leader election and the write fence against the real control plane of `KUBECONFIG`
//! (`scripts/cluster.sh up`), read back from the API server's audit log (`$MICROFLEET_CLUSTER_DIR/audit.log`).
//!
//! Two `microfleet-operator run` processes (built from this checkout by the test) elect a leader on a Lease
//! in a namespace of their own; only the leader writes. The leader is then frozen (SIGSTOP): the standby
//! takes over once the Lease has lapsed; the frozen one, resumed (SIGCONT), must write nothing and exit.
//! Never skipped: without a cluster it fails and says how to get one.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{coordination::v1::Lease, core::v1::Namespace},
    jiff::Timestamp,
};
use kube::{api::DeleteParams, Api};
use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_tests::{
    audit::{self, Audited},
    cluster::{self, eventually},
    operator::{self, OperatorProcess},
};

/// The Lease the operators elect on (in the test's namespace).
const LEASE: &str = "microfleet-operator";
/// The operator's lease duration: a frozen leader's Lease lapses this long after its last renewal.
const LEASE_DURATION: Duration = Duration::from_secs(15);
/// Slack on top of the lease duration for the takeover: the standby looks every 2 s, plus a loaded machine.
const TAKEOVER_SLACK: Duration = Duration::from_secs(8);

fn cluster_fetch(namespace: &str, name: &str, schedule: &str) -> ClusterFetch {
    let yaml = format!(
        r#"
apiVersion: microfleet.io/v1alpha1
kind: ClusterFetch
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  schedule: "{schedule}"
  source: {{url: "http://clustering.{namespace}.svc:8080/users"}}
  sink: {{http: {{url: "http://platform.{namespace}.svc:8080/imports"}}}}
"#
    );
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The value of `microfleet_leader` on a replica's admin server (`None` while it does not answer).
fn leader_metric(replica: &OperatorProcess) -> Option<i64> {
    replica.metrics().and_then(|m| operator::sample(&m, "microfleet_leader")).map(|v| v as i64)
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt(LEASE).await.ok().flatten()?.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// True once the status of `name` records the current generation.
async fn reconciled(cfs: &Api<ClusterFetch>, name: &str) -> bool {
    let Ok(cf) = cfs.get(name).await else { return false };
    cf.status.is_some_and(|s| s.observed_generation.is_some() && s.observed_generation == cf.metadata.generation)
}

#[tokio::test]
async fn one_leader_writes_and_a_frozen_leader_writes_nothing_once_resumed() {
    let started = Instant::now();
    let client = cluster::client().await;
    cluster::install_crds(&client).await;
    let namespace = format!("mf-leader-{}", std::process::id());
    cluster::namespace(&client, &namespace).await;
    let cfs: Api<ClusterFetch> = Api::namespaced(client.clone(), &namespace);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    cluster::apply(&cfs, &cluster_fetch(&namespace, "first", "0 2 * * *")).await;

    // two replicas: exactly one leads, and only it writes
    let binary = operator::binary("microfleet-operator");
    let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap_or_default());
    let start = |identity: &str| {
        let args = ["--watch-namespace", namespace.as_str(), "--lease-name", LEASE];
        OperatorProcess::start(&binary, &kubeconfig, &namespace, identity, &args)
    };
    let mut replicas = [start("replica-a"), start("replica-b")];
    eventually("a replica holds the Lease", Duration::from_secs(30), || async { holder(&leases).await.is_some() })
        .await;
    let leader_name = holder(&leases).await.unwrap();
    let (leader, standby) = if leader_name == replicas[0].identity { (0, 1) } else { (1, 0) };
    eventually("the leader reconciles", Duration::from_secs(30), || reconciled(&cfs, "first")).await;
    eventually("the metrics say who leads", Duration::from_secs(10), || async {
        leader_metric(&replicas[leader]) == Some(1) && leader_metric(&replicas[standby]) == Some(0)
    })
    .await;
    let writes = audit::writes_in(&client, &namespace).await;
    let ours = |w: &&Audited| w.user_agent.starts_with("microfleet-operator/");
    let writers: BTreeSet<_> =
        writes.iter().filter(ours).filter(|w| w.resource != "leases").map(|w| &w.user_agent).collect();
    assert_eq!(writers, BTreeSet::from([&replicas[leader].user_agent()]), "only the leader writes objects");
    let successful_writers: BTreeSet<_> =
        writes.iter().filter(ours).filter(|w| w.code < 300).map(|w| &w.user_agent).collect();
    assert_eq!(
        successful_writers,
        BTreeSet::from([&replicas[leader].user_agent()]),
        "only the leader's writes succeed"
    );

    // freeze the leader: the standby takes over once the Lease has lapsed
    replicas[leader].signal("-STOP");
    let takeover = eventually("the standby takes over", LEASE_DURATION + TAKEOVER_SLACK, || async {
        holder(&leases).await.as_deref() == Some(replicas[standby].identity.as_str())
    })
    .await;
    println!("takeover {takeover:?} after SIGSTOP");
    let lease = leases.get(LEASE).await.unwrap().spec.unwrap();
    assert!(lease.lease_transitions.unwrap_or(0) >= 1, "a takeover counts a transition: {lease:?}");

    // work for the new leader while the old one is frozen
    cluster::apply(&cfs, &cluster_fetch(&namespace, "first", "30 3 * * *")).await;
    cluster::apply(&cfs, &cluster_fetch(&namespace, "second", "0 4 * * *")).await;
    eventually("the new leader reconciles", Duration::from_secs(30), || async {
        reconciled(&cfs, "first").await && reconciled(&cfs, "second").await
    })
    .await;
    eventually("the new leader's metric", Duration::from_secs(10), || async {
        leader_metric(&replicas[standby]) == Some(1)
    })
    .await;

    // resume the old leader: it must step down and exit without a single write
    let resumed = Timestamp::now();
    replicas[leader].signal("-CONT");
    let mut exited = None;
    eventually("the resumed old leader exits", Duration::from_secs(20), || {
        exited = replicas[leader].exit_status();
        std::future::ready(exited.is_some())
    })
    .await;
    let exited = exited.unwrap();
    assert!(!exited.success(), "it exits non-zero so its pod restarts as a standby: {exited}");
    // more work: the new leader keeps going
    cluster::apply(&cfs, &cluster_fetch(&namespace, "second", "15 5 * * *")).await;
    eventually("the new leader keeps reconciling", Duration::from_secs(30), || reconciled(&cfs, "second")).await;

    let writes = audit::writes_in(&client, &namespace).await;
    let old_ua = replicas[leader].user_agent();
    let late: Vec<_> = writes
        .iter()
        .filter(|w| w.user_agent == old_ua && w.received >= resumed)
        .map(|w| format!("{} {}/{} ({})", w.verb, w.resource, w.name, w.code))
        .collect();
    assert!(late.is_empty(), "the resumed old leader wrote {late:?}\nits log:\n{}", replicas[leader].logs());
    let new_ua = replicas[standby].user_agent();
    assert!(
        writes.iter().any(|w| w.user_agent == new_ua && w.received >= resumed && w.resource != "leases"),
        "the new leader wrote after the resume"
    );
    // it says so (the lease deadline and the election task race to notice first; either ends leading)
    assert!(replicas[leader].logs().contains("lost the leader Lease"), "log:\n{}", replicas[leader].logs());

    drop(replicas);
    let _ = Api::<Namespace>::all(client).delete(&namespace, &DeleteParams::default()).await;
    println!("leader e2e took {:?}", started.elapsed());
}
