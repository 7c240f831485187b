//! Tier 5: the cluster end-to-end, on the real control plane (`scripts/cluster.sh`) with the pod runner as
//! its node (`scripts/node.sh`). The CRDs are applied server-side; the chart is installed by the real `helm`;
//! the operator runs as the chart's Deployment (in-cluster, with the chart's ServiceAccount, so the chart's
//! RBAC is enforced), the fetcher runs in the Jobs the CronJob and the operator create, and the sample
//! services run as a Deployment of `microfleet-demo`. The chart is installed with `watchNamespace` set to the
//! test's namespace: the namespaced mode (a Role instead of a ClusterRole) is the one proven here, and the
//! operator leaves alone the resources of the other cluster tests running beside it.
//!
//! One test, one story: the scenarios that leave the operator alone run at once, each in its own task; then
//! those that restart the operator or change its RBAC run one after another. Every scenario prints its result
//! and how long it took; the test fails if any failed. Never skipped: without a cluster it fails and says
//! how to get one.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        batch::v1::{CronJob, Job},
        core::v1::{Pod, Secret},
        events::v1::Event,
        rbac::v1::Role,
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use microfleet_crds::{
    clusterfetch::{ClusterFetch, NotificationState, RunOutcome, RunRecord, RunTrigger},
    contract::FailureClass,
    labels,
};
use microfleet_tests::{
    cluster::{self, eventually, TestNamespace},
    operator::{self, http_get, sample},
    tools::kstatus,
};
use serde_json::{json, Value};

/// Users the sample clustering service lists.
const USERS: i64 = 20_000;
/// The admin port the chart's operator listens on (pods share the host network): 18090, or
/// `MICROFLEET_E2E_ADMIN_PORT` where several clusters share one host.
fn admin_port() -> u16 {
    std::env::var("MICROFLEET_E2E_ADMIN_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(18090)
}
/// Longest wait for anything a run does.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// What every scenario shares.
struct Story {
    client: Client,
    namespace: String,
    /// The sample services' ports: clustering, promotion, webhook.
    clustering: u16,
    promotion: u16,
    webhook: u16,
    /// A port where a listener accepts connections and never answers (a hung source).
    hung: u16,
    /// A port where nothing listens.
    closed: u16,
}

type Scenario = fn(Arc<Story>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

#[tokio::test]
async fn the_operator_on_the_real_control_plane() {
    let client = cluster::node_client().await;
    cluster::install_crds(&client).await;
    remove_prometheus_rule_crd(&client).await;
    let namespace = TestNamespace::new("e2e").await;
    operator::install_chart(&[
        "replicaCount=1",
        &format!("metrics.port={}", admin_port()),
        "podDisruptionBudget.enabled=false",
        &format!("watchNamespace={}", namespace.name),
    ]);
    let story = Arc::new(Story {
        client: client.clone(),
        namespace: namespace.name.clone(),
        clustering: cluster::free_port(),
        promotion: cluster::free_port(),
        webhook: cluster::free_port(),
        hung: hung_listener().await,
        closed: cluster::free_port(),
    });
    start_sample_services(&story).await;
    eventually("the operator leads and serves /metrics", Duration::from_secs(60), || {
        std::future::ready(leader().is_some_and(|l| l == 1.0))
    })
    .await;

    let together: [(&str, Scenario); 5] = [
        ("run-now → Job → pod → fetcher → status, Event, metrics, kstatus Current", |s| {
            Box::pin(run_now_succeeds(s))
        }),
        ("a run fired by the CronJob controller", |s| Box::pin(cron_fires_a_run(s))),
        ("a failed run → one notifier Job → one webhook delivery", |s| Box::pin(failed_run_notifies_once(s))),
        ("failures the pod cannot report: deadline, OOM, image, unschedulable, Secret", |s| {
            Box::pin(failures_the_pod_cannot_report(s))
        }),
        ("Forbid with a run-now during a run; suspend; a spec change", |s| Box::pin(forbid_suspend_and_spec_change(s))),
    ];
    let one_by_one: [(&str, Scenario); 4] = [
        ("the operator killed between a failure and its notification → still one", |s| {
            Box::pin(notification_survives_operator_restarts(s))
        }),
        ("a watch the operator cannot list (Pods forbidden by its RBAC)", |s| Box::pin(pods_forbidden(s))),
        ("PrometheusRule: AlertsReady=False without the CRD, True with it", |s| Box::pin(alerts_follow_the_crd(s))),
        ("delete → garbage collection of children, metric series gone", |s| Box::pin(deletion_collects_children(s))),
    ];

    let mut results = Vec::new();
    let started: Vec<_> = together
        .iter()
        .map(|(name, scenario)| (*name, Instant::now(), tokio::spawn(scenario(story.clone()))))
        .collect();
    for (name, start, task) in started {
        results.push(outcome(name, start, task.await));
    }
    for (name, scenario) in one_by_one {
        let start = Instant::now();
        results.push(outcome(name, start, tokio::spawn(scenario(story.clone())).await));
    }

    println!("\ne2e scenarios on the real control plane:");
    for (line, _) in &results {
        println!("  {line}");
    }
    let failed: Vec<_> = results.iter().filter(|(_, ok)| !ok).map(|(line, _)| line.clone()).collect();
    operator::uninstall_chart();
    remove_prometheus_rule_crd(&client).await;
    namespace.delete().await;
    assert!(failed.is_empty(), "{} scenario(s) failed:\n{}", failed.len(), failed.join("\n"));
}

fn outcome(name: &str, start: Instant, result: Result<(), tokio::task::JoinError>) -> (String, bool) {
    let took = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => (format!("ok      {name} ({took:.1} s)"), true),
        Err(error) => {
            let why = error
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_else(|| "cancelled".into());
            (format!("FAILED  {name} ({took:.1} s): {why}"), false)
        }
    }
}

// ---- the scenarios ----

async fn run_now_succeeds(story: Arc<Story>) {
    let name = "now";
    let cf = apply_fetch(&story, name, &source_of(&story), json!({})).await;
    run_now(&story, name, "first").await;
    let run = wait_for_run(&story, name, |r| r.trigger == RunTrigger::Manual).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    assert_eq!(run.items, Some(USERS), "{run:?}");
    // the Events follow the status write that records the run
    eventually("RunNowStarted and RunSucceeded Events", Duration::from_secs(20), || async {
        let reasons = event_reasons(&story, name).await;
        ["RunNowStarted", "RunSucceeded"].iter().all(|reason| reasons.iter().any(|r| r == reason))
    })
    .await;
    let series = format!("microfleet_clusterfetch_last_run_items{{name=\"{name}\",namespace=\"{}\"}}", story.namespace);
    eventually("the last run's items in /metrics", Duration::from_secs(20), || {
        std::future::ready(metrics().and_then(|m| sample(&m, &series)) == Some(USERS as f64))
    })
    .await;
    let current = fetches(&story).get(name).await.unwrap();
    assert_eq!(
        kstatus(&current),
        "Current",
        "kstatus of a Ready ClusterFetch; generation {:?}",
        cf.metadata.generation
    );
}

async fn cron_fires_a_run(story: Arc<Story>) {
    let name = "cron";
    apply_fetch(&story, name, &source_of(&story), json!({"schedule": "*/1 * * * *"})).await;
    let run = wait_for_run(&story, name, |r| r.trigger == RunTrigger::Scheduled).await;
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    let jobs = Api::<Job>::namespaced(story.client.clone(), &story.namespace).get(&run.job_name).await.unwrap();
    let owner = jobs.owner_references().first().map(|o| o.kind.clone());
    assert_eq!(owner.as_deref(), Some("CronJob"), "the CronJob controller made the Job");
}

async fn failed_run_notifies_once(story: Arc<Story>) {
    let name = "fails";
    apply_fetch(&story, name, &refused_source(&story), json!({})).await;
    run_now(&story, name, "first").await;
    let run = wait_for_run(&story, name, |r| r.trigger == RunTrigger::Manual).await;
    assert_eq!(run.outcome, RunOutcome::Failed, "{run:?}");
    assert_eq!(run.failure_class, Some(FailureClass::Source), "{run:?}");
    wait_for_run(&story, name, |r| r.notification == NotificationState::Delivered).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(notifier_jobs(&story, name).await, 1, "exactly one notifier Job");
    assert_eq!(deliveries(&story, name), 1, "exactly one webhook delivery");
}

async fn failures_the_pod_cannot_report(story: Arc<Story>) {
    let hung = json!({"url": format!("http://127.0.0.1:{}/v1/users", story.hung), "timeouts": {"requestSeconds": 300}});
    let cases: Vec<(&str, Value, Value, FailureClass)> = vec![
        ("deadline", hung, json!({"activeDeadlineSeconds": 10}), FailureClass::DeadlineExceeded),
        ("oom", source_of(&story), json!({"resources": {"limits": {"memory": "1Mi"}}}), FailureClass::OutOfMemory),
        (
            "image",
            source_of(&story),
            json!({"activeDeadlineSeconds": 10, "image": "microfleet-missing:1"}),
            FailureClass::ImagePull,
        ),
        (
            "unschedulable",
            source_of(&story),
            json!({"activeDeadlineSeconds": 10, "resources": {"requests": {"cpu": "64"}}}),
            FailureClass::Unschedulable,
        ),
        (
            "secret",
            json!({"url": format!("http://127.0.0.1:{}/v1/users", story.clustering), "credentials": {"bearerToken": {"name": "absent", "key": "token"}}}),
            json!({"activeDeadlineSeconds": 10}),
            FailureClass::Config,
        ),
    ];
    let mut waits = Vec::new();
    for (name, source, extra, class) in cases {
        let story = story.clone();
        waits.push(tokio::spawn(async move {
            apply_fetch(&story, name, &source, extra).await;
            run_now(&story, name, "first").await;
            let run = wait_for_run(&story, name, |r| r.trigger == RunTrigger::Manual).await;
            assert_eq!((run.outcome, run.failure_class), (RunOutcome::Failed, Some(class)), "{name}: {run:?}");
        }));
    }
    for wait in waits {
        wait.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    }
}

async fn forbid_suspend_and_spec_change(story: Arc<Story>) {
    let name = "forbid";
    let hung = json!({"url": format!("http://127.0.0.1:{}/v1/users", story.hung), "timeouts": {"requestSeconds": 300}});
    apply_fetch(&story, name, &hung, json!({"concurrencyPolicy": "Forbid", "activeDeadlineSeconds": 300})).await;
    run_now(&story, name, "first").await;
    let jobs = Api::<Job>::namespaced(story.client.clone(), &story.namespace);
    let selector = ListParams::default().labels(&format!(
        "{}={name},{}={}",
        labels::CLUSTER_FETCH,
        labels::ROLE,
        labels::ROLE_RUN
    ));
    eventually("the first run-now Job", Duration::from_secs(30), || async {
        jobs.list(&selector).await.map(|l| l.items.len()).unwrap_or(0) == 1
    })
    .await;
    run_now(&story, name, "second").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(jobs.list(&selector).await.unwrap().items.len(), 1, "Forbid: no second run while one is active");

    // suspend and a schedule change: the CronJob follows by server-side apply, one field manager, no conflict
    let fetches = fetches(&story);
    let patch = json!({"spec": {"suspend": true, "schedule": "30 3 * * *"}});
    let changed = fetches.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let cronjobs = Api::<CronJob>::namespaced(story.client.clone(), &story.namespace);
    eventually("the CronJob suspended with the new schedule", Duration::from_secs(30), || async {
        cronjobs
            .get(name)
            .await
            .ok()
            .and_then(|c| c.spec)
            .is_some_and(|s| s.suspend == Some(true) && s.schedule == "30 3 * * *")
    })
    .await;
    eventually("status.observedGeneration reaches the new generation", Duration::from_secs(30), || async {
        let cf = fetches.get(name).await.unwrap();
        cf.status.and_then(|s| s.observed_generation) == changed.metadata.generation
    })
    .await;
    let cronjob = cronjobs.get(name).await.unwrap();
    let appliers: Vec<_> = cronjob
        .managed_fields()
        .iter()
        .filter(|f| f.operation.as_deref() == Some("Apply"))
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(appliers, ["microfleet-operator"], "one field manager applies the CronJob");

    // the active run ends (its Job deleted) → the waiting run-now starts
    let first = jobs.list(&selector).await.unwrap().items.remove(0).name_any();
    jobs.delete(&first, &DeleteParams::background()).await.unwrap();
    eventually("the waiting run-now starts once the active run is gone", Duration::from_secs(60), || async {
        jobs.list(&selector).await.unwrap().items.iter().any(|j| j.name_any() != first)
    })
    .await;
}

async fn notification_survives_operator_restarts(story: Arc<Story>) {
    let name = "restart";
    apply_fetch(&story, name, &refused_source(&story), json!({})).await;
    run_now(&story, name, "first").await;
    let jobs = Api::<Job>::namespaced(story.client.clone(), &story.namespace);
    let runs = ListParams::default().labels(&format!(
        "{}={name},{}={}",
        labels::CLUSTER_FETCH,
        labels::ROLE,
        labels::ROLE_RUN
    ));
    eventually("the run-now Job", Duration::from_secs(30), || async {
        jobs.list(&runs).await.map(|l| !l.items.is_empty()).unwrap_or(false)
    })
    .await;
    scale_operator(&story, 0).await;
    eventually("the run fails while the operator is away", RUN_TIMEOUT, || async {
        jobs.list(&runs).await.unwrap().items.iter().any(|j| {
            j.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Failed"))
        })
    })
    .await;
    // while nobody reconciles, a spec change is not observed: kstatus says InProgress
    let fetches = fetches(&story);
    fetches
        .patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": {"schedule": "15 4 * * *"}})))
        .await
        .unwrap();
    assert_eq!(kstatus(&fetches.get(name).await.unwrap()), "InProgress");
    scale_operator(&story, 1).await;
    wait_for_run(&story, name, |r| r.notification == NotificationState::Delivered).await;
    eventually("kstatus Current once the operator caught up", Duration::from_secs(30), || async {
        kstatus(&fetches.get(name).await.unwrap()) == "Current"
    })
    .await;
    // and once more: a fresh operator finds the notification already done
    let pods = Api::<Pod>::namespaced(story.client.clone(), operator::RELEASE_NAMESPACE);
    for pod in pods.list(&ListParams::default()).await.unwrap() {
        pods.delete(&pod.name_any(), &DeleteParams::default()).await.unwrap();
    }
    eventually("a new operator leads", Duration::from_secs(90), || std::future::ready(leader() == Some(1.0))).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(notifier_jobs(&story, name).await, 1, "exactly one notifier Job across two operator restarts");
    assert_eq!(deliveries(&story, name), 1, "exactly one webhook delivery across two operator restarts");
}

async fn pods_forbidden(story: Arc<Story>) {
    let roles = Api::<Role>::namespaced(story.client.clone(), &story.namespace);
    let role_name = operator::RELEASE;
    let original = roles.get(role_name).await.unwrap();
    let mut restricted = original.clone();
    restricted.metadata.managed_fields = None;
    restricted.metadata.resource_version = None;
    let rules = restricted.rules.get_or_insert_with(Vec::new);
    rules.retain(|r| !r.resources.iter().flatten().any(|res| res == "pods"));
    roles.replace(role_name, &Default::default(), &restricted).await.unwrap();
    restart_operator(&story).await;
    eventually("/readyz names the failing Pods watch", Duration::from_secs(60), || {
        std::future::ready(
            http_get(admin_port(), "/readyz")
                .is_some_and(|(code, body)| code == 503 && body.contains("watch of pods failing")),
        )
    })
    .await;
    assert_eq!(metrics().and_then(|m| sample(&m, "microfleet_watch_healthy{resource=\"pods\"}")), Some(0.0));
    let log = operator_log();
    assert!(
        log.contains("watch failing") && log.contains("pods"),
        "the operator's log names the failing watch:\n{log}"
    );
    // other ClusterFetches are not held up: a new one gets its CronJob at once
    let started = Instant::now();
    apply_fetch(&story, "unblocked", &source_of(&story), json!({})).await;
    let cronjobs = Api::<CronJob>::namespaced(story.client.clone(), &story.namespace);
    eventually("the CronJob of a new ClusterFetch", Duration::from_secs(15), || async {
        cronjobs.get_opt("unblocked").await.ok().flatten().is_some()
    })
    .await;
    println!(
        "    a new ClusterFetch got its CronJob {:.1} s after apply, with the Pods watch failing",
        started.elapsed().as_secs_f64()
    );
    let mut restored = original;
    restored.metadata.managed_fields = None;
    restored.metadata.resource_version = None;
    roles.replace(role_name, &Default::default(), &restored).await.unwrap();
    eventually("the Pods watch recovers and /readyz is 200", Duration::from_secs(90), || {
        std::future::ready(http_get(admin_port(), "/readyz").is_some_and(|(code, _)| code == 200))
    })
    .await;
}

async fn alerts_follow_the_crd(story: Arc<Story>) {
    let name = "alerts";
    apply_fetch(&story, name, &source_of(&story), json!({})).await;
    let fetches = fetches(&story);
    let alerts_reason = |cf: &ClusterFetch| {
        cf.status
            .iter()
            .flat_map(|s| &s.conditions)
            .find(|c| c.type_ == "AlertsReady")
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    eventually("AlertsReady=False without the PrometheusRule CRD", Duration::from_secs(30), || async {
        alerts_reason(&fetches.get(name).await.unwrap()) == Some(("False".into(), "PrometheusOperatorMissing".into()))
    })
    .await;
    // nothing else changes: the operator notices the kind on its own (discovery, every 10 s) and reconciles
    install_prometheus_rule_crd(&story.client).await;
    eventually("AlertsReady=True once the CRD is there", Duration::from_secs(60), || async {
        alerts_reason(&fetches.get(name).await.unwrap()) == Some(("True".into(), "RuleApplied".into()))
    })
    .await;
    let rules: Api<DynamicObject> = Api::namespaced_with(story.client.clone(), &story.namespace, &prometheus_rule());
    let rule = rules.get(&format!("{name}-alerts")).await.unwrap();
    assert_eq!(rule.owner_references().first().map(|o| o.name.as_str()), Some(name), "owned by its ClusterFetch");
}

async fn deletion_collects_children(story: Arc<Story>) {
    // "alerts" has a CronJob and a PrometheusRule; "fails" has run and notifier Jobs
    let fetches = fetches(&story);
    let series =
        |name: &str| format!("microfleet_clusterfetch_ready{{name=\"{name}\",namespace=\"{}\"}}", story.namespace);
    for name in ["alerts", "fails"] {
        assert!(
            metrics().and_then(|m| sample(&m, &series(name))).is_some(),
            "{name} has metric series before deletion"
        );
        fetches.delete(name, &DeleteParams::background()).await.unwrap();
    }
    eventually("the metric series of deleted ClusterFetches are gone", Duration::from_secs(10), || {
        std::future::ready(
            metrics().is_some_and(|m| ["alerts", "fails"].iter().all(|n| sample(&m, &series(n)).is_none())),
        )
    })
    .await;
    let cronjobs = Api::<CronJob>::namespaced(story.client.clone(), &story.namespace);
    let jobs = Api::<Job>::namespaced(story.client.clone(), &story.namespace);
    let rules: Api<DynamicObject> = Api::namespaced_with(story.client.clone(), &story.namespace, &prometheus_rule());
    eventually(
        "the garbage collector removes CronJobs, Jobs, notifier Jobs and the PrometheusRule",
        Duration::from_secs(60),
        || async {
            let mut left = 0;
            for name in ["alerts", "fails"] {
                left += usize::from(cronjobs.get_opt(name).await.unwrap().is_some());
                let owned = ListParams::default().labels(&format!("{}={name}", labels::CLUSTER_FETCH));
                left += jobs.list(&owned).await.unwrap().items.len();
            }
            left += usize::from(rules.get_opt("alerts-alerts").await.unwrap().is_some());
            left == 0
        },
    )
    .await;
}

// ---- the story's fixtures ----

/// The sample services as a Deployment of `microfleet-demo`, on the story's ports.
async fn start_sample_services(story: &Story) {
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "demo"},
        "spec": {
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"containers": [{
                    "name": "demo",
                    "image": format!("microfleet-demo:{}", operator::TAG),
                    "args": ["--users", USERS.to_string(), "--paging", "cursor",
                             "--clustering-port", story.clustering.to_string(),
                             "--promotion-port", story.promotion.to_string(),
                             "--webhook-port", story.webhook.to_string()],
                    "readinessProbe": {"tcpSocket": {"port": story.webhook}, "periodSeconds": 1}
                }]}
            }
        }
    }))
    .unwrap();
    let deployments = Api::<Deployment>::namespaced(story.client.clone(), &story.namespace);
    cluster::apply(&deployments, &deployment).await;
    eventually("the sample services answer", Duration::from_secs(60), || {
        std::future::ready(http_get(story.webhook, "/received").is_some_and(|(code, _)| code == 200))
    })
    .await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "oncall-webhook"},
        "stringData": {"url": format!("http://127.0.0.1:{}/hooks/e2e", story.webhook)}
    }))
    .unwrap();
    cluster::apply(&Api::<Secret>::namespaced(story.client.clone(), &story.namespace), &secret).await;
}

/// A listener that accepts connections and never answers them, for runs that must hang.
async fn hung_listener() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

fn source_of(story: &Story) -> Value {
    json!({
        "url": format!("http://127.0.0.1:{}/v1/users", story.clustering),
        "pagination": {"type": "cursor", "cursorPath": "/next_cursor", "pageSize": 5000},
        "itemPath": "/users"
    })
}

fn refused_source(story: &Story) -> Value {
    json!({"url": format!("http://127.0.0.1:{}/v1/users", story.closed), "timeouts": {"connectSeconds": 1}})
}

/// Applies ClusterFetch `name` with `source`, the sample platform as sink, notifications to the sample
/// webhook, one attempt, and `extra` merged into the spec.
async fn apply_fetch(story: &Story, name: &str, source: &Value, extra: Value) -> ClusterFetch {
    let mut spec = json!({
        "schedule": "0 2 * * *",
        "timeZone": "Asia/Jakarta",
        "source": source,
        "sink": {"http": {"url": format!("http://127.0.0.1:{}/v1/eligible-users/imports", story.promotion), "batchSize": 5000}},
        "retry": {"attempts": 1, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1},
        "checks": {"minItems": 1},
        "notify": {"webhookUrl": {"name": "oncall-webhook", "key": "url"}},
    });
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    let cf: ClusterFetch = serde_json::from_value(json!({
        "apiVersion": "microfleet.io/v1alpha1",
        "kind": "ClusterFetch",
        "metadata": {"name": name, "namespace": story.namespace},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    cluster::apply(&fetches(story), &cf).await
}

fn fetches(story: &Story) -> Api<ClusterFetch> {
    Api::namespaced(story.client.clone(), &story.namespace)
}

async fn run_now(story: &Story, name: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {labels::RUN_NOW: value}}});
    fetches(story).patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// The newest recorded run of `name` that satisfies `wanted`.
async fn wait_for_run(story: &Story, name: &str, wanted: impl Fn(&RunRecord) -> bool) -> RunRecord {
    let fetches = fetches(story);
    let started = Instant::now();
    loop {
        let cf = fetches.get(name).await.unwrap();
        if let Some(run) = cf.status.iter().flat_map(|s| &s.recent_runs).find(|r| wanted(r)) {
            return run.clone();
        }
        assert!(started.elapsed() < RUN_TIMEOUT, "{name}: no such run within {RUN_TIMEOUT:?}; status: {:?}", cf.status);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn event_reasons(story: &Story, name: &str) -> Vec<String> {
    let events = Api::<Event>::namespaced(story.client.clone(), &story.namespace);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

async fn notifier_jobs(story: &Story, name: &str) -> usize {
    let jobs = Api::<Job>::namespaced(story.client.clone(), &story.namespace);
    let selector = format!("{}={name},{}={}", labels::CLUSTER_FETCH, labels::ROLE, labels::ROLE_NOTIFIER);
    jobs.list(&ListParams::default().labels(&selector)).await.unwrap().items.len()
}

/// Webhook deliveries about ClusterFetch `name` (the sample webhook lists what it received).
fn deliveries(story: &Story, name: &str) -> usize {
    let (_, body) = http_get(story.webhook, "/received").expect("the sample webhook answers");
    let received: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
    let needle = format!("{}/{name}/", story.namespace);
    received.iter().filter(|r| r.to_string().contains(&needle)).count()
}

fn metrics() -> Option<String> {
    http_get(admin_port(), "/metrics").map(|(_, body)| body)
}

/// `microfleet_leader` of the chart's operator (`None` while it does not answer).
fn leader() -> Option<f64> {
    metrics().and_then(|m| sample(&m, "microfleet_leader"))
}

/// What the kstatus library (tests/kstatus, built by scripts/tools.sh) says of an object.
async fn scale_operator(story: &Story, replicas: i32) {
    let deployments = Api::<Deployment>::namespaced(story.client.clone(), operator::RELEASE_NAMESPACE);
    let patch = json!({"spec": {"replicas": replicas}});
    deployments.patch(operator::RELEASE, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    let pods = Api::<Pod>::namespaced(story.client.clone(), operator::RELEASE_NAMESPACE);
    if replicas == 0 {
        eventually("the operator's pods are gone", Duration::from_secs(60), || async {
            pods.list(&ListParams::default()).await.unwrap().items.is_empty()
        })
        .await;
    } else {
        eventually("the operator leads again", Duration::from_secs(90), || std::future::ready(leader() == Some(1.0)))
            .await;
    }
}

async fn restart_operator(story: &Story) {
    scale_operator(story, 0).await;
    scale_operator(story, 1).await;
}

/// The log of the operator's current pod, from the pod runner's folder.
fn operator_log() -> String {
    let dir = std::env::var("MICROFLEET_NODE_DIR").unwrap_or_else(|_| "/var/lib/microfleet-node".into());
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    for entry in walk(&std::path::PathBuf::from(dir).join("pods")) {
        let path = entry.to_string_lossy().to_string();
        if path.contains(&format!("{}_{}", operator::RELEASE_NAMESPACE, operator::RELEASE)) && path.ends_with(".log") {
            let modified = std::fs::metadata(&entry).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                newest = Some((modified, std::fs::read_to_string(&entry).unwrap_or_default()));
            }
        }
    }
    newest.map(|(_, text)| text).unwrap_or_default()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn prometheus_rule() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    }
}

const PROMETHEUS_RULE_CRD: &str = "prometheusrules.monitoring.coreos.com";

/// Installs the prometheus-operator's PrometheusRule CRD (from its Go module, fetched by scripts/tools.sh).
async fn install_prometheus_rule_crd(client: &Client) {
    let dir = std::env::var("MICROFLEET_PROMETHEUS_OPERATOR_CRDS")
        .expect("MICROFLEET_PROMETHEUS_OPERATOR_CRDS (scripts/tools.sh)");
    let text = std::fs::read_to_string(format!("{dir}/monitoring.coreos.com_prometheusrules.yaml")).unwrap();
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    cluster::apply(&crds, &crd).await;
    let established = kube::runtime::wait::await_condition(
        crds,
        PROMETHEUS_RULE_CRD,
        kube::runtime::wait::conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(30), established).await.unwrap().unwrap();
}

async fn remove_prometheus_rule_crd(client: &Client) {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    if crds.get_opt(PROMETHEUS_RULE_CRD).await.unwrap().is_some() {
        crds.delete(PROMETHEUS_RULE_CRD, &DeleteParams::default()).await.unwrap();
        eventually("the PrometheusRule CRD is gone", Duration::from_secs(30), || async {
            crds.get_opt(PROMETHEUS_RULE_CRD).await.unwrap().is_none()
        })
        .await;
    }
}
