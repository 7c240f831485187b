//! The load of `scripts/bench-operator.sh`: creates N ClusterFetches, and the baseline — what a plain client
//! takes for the writes the operator really needs (server-side apply of N CronJobs, as the operator builds
//! them, and N status applies) — each with C requests in flight; prints the seconds taken.
//!
//!   bench_load create   NAMESPACE N C   # the namespace and N ClusterFetches bench-00000.. (no runs fire)
//!   bench_load baseline NAMESPACE N C   # N CronJobs and N statuses for the ClusterFetches there
//!   bench_load cache-cost N             # heap bytes per cached object, by how it is cached (no cluster)
//!
//! Uses the cluster of the current kubeconfig (but `cache-cost`, which counts the heap with a counting
//! allocator). Not part of the operator: it only drives and explains the benchmark.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    process::ExitCode,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Instant,
};

use futures::{stream, StreamExt};
use k8s_openapi::api::{batch::v1::CronJob, core::v1::Namespace};
use kube::{
    api::{Patch, PatchParams},
    Api, Client, Resource,
};
use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_operator::{
    clusterfetch::{
        build::{build_cronjob, BuildConfig},
        cronjob_view::CronJobView,
        fetch_view::ClusterFetchView,
        in_line::{slim_cronjob, stamp},
        status::{derive_status, Observed, Verdict},
    },
    conditions::set_condition,
};
use serde::de::DeserializeOwned;

/// The system allocator, counting the bytes live (requested sizes: malloc's own overhead comes on top).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept beside.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed on as is
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on as is
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The field manager of the benchmark's own writes.
const MANAGER: &str = "microfleet-bench";
/// A schedule that does not fire during a run: once a year, on 1 January.
const SCHEDULE: &str = "0 0 1 1 *";

fn name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// The ClusterFetch `i` of the benchmark: the example's spec, on a schedule that does not fire now.
fn cluster_fetch(namespace: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "microfleet.io/v1alpha1",
        "kind": "ClusterFetch",
        "metadata": {"name": name(i), "namespace": namespace},
        "spec": {
            "schedule": SCHEDULE,
            "timeZone": "Asia/Jakarta",
            "concurrencyPolicy": "Forbid",
            "activeDeadlineSeconds": 5400,
            "source": {
                "url": format!("http://clustering-service.clustering.svc:8080/v1/clusters/c{i}/users"),
                "credentials": {"bearerToken": {"name": "clustering-api", "key": "token"}},
                "pagination": {"type": "cursor", "cursorParam": "cursor", "cursorPath": "/next_cursor",
                               "pageSize": 5000, "sizeParam": "limit"},
                "format": "json",
                "itemPath": "/users",
            },
            "sink": {"http": {"url": "http://promotion-platform.promo.svc:8080/v1/eligible-users/imports",
                              "batchSize": 5000}},
            "checks": {"minItems": 1, "requiredFields": ["user_id"]},
        },
    })
}

/// Runs `task(i)` for i in 0..n with `concurrency` in flight, retrying each up to five times.
async fn run_all<F, Fut>(n: usize, concurrency: usize, task: F) -> Result<f64, kube::Error>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    let start = Instant::now();
    let task = &task;
    let results: Vec<Result<(), kube::Error>> = stream::iter(0..n)
        .map(|i| async move {
            let mut tries = 0;
            loop {
                match task(i).await {
                    Err(error) if tries < 5 => {
                        tries += 1;
                        eprintln!("retrying {}: {error}", name(i));
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    other => return other,
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(start.elapsed().as_secs_f64())
}

async fn create(client: Client, namespace: &str, n: usize, concurrency: usize) -> Result<f64, kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    namespaces.patch(namespace, &PatchParams::apply(MANAGER), &Patch::Apply(object)).await?;
    let fetches: Api<ClusterFetch> = Api::namespaced(client, namespace);
    run_all(n, concurrency, |i| {
        let fetches = fetches.clone();
        async move {
            let object = cluster_fetch(namespace, i);
            fetches.patch(&name(i), &PatchParams::apply(MANAGER), &Patch::Apply(object)).await.map(|_| ())
        }
    })
    .await
}

async fn baseline(client: Client, namespace: &str, n: usize, concurrency: usize) -> Result<f64, kube::Error> {
    let fetches: Api<ClusterFetch> = Api::namespaced(client.clone(), namespace);
    let cronjobs: Api<CronJob> = Api::namespaced(client, namespace);
    let config = Arc::new(BuildConfig::new("ghcr.io/microfleet/microfleet-fetcher:bench"));
    let now = jiff::Timestamp::now();
    run_all(n, concurrency, |i| {
        let (fetches, cronjobs, config) = (fetches.clone(), cronjobs.clone(), config.clone());
        async move {
            let mut cf: ClusterFetch =
                serde_json::from_value(cluster_fetch(namespace, i)).map_err(kube::Error::SerdeError)?;
            cf.metadata.uid = Some("bench".into());
            cf.metadata.generation = Some(1);
            let mut cronjob = build_cronjob(&cf, &config).map_err(|e| kube::Error::Service(e.into()))?;
            // no owner: the garbage collector would remove a CronJob whose owner's uid does not exist
            cronjob.metadata.owner_references = None;
            cronjobs.patch(&name(i), &PatchParams::apply(MANAGER).force(), &Patch::Apply(&cronjob)).await?;
            let status = derive_status(&cf, &Observed::default(), &Verdict::Applied, now).status;
            let body = serde_json::json!({
                "apiVersion": ClusterFetch::api_version(&()), "kind": ClusterFetch::kind(&()), "status": status,
            });
            fetches.patch_status(&name(i), &PatchParams::apply(MANAGER).force(), &Patch::Apply(body)).await.map(|_| ())
        }
    })
    .await
}

type Failure = Box<dyn std::error::Error>;

/// A ClusterFetch and its CronJob as the watches deliver them once the operator has reconciled it in the
/// benchmark's cluster (no prometheus-operator there): server-filled metadata, managed fields, the status
/// with its five conditions; the CronJob stamped, with its owner and status.
fn as_watched(namespace: &str, i: usize) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let mut cf: ClusterFetch = serde_json::from_value(cluster_fetch(namespace, i))?;
    let meta = &mut cf.metadata;
    meta.uid = Some(format!("3f1c2a4e-5b6d-4e8f-9a0b-{i:012}"));
    meta.resource_version = Some(format!("{}", 100_000 + i));
    meta.generation = Some(1);
    meta.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
    let entry = |manager: &str, fields: serde_json::Value| {
        serde_json::from_value(serde_json::json!({
            "manager": manager, "operation": "Apply", "apiVersion": "microfleet.io/v1alpha1",
            "time": "2026-12-02T03:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields,
        }))
    };
    meta.managed_fields = Some(vec![
        entry(MANAGER, serde_json::json!({"f:spec": {"f:schedule": {}, "f:timeZone": {}, "f:source": {"f:url": {}}}}))?,
        entry(
            "microfleet-operator",
            serde_json::json!({"f:status": {"f:conditions": {}, "f:observedGeneration": {}}}),
        )?,
    ]);
    let now = jiff::Timestamp::now();
    let mut status = derive_status(&cf, &Observed::default(), &Verdict::Applied, now).status;
    let missing = "monitoring.coreos.com/v1 PrometheusRule is not installed: install the prometheus-operator CRDs \
                   for alerts, or set spec.alerts.enabled to false";
    set_condition(&mut status.conditions, "AlertsReady", "False", "PrometheusOperatorMissing", missing, Some(1), now);
    cf.status = Some(status);
    let mut cronjob = build_cronjob(&cf, &BuildConfig::new("ghcr.io/microfleet/microfleet-fetcher:bench"))?;
    stamp(&mut cronjob);
    cronjob.metadata.uid = Some(format!("9a0b3f1c-2a4e-5b6d-4e8f-{i:012}"));
    cronjob.metadata.resource_version = Some(format!("{}", 200_000 + i));
    cronjob.metadata.managed_fields = cf.metadata.managed_fields.clone();
    cronjob.status = Some(Default::default());
    Ok((serde_json::to_vec(&cf)?, serde_json::to_vec(&cronjob)?))
}

/// Heap bytes live per object once the objects parsed from `docs` (and changed by `slim`) sit in a
/// reflector store, as the operator caches them.
fn per_object<K>(docs: &[Vec<u8>], slim: fn(&mut K)) -> Result<usize, Failure>
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned + Clone + 'static,
{
    let before = LIVE.load(Ordering::Relaxed);
    let (store, mut writer) = kube::runtime::reflector::store::<K>();
    for doc in docs {
        let mut object: K = serde_json::from_slice(doc)?;
        slim(&mut object);
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(object));
    }
    let after = LIVE.load(Ordering::Relaxed);
    drop((store, writer));
    Ok((after - before) / docs.len().max(1))
}

/// Prints the heap cost of one cached object of each kind: as cached before (the whole ClusterFetch
/// without managed fields; the CronJob view with its annotations and owner) and now (the views, slimmed).
fn cache_cost(n: usize) -> Result<(), Failure> {
    let mut fetches = Vec::with_capacity(n);
    let mut cronjobs = Vec::with_capacity(n);
    for i in 0..n {
        let (cf, cronjob) = as_watched("bench-10000", i)?;
        fetches.push(cf);
        cronjobs.push(cronjob);
    }
    let whole_cf = per_object::<ClusterFetch>(&fetches, |cf| cf.metadata.managed_fields = None)?;
    let view_cf = per_object::<ClusterFetchView>(&fetches, |_| {})?;
    let old_cj = per_object::<CronJobView>(&cronjobs, |_| {})?;
    let view_cj = per_object::<CronJobView>(&cronjobs, slim_cronjob)?;
    let json = |docs: &[Vec<u8>]| docs.iter().map(Vec::len).sum::<usize>() / n.max(1);
    println!("heap bytes per cached object (n={n}, in a reflector store, its key included; malloc's own overhead not)");
    println!("  ClusterFetch  before {whole_cf:5}  now {view_cf:5}  (its JSON: {} bytes)", json(&fetches));
    println!("  CronJob       before {old_cj:5}  now {view_cj:5}  (its JSON: {} bytes)", json(&cronjobs));
    println!("  together      before {:5}  now {:5}", whole_cf + old_cj, view_cf + view_cj);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, n] = args.as_slice() {
        if command == "cache-cost" {
            let Ok(n) = n.parse::<usize>() else {
                eprintln!("N is a number");
                return ExitCode::FAILURE;
            };
            return match cache_cost(n) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let [command, namespace, n, concurrency] = args.as_slice() else {
        eprintln!("usage: bench_load create|baseline NAMESPACE N CONCURRENCY, or bench_load cache-cost N");
        return ExitCode::FAILURE;
    };
    let (Ok(n), Ok(concurrency)) = (n.parse::<usize>(), concurrency.parse::<usize>()) else {
        eprintln!("N and CONCURRENCY are numbers");
        return ExitCode::FAILURE;
    };
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("no cluster: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command.as_str() {
        "create" => create(client, namespace, n, concurrency).await,
        "baseline" => baseline(client, namespace, n, concurrency).await,
        other => {
            eprintln!("unknown command {other}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(seconds) => {
            println!("{seconds:.2}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
