//! Reconcile wiring against an in-memory API server (tower-test mock): which calls a reconcile makes, in
//! which order, with which bodies — and that a second reconcile, with the caches showing the first one's
//! writes, makes no call at all.

use std::{sync::Arc, time::Duration};

use http::{Request, Response};
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    client::Body,
    runtime::{
        events::Recorder,
        reflector::{self, store::Writer},
        watcher,
    },
    Client,
};
use microfleet_crds::{
    clusterfetch::{ClusterFetch, ClusterFetchStatus},
    contract::FailureClass,
    labels,
};
use serde_json::{json, Value};
use tower_test::mock::Handle;

use super::{reconcile, reconcile_fetch};
use crate::{
    clusterfetch::{
        apply::Writer as FencedWriter,
        build::BuildConfig,
        cronjob_view::CronJobView,
        fetch_view::ClusterFetchView,
        fixtures::{at, cluster_fetch, pod, run_job, spec, summary, JobState, PodState},
        owned::{Children, Owned},
        Context,
    },
    error::Error,
    runtime::{leader::Fence, metrics::Metrics},
};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// What the fake API server answers to one request.
enum Reply {
    /// 200/201 with the request body, plus a uid in metadata.
    Echo,
    /// 200 with this object.
    Object(Value),
    /// An error Status with this code and reason.
    Error(u16, &'static str),
}

/// One expected request: method, a piece of the path, and the reply.
struct Step(&'static str, &'static str, Reply);

/// A request as the fake API server received it.
#[derive(Debug)]
struct Seen {
    method: String,
    uri: String,
    body: Value,
}

/// Serves `steps` in order, asserting each request matches; returns what it saw. Fails if a request
/// arrives that no step expects.
async fn serve(mut handle: ApiHandle, steps: Vec<Step>) -> Vec<Seen> {
    let mut seen = Vec::new();
    for Step(method, path, reply) in steps {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("expected {method} {path}, no request came"))
            .expect("the client went away");
        let uri = request.uri().to_string();
        let got_method = request.method().to_string();
        assert_eq!(got_method, method, "request {uri}");
        assert!(uri.contains(path), "expected a path with {path}, got {got_method} {uri}");
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        let (code, reply_body) = match reply {
            Reply::Echo => {
                let mut echoed = body.clone();
                echoed["metadata"]["uid"] = json!("uid-from-api");
                (if method == "POST" { 201 } else { 200 }, echoed)
            }
            Reply::Object(object) => (200, object),
            Reply::Error(code, reason) => (
                code,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": format!("{reason} (test)")}),
            ),
        };
        let response = Response::builder().status(code).body(Body::from(serde_json::to_vec(&reply_body).unwrap()));
        send.send_response(response.unwrap());
        seen.push(Seen { method: got_method, uri, body });
    }
    if let Ok(Some((request, _))) = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
    seen
}

/// A writer through `client` behind `fence`.
fn writer(client: Client, fence: Fence) -> FencedWriter {
    FencedWriter::new(client.clone(), Recorder::new(client, "microfleet-operator".to_string().into()), fence)
}

struct Harness {
    ctx: Arc<Context>,
    cronjobs: Writer<CronJobView>,
    jobs: (Writer<Job>, Arc<Owned>),
    pods: (Writer<Pod>, Arc<Owned>),
    handle: Option<ApiHandle>,
    fence: Fence,
}

impl Harness {
    /// A harness that leads (an always-open fence, as without leader election).
    fn new() -> Harness {
        Harness::with_fence(Fence::open())
    }

    fn with_fence(fence: Fence) -> Harness {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let (cronjob_store, cronjobs) = reflector::store::<CronJobView>();
        let (job_store, jobs) = reflector::store::<Job>();
        let (pod_store, pods) = reflector::store::<Pod>();
        let (owned_jobs, owned_pods) = (Arc::new(Owned::default()), Arc::new(Owned::default()));
        let ctx = Context::new(
            client.clone(),
            writer(client, fence.clone()),
            cronjob_store,
            Children::new(job_store, owned_jobs.clone()),
            Children::new(pod_store, owned_pods.clone()),
            BuildConfig::new("registry.local/fetcher:1"),
            Arc::new(Metrics::new().unwrap()),
            || at(120),
        );
        let (jobs, pods) = ((jobs, owned_jobs), (pods, owned_pods));
        Harness { ctx: Arc::new(ctx), cronjobs, jobs, pods, handle: Some(handle), fence }
    }

    fn add_job(&mut self, job: Job) {
        let event = watcher::Event::Apply(job);
        self.jobs.0.apply_watcher_event(&event);
        self.jobs.1.apply(&event);
    }

    fn add_pod(&mut self, pod: Pod) {
        let event = watcher::Event::Apply(pod);
        self.pods.0.apply_watcher_event(&event);
        self.pods.1.apply(&event);
    }

    /// Runs one reconcile of `cf` against the expected `steps`; the CronJob it applied then shows in the
    /// cache, as the watch would bring it.
    async fn reconcile(&mut self, cf: &ClusterFetch, steps: Vec<Step>) -> (Result<(), Error>, Vec<Seen>) {
        let ctx = self.ctx.clone();
        let cf = cf.clone();
        self.serve_while(steps, async move { reconcile_fetch(&cf, &ctx).await.map(|_| ()) }).await
    }

    /// Runs one reconcile as the controller does, from the cached view of a ClusterFetch.
    async fn reconcile_view(&mut self, view: &ClusterFetchView, steps: Vec<Step>) -> (Result<(), Error>, Vec<Seen>) {
        let work = reconcile(Arc::new(view.clone()), self.ctx.clone());
        self.serve_while(steps, async move { work.await.map(|_| ()) }).await
    }

    /// Asks discovery whether the PrometheusRule kind is served, as the controller's poll does; the fake
    /// API server answers `reply`.
    async fn ask_rule_kind(&mut self, reply: Reply) {
        let ctx = self.ctx.clone();
        let work = async move {
            ctx.ask_rule_kind().await;
            Ok(())
        };
        let (result, _) = self.serve_while(vec![Step("GET", DISCOVERY, reply)], work).await;
        result.unwrap();
    }

    /// Serves `steps` while `work` runs; the CronJob it applied then shows in the cache.
    async fn serve_while(
        &mut self,
        steps: Vec<Step>,
        work: impl std::future::Future<Output = Result<(), Error>>,
    ) -> (Result<(), Error>, Vec<Seen>) {
        let server = tokio::spawn(serve(self.handle.take().unwrap(), steps));
        let result = work.await;
        let seen = server.await.unwrap();
        for applied in seen.iter().filter(|s| s.method == "PATCH" && s.uri.contains(CRONJOB)) {
            let mut cronjob: CronJobView = serde_json::from_value(applied.body.clone()).unwrap();
            cronjob.metadata.uid = Some("uid-from-api".into());
            crate::clusterfetch::in_line::slim_cronjob(&mut cronjob);
            self.cronjobs.apply_watcher_event(&watcher::Event::Apply(cronjob));
        }
        // a fresh mock for the next reconcile
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let ctx = Arc::get_mut(&mut self.ctx).expect("no other holder");
        ctx.client = client.clone();
        ctx.writer = writer(client, self.fence.clone());
        self.handle = Some(handle);
        (result, seen)
    }
}

/// The calls of a first reconcile with nothing else to do: the CronJob, the rule (after discovery tells
/// the kind is there), the status.
fn first(reply: Value) -> Vec<Step> {
    vec![
        Step("PATCH", CRONJOB, Reply::Echo),
        Step("GET", DISCOVERY, rules_installed()),
        Step("PATCH", RULE, Reply::Echo),
        Step("PATCH", STATUS, Reply::Object(reply)),
    ]
}

/// Discovery's answer when the prometheus-operator CRDs are installed.
fn rules_installed() -> Reply {
    Reply::Object(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "monitoring.coreos.com/v1",
        "resources": [{"name": "prometheusrules", "singularName": "prometheusrule", "namespaced": true,
                       "kind": "PrometheusRule", "verbs": ["get", "patch"]}]
    }))
}

/// The ClusterFetch as the API returns it after a status patch.
fn with_status(cf: &ClusterFetch, patch: &Value) -> Value {
    let mut object = serde_json::to_value(cf).unwrap();
    object["status"] = patch["status"].clone();
    object
}

fn status_of(seen: &Seen) -> ClusterFetchStatus {
    serde_json::from_value(seen.body["status"].clone()).unwrap()
}

fn condition(status: &ClusterFetchStatus, type_: &str) -> (String, String) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status.clone(), c.reason.clone())
}

const CRONJOB: &str = "/apis/batch/v1/namespaces/promo/cronjobs/promo-users?";
const OBJECT: &str = "/apis/microfleet.io/v1alpha1/namespaces/promo/clusterfetches/promo-users";
const STATUS: &str = "/apis/microfleet.io/v1alpha1/namespaces/promo/clusterfetches/promo-users/status?";
const JOBS: &str = "/apis/batch/v1/namespaces/promo/jobs?";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/promo/events";
const RULE: &str = "/apis/monitoring.coreos.com/v1/namespaces/promo/prometheusrules/promo-users-alerts?";
const DISCOVERY: &str = "/apis/monitoring.coreos.com/v1";

#[tokio::test]
async fn a_new_cluster_fetch_gets_its_cronjob_and_status_and_a_second_reconcile_writes_nothing() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h.reconcile(&cf, first(reply)).await;
    result.unwrap();
    assert!(seen[0].uri.contains("fieldManager=microfleet-operator") && seen[0].uri.contains("force=true"));
    let cronjob = &seen[0].body;
    assert_eq!(cronjob["kind"], "CronJob");
    assert_eq!(cronjob["metadata"]["ownerReferences"][0]["kind"], "ClusterFetch");
    assert_eq!(cronjob["metadata"]["ownerReferences"][0]["uid"], "cf-uid-1");
    assert_eq!(cronjob["spec"]["schedule"], "0 2 * * *");
    assert_eq!(
        cronjob["metadata"]["annotations"][crate::clusterfetch::in_line::APPLIED_HASH].as_str().map(str::len),
        Some(16)
    );
    assert_eq!(seen[2].body["kind"], "PrometheusRule");
    assert_eq!(seen[2].body["metadata"]["ownerReferences"][0]["uid"], "cf-uid-1");
    assert!(seen[3].uri.contains("fieldManager=microfleet-operator"));
    let first = status_of(&seen[3]);
    assert_eq!(condition(&first, "Ready"), ("True".into(), "Scheduled".into()));
    assert_eq!(first.observed_generation, Some(1));
    assert_eq!(condition(&first, "AlertsReady"), ("True".into(), "RuleApplied".into()));

    // second reconcile, with the status the first one wrote (its watch event): no call at all
    let mut cf2 = cf.clone();
    cf2.status = Some(first.clone());
    let (result, again) = h.reconcile(&cf2, vec![]).await;
    result.unwrap();
    assert!(again.is_empty());

    // a spec change applies the CronJob and writes status again; the rule does not depend on it and stays
    let mut cf3 = cf2.clone();
    cf3.spec.suspend = true;
    cf3.metadata.generation = Some(2);
    let reply = with_status(&cf3, &seen[3].body);
    let (result, changed) =
        h.reconcile(&cf3, vec![Step("PATCH", CRONJOB, Reply::Echo), Step("PATCH", STATUS, Reply::Object(reply))]).await;
    result.unwrap();
    assert_eq!(changed[0].body["spec"]["suspend"], true);
    assert_eq!(status_of(&changed[1]).observed_generation, Some(2));
}

#[tokio::test]
async fn the_controller_reconciles_the_whole_object_read_for_its_cached_view_and_not_again_while_in_line() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let view = ClusterFetchView::from(&cf);
    let whole = serde_json::to_value(&cf).unwrap();
    let steps = vec![
        Step("GET", DISCOVERY, rules_installed()),
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", CRONJOB, Reply::Echo),
        Step("PATCH", RULE, Reply::Echo),
        Step("PATCH", STATUS, Reply::Object(whole)),
    ];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[2].body["spec"]["schedule"], "0 2 * * *", "the CronJob is built from the object read");
    assert_eq!(condition(&status_of(&seen[4]), "Ready"), ("True".into(), "Scheduled".into()));

    // its writes show in the caches (the CronJob; the ClusterFetch with its status, a new resourceVersion):
    // the inputs changed, so it is read and reconciled once more, and writes nothing
    let mut written = cf.clone();
    written.status = Some(status_of(&seen[4]));
    written.metadata.resource_version = Some("2".into());
    let whole = serde_json::to_value(&written).unwrap();
    let steps = vec![Step("GET", OBJECT, Reply::Object(whole))];
    let view = ClusterFetchView::from(&written);
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(seen.len(), 1, "a read (discovery's answer is reused for minutes), no write");

    // nothing changed since (the periodic pass): no read at all
    let (result, seen) = h.reconcile_view(&view, vec![]).await;
    result.unwrap();
    assert!(seen.is_empty());

    // a run of it starts (a Job in the cache): read and reconciled again, its status says so
    h.add_job(run_job("promo-users-29000000", 0, JobState::Active));
    let whole = serde_json::to_value(&written).unwrap();
    let steps = vec![Step("GET", OBJECT, Reply::Object(whole.clone())), Step("PATCH", STATUS, Reply::Object(whole))];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(status_of(&seen[1]).active.len(), 1, "the Job changed the inputs");

    // a Job of another ClusterFetch changes nothing of this one's inputs
    let mut other = run_job("promo-orders-29000000", 0, JobState::Active);
    kube::ResourceExt::labels_mut(&mut other).insert(labels::CLUSTER_FETCH.into(), "promo-orders".into());
    h.add_job(other);
    let (result, seen) = h.reconcile_view(&view, vec![]).await;
    result.unwrap();
    assert!(seen.is_empty(), "another object's child is not an input");
}

#[tokio::test]
async fn a_view_of_a_deleted_object_reads_nothing_and_writes_nothing() {
    let mut h = Harness::new();
    let view = ClusterFetchView::from(&cluster_fetch(spec()));
    let steps = vec![Step("GET", DISCOVERY, rules_installed()), Step("GET", OBJECT, Reply::Error(404, "NotFound"))];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn a_view_older_than_this_process_s_status_write_is_not_even_read() {
    let mut h = Harness::new();
    let mut cf = cluster_fetch(spec());
    cf.metadata.resource_version = Some("10".into());
    h.ctx.written.record_status(&cf, Some("12"));
    let (result, seen) = h.reconcile_view(&ClusterFetchView::from(&cf), vec![]).await;
    result.unwrap();
    assert!(seen.is_empty());
}

#[tokio::test]
async fn a_cronjob_edited_by_hand_is_put_back() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let (result, seen) = h.reconcile(&cf, first(serde_json::to_value(&cf).unwrap())).await;
    result.unwrap();
    let mut cf2 = cf.clone();
    cf2.status = Some(status_of(&seen[3]));
    let mut edited: CronJobView = serde_json::from_value(seen[0].body.clone()).unwrap();
    edited.metadata.uid = Some("uid-from-api".into());
    edited.spec.suspend = Some(true);
    h.cronjobs.apply_watcher_event(&watcher::Event::Apply(edited));
    let (result, again) = h.reconcile(&cf2, vec![Step("PATCH", CRONJOB, Reply::Echo)]).await;
    result.unwrap();
    assert_eq!(again[0].body, seen[0].body);
}

#[tokio::test]
async fn a_failed_run_gets_one_event_and_one_notifier() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    h.add_job(run_job("promo-users-29000000", 0, JobState::Failed(5, "BackoffLimitExceeded")));
    h.add_pod(pod(
        "promo-users-29000000",
        PodState::Terminated(4, "Error", summary("promo-users-29000000", Some(FailureClass::Source), 7)),
    ));
    let status_reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("GET", DISCOVERY, rules_installed()),
                Step("PATCH", RULE, Reply::Echo),
                Step("POST", JOBS, Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(status_reply.clone())),
                Step("POST", EVENTS, Reply::Echo),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    let seen: Vec<Seen> = seen.into_iter().filter(|s| s.method != "GET").collect();
    let notifier = &seen[2].body;
    assert_eq!(notifier["metadata"]["labels"][labels::ROLE], labels::ROLE_NOTIFIER);
    assert_eq!(notifier["metadata"]["labels"][labels::NOTIFIES_RUN], "promo-users-29000000");
    let status = status_of(&seen[3]);
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.recent_runs[0].notification, microfleet_crds::clusterfetch::NotificationState::Dispatched);
    assert_eq!(condition(&status, "LastRunSucceeded"), ("False".into(), "SourceFailed".into()));
    assert_eq!(seen[4].body["reason"], "NotificationDispatched");
    assert_eq!(seen[5].body["reason"], "SourceFailed");
    assert_eq!(seen[5].body["type"], "Warning");
    assert!(seen[5].body["note"].as_str().unwrap().contains("Source went wrong"));

    // After a restart the status is lost but the notifier exists: no second notification, no second
    // "dispatched" Event (the run's own Event is repeated: Events are at most once per status write). The
    // CronJob is in the cache, in line: not applied again.
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", RULE, Reply::Echo),
                Step("POST", JOBS, Reply::Error(409, "AlreadyExists")),
                Step("PATCH", STATUS, Reply::Object(status_reply)),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    assert_eq!(
        status_of(&seen[2]).recent_runs[0].notification,
        microfleet_crds::clusterfetch::NotificationState::Dispatched
    );

    // With the status written, nothing is sent again, and nothing written.
    let mut recorded = cf.clone();
    recorded.status = Some(status_of(&seen[2]));
    let (result, _) = h.reconcile(&recorded, vec![]).await;
    result.unwrap();
}

#[tokio::test]
async fn a_replica_that_does_not_lead_writes_nothing() {
    let mut h = Harness::with_fence(Fence::closed());
    let mut cf = cluster_fetch(spec());
    cf.metadata.annotations = Some([(labels::RUN_NOW.to_string(), "1".to_string())].into());
    h.add_job(run_job("promo-users-29000000", 0, JobState::Failed(5, "BackoffLimitExceeded")));
    let (result, seen) = h.reconcile(&cf, vec![]).await;
    assert!(matches!(result, Err(Error::NotLeading(_))), "{result:?}");
    assert!(seen.is_empty(), "no request at all: {seen:?}");
}

#[tokio::test]
async fn a_succeeded_run_gets_a_normal_event() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    h.add_job(run_job("promo-users-29000000", 0, JobState::Succeeded(4)));
    h.add_pod(pod(
        "promo-users-29000000",
        PodState::Terminated(0, "Completed", summary("promo-users-29000000", None, 42)),
    ));
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("GET", DISCOVERY, rules_installed()),
                Step("PATCH", RULE, Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(reply)),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    assert_eq!(seen[4].body["type"], "Normal");
    assert_eq!(seen[4].body["reason"], "RunSucceeded");
    assert!(seen[4].body["note"].as_str().unwrap().contains("delivered 42 items"));
    assert_eq!(status_of(&seen[3]).recent_runs[0].items, Some(42));
    let text = h.ctx.metrics.render();
    assert!(
        text.contains("microfleet_clusterfetch_runs_total{failure_class=\"\",name=\"promo-users\",namespace=\"promo\",outcome=\"Succeeded\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn run_now_creates_one_job_from_the_cronjob() {
    let mut h = Harness::new();
    let mut cf = cluster_fetch(spec());
    cf.metadata.annotations = Some([(labels::RUN_NOW.to_string(), "2026-11-22T10:00".to_string())].into());
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("GET", DISCOVERY, rules_installed()),
                Step("PATCH", RULE, Reply::Echo),
                Step("POST", JOBS, Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(reply.clone())),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    let seen: Vec<Seen> = seen.into_iter().filter(|s| s.method != "GET").collect();
    let job = &seen[2].body;
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "uid-from-api");
    assert_eq!(job["metadata"]["annotations"][labels::INSTANTIATE], "manual");
    assert_eq!(status_of(&seen[3]).last_run_now.as_deref(), Some("2026-11-22T10:00"));
    assert_eq!(seen[4].body["reason"], "RunNowStarted");

    assert_eq!(job["spec"]["template"]["spec"]["containers"][0]["name"], "fetcher", "the CronJob's template");

    // the same value again: no second Job, no write
    cf.status = Some(status_of(&seen[3]));
    let (result, _) = h.reconcile(&cf, vec![]).await;
    result.unwrap();

    // a new value: a Job owned by the cached CronJob, without applying the CronJob again
    cf.metadata.annotations = Some([(labels::RUN_NOW.to_string(), "2026-11-22T11:00".to_string())].into());
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("POST", JOBS, Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(reply)),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    assert_eq!(seen[0].body["metadata"]["ownerReferences"][0]["uid"], "uid-from-api");
    assert_eq!(seen[0].body["spec"], job["spec"]);
}

#[tokio::test]
async fn an_invalid_schedule_stalls_with_a_warning_and_applies_nothing() {
    let mut h = Harness::new();
    let mut s = spec();
    s.schedule = "0 25 * * *".into();
    let cf = cluster_fetch(s);
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(&cf, vec![Step("PATCH", STATUS, Reply::Object(reply.clone())), Step("POST", EVENTS, Reply::Echo)])
        .await;
    result.unwrap();
    let status = status_of(&seen[0]);
    assert_eq!(condition(&status, "Stalled"), ("True".into(), "InvalidSchedule".into()));
    assert_eq!(condition(&status, "Ready"), ("False".into(), "InvalidSchedule".into()));
    assert_eq!(seen[1].body["type"], "Warning");
    assert!(seen[1].body["note"].as_str().unwrap().contains("spec.schedule"));

    // reported once per generation: the next reconcile sends no Event, and its status is the same
    let mut stalled = cf.clone();
    stalled.status = Some(status);
    let (result, _) = h.reconcile(&stalled, vec![]).await;
    result.unwrap();
    let _ = reply;
}

#[tokio::test]
async fn an_api_failure_is_reported_in_status_and_returned_for_backoff() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Error(500, "InternalError")),
                Step("PATCH", STATUS, Reply::Object(reply)),
            ],
        )
        .await;
    assert!(matches!(result, Err(Error::Kube(_))), "{result:?}");
    let status = status_of(&seen[1]);
    assert_eq!(condition(&status, "Reconciling"), ("True".into(), "Retrying".into()));
    assert_eq!(condition(&status, "Ready"), ("False".into(), "ApplyFailed".into()));
}

#[tokio::test]
async fn a_cronjob_the_api_rejects_stalls_instead_of_hot_looping() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Error(422, "Invalid")),
                Step("PATCH", STATUS, Reply::Object(reply)),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    assert_eq!(condition(&status_of(&seen[1]), "Stalled"), ("True".into(), "CronJobRejected".into()));
}

#[tokio::test]
async fn without_the_prometheus_operator_alerts_are_skipped_and_said_so() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("GET", DISCOVERY, Reply::Error(404, "NotFound")),
                Step("PATCH", STATUS, Reply::Object(reply)),
            ],
        )
        .await;
    result.unwrap();
    let status = status_of(&seen[2]);
    assert_eq!(condition(&status, "AlertsReady"), ("False".into(), "PrometheusOperatorMissing".into()));
    assert_eq!(
        condition(&status, "Ready"),
        ("True".into(), "Scheduled".into()),
        "alerts do not make the resource unready"
    );

    // later reconciles write nothing while the kind is missing
    let mut cf2 = cf.clone();
    cf2.status = Some(status);
    let (result, seen) = h.reconcile(&cf2, vec![]).await;
    result.unwrap();
    assert!(seen.is_empty());

    // once it is installed (discovery, asked by the controller's poll, says so), the rule is applied
    h.ask_rule_kind(rules_installed()).await;
    let reply = serde_json::to_value(&cf2).unwrap();
    let (result, seen) =
        h.reconcile(&cf2, vec![Step("PATCH", RULE, Reply::Echo), Step("PATCH", STATUS, Reply::Object(reply))]).await;
    result.unwrap();
    assert_eq!(condition(&status_of(&seen[1]), "AlertsReady"), ("True".into(), "RuleApplied".into()));
}

/// The race behind a failed e2e: discovery lists the PrometheusRule kind as soon as its CRD is installed,
/// but the first apply is answered 404 (the API server does not serve it yet). The reconcile that met the
/// 404 settles with AlertsReady=False; once discovery lists the kind again, the object must be reconciled
/// and its rule applied, not skipped as settled.
#[tokio::test]
async fn a_rule_apply_answered_404_after_discovery_listed_the_kind_is_tried_again() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let whole = serde_json::to_value(&cf).unwrap();
    let steps = vec![
        Step("GET", DISCOVERY, Reply::Error(404, "NotFound")),
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", CRONJOB, Reply::Echo),
        Step("PATCH", STATUS, Reply::Object(whole)),
    ];
    let (result, seen) = h.reconcile_view(&ClusterFetchView::from(&cf), steps).await;
    result.unwrap();
    let mut written = cf.clone();
    written.status = Some(status_of(&seen[3]));
    written.metadata.resource_version = Some("2".into());
    assert_eq!(
        condition(written.status.as_ref().unwrap(), "AlertsReady"),
        ("False".into(), "PrometheusOperatorMissing".into())
    );
    let whole = serde_json::to_value(&written).unwrap();
    let view = ClusterFetchView::from(&written);
    let (result, _) = h.reconcile_view(&view, vec![Step("GET", OBJECT, Reply::Object(whole.clone()))]).await;
    result.unwrap();

    // the CRD is installed: discovery lists the kind, the apply is answered 404; nothing to write
    h.ask_rule_kind(rules_installed()).await;
    let steps =
        vec![Step("GET", OBJECT, Reply::Object(whole.clone())), Step("PATCH", RULE, Reply::Error(404, "NotFound"))];
    let (result, _) = h.reconcile_view(&view, steps).await;
    result.unwrap();

    // discovery, asked again, lists it: the same inputs in the caches, but the kind changed since
    h.ask_rule_kind(rules_installed()).await;
    let steps = vec![
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", RULE, Reply::Echo),
        Step("PATCH", STATUS, Reply::Object(whole)),
    ];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(condition(&status_of(&seen[2]), "AlertsReady"), ("True".into(), "RuleApplied".into()));
}

#[tokio::test]
async fn switching_alerts_off_removes_the_rule_once() {
    let mut h = Harness::new();
    let mut s = spec();
    s.alerts.enabled = false;
    let mut cf = cluster_fetch(s);
    let mut applied = ClusterFetchStatus::default();
    crate::conditions::set_condition(&mut applied.conditions, "AlertsReady", "True", "RuleApplied", "", Some(1), at(0));
    cf.status = Some(applied);
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("DELETE", "/prometheusrules/promo-users-alerts", Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(reply.clone())),
            ],
        )
        .await;
    result.unwrap();
    let status = status_of(&seen[2]);
    assert_eq!(condition(&status, "AlertsReady"), ("False".into(), "Disabled".into()));
    cf.status = Some(status);
    let (result, _) = h.reconcile(&cf, vec![]).await;
    result.unwrap();
    let _ = reply;
}

#[test]
fn backoff_grows_per_failure_and_is_capped() {
    let waits: Vec<u64> = (1..=10).map(|n| super::super::backoff_after(n).as_secs()).collect();
    assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
}

// ---------------------------------------------------------------- RBAC: the chart allows every call made

/// (verb, API group, resource) of one request, as RBAC sees it.
fn access_of(method: &str, uri: &str) -> Vec<(String, String, String)> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest.to_vec()),
        ["apis", group, _version, rest @ ..] => (group.to_string(), rest.to_vec()),
        _ => panic!("unexpected path {path}"),
    };
    if rest.is_empty() {
        // discovery: open to every authenticated client (the system:discovery role)
        return Vec::new();
    }
    let rest = match rest.as_slice() {
        ["namespaces", _ns, rest @ ..] => rest.to_vec(),
        rest => rest.to_vec(),
    };
    let (resource, named) = match rest.as_slice() {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        other => panic!("unexpected path {path}: {other:?}"),
    };
    let verbs: Vec<&str> = match method {
        "GET" if query.contains("watch=true") => vec!["watch"],
        "GET" if named => vec!["get"],
        "GET" => vec!["list"],
        "POST" => vec!["create"],
        "PUT" => vec!["update"],
        // an apply may create the object (not a subresource, which always exists with its object)
        "PATCH" if query.contains("force") && !resource.contains('/') => vec!["patch", "create"],
        "PATCH" => vec!["patch"],
        "DELETE" => vec!["delete"],
        other => panic!("unexpected method {other}"),
    };
    verbs.into_iter().map(|v| (v.to_string(), group.clone(), resource.clone())).collect()
}

/// The rules of the chart's roles: (API groups, resources, verbs), read from the template (its rule
/// blocks are plain YAML).
fn chart_rules() -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/microfleet/templates/rbac.yaml"))
            .unwrap();
    let plain: String = template.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
    let list = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect::<Vec<_>>();
    plain
        .split("\n---\n")
        .filter_map(|doc| serde_yaml::from_str::<Value>(doc).ok())
        .flat_map(|doc| doc["rules"].as_array().cloned().unwrap_or_default())
        .map(|rule| (list(&rule["apiGroups"]), list(&rule["resources"]), list(&rule["verbs"])))
        .collect()
}

/// Answers every request: empty lists, ended watches, 404 for gets, echoes for writes.
async fn answer_everything(mut handle: ApiHandle, calls: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    while let Some((request, send)) = handle.next_request().await {
        let (method, uri) = (request.method().to_string(), request.uri().to_string());
        calls.lock().unwrap().push((method.clone(), uri.clone()));
        let bytes = request.into_body().collect_bytes().await.unwrap_or_default();
        let (code, body) = if method == "GET" && uri.contains("watch=true") {
            (200, Vec::new())
        } else if method == "GET" && access_of(&method, &uri)[0].0 == "list" {
            (
                200,
                serde_json::to_vec(
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}),
                )
                .unwrap(),
            )
        } else if method == "GET" {
            (404, serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound"})).unwrap())
        } else {
            let mut object: Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            object["metadata"]["resourceVersion"] = json!("2");
            object["metadata"]["uid"] = json!("uid");
            (200, serde_json::to_vec(&object).unwrap())
        };
        send.send_response(Response::builder().status(code).body(Body::from(body)).unwrap());
    }
}

#[tokio::test]
async fn the_chart_rbac_allows_every_call_the_operator_makes() {
    let mut calls: Vec<(String, String)> = Vec::new();

    // the reconcile's writes: run-now, a notifier, status, Events
    let mut h = Harness::new();
    let mut cf = cluster_fetch(spec());
    cf.metadata.annotations = Some([(labels::RUN_NOW.to_string(), "1".to_string())].into());
    h.add_job(run_job("promo-users-29000000", 0, JobState::Failed(5, "BackoffLimitExceeded")));
    let reply = serde_json::to_value(&cf).unwrap();
    let (result, seen) = h
        .reconcile(
            &cf,
            vec![
                Step("PATCH", CRONJOB, Reply::Echo),
                Step("GET", DISCOVERY, rules_installed()),
                Step("PATCH", RULE, Reply::Echo),
                Step("POST", JOBS, Reply::Echo),
                Step("POST", JOBS, Reply::Echo),
                Step("PATCH", STATUS, Reply::Object(reply)),
                Step("POST", EVENTS, Reply::Echo),
                Step("POST", EVENTS, Reply::Echo),
                Step("POST", EVENTS, Reply::Echo),
            ],
        )
        .await;
    result.unwrap();
    calls.extend(seen.into_iter().map(|s| (s.method, s.uri)));

    // the controller's watches, and leader election, against an API that answers everything
    let recorded = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "microfleet-system");
    tokio::spawn(answer_everything(handle, recorded.clone()));
    let metrics = Arc::new(Metrics::new().unwrap());
    let settings = crate::clusterfetch::Settings {
        client: client.clone(),
        scope: crate::clusterfetch::Scope::default(),
        recorder: Recorder::new(client.clone(), "microfleet-operator".to_string().into()),
        config: BuildConfig::new("registry.local/fetcher:1"),
        metrics: metrics.clone(),
        concurrency: 1,
        watches: crate::runtime::watches::WatchHealth::new(metrics),
        fence: Fence::open(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(crate::clusterfetch::run(
        settings,
        futures::FutureExt::shared(async {
            let _ = stopped.await;
        }),
        || {},
    ));
    let election = crate::runtime::leader::Election::join(client, "microfleet-system", "microfleet-operator", "test");
    // wait (up to 20 s, for a loaded CI machine) until every watch has been opened
    let watched = |calls: &[(String, String)]| {
        ["clusterfetches", "cronjobs", "jobs", "pods"]
            .iter()
            .all(|r| calls.iter().any(|(m, u)| access_of(m, u).iter().any(|(v, _, res)| v == "watch" && res == r)))
    };
    for _ in 0..400 {
        if watched(&recorded.lock().unwrap()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    controller.await.unwrap();
    drop(election);
    calls.extend(recorded.lock().unwrap().iter().cloned());

    let rules = chart_rules();
    let allowed = |(verb, group, resource): &(String, String, String)| {
        rules.iter().any(|(groups, resources, verbs)| {
            groups.contains(group) && resources.contains(resource) && verbs.contains(verb)
        })
    };
    let mut needed = std::collections::BTreeSet::new();
    for (method, uri) in &calls {
        needed.extend(access_of(method, uri));
    }
    for must in ["clusterfetches", "cronjobs", "jobs", "pods", "leases", "events", "clusterfetches/status"] {
        assert!(needed.iter().any(|(_, _, r)| r == must), "the calls seen should include {must}: {needed:?}");
    }
    let missing: Vec<_> = needed.iter().filter(|a| !allowed(a)).collect();
    assert!(missing.is_empty(), "the chart's RBAC lacks {missing:?}");
}

#[tokio::test]
async fn a_rule_apply_that_failed_is_not_taken_as_settled() {
    let mut h = Harness::new();
    let cf = cluster_fetch(spec());
    let whole = serde_json::to_value(&cf).unwrap();
    let view = ClusterFetchView::from(&cf);
    let steps = vec![
        Step("GET", DISCOVERY, rules_installed()),
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", CRONJOB, Reply::Echo),
        Step("PATCH", RULE, Reply::Error(500, "InternalError")),
        Step("PATCH", STATUS, Reply::Object(whole.clone())),
    ];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(condition(&status_of(&seen[4]), "AlertsReady"), ("False".into(), "ApplyFailed".into()));
    // its status write and CronJob now in the caches: read again, the apply fails again; nothing to write
    let mut written = cf.clone();
    written.status = Some(status_of(&seen[4]));
    written.metadata.resource_version = Some("2".into());
    let whole = serde_json::to_value(&written).unwrap();
    let view = ClusterFetchView::from(&written);
    let steps = vec![
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", RULE, Reply::Error(500, "InternalError")),
    ];
    let (result, _) = h.reconcile_view(&view, steps).await;
    result.unwrap();

    // the same inputs (the retry, or the periodic pass): read again and the rule applied
    let steps = vec![
        Step("GET", OBJECT, Reply::Object(whole.clone())),
        Step("PATCH", RULE, Reply::Echo),
        Step("PATCH", STATUS, Reply::Object(whole)),
    ];
    let (result, seen) = h.reconcile_view(&view, steps).await;
    result.unwrap();
    assert_eq!(condition(&status_of(&seen[2]), "AlertsReady"), ("True".into(), "RuleApplied".into()));
}
