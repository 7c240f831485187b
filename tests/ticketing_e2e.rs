//! Tier 6: the TicketingService end to end on the real control plane. The operator (a process, scoped to a
//! namespace where the restricted Pod Security profile is enforced) deploys the four services from one
//! TicketingService onto the node with the pod network (`spec.placement`): their migration Jobs and the topic
//! Job run first, then the Deployments, each pod running the real binary at an address of its own and
//! reaching the others by the Services' names (cluster DNS, ClusterIP DNAT), the real broker and the real
//! PostgreSQL (a database per component, its URL from a Secret) at the pods' gateway. Scenarios, in order:
//!
//! 1. install: Ready, every migration before its Deployment;
//! 2. the saga: an order paid, its ticket active, its QR scanned at the gate (allowed, then already inside);
//! 3. a new ticketing version: its migration runs before the rollout, which a client hitting the API
//!    throughout sees no failure of;
//! 4. a ticketing pod and the gate-acl pod deleted right after a payment: the Deployments heal, and the
//!    orders paid around it get their tickets.
//!
//! Needs what `scripts/test.sh` starts: KUBECONFIG, the pod-network node (MICROFLEET_POD_NETWORK_NODE, and
//! MICROFLEET_POD_CIDR unless the default), MICROFLEET_PG_URL (PostgreSQL accepting the pod subnet: MICROFLEET_PG_POD_CIDR) and
//! MICROFLEET_KAFKA_POD_BOOTSTRAP (Kafka's listener for pods: MICROFLEET_KAFKA_POD_ADDR); fails saying so.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use base64::Engine;
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    batch::v1::Job,
    core::v1::{Namespace, Pod, Secret},
};
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use microfleet_crds::ticketingservice::{MigrationState, TicketingService, TopicsState};
use microfleet_tests::{
    cluster::{self, eventually},
    endpoints::Endpoints,
    operator::{self, OperatorProcess},
    tools::kstatus,
};
use serde_json::{json, Value};

/// The longest any step may take on a loaded machine (debug builds, two cores).
const WITHIN: Duration = Duration::from_secs(240);
const NAME: &str = "tickets";
const COMPONENTS: [&str; 4] = ["ticketing", "gate-acl", "auth", "cms"];
const IMAGE_V1: &str = "ghcr.io/microfleet/ticketing-service:0.1.0";
const IMAGE_V2: &str = "ghcr.io/microfleet/ticketing-service:0.1.1";

/// Deletes the test's namespace when the test ends, passed or failed, so no pod of it keeps running on the
/// node (`kubectl delete --wait=false`: its pods stop as the namespace goes).
struct NamespaceGuard(String);

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        let _ = cluster::kubectl().args(["delete", "namespace", &self.0, "--wait=false"]).output();
    }
}

fn required(name: &str, hint: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {hint} (scripts/test.sh does)"))
}

fn random_base64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    let mut file = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut file, &mut buffer).unwrap();
    base64::engine::general_purpose::STANDARD.encode(buffer)
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap()
}

/// Creates one database per component on the tests' PostgreSQL; returns each one's URL as pods reach it (at
/// their gateway, DNATed to the server on the node's loopback).
async fn databases(server_url: &str, gateway: &str, namespace: &str) -> Vec<(String, String)> {
    let (client, connection) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at MICROFLEET_PG_URL: {e}"));
    tokio::spawn(connection);
    let base = server_url.rsplit_once('/').map(|(base, _)| base).unwrap();
    let pod_base = base.replace("127.0.0.1", gateway);
    let mut out = Vec::new();
    for component in COMPONENTS {
        let database = format!("{}_{}", namespace.replace('-', "_"), component.replace('-', "_"));
        client.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap();
        out.push((component.to_string(), format!("{pod_base}/{database}")));
    }
    out
}

fn ticketing_service(kafka: &str, node: &str, prefix: &str) -> TicketingService {
    let component = |image: &str, db: &str, replicas: i32| {
        json!({"image": image, "replicas": replicas, "database": {"urlSecretKeyRef": {"name": db, "key": "url"}},
               "config": {"SHUTDOWN_GRACE_SECONDS": "5"}})
    };
    let mut ticketing = component(IMAGE_V1, "ticketing-db", 2);
    ticketing["config"]["OUTBOX_RELAY_INTERVAL_MS"] = json!("100");
    let mut gate = component("ghcr.io/microfleet/gate-acl-service:0.1.0", "gate-acl-db", 1);
    gate["config"]["OUTBOX_RELAY_INTERVAL_MS"] = json!("100");
    gate["secrets"] = json!({"signingKey": {"name": "ticketing-keys", "key": "qr-signing-key"}});
    let mut auth = component("ghcr.io/microfleet/auth-service:0.1.0", "auth-db", 1);
    auth["secrets"] = json!({
        "signingKeys": [{"name": "ticketing-keys", "key": "token-key-1"}],
        "bootstrapAdmin": {"username": "admin", "password": {"name": "ticketing-keys", "key": "bootstrap-password"}},
    });
    let cms = component("ghcr.io/microfleet/ticketing-cms:0.1.0", "cms-db", 1);
    serde_json::from_value(json!({
        "apiVersion": "microfleet.io/v1alpha1", "kind": "TicketingService",
        "metadata": {"name": NAME},
        "spec": {
            "kafka": {"bootstrapServers": [kafka], "topicPrefix": prefix, "partitions": 3, "replicationFactor": 1},
            "ticketing": ticketing, "gateAcl": gate, "auth": auth, "cms": cms,
            "entry": {"host": "tickets.e2e.example"},
            "placement": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "tolerations": [{"key": "microfleet.io/pod-network", "operator": "Exists", "effect": "NoSchedule"}],
            },
        },
    }))
    .unwrap()
}

fn is_ready(ts: &TicketingService) -> bool {
    let status = ts.status.as_ref();
    status.and_then(|s| s.observed_generation) == ts.metadata.generation
        && status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn job_completed_at(job: &Job) -> Option<jiff::Timestamp> {
    job.status.as_ref()?.completion_time.as_ref().map(|t| t.0)
}

/// The service's API through its Service's ready endpoints (see [`Endpoints`]).
struct ServiceApi {
    endpoints: Endpoints,
    http: reqwest::Client,
    token: String,
}

impl ServiceApi {
    async fn new(client: &Client, namespace: &str, service: &str, token: &str) -> ServiceApi {
        let endpoints = Endpoints::follow(client.clone(), namespace, service).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        ServiceApi { endpoints, http, token: token.into() }
    }

    /// One call; (status, JSON answer) or the transport error.
    async fn try_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let address = self.endpoints.pick().ok_or("no ready endpoint")?;
        let mut request = self.http.request(method, format!("http://{address}{path}"));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{address}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("{address}: {e}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// A call expected to answer 2xx; its JSON answer.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.try_call(method, path, body).await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

fn at(offset_seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_seconds)).to_string()
}

/// Places an order of one seat and pays it; returns its number.
async fn order_and_pay(ticketing: &ServiceApi, event: i64, area: i64, email: &str) -> String {
    let order = ticketing
        .post(
            "/v1/orders",
            json!({"eventId": event, "paymentMethod": "BANK_TRANSFER", "customerEmail": email,
                   "items": [{"areaId": area, "quantity": 1}]}),
        )
        .await;
    let number = order["number"].as_str().unwrap().to_string();
    let total = order["totalPrice"].clone();
    ticketing.post(&format!("/v1/orders/{number}/payment"), json!({"amount": total})).await;
    number
}

/// Waits until the order's ticket is active (the saga: order.paid → gate-acl → access.prepared); returns
/// the ticket's id.
async fn ticket_active(ticketing: &ServiceApi, number: &str) -> String {
    let path = format!("/v1/orders/{number}");
    eventually(&format!("order {number}'s ticket active"), WITHIN, || async {
        let order = ticketing.try_call(reqwest::Method::GET, &path, None).await;
        order.is_ok_and(|(status, order)| status == 200 && order["tickets"][0]["state"] == "active")
    })
    .await;
    match &ticketing.get(&path).await["tickets"][0]["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn a_ticketing_service_deploys_runs_the_saga_migrates_before_rolling_out_and_heals() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let node = required("MICROFLEET_POD_NETWORK_NODE", "the node with the pod network");
    // the bridge's address, as scripts/node.sh sets it
    let cidr = std::env::var("MICROFLEET_POD_CIDR").unwrap_or_else(|_| "10.88.0.1/16".into());
    let gateway = cidr.split('/').next().unwrap_or_default().to_string();
    let kafka = required("MICROFLEET_KAFKA_POD_BOOTSTRAP", "Kafka's listener for pods (MICROFLEET_KAFKA_POD_ADDR)");
    let pg_url = required("MICROFLEET_PG_URL", "PostgreSQL (with MICROFLEET_PG_POD_CIDR)");
    let client = cluster::client().await;
    cluster::install_crds(&client).await;
    let namespace = format!("ts-e2e-{}", std::process::id());
    let restricted: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}))
    .unwrap();
    cluster::apply(&Api::<Namespace>::all(client.clone()), &restricted).await;
    let _cleanup = NamespaceGuard(namespace.clone());

    // the Secrets the TicketingService names: the databases' URLs, the signing keys, the admin's password
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    for (component, url) in databases(&pg_url, &gateway, &namespace).await {
        cluster::apply(&secrets, &secret(&format!("{component}-db"), &[("url", &url)])).await;
    }
    let password = random_base64(18);
    let keys = [("qr-signing-key", random_base64(32)), ("token-key-1", random_base64(32))];
    let keys = [(keys[0].0, keys[0].1.as_str()), (keys[1].0, keys[1].1.as_str()), ("bootstrap-password", &password)];
    cluster::apply(&secrets, &secret("ticketing-keys", &keys)).await;

    let binary = operator::binary("microfleet-operator");
    let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap_or_default());
    let args = ["--no-leader-election", "--watch-namespace", namespace.as_str()];
    let _operator = OperatorProcess::start(&binary, &kubeconfig, &namespace, "ts-e2e", &args);

    // 1. install: the migrations and the topics first, then the Deployments; Ready
    let started = Instant::now();
    let services: Api<TicketingService> = Api::namespaced(client.clone(), &namespace);
    let prefix = format!("e2e{}", std::process::id());
    cluster::apply(&services, &ticketing_service(&kafka, &node, &prefix)).await;
    eventually("the TicketingService Ready", WITHIN, || async {
        services.get(NAME).await.is_ok_and(|ts| is_ready(&ts))
    })
    .await;
    let ts = services.get(NAME).await.unwrap();
    assert_eq!(kstatus(&ts), "Current");
    let status = ts.status.clone().unwrap();
    assert_eq!(status.ready_components.as_deref(), Some("4/4"));
    for component in &status.components {
        let replicas = if component.name == "ticketing" { 2 } else { 1 };
        assert_eq!(
            (component.desired_replicas, component.ready_replicas, component.updated_replicas),
            (replicas, replicas, replicas),
            "{}",
            component.name
        );
        assert_eq!(component.migration.state, MigrationState::Succeeded, "{}", component.name);
    }
    assert_eq!(status.topics.as_ref().map(|t| (t.state, t.ready, t.total)), Some((TopicsState::Ready, 8, 8)));
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    for component in &status.components {
        let job = jobs.get(component.migration.job_name.as_deref().unwrap()).await.unwrap();
        let suffix = if component.name == "gateAcl" { "gate-acl" } else { component.name.as_str() };
        let deployment = deployments.get(&format!("{NAME}-{suffix}")).await.unwrap();
        let created = deployment.metadata.creation_timestamp.map(|t| t.0);
        assert!(created >= job_completed_at(&job), "{}: the Deployment came after its migration", component.name);
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let serving = pods.list(&ListParams::default().labels("microfleet.io/role=serve")).await.unwrap().items;
    assert_eq!(serving.len(), 5);
    for pod in &serving {
        let spec = pod.spec.as_ref().unwrap();
        let status = pod.status.as_ref();
        let (pod_ip, host_ip) = (status.and_then(|s| s.pod_ip.clone()), status.and_then(|s| s.host_ip.clone()));
        assert_eq!(spec.node_name.as_deref(), Some(node.as_str()), "{} runs on the pod network", pod.name_any());
        assert!(pod_ip.is_some() && pod_ip != host_ip, "{}: an address of its own: {pod_ip:?}", pod.name_any());
    }
    eprintln!("scenario 1 (install → Ready): {:?}", started.elapsed());

    // 2. the saga between the pods over Kafka, through the Services' endpoints
    let started = Instant::now();
    let auth = ServiceApi::new(&client, &namespace, &format!("{NAME}-auth"), "").await;
    let login = auth.post("/v1/login", json!({"username": "admin", "password": password})).await;
    let token = login["accessToken"].as_str().unwrap().to_string();
    let ticketing = ServiceApi::new(&client, &namespace, &format!("{NAME}-ticketing"), &token).await;
    let gate = ServiceApi::new(&client, &namespace, &format!("{NAME}-gate-acl"), &token).await;
    let merchant = ticketing.post("/v1/merchants", json!({"name": "Promotor e2e"})).await;
    let event = ticketing
        .post(
            "/v1/events",
            json!({"merchantId": merchant["id"], "name": "e2e concert", "venue": "Istora", "startsAt": at(-60),
                   "endsAt": at(6 * 3600), "saleStartsAt": at(-7 * 86400), "saleEndsAt": at(5 * 3600),
                   "areas": [{"name": "Festival", "capacity": 100, "price": 750000}]}),
        )
        .await;
    let (event_id, area) = (event["id"].as_i64().unwrap(), event["areas"][0]["id"].as_i64().unwrap());
    ticketing.post(&format!("/v1/events/{event_id}/approve"), json!({})).await;
    eventually("gate-acl knows the approved event (event.approved over Kafka)", WITHIN, || async {
        let seen = gate.try_call(reqwest::Method::GET, &format!("/v1/events/{event_id}"), None).await;
        seen.is_ok_and(|(status, _)| status == 200)
    })
    .await;
    let gate_id =
        gate.post("/v1/gates", json!({"eventId": event_id, "name": "North 1", "areaIds": [area]})).await["id"].clone();
    let number = order_and_pay(&ticketing, event_id, area, "ayu@example.com").await;
    let ticket = ticket_active(&ticketing, &number).await;
    let qr = gate.get(&format!("/v1/access/{ticket}")).await["qr"].as_str().unwrap().to_string();
    let scan = |nonce: &str| {
        json!({"qr": qr, "gateId": gate_id, "direction": "entry", "deviceId": "north-1", "nonce": nonce,
               "scannedAt": at(0)})
    };
    let first = gate.post("/v1/scans", scan("1")).await;
    assert_eq!((&first["result"], &first["reason"]), (&json!("allow"), &json!("ok")), "{first}");
    let again = gate.post("/v1/scans", scan("2")).await;
    assert_eq!((&again["result"], &again["reason"]), (&json!("deny"), &json!("already_inside")), "{again}");
    eprintln!("scenario 2 (order → paid → ticket active → scans): {:?}", started.elapsed());

    // 3. a new ticketing version: its migration first, then a rollout no request fails during
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(Vec::<String>::new())));
    let ticketing = Arc::new(ticketing);
    let hammer = {
        let (stop, served, failed, ticketing) = (stop.clone(), served.clone(), failed.clone(), ticketing.clone());
        tokio::spawn(async move {
            let path = format!("/v1/events/{event_id}");
            while !stop.load(Ordering::Relaxed) {
                match ticketing.try_call(reqwest::Method::GET, &path, None).await {
                    Ok((200, _)) => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((status, answer)) => failed.lock().unwrap().push(format!("{status} {answer}")),
                    Err(error) => failed.lock().unwrap().push(error),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let bump = json!({"spec": {"ticketing": {"image": IMAGE_V2}}});
    services.patch(NAME, &PatchParams::default(), &Patch::Merge(&bump)).await.unwrap();
    eventually("the new version rolled out, Ready", WITHIN, || async {
        services.get(NAME).await.is_ok_and(|ts| {
            is_ready(&ts)
                && ts.status.as_ref().is_some_and(|s| {
                    s.components.iter().any(|c| c.name == "ticketing" && c.image.as_deref() == Some(IMAGE_V2))
                })
        })
    })
    .await;
    let deployment = deployments.get(&format!("{NAME}-ticketing")).await.unwrap();
    let replicas = deployment.status.as_ref().map(|s| (s.updated_replicas, s.ready_replicas, s.replicas));
    assert_eq!(replicas, Some((Some(2), Some(2), Some(2))), "every ticketing pod on the new version");
    // the rollout keeps serving a little longer: the old pods stop (pre-stop pause, then SIGTERM)
    tokio::time::sleep(Duration::from_secs(15)).await;
    stop.store(true, Ordering::Relaxed);
    hammer.await.unwrap();
    let status = services.get(NAME).await.unwrap().status.unwrap();
    let migration = status.components.iter().find(|c| c.name == "ticketing").unwrap().migration.clone();
    let job = jobs.get(migration.job_name.as_deref().unwrap()).await.unwrap();
    assert_eq!(
        job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some(IMAGE_V2)
    );
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &namespace);
    let new_set = replica_sets
        .list(&ListParams::default().labels("microfleet.io/component=ticketing"))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|rs| {
            let pod = rs.spec.as_ref().and_then(|s| s.template.as_ref()).and_then(|t| t.spec.as_ref());
            pod.is_some_and(|p| p.containers[0].image.as_deref() == Some(IMAGE_V2))
        })
        .expect("the new version's ReplicaSet");
    assert!(
        new_set.metadata.creation_timestamp.map(|t| t.0) >= job_completed_at(&job),
        "the new version's pods came after its migration"
    );
    let failures = failed.lock().unwrap().clone();
    let served = served.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the rollout: {failures:?}",
        failures.len(),
        served + failures.len() as u64
    );
    assert!(served >= 100, "the client kept calling throughout: {served} requests");
    eprintln!(
        "scenario 3 (new version: migration, then rollout; {served} requests, none failed): {:?}",
        started.elapsed()
    );

    // 4. right after a payment, a ticketing pod and the one gate-acl pod (the saga's consumer of order.paid)
    // deleted: both Deployments heal, the saga resumes, nothing is lost
    let started = Instant::now();
    let number = order_and_pay(&ticketing, event_id, area, "budi@example.com").await;
    let serving = |component: &str| {
        let (pods, selector) = (pods.clone(), format!("microfleet.io/component={component},microfleet.io/role=serve"));
        async move {
            let list = pods.list(&ListParams::default().labels(&selector)).await;
            list.map(|l| l.items.iter().map(|p| p.name_any()).collect::<Vec<_>>()).unwrap_or_default()
        }
    };
    let deleted = [serving("ticketing").await[0].clone(), serving("gate-acl").await[0].clone()];
    for pod in &deleted {
        pods.delete(pod, &DeleteParams::default()).await.unwrap();
    }
    ticket_active(&ticketing, &number).await;
    for (component, replicas) in [("ticketing", 2), ("gate-acl", 1)] {
        eventually(&format!("the {component} Deployment healed: {replicas} ready, a new pod"), WITHIN, || async {
            let deployment = deployments.get(&format!("{NAME}-{component}")).await.unwrap();
            let ready = deployment.status.as_ref().and_then(|s| s.ready_replicas) == Some(replicas);
            let names = serving(component).await;
            ready && names.len() == replicas as usize && deleted.iter().all(|d| !names.contains(d))
        })
        .await;
    }
    let number = order_and_pay(&ticketing, event_id, area, "citra@example.com").await;
    ticket_active(&ticketing, &number).await;
    let sold = ticketing.get(&format!("/v1/events/{event_id}")).await["areas"][0]["sold"].clone();
    assert_eq!(sold, json!(3), "three seats sold, each order once");
    eprintln!("scenario 4 (pods deleted: healed, tickets active): {:?}", started.elapsed());
}
