//! The TicketingService controller: its watches, its context and its error policy. Its steps are one module
//! each, beside `clusterfetch`: `read` (discovery and the children), `validate` (what depends on the
//! cluster), `rollout` (the plan: migrate first, then roll), `build` (pure: every child, assembled from
//! `workload`, `database`, `topics`, `entry`, `network`, `monitoring`), `writes` (pure: what to apply, what to
//! delete), `status` (pure), sequenced by `reconcile`. `component` holds the four components' facts, `config` the environment contract with their
//! binaries, `service_keys` which key each service holds at the auth service (and the Secret the operator
//! generates for them), `discovery` which optional APIs the cluster has.

pub mod build;
pub mod component;
pub mod config;
pub mod database;
pub mod discovery;
pub mod entry;
pub mod monitoring;
pub mod network;
pub mod read;
pub mod reconcile;
pub mod rollout;
pub mod service_keys;
pub mod status;
pub mod topics;
pub mod validate;
pub mod workload;
pub mod writes;

#[cfg(test)]
pub(crate) mod fixtures;

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::Job,
    core::v1::{ConfigMap, Service},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    core::PartialObjectMeta,
    runtime::{
        controller::{self, Action},
        events::Recorder,
        reflector, watcher, Controller, WatchStreamExt,
    },
    Client, ResourceExt,
};
use microfleet_crds::{labels, ticketingservice::TicketingService};

use crate::{
    error::Error,
    runtime::{
        leader::Fence,
        metrics::Metrics,
        scope::Scope,
        stopping::forced_stop,
        watches::{FirstLists, WatchHealth},
    },
};
use build::BuildConfig;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "ticketingservice";

/// Wait before retrying a TicketingService whose reconcile failed.
const RETRY: Duration = Duration::from_secs(15);
/// How often every child is applied whatever its applied hash says (puts back what was edited by hand).
const FULL_APPLY_EVERY: Duration = Duration::from_secs(600);

/// Everything a reconcile needs besides the TicketingService itself.
pub struct Context {
    /// API client (reads and writes).
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// The leader fence every write checks first.
    pub fence: Fence,
    /// Settings of the builders.
    pub config: BuildConfig,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The clock (a plain function so tests can fix the time).
    pub clock: fn() -> Timestamp,
    /// When each TicketingService (by uid) last had every child applied.
    full_applies: Mutex<HashMap<String, Instant>>,
}

impl Context {
    /// Whether every child of `ts` should be applied now, whatever their applied hashes say: on the first
    /// reconcile of this process, then every [`FULL_APPLY_EVERY`].
    fn full_apply_due(&self, ts: &TicketingService) -> bool {
        let applies = self.full_applies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let uid = ts.metadata.uid.clone().unwrap_or_default();
        applies.get(&uid).is_none_or(|at| at.elapsed() >= FULL_APPLY_EVERY)
    }

    /// Records a full apply of `ts`.
    fn full_apply_done(&self, ts: &TicketingService) {
        let mut applies = self.full_applies.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        applies.insert(ts.metadata.uid.clone().unwrap_or_default(), Instant::now());
    }
}

/// Requeues a failed TicketingService after [`RETRY`].
pub fn error_policy(ts: Arc<TicketingService>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(CONTROLLER, error.kind());
    tracing::warn!(namespace = ts.namespace().unwrap_or_default(), name = ts.name_any(), %error, "reconcile failed");
    Action::requeue(RETRY)
}

/// What the controller runs with.
pub struct Settings {
    /// API client.
    pub client: Client,
    /// Where to watch.
    pub scope: Scope,
    /// Event recorder.
    pub recorder: Recorder,
    /// Settings of the builders.
    pub config: BuildConfig,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Reconciles that may run at once.
    pub concurrency: u16,
    /// Where the watches report their health (shared with the ClusterFetch controller and `/readyz`).
    pub watches: WatchHealth,
    /// The leader fence every write checks first (always open without leader election).
    pub fence: Fence,
}

/// The names of the controller's watches in `/readyz`, the logs and `microfleet_watch_healthy`: the
/// TicketingServices, then each kind of child (named apart from the ClusterFetch controller's watches).
const WATCHES: [&str; 9] = [
    "ticketingservices",
    "deployments (ticketingservice)",
    "jobs (ticketingservice)",
    "configmaps (ticketingservice)",
    "services (ticketingservice)",
    "poddisruptionbudgets (ticketingservice)",
    "horizontalpodautoscalers (ticketingservice)",
    "ingresses (ticketingservice)",
    "networkpolicies (ticketingservice)",
];

/// The TicketingService controller's trigger on the children of kind `K` it owns (by the
/// `microfleet.io/ticketingservice` label): their metadata only, the watch's health recorded (its errors kept
/// from the controller) and its first list noted.
fn children<K>(
    api: kube::Api<PartialObjectMeta<K>>,
    resource: &'static str,
    watches: &WatchHealth,
    lists: &FirstLists,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let config = watcher::Config::default().labels(labels::TICKETING_SERVICE).any_semantic();
    let events = watcher(api, config).default_backoff();
    lists.track(resource, watches.observe(resource, events)).touched_objects()
}

/// Runs the TicketingService controller until `shutdown` resolves: a reconcile on every change of a
/// TicketingService or of a child it owns (watched by the `microfleet.io/ticketingservice` label). A watch
/// that fails is reported (metrics, logs, `/readyz`) and retries on its own backoff without holding up the
/// reconciles; `on_ready` is called once every watch has listed its resource.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Clone + Send + Sync + 'static,
    on_ready: impl FnOnce() + Send + 'static,
) {
    let Settings { client, scope, recorder, config, metrics, concurrency, watches, fence } = settings;
    let lists = FirstLists::new(&WATCHES, on_ready);
    let [own, deployments, jobs, config_maps, services, budgets, autoscalers, ingresses, policies] = WATCHES;
    let (store, writer) = reflector::store::<TicketingService>();
    let events =
        watcher(scope.api::<TicketingService>(&client), watcher::Config::default().any_semantic()).default_backoff();
    let events = lists.track(own, watches.observe(own, events)).reflect(writer).applied_objects();
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder,
        fence,
        config,
        metrics,
        clock: Timestamp::now,
        full_applies: Mutex::default(),
    });
    let cache = store.clone();
    Controller::for_stream(events, store)
        .owns_stream(children(scope.api::<PartialObjectMeta<Deployment>>(&client), deployments, &watches, &lists))
        .owns_stream(children(scope.api::<PartialObjectMeta<Job>>(&client), jobs, &watches, &lists))
        .owns_stream(children(scope.api::<PartialObjectMeta<ConfigMap>>(&client), config_maps, &watches, &lists))
        .owns_stream(children(scope.api::<PartialObjectMeta<Service>>(&client), services, &watches, &lists))
        .owns_stream(children(scope.api::<PartialObjectMeta<PodDisruptionBudget>>(&client), budgets, &watches, &lists))
        .owns_stream(children(
            scope.api::<PartialObjectMeta<HorizontalPodAutoscaler>>(&client),
            autoscalers,
            &watches,
            &lists,
        ))
        .owns_stream(children(scope.api::<PartialObjectMeta<Ingress>>(&client), ingresses, &watches, &lists))
        .owns_stream(children(scope.api::<PartialObjectMeta<NetworkPolicy>>(&client), policies, &watches, &lists))
        .with_config(controller::Config::default().concurrency(concurrency).debounce(Duration::from_millis(500)))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::reconcile, error_policy, ctx)
        .take_until(forced_stop(CONTROLLER, shutdown, cache))
        .for_each(|result| {
            match result {
                Ok((obj, _)) => tracing::debug!(namespace = obj.namespace, name = obj.name, "reconciled"),
                Err(error) => tracing::debug!(%error, "controller event"),
            }
            std::future::ready(())
        })
        .await;
}
