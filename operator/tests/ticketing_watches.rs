//! The TicketingService controller's watches and readiness against the real control plane of `KUBECONFIG`
//! (`scripts/cluster.sh up`): run as a user whose Role lacks NetworkPolicies, the controller is not ready and
//! `/readyz` names that watch; once the Role grants them, the watch recovers, every watch has listed, and
//! `/readyz` answers 200; run as a user who may not list TicketingServices, it still stops at once when asked
//! (its cache never filled). The controller runs in this process (as `microfleet-operator run` runs it), the
//! user impersonated by the test's admin client, in a namespace of its own.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures::FutureExt;
use k8s_openapi::{
    api::{core::v1::Namespace, rbac::v1::Role},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    api::{DeleteParams, Patch, PatchParams},
    runtime::{
        events::{Recorder, Reporter},
        wait::{await_condition, conditions},
    },
    Api, Client, CustomResourceExt,
};
use microfleet_crds::ticketingservice::TicketingService;
use microfleet_operator::{
    runtime::{
        leader::Fence,
        metrics::Metrics,
        scope::Scope,
        server::{serve_on, AdminState},
        watches::WatchHealth,
    },
    ticketingservice::{self, build::BuildConfig},
};
use serde_json::json;

const NO_CLUSTER: &str = "no cluster: `eval \"$(scripts/cluster.sh up)\"` and run the test again";
const FIELD_MANAGER: &str = "microfleet-operator-tests";
/// The user the controller runs as (impersonated; RBAC applies to it as to a service account).
const USER: &str = "ticketing-watch-tester";

async fn apply<K>(api: &Api<K>, name: &str, object: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// The Role of [`USER`]: read and watch everything the controller watches, NetworkPolicies only with
/// `network_policies`.
fn role(namespace: &str, network_policies: bool) -> serde_json::Value {
    let read = ["get", "list", "watch"];
    let mut rules = vec![
        json!({"apiGroups": ["microfleet.io"], "resources": ["ticketingservices"], "verbs": read}),
        json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": read}),
        json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": read}),
        json!({"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": read}),
        json!({"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": read}),
        json!({"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": read}),
        json!({"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read}),
    ];
    if network_policies {
        rules.push(json!({"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read}));
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "ticketing-watches", "namespace": namespace},
        "rules": rules,
    })
}

/// `(status, body)` of `GET /readyz`.
async fn readyz(base: &str) -> (u16, String) {
    let answer = reqwest::get(format!("{base}/readyz")).await.unwrap_or_else(|e| panic!("GET /readyz: {e}"));
    (answer.status().as_u16(), answer.text().await.unwrap_or_default())
}

/// Polls `check` every 500 ms until it holds; panics with `what` and the last `/readyz` after `within`.
async fn eventually(base: &str, what: &str, within: Duration, check: impl Fn(u16, &str) -> bool) {
    let started = Instant::now();
    loop {
        let (status, body) = readyz(base).await;
        if check(status, &body) {
            return;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}; /readyz {status}: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The controller, run in this process as [`USER`] in a namespace of its own, and its admin server.
struct Running {
    admin: Client,
    namespace: String,
    roles: Api<Role>,
    base: String,
    metrics: Arc<Metrics>,
    watches: WatchHealth,
    ready: Arc<AtomicBool>,
    stop: tokio::sync::watch::Sender<bool>,
    controller: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Installs the CRD, creates a namespace `mf-ts-<purpose>-<pid>` whose Role for [`USER`] is `role` (of the
/// namespace's name), and starts the controller as that user with its admin server.
async fn start(purpose: &str, role: fn(&str) -> serde_json::Value) -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert!(std::env::var_os("KUBECONFIG").is_some(), "{NO_CLUSTER}");
    let admin = Client::try_default().await.unwrap_or_else(|e| panic!("{NO_CLUSTER}: {e}"));

    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let crd = TicketingService::crd();
    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    apply(&crds, &crd_name, serde_json::to_value(&crd).unwrap()).await;
    tokio::time::timeout(Duration::from_secs(30), await_condition(crds, &crd_name, conditions::is_crd_established()))
        .await
        .unwrap_or_else(|_| panic!("CRD {crd_name} not established within 30 s"))
        .unwrap();

    let namespace = format!("mf-ts-{purpose}-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    apply(&namespaces, &namespace, json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}))
        .await;
    let roles: Api<Role> = Api::namespaced(admin.clone(), &namespace);
    apply(&roles, "ticketing-watches", role(&namespace)).await;
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin.clone(), &namespace);
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "ticketing-watches", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ticketing-watches"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    });
    apply(&bindings, "ticketing-watches", binding).await;

    let mut config = kube::Config::infer().await.unwrap();
    config.auth_info.impersonate = Some(USER.into());
    let client = Client::try_from(config).unwrap();
    let metrics = Arc::new(Metrics::new().unwrap());
    let watches = WatchHealth::new(metrics.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let admin_state = AdminState { metrics: metrics.clone(), ready: ready.clone(), watches: watches.clone() };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stopped_server = stopped.clone();
    let server = tokio::spawn(serve_on(listener, admin_state, async move {
        let _ = stopped_server.clone().wait_for(|stop| *stop).await;
    }));
    let settings = ticketingservice::Settings {
        client: client.clone(),
        scope: Scope { namespace: Some(namespace.clone()) },
        recorder: Recorder::new(client, Reporter { controller: "microfleet-operator".into(), instance: None }),
        config: BuildConfig::new("registry.local/microfleet", "0.1.0"),
        metrics: metrics.clone(),
        concurrency: 1,
        watches: watches.clone(),
        fence: Fence::open(),
    };
    let on_ready = {
        let ready = ready.clone();
        move || ready.store(true, Ordering::Relaxed)
    };
    let controller = tokio::spawn(ticketingservice::run(
        settings,
        async move {
            let _ = stopped.clone().wait_for(|stop| *stop).await;
        }
        .shared(),
        on_ready,
    ));
    Running { admin, namespace, roles, base, metrics, watches, ready, stop, controller, server }
}

impl Running {
    /// Asks the controller to stop; panics unless it and the server stop within `within`. Deletes the
    /// namespace.
    async fn stop_within(self, within: Duration) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(within, self.controller)
            .await
            .unwrap_or_else(|_| panic!("the controller did not stop within {within:?}"))
            .unwrap();
        self.server.await.unwrap().unwrap();
        let namespaces: Api<Namespace> = Api::all(self.admin);
        namespaces.delete(&self.namespace, &DeleteParams::default()).await.unwrap();
    }
}

#[tokio::test]
async fn a_forbidden_watch_keeps_the_controller_unready_naming_it_until_it_is_granted() {
    let running = start("watches", |namespace| role(namespace, false)).await;
    let base = &running.base;
    let forbidden = "watch of networkpolicies (ticketingservice) failing";
    eventually(base, "/readyz names the forbidden watch", Duration::from_secs(60), |status, body| {
        status == 503 && body.contains(forbidden)
    })
    .await;
    assert!(!running.ready.load(Ordering::Relaxed), "not every watch has listed: not ready");
    let failing = running.watches.failing();
    assert_eq!(failing.keys().copied().collect::<Vec<_>>(), ["networkpolicies (ticketingservice)"], "{failing:?}");
    assert!(
        running
            .metrics
            .render()
            .contains("microfleet_watch_healthy{resource=\"networkpolicies (ticketingservice)\"} 0"),
        "the metric shows it"
    );

    apply(&running.roles, "ticketing-watches", role(&running.namespace, true)).await;
    // the watch retries on its own backoff (up to about 30 s between attempts)
    eventually(base, "/readyz is 200 once the watch is granted", Duration::from_secs(120), |status, _| status == 200)
        .await;
    assert!(running.ready.load(Ordering::Relaxed) && running.watches.failing().is_empty());
    running.stop_within(Duration::from_secs(30)).await;
}

/// kube-runtime's graceful shutdown alone waits forever for a cache whose first list never succeeded (here
/// the TicketingServices' own list is forbidden; a CRD not installed is the same): the controller must stop
/// at once all the same, well inside the grace given to reconciles in flight.
#[tokio::test]
async fn a_controller_that_could_never_list_its_resource_stops_at_once() {
    let running = start("unlisted", |namespace| {
        let mut role = role(namespace, true);
        role["rules"].as_array_mut().unwrap().retain(|rule| rule["resources"][0] != "ticketingservices");
        role
    })
    .await;
    eventually(&running.base, "/readyz names the forbidden watch", Duration::from_secs(60), |status, body| {
        status == 503 && body.contains("watch of ticketingservices failing")
    })
    .await;
    running.stop_within(microfleet_operator::runtime::stopping::SHUTDOWN_GRACE / 2).await;
}
