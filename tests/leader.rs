//! Tier 5: leader election and the write fence against the real control plane of `KUBECONFIG`
//! (`scripts/cluster.sh up`), read back from the API server's audit log (`$MICROFLEET_CLUSTER_DIR/audit.log`).
//!
//! Two `microfleet-operator run` processes (built from this checkout by the test) elect a leader on a Lease
//! in a namespace of their own; only the leader writes. The leader is then frozen (SIGSTOP): the standby
//! takes over once the Lease has lapsed; the frozen one, resumed (SIGCONT), must write nothing and exit.
//! Never skipped: without a cluster it fails and says how to get one.

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{ConfigMap, Namespace},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    jiff::Timestamp,
};
use kube::{
    api::{DeleteParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_tests::repo_root;
use serde_json::Value;

/// The Lease the operators elect on (in the test's namespace).
const LEASE: &str = "microfleet-operator";
/// The operator's lease duration: a frozen leader's Lease lapses this long after its last renewal.
const LEASE_DURATION: Duration = Duration::from_secs(15);
/// Slack on top of the lease duration for the takeover: the standby looks every 2 s, plus a loaded machine.
const TAKEOVER_SLACK: Duration = Duration::from_secs(8);

// ---- cluster helpers (to be merged into the shared harness) ----

/// The kubeconfig of the test cluster; fails (never skips) without one.
fn kubeconfig() -> PathBuf {
    match std::env::var_os("KUBECONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!("no cluster: run scripts/test.sh or scripts/cluster.sh up"),
    }
}

/// The API server's audit log: `$MICROFLEET_CLUSTER_DIR/audit.log`, else next to the kubeconfig.
fn audit_log() -> PathBuf {
    let dir = std::env::var_os("MICROFLEET_CLUSTER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| kubeconfig().parent().expect("the kubeconfig's folder").to_path_buf());
    let path = dir.join("audit.log");
    assert!(path.exists(), "no audit log at {} (scripts/cluster.sh writes it)", path.display());
    path
}

/// A client for the cluster of `KUBECONFIG`.
async fn client() -> Client {
    kubeconfig();
    Client::try_default().await.expect("a client from KUBECONFIG")
}

/// Server-side applies a YAML object.
async fn apply<K>(api: &Api<K>, yaml: &str) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_yaml::from_str(yaml).unwrap();
    api.patch(&object.name_any(), &PatchParams::apply("microfleet-tests").force(), &Patch::Apply(&object))
        .await
        .unwrap_or_else(|e| panic!("applying {}: {e}", object.name_any()))
}

/// Applies the CRDs and waits until the ClusterFetch kind is served.
async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, yaml) in microfleet_crds::crd_documents() {
        apply(&crds, yaml.split("---\n").nth(1).unwrap()).await;
    }
    let cfs: Api<ClusterFetch> = Api::all(client.clone());
    eventually("the ClusterFetch kind is served", Duration::from_secs(30), || async {
        cfs.list(&Default::default()).await.is_ok()
    })
    .await;
}

/// Polls `check` every 200 ms until it holds; fails after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One entry of the audit log.
struct Audited {
    user_agent: String,
    verb: String,
    resource: String,
    name: String,
    code: u64,
    received: Timestamp,
}

/// The audit log's writes in `namespace`, up to now: writes a marker ConfigMap and waits until the audit log
/// (batched, and throttled on a busy API server) has recorded it, so every earlier write is in.
async fn writes_in(client: &Client, namespace: &str) -> Vec<Audited> {
    let marker = format!("audit-marker-{}", Timestamp::now().as_nanosecond());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    apply(&configmaps, &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {marker}}}\n")).await;
    let mut entries = Vec::new();
    eventually("the audit log records the marker", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(audit_log()).unwrap();
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
            received: e["requestReceivedTimestamp"].as_str().unwrap_or_default().parse().unwrap(),
        })
        .collect()
}

// ---- the operator processes ----

/// A running `microfleet-operator run`; killed when dropped. Its log stays in the temp folder when the test fails.
struct Operator {
    identity: String,
    admin: u16,
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn user_agent(&self) -> String {
        format!("microfleet-operator/{} ({})", env!("CARGO_PKG_VERSION"), self.identity)
    }

    fn start(binary: &Path, namespace: &str, identity: &str) -> Operator {
        let admin = free_port();
        let log = std::env::temp_dir().join(format!("{namespace}-{identity}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(["run", "--log-format", "text", "--watch-namespace", namespace, "--lease-name", LEASE])
            .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
            .env("KUBECONFIG", kubeconfig())
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", identity)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        Operator { identity: identity.to_string(), admin, child, log }
    }

    /// The value of `microfleet_leader` on its admin server (`None` while it does not answer).
    fn leader_metric(&self) -> Option<i64> {
        let metrics = http_get(self.admin, "/metrics")?;
        metrics.lines().find_map(|l| l.strip_prefix("microfleet_leader ")).and_then(|v| v.trim().parse().ok())
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal} {}", self.identity);
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the operator from this checkout and copies the binary into the temp folder under `name`: a target
/// folder shared with other checkouts may swap `debug/microfleet-operator` under the test.
fn operator_binary(name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let output = Command::new(cargo)
        .args(["build", "-p", "microfleet-operator", "--bin", "microfleet-operator"])
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo build -p microfleet-operator failed");
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|m| {
            m["executable"].as_str().filter(|_| m["target"]["name"] == "microfleet-operator").map(PathBuf::from)
        })
        .expect("cargo names the microfleet-operator executable");
    let copy = std::env::temp_dir().join(name);
    std::fs::copy(&built, &copy).unwrap();
    copy
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on 127.0.0.1; the body, or `None` when nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

fn cluster_fetch(namespace: &str, name: &str, schedule: &str) -> String {
    format!(
        r#"
apiVersion: microfleet.io/v1alpha1
kind: ClusterFetch
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  schedule: "{schedule}"
  source: {{url: "http://clustering.{namespace}.svc:8080/users"}}
  sink: {{http: {{url: "http://platform.{namespace}.svc:8080/imports"}}}}
"#
    )
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
    let client = client().await;
    install_crds(&client).await;
    let namespace = format!("mf-leader-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    apply(&namespaces, &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n")).await;
    let cfs: Api<ClusterFetch> = Api::namespaced(client.clone(), &namespace);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    apply(&cfs, &cluster_fetch(&namespace, "first", "0 2 * * *")).await;

    // two replicas: exactly one leads, and only it writes
    let binary = operator_binary(&format!("{namespace}-microfleet-operator"));
    let mut replicas =
        [Operator::start(&binary, &namespace, "replica-a"), Operator::start(&binary, &namespace, "replica-b")];
    eventually("a replica holds the Lease", Duration::from_secs(30), || async { holder(&leases).await.is_some() })
        .await;
    let leader_name = holder(&leases).await.unwrap();
    let (leader, standby) = if leader_name == replicas[0].identity { (0, 1) } else { (1, 0) };
    eventually("the leader reconciles", Duration::from_secs(30), || reconciled(&cfs, "first")).await;
    eventually("the metrics say who leads", Duration::from_secs(10), || async {
        replicas[leader].leader_metric() == Some(1) && replicas[standby].leader_metric() == Some(0)
    })
    .await;
    let writes = writes_in(&client, &namespace).await;
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
    apply(&cfs, &cluster_fetch(&namespace, "first", "30 3 * * *")).await;
    apply(&cfs, &cluster_fetch(&namespace, "second", "0 4 * * *")).await;
    eventually("the new leader reconciles", Duration::from_secs(30), || async {
        reconciled(&cfs, "first").await && reconciled(&cfs, "second").await
    })
    .await;
    eventually("the new leader's metric", Duration::from_secs(10), || async {
        replicas[standby].leader_metric() == Some(1)
    })
    .await;

    // resume the old leader: it must step down and exit without a single write
    let resumed = Timestamp::now();
    replicas[leader].signal("-CONT");
    let mut exited = None;
    eventually("the resumed old leader exits", Duration::from_secs(20), || {
        exited = replicas[leader].child.try_wait().unwrap();
        std::future::ready(exited.is_some())
    })
    .await;
    let exited = exited.unwrap();
    assert!(!exited.success(), "it exits non-zero so its pod restarts as a standby: {exited}");
    // more work: the new leader keeps going
    apply(&cfs, &cluster_fetch(&namespace, "second", "15 5 * * *")).await;
    eventually("the new leader keeps reconciling", Duration::from_secs(30), || reconciled(&cfs, "second")).await;

    let writes = writes_in(&client, &namespace).await;
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
    assert!(replicas[leader].logs().contains("stepping down from leading"), "log:\n{}", replicas[leader].logs());

    for replica in &mut replicas {
        let _ = replica.child.kill();
        let _ = replica.child.wait();
        let _ = std::fs::remove_file(&replica.log);
    }
    let _ = std::fs::remove_file(&binary);
    let _ = namespaces.delete(&namespace, &DeleteParams::default()).await;
    println!("leader e2e took {:?}", started.elapsed());
}
