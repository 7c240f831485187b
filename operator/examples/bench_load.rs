//! The load of `scripts/bench-operator.sh`: creates N ClusterFetches, and the baseline — what a plain client
//! takes for the writes the operator really needs (server-side apply of N CronJobs, as the operator builds
//! them, and N status applies) — each with C requests in flight; prints the seconds taken.
//!
//!   bench_load create   NAMESPACE N C   # the namespace and N ClusterFetches bench-00000.. (no runs fire)
//!   bench_load baseline NAMESPACE N C   # N CronJobs and N statuses for the ClusterFetches there
//!
//! Uses the cluster of the current kubeconfig. Not part of the operator: it only drives the benchmark.

use std::{process::ExitCode, sync::Arc, time::Instant};

use futures::{stream, StreamExt};
use k8s_openapi::api::{batch::v1::CronJob, core::v1::Namespace};
use kube::{
    api::{Patch, PatchParams},
    Api, Client, Resource,
};
use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_operator::clusterfetch::{
    build::{build_cronjob, BuildConfig},
    status::{derive_status, Observed, Verdict},
};

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

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, namespace, n, concurrency] = args.as_slice() else {
        eprintln!("usage: bench_load create|baseline NAMESPACE N CONCURRENCY");
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
