//! `microfleet-pod-runner`: start-up and shutdown only (CLI, client, node registration, the pod loop).

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Parser;
use kube::Client;
use microfleet_common::shutdown::Shutdown;
use microfleet_common::telemetry;
use microfleet_pod_runner::cli::Args;
use microfleet_pod_runner::downward::NodeFacts;
use microfleet_pod_runner::env::ApiEndpoint;
use microfleet_pod_runner::error::StartupError;
use microfleet_pod_runner::images::ImageMap;
use microfleet_pod_runner::memory::Mechanism;
use microfleet_pod_runner::network::{self, PodNetwork};
use microfleet_pod_runner::node::{self, NodeSpec};
use microfleet_pod_runner::runner;
use microfleet_pod_runner::runtime::Runtime;
use microfleet_pod_runner::services;

const CPU: &str = "2";
const MEMORY: &str = "8Gi";
const PODS: &str = "110";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_json);
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "pod runner failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The `kubernetes` Service's ClusterIP and port: where pods on the pod network reach the API server.
async fn kubernetes_service(client: &kube::Client) -> Option<ApiEndpoint> {
    let services: kube::Api<k8s_openapi::api::core::v1::Service> = kube::Api::namespaced(client.clone(), "default");
    match services.get("kubernetes").await {
        Ok(service) => {
            let spec = service.spec?;
            let port = spec.ports?.first().and_then(|p| u16::try_from(p.port).ok())?;
            Some(ApiEndpoint { host: spec.cluster_ip?, port })
        }
        Err(error) => {
            tracing::warn!(%error, "no kubernetes Service: pods on the pod network get the node's API address");
            None
        }
    }
}

async fn run(args: Args) -> Result<(), StartupError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default().await.map_err(StartupError::Client)?;
    let io = |what: String| move |source| StartupError::Io { what, source };
    std::fs::create_dir_all(args.work_dir.join("pods"))
        .map_err(io(format!("cannot create {}", args.work_dir.display())))?;
    if let Some(ca) = &args.ca_file {
        std::fs::metadata(ca).map_err(io(format!("cannot read the CA file {}", ca.display())))?;
    }
    let memory = Mechanism::detect(args.poll_memory);
    // probes, like the kubelet's: no proxy, and HTTPS without certificate checks
    let http = reqwest::Client::builder()
        .no_proxy()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| io("cannot build the probes' HTTP client".into())(std::io::Error::other(e)))?;
    let pod_network = match &args.pod_bridge {
        Some(bridge) => {
            let (gateway, _) = network::parse_cidr(&args.pod_cidr).map_err(StartupError::Network)?;
            let dns = args.cluster_dns.unwrap_or(gateway);
            Some(PodNetwork::new(bridge, &args.pod_cidr, dns, &args.cluster_domain).map_err(StartupError::Network)?)
        }
        None => None,
    };
    let pod_api = match &pod_network {
        Some(_) => kubernetes_service(&client).await,
        None => None,
    };
    let spec = NodeSpec {
        name: args.node_name.clone(),
        ip: args.api_host.clone(),
        capacity: BTreeMap::from([
            ("cpu".into(), CPU.into()),
            ("memory".into(), MEMORY.into()),
            ("pods".into(), PODS.into()),
        ]),
        taints: args.taints.clone(),
    };
    let rt = Arc::new(Runtime {
        client: client.clone(),
        images: ImageMap::new(args.images.clone()),
        work_dir: args.work_dir.clone(),
        node: NodeFacts {
            node_name: args.node_name.clone(),
            ip: args.api_host.clone(),
            pod_ip: None,
            cpu: 2.0,
            memory: 8.0 * 1024.0 * 1024.0 * 1024.0,
        },
        api: ApiEndpoint { host: args.api_host.clone(), port: args.api_port },
        ca_file: args.ca_file.clone(),
        memory,
        http,
        path_env: std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        network: pod_network,
        pod_api,
    });
    let ready_since = k8s_openapi::jiff::Timestamp::now();
    node::register(&client, &spec, ready_since)
        .await
        .map_err(|source| StartupError::Register { node: spec.name.clone(), source })?;
    tracing::info!(
        node = %spec.name,
        memory_limits = rt.memory.name(),
        images = args.images.len(),
        work_dir = %args.work_dir.display(),
        pod_network = args.pod_bridge.as_deref().unwrap_or("host"),
        "node registered; running its pods"
    );
    let shutdown = Shutdown::on_signals();
    let heartbeat = tokio::spawn(node::heartbeat(client.clone(), spec.clone(), ready_since, shutdown.clone()));
    let service_rules = match &args.pod_bridge {
        Some(name) => {
            let (gateway, _) = network::parse_cidr(&args.pod_cidr).map_err(StartupError::Network)?;
            let subnet = network::subnet(&args.pod_cidr).map_err(StartupError::Network)?;
            let bridge = services::Bridge { name: name.clone(), gateway, subnet };
            let api_server = args.api_host.parse().ok().map(|ip| (ip, args.api_port));
            Some(tokio::spawn(services::sync(client.clone(), bridge, api_server, shutdown.clone())))
        }
        None => None,
    };
    runner::run(rt, shutdown).await;
    let _ = heartbeat.await;
    if let Some(task) = service_rules {
        let _ = task.await;
    }
    if let Err(error) = node::mark_not_ready(&client, &spec).await {
        tracing::warn!(%error, "cannot mark the node NotReady");
    }
    tracing::info!("pod runner stopped");
    Ok(())
}
