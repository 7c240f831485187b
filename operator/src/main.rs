//! `microfleet-operator`: `run` the controllers, `crdgen` the CRD YAML, or `render` a ClusterFetch or a
//! TicketingService offline.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use clap::{Parser, Subcommand, ValueEnum};
use futures::FutureExt;
use kube::{runtime::events::Recorder, Client};
use microfleet_common::{shutdown::Shutdown, telemetry};
use microfleet_operator::{
    clusterfetch::{self, build::BuildConfig, Scope, Settings},
    preview::preview_run,
    render::{render, render_ticketing_service},
    runtime::{
        leader::{Election, Fence},
        metrics::Metrics,
        server::{self, AdminState},
        watches::{FirstLists, WatchHealth},
    },
    ticketingservice::{self, build::BuildConfig as TicketingBuildConfig, discovery::Discovered},
};

/// Where the TicketingService components' default images are (`<prefix>/<binary>:<operator version>`).
const DEFAULT_IMAGE_PREFIX: &str = "ghcr.io/microfleet";

/// The default fetcher image: the one released with this operator.
const DEFAULT_FETCHER_IMAGE: &str = concat!("ghcr.io/microfleet/microfleet-fetcher:", env!("CARGO_PKG_VERSION"));

#[derive(Parser)]
#[command(name = "microfleet-operator", version, about = "The Microfleet Kubernetes operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig or service account.
    Run(RunArgs),
    /// Print the CRDs as YAML, or write one file per CRD into a directory.
    Crdgen {
        /// Directory to write `<crd name>.yaml` files into; stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the objects the operator would create for a ClusterFetch manifest, without a cluster.
    Render {
        /// The ClusterFetch or TicketingService manifest (YAML); `-` reads stdin.
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Fetcher image used when the spec names none.
        #[arg(long, env = "MICROFLEET_FETCHER_IMAGE", default_value = DEFAULT_FETCHER_IMAGE)]
        fetcher_image: String,
        /// An optional API to render a TicketingService's children for, as if discovery found it installed
        /// (repeatable).
        #[arg(long = "api", value_enum)]
        apis: Vec<OptionalApiName>,
        /// Registry and path of the TicketingService components' default images.
        #[arg(long, env = "MICROFLEET_IMAGE_PREFIX", default_value = DEFAULT_IMAGE_PREFIX)]
        image_prefix: String,
    },
    /// Print what the operator would record for one finished run: status, Event, notification.
    PreviewRun(PreviewArgs),
}

#[derive(clap::Args)]
struct PreviewArgs {
    /// The ClusterFetch manifest (YAML).
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// The run's termination message (the fetcher's summary file).
    #[arg(long)]
    termination_message: PathBuf,
    /// The run's exit code.
    #[arg(long)]
    exit_code: i32,
    /// Also write the notification the notifier would send to this file.
    #[arg(long)]
    notification_out: Option<PathBuf>,
}

/// An optional API a TicketingService's children may use.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum OptionalApiName {
    /// Strimzi's KafkaTopic.
    Strimzi,
    /// CloudNativePG's Cluster.
    Cloudnativepg,
    /// The Gateway API's HTTPRoute.
    Gateway,
    /// The prometheus-operator's ServiceMonitor and PrometheusRule.
    Prometheus,
}

#[derive(Copy, Clone, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Fetcher image used when a ClusterFetch names none, and for failure notifiers.
    #[arg(long, env = "MICROFLEET_FETCHER_IMAGE", default_value = DEFAULT_FETCHER_IMAGE)]
    fetcher_image: String,
    /// Labels for every PrometheusRule the operator emits, as k=v,k=v (e.g. release=kube-prometheus-stack).
    #[arg(long, env = "MICROFLEET_RULE_LABELS", value_parser = parse_labels, default_value = "")]
    rule_labels: std::collections::BTreeMap<String, String>,
    /// A Prometheus Pushgateway the runs push their figures to (for long runs; optional).
    #[arg(long, env = "MICROFLEET_PUSHGATEWAY_URL")]
    pushgateway_url: Option<String>,
    /// Registry and path of the TicketingService components' default images
    /// (`<prefix>/<binary>:<operator version>`).
    #[arg(long, env = "MICROFLEET_IMAGE_PREFIX", default_value = DEFAULT_IMAGE_PREFIX)]
    image_prefix: String,
    /// Address of the admin server (/metrics, /healthz, /readyz).
    #[arg(long, env = "MICROFLEET_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Watch only this namespace (all namespaces when absent).
    #[arg(long, env = "MICROFLEET_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Reconciles that may run at once.
    #[arg(long, env = "MICROFLEET_CONCURRENCY", default_value_t = 4)]
    concurrency: u16,
    /// Disable leader election (a single replica, or local development).
    #[arg(long, env = "MICROFLEET_NO_LEADER_ELECTION")]
    no_leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "MICROFLEET_LEASE_NAME", default_value = "microfleet-operator")]
    lease_name: String,
    /// Namespace of the leader Lease (the operator's own; defaults to the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the election and in Events (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log format.
    #[arg(long, env = "MICROFLEET_LOG_FORMAT", value_enum, default_value = "json")]
    log_format: LogFormat,
}

/// This replica's HTTP User-Agent: `microfleet-operator/<version> (<identity>)`.
fn user_agent(identity: &str) -> String {
    format!("microfleet-operator/{} ({identity})", env!("CARGO_PKG_VERSION"))
}

/// Parses `k=v,k=v` (empty: no labels).
fn parse_labels(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => Err(format!("{pair:?} is not key=value")),
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crdgen { out } => crdgen(out),
        Command::Render { file, fetcher_image, apis, image_prefix } => {
            let discovered = Discovered {
                strimzi_topics: apis.contains(&OptionalApiName::Strimzi),
                cloud_native_pg: apis.contains(&OptionalApiName::Cloudnativepg),
                gateway_api: apis.contains(&OptionalApiName::Gateway),
                prometheus_operator: apis.contains(&OptionalApiName::Prometheus),
            };
            let ticketing = TicketingBuildConfig::new(image_prefix, env!("CARGO_PKG_VERSION"));
            render_file(&file, fetcher_image, &discovered, &ticketing)
        }
        Command::PreviewRun(args) => preview(&args),
        Command::Run(args) => {
            telemetry::init(matches!(args.log_format, LogFormat::Json));
            match run(args).await {
                Ok(code) => code,
                Err(error) => {
                    tracing::error!(error = %error, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn crdgen(out: Option<PathBuf>) -> ExitCode {
    let documents = microfleet_crds::crd_documents();
    match out {
        None => {
            for (_, yaml) in documents {
                print!("{yaml}");
            }
        }
        Some(dir) => {
            for (name, yaml) in documents {
                let path = dir.join(name);
                if let Err(error) = std::fs::write(&path, yaml) {
                    eprintln!("error: cannot write {}: {error}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", path.display());
            }
        }
    }
    ExitCode::SUCCESS
}

fn render_file(
    file: &PathBuf,
    fetcher_image: String,
    discovered: &Discovered,
    ticketing: &TicketingBuildConfig,
) -> ExitCode {
    let manifest =
        if file.as_os_str() == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(file) };
    let manifest = match manifest {
        Ok(m) => m,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let rendered = if manifest.lines().any(|line| line.trim() == "kind: TicketingService") {
        render_ticketing_service(&manifest, discovered, ticketing)
    } else {
        render(&manifest, &BuildConfig::new(fetcher_image))
    };
    match rendered {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            ExitCode::FAILURE
        }
    }
}

fn preview(args: &PreviewArgs) -> ExitCode {
    let read =
        |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    let result = read(&args.file).and_then(|manifest| {
        let message = read(&args.termination_message)?;
        preview_run(&manifest, &message, args.exit_code, jiff::Timestamp::now()).map_err(|e| e.to_string())
    });
    match result {
        Ok(preview) => {
            println!("# The status the operator would record:\n{}", preview.status_yaml);
            println!("# The Event:\n{}", preview.event);
            if let Some(notification) = &preview.notification {
                println!("\n# The notification the notifier Job would send (spec.notify):\n{notification}");
                if let Some(out) = &args.notification_out {
                    if let Err(error) = std::fs::write(out, notification) {
                        eprintln!("error: cannot write {}: {error}", out.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let identity = args.identity.clone().unwrap_or_else(|| format!("microfleet-operator-{}", std::process::id()));
    let mut config = kube::Config::infer().await?;
    // the API server's audit log then tells which replica made each write
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_str(&user_agent(&identity))?));
    let client = Client::try_from(config)?;
    let metrics = Arc::new(Metrics::new()?);
    let ready = Arc::new(AtomicBool::new(false));
    let shutdown = Shutdown::on_signals();
    let watches = WatchHealth::new(metrics.clone());
    let admin = AdminState { metrics: metrics.clone(), ready: ready.clone(), watches: watches.clone() };
    let server = tokio::spawn(server::serve(args.admin_addr, admin, shutdown.clone().requested()));

    let recorder = Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter { controller: "microfleet-operator".into(), instance: Some(identity.clone()) },
    );
    let settings = Settings {
        client: client.clone(),
        scope: Scope { namespace: args.watch_namespace.clone() },
        recorder,
        config: BuildConfig {
            pushgateway_url: args.pushgateway_url.clone(),
            ..BuildConfig::new(args.fetcher_image.clone())
        },
        metrics: metrics.clone(),
        concurrency: args.concurrency,
        watches,
        fence: Fence::open(),
    };
    let ticketing = ticketingservice::Settings {
        client: client.clone(),
        scope: Scope { namespace: args.watch_namespace.clone() },
        recorder: settings.recorder.clone(),
        config: TicketingBuildConfig {
            monitoring_labels: args.rule_labels.clone(),
            ..TicketingBuildConfig::new(args.image_prefix.clone(), env!("CARGO_PKG_VERSION"))
        },
        metrics: metrics.clone(),
        concurrency: args.concurrency,
        watches: settings.watches.clone(),
        fence: Fence::open(),
    };

    let mut exit = ExitCode::SUCCESS;
    if args.no_leader_election {
        // ready once both controllers' watches have listed their resources
        let controllers = {
            let ready = ready.clone();
            FirstLists::new(&[clusterfetch::CONTROLLER, ticketingservice::CONTROLLER], move || {
                ready.store(true, Ordering::Relaxed)
            })
        };
        let synced = |controller: &'static str| {
            let controllers = controllers.clone();
            move || controllers.listed(controller)
        };
        tokio::join!(
            clusterfetch::run(settings, shutdown.clone().requested().shared(), synced(clusterfetch::CONTROLLER)),
            ticketingservice::run(ticketing, shutdown.requested().shared(), synced(ticketingservice::CONTROLLER)),
        );
    } else {
        let namespace = args.lease_namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        let mut election = Election::join(client.clone(), &namespace, &args.lease_name, &identity);
        let settings = Settings { fence: election.fence(), ..settings };
        let ticketing = ticketingservice::Settings { fence: election.fence(), ..ticketing };
        // A standby replica is healthy and ready: it serves metrics and takes over when the leader goes.
        ready.store(true, Ordering::Relaxed);
        tracing::info!(lease = %args.lease_name, %namespace, %identity, "waiting to lead");
        let leading = tokio::select! {
            acquired = election.acquired() => acquired,
            _ = shutdown.clone().requested() => false,
        };
        if leading {
            tracing::info!("leading: starting controllers");
            metrics.leader.set(1);
            let lost = election.lost();
            let stop = {
                let shutdown = shutdown.clone();
                async move {
                    tokio::select! {
                        _ = shutdown.requested() => false,
                        _ = lost => true,
                    }
                }
            };
            let lost_lease = Arc::new(AtomicBool::new(false));
            let flag = lost_lease.clone();
            let stop = async move {
                if stop.await {
                    tracing::error!("lost the leader Lease: stopping so a restart rejoins as a standby");
                    flag.store(true, Ordering::Relaxed);
                }
            };
            let stop = stop.shared();
            tokio::join!(
                clusterfetch::run(settings, stop.clone(), || {}),
                ticketingservice::run(ticketing, stop, || {})
            );
            metrics.leader.set(0);
            if lost_lease.load(Ordering::Relaxed) {
                exit = ExitCode::FAILURE;
            }
        }
        election.release().await;
    }
    server.abort();
    tracing::info!("stopped");
    Ok(exit)
}
