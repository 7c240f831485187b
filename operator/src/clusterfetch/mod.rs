//! The ClusterFetch controller: its watches, its context and its error policy.
//!
//! The pipeline steps are one module each: `read`, `validate`, `build` (pure), `apply`, `status` (pure),
//! sequenced by `reconcile`. `run_now` (pure) plans the run-now annotation.

pub mod alerts;
pub mod apply;
pub mod build;
pub mod cronjob_view;
pub mod fetch_view;
pub mod in_line;
pub mod owned;
pub mod read;
pub mod reconcile;
pub mod rule_kind;
pub mod run_now;
pub mod status;
pub mod validate;

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
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    runtime::{
        controller::{self, Action},
        events::Recorder,
        reflector::{self, ObjectRef, Store},
        watcher, Controller, WatchStreamExt,
    },
    Client, Resource, ResourceExt,
};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

pub use crate::runtime::scope::Scope;
use crate::{
    error::Error,
    runtime::{leader::Fence, metrics::Metrics, stopping::forced_stop, watches::WatchHealth},
};
use apply::Writer;
use build::BuildConfig;
use cronjob_view::CronJobView;
use fetch_view::ClusterFetchView;
use in_line::{key_of, slim_cronjob, Settled, Written};
use owned::{Children, Owned};
use rule_kind::{Known, RuleKind};

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "clusterfetch";

/// Longest wait between retries of a failing ClusterFetch.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// First wait after a failure; doubles with each consecutive failure of the same object.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// How often every ClusterFetch is looked at again without any change: the safety net of the watches. A
/// pass over objects in line reads and writes nothing (their inputs are those of their last reconcile).
const RESYNC: Duration = Duration::from_secs(300);
/// How often API discovery is asked whether the PrometheusRule kind appeared or went (one read).
const RULE_KIND_POLL: Duration = Duration::from_secs(10);

/// Everything a reconcile needs besides the ClusterFetch itself.
pub struct Context {
    /// API client for the reads (a reconcile GETs the ClusterFetch it works on).
    pub client: Client,
    /// Every write, behind the leader fence.
    pub writer: Writer,
    /// Cache of the operator's CronJobs (their view: no job template, no status).
    pub cronjobs: Store<CronJobView>,
    /// Cache of the Jobs labelled with a ClusterFetch, by owner.
    pub jobs: Children<Job>,
    /// Cache of the Pods labelled with a ClusterFetch, by owner.
    pub pods: Children<Pod>,
    /// Settings of the builders.
    pub config: BuildConfig,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The clock (a plain function so tests can fix the time).
    pub clock: fn() -> Timestamp,
    /// This process's writes the caches have not shown yet.
    pub written: Written,
    /// The inputs of each ClusterFetch's last good reconcile.
    pub settled: Settled,
    /// Whether the PrometheusRule kind is served, and how often that changed.
    pub rule_kind: RuleKind,
    failures: Mutex<HashMap<ObjectRef<ClusterFetch>, u32>>,
}

impl Context {
    /// A context over the given caches.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        writer: Writer,
        cronjobs: Store<CronJobView>,
        jobs: Children<Job>,
        pods: Children<Pod>,
        config: BuildConfig,
        metrics: Arc<Metrics>,
        clock: fn() -> Timestamp,
    ) -> Context {
        Context {
            client,
            writer,
            cronjobs,
            jobs,
            pods,
            config,
            metrics,
            clock,
            written: Written::default(),
            settled: Settled::default(),
            rule_kind: RuleKind::default(),
            failures: Mutex::default(),
        }
    }

    /// Whether the PrometheusRule kind is served: the last answer while fresh (see `rule_kind`), else API
    /// discovery's (one read).
    pub async fn rule_kind(&self) -> Known {
        if let Some(known) = self.rule_kind.reuse(Instant::now()) {
            return known;
        }
        self.ask_rule_kind().await
    }

    /// Asks API discovery whether the PrometheusRule kind is served, now.
    async fn ask_rule_kind(&self) -> Known {
        let answer = read::prometheus_rules_served(&self.client).await;
        self.rule_kind.observe(answer, Instant::now())
    }

    /// Records that an apply of a PrometheusRule was answered 404: the kind is not served (yet), whatever
    /// discovery said.
    pub fn rule_kind_missing(&self) {
        self.rule_kind.observe(Some(false), Instant::now());
    }

    /// The wait before retrying `cf` after its `n`th consecutive failure.
    fn next_backoff(&self, cf: &impl Resource) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(key_of(cf)).or_insert(0);
        *count = count.saturating_add(1);
        backoff_after(*count)
    }

    /// Resets the failure count of `cf` after a good reconcile.
    fn forget_failures(&self, cf: &impl Resource) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(&key_of(cf));
    }
}

/// Exponential backoff: 2s, 4s, 8s, … capped at 5 minutes.
pub fn backoff_after(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF)
}

/// Requeues a failed ClusterFetch with its own exponential backoff.
pub fn error_policy(cf: Arc<ClusterFetchView>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(CONTROLLER, error.kind());
    let wait = ctx.next_backoff(cf.as_ref());
    tracing::warn!(
        namespace = cf.namespace().unwrap_or_default(),
        name = cf.name_any(),
        %error,
        retry_in_seconds = wait.as_secs(),
        "reconcile failed"
    );
    Action::requeue(wait)
}

fn owner_of(obj: &impl Resource) -> Option<ObjectRef<ClusterFetchView>> {
    let name = obj.labels().get(labels::CLUSTER_FETCH)?;
    Some(ObjectRef::new(name).within(&obj.namespace()?))
}

/// The ClusterFetch a CronJob belongs to: the one of the same name (it names its CronJob).
fn named_after(cronjob: &CronJobView) -> Option<ObjectRef<ClusterFetchView>> {
    Some(ObjectRef::new(cronjob.metadata.name.as_deref()?).within(cronjob.metadata.namespace.as_deref()?))
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
    /// Where the watches report their health.
    pub watches: WatchHealth,
    /// The leader fence every write checks first (always open without leader election).
    pub fence: Fence,
}

/// Yields once after each change of the PrometheusRule kind (discovery is asked every [`RULE_KIND_POLL`];
/// a reconcile's discovery read or a 404 to its apply counts as well), so every ClusterFetch is reconciled
/// then: its rule applied once the prometheus-operator CRDs are installed, without waiting for its own next
/// change. The count of changes is part of every reconcile's inputs, so none of them is skipped as settled;
/// reconciles of objects in line make no write, so nothing else is paid.
fn rule_kind_changes(ctx: Arc<Context>) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((ctx, 0u64), |(ctx, seen)| async move {
        loop {
            tokio::time::sleep(RULE_KIND_POLL).await;
            let known = ctx.ask_rule_kind().await;
            if known.changes != seen {
                tracing::info!(
                    present = known.present,
                    "the PrometheusRule kind changed: reconciling every ClusterFetch"
                );
                return Some(((), (ctx, known.changes)));
            }
        }
    })
}

/// Yields every [`RESYNC`]: a pass over every ClusterFetch, in place of a requeue per object.
fn resync() -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((), |()| async {
        tokio::time::sleep(RESYNC).await;
        Some(((), ()))
    })
}

/// Runs the ClusterFetch controller until `shutdown` resolves. `on_ready` is called once the caches are
/// filled.
///
/// Every watch goes through [`WatchHealth::observe`]: a watch that fails is reported (log, metric,
/// `/readyz`) and retries on its own backoff without holding up the reconciles of other objects. Objects are
/// cached slim: ClusterFetches and CronJobs as views parsed without what the operator never reads from the
/// cache (`fetch_view`, `cronjob_view`), Jobs and Pods without managed fields. The per-ClusterFetch metric series are derived from the cache
/// at scrape time, so a deleted ClusterFetch's series go with it; its reconcile (ending in `ObjectNotFound`)
/// drops its run counters.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Clone + Send + Sync + 'static,
    on_ready: impl FnOnce() + Send + 'static,
) {
    let Settings { client, scope, recorder, config, metrics, concurrency, watches, fence } = settings;
    let selector = watcher::Config::default().labels(labels::CLUSTER_FETCH).any_semantic();
    let (fetches, fetches_writer) = reflector::store::<ClusterFetchView>();
    let (cronjobs, cronjobs_writer) = reflector::store::<CronJobView>();
    let (jobs, jobs_writer) = reflector::store::<Job>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let fetch_events = watches
        .observe(
            "clusterfetches",
            watcher(scope.api::<ClusterFetchView>(&client), watcher::Config::default().any_semantic())
                .default_backoff(),
        )
        .reflect(fetches_writer)
        .touched_objects();
    let cronjob_events = watches
        .observe(
            "cronjobs",
            watcher(
                scope.api::<CronJobView>(&client),
                watcher::Config::default().labels(&format!("{}={}", labels::MANAGED_BY, labels::MANAGER)),
            )
            .default_backoff(),
        )
        .modify(slim_cronjob)
        .reflect(cronjobs_writer)
        .touched_objects();
    let (owned_jobs, owned_pods) = (Arc::new(Owned::default()), Arc::new(Owned::default()));
    let job_events = {
        let owned = owned_jobs.clone();
        watches
            .observe("jobs", watcher(scope.api::<Job>(&client), selector.clone()).default_backoff())
            .modify(|job| job.managed_fields_mut().clear())
            .reflect(jobs_writer)
            .inspect(move |event| event.iter().for_each(|event| owned.apply(event)))
            .touched_objects()
    };
    let pod_events = {
        let owned = owned_pods.clone();
        watches
            .observe("pods", watcher(scope.api::<Pod>(&client), selector).default_backoff())
            .modify(|pod| pod.managed_fields_mut().clear())
            .reflect(pods_writer)
            .inspect(move |event| event.iter().for_each(|event| owned.apply(event)))
            .touched_objects()
    };
    if let Err(error) = metrics.register_clusterfetches(fetches.clone()) {
        tracing::warn!(%error, "the per-ClusterFetch metrics are not exported");
    }
    {
        let (cronjobs, jobs, pods) = (cronjobs.clone(), jobs.clone(), pods.clone());
        tokio::spawn(async move {
            if cronjobs.wait_until_ready().await.is_ok()
                && jobs.wait_until_ready().await.is_ok()
                && pods.wait_until_ready().await.is_ok()
            {
                on_ready();
            }
        });
    }
    let writer = Writer::new(client.clone(), recorder, fence);
    let (jobs, pods) = (Children::new(jobs, owned_jobs), Children::new(pods, owned_pods));
    let ctx = Arc::new(Context::new(client, writer, cronjobs, jobs, pods, config, metrics.clone(), Timestamp::now));
    let forget = ctx.clone();
    let cache = fetches.clone();
    Controller::for_stream(fetch_events, fetches)
        .reconcile_all_on(rule_kind_changes(ctx.clone()))
        .reconcile_all_on(resync())
        .watches_stream(cronjob_events, |cronjob| named_after(&cronjob))
        .watches_stream(job_events, |job| owner_of(&job))
        .watches_stream(pod_events, |pod| owner_of(&pod))
        .with_config(controller::Config::default().concurrency(concurrency).debounce(Duration::from_millis(500)))
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::reconcile, error_policy, ctx)
        .take_until(forced_stop(CONTROLLER, shutdown, cache))
        .for_each(|result| {
            match result {
                Ok((obj, _)) => tracing::debug!(namespace = obj.namespace, name = obj.name, "reconciled"),
                Err(controller::Error::ObjectNotFound(obj)) => {
                    metrics.forget_clusterfetch(obj.namespace.as_deref().unwrap_or_default(), &obj.name);
                    let mut key = ObjectRef::<ClusterFetch>::new(&obj.name);
                    key.namespace = obj.namespace.clone();
                    forget.written.forget(&key);
                    forget.settled.forget(&key);
                }
                Err(error) => tracing::debug!(%error, "controller event"),
            }
            std::future::ready(())
        })
        .await;
}
