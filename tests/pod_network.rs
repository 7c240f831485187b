//! Tier 5: the cluster's names are real. The cluster DNS (`scripts/coredns.sh`, CoreDNS with its
//! `kubernetes` plugin on the real control plane) answers for Services and their EndpointSlices; with the pod
//! network (`MICROFLEET_POD_NETWORK=1 scripts/node.sh up`) each pod has an address of its own and reaches
//! another pod through a Service's name: its ClusterIP (the runner's nftables DNAT) or, headless, the pod's.
//! Needs KUBECONFIG, MICROFLEET_DNS_ADDR/PORT and, for the pod test, the node with the pod network; without
//! them each test fails saying so.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, PostParams};
use microfleet_tests::cluster::{self, eventually, wait_for, TestNamespace, TESTBOX_IMAGE};
use microfleet_tests::dns::{self, Answer};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn ask(name: &str) -> Option<Answer> {
    let (server, name) = (dns::server(), name.to_string());
    let answer = tokio::task::spawn_blocking(move || dns::query_a(server, &name)).await.expect("the query task");
    answer.map_err(|e| eprintln!("{e}")).ok()
}

async fn create<K>(api: &Api<K>, object: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap_or_else(|e| panic!("bad test object: {e}"));
    api.create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("create failed: {e}"))
}

fn slice(service: &str, addresses: &[&str]) -> Value {
    let endpoints: Vec<Value> =
        addresses.iter().map(|a| json!({"addresses": [a], "conditions": {"ready": true}})).collect();
    json!({
        "metadata": {"name": format!("{service}-1"), "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}

#[tokio::test]
async fn cluster_dns_answers_for_services_and_their_endpoint_slices() {
    let client = cluster::client().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let ns = format!("dns-{:x}", nanos % 0xfffff);
    cluster::namespace(&client, &ns).await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let port = json!([{"name": "http", "port": 80, "targetPort": 8080}]);
    let web: Service = create(&services, json!({"metadata": {"name": "web"}, "spec": {"ports": port}})).await;
    let cluster_ip: Ipv4Addr = web
        .spec
        .and_then(|s| s.cluster_ip)
        .and_then(|ip| ip.parse().ok())
        .expect("the API server allocates a ClusterIP");
    create(&slices, slice("web", &["10.88.7.7"])).await;
    let headless = json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": port}});
    create(&services, headless).await;
    create(&slices, slice("db", &["10.88.7.8", "10.88.7.9"])).await;

    let web_name = format!("web.{ns}.svc.cluster.local");
    eventually("the Service's name resolves to its ClusterIP", TIMEOUT, || async {
        ask(&web_name).await.is_some_and(|a| a.rcode == 0 && a.addresses == [cluster_ip])
    })
    .await;
    let db_name = format!("db.{ns}.svc.cluster.local");
    let expected: BTreeSet<Ipv4Addr> = ["10.88.7.8", "10.88.7.9"].iter().filter_map(|a| a.parse().ok()).collect();
    eventually("the headless Service's name resolves to its endpoints", TIMEOUT, || async {
        ask(&db_name)
            .await
            .is_some_and(|a| a.rcode == 0 && a.addresses.iter().copied().collect::<BTreeSet<_>>() == expected)
    })
    .await;
    let missing = ask(&format!("nothing.{ns}.svc.cluster.local")).await.expect("an answer");
    assert_eq!((missing.rcode, missing.addresses.len()), (3, 0), "an unknown Service is NXDOMAIN");

    // a Service deleted leaves the DNS (TTL 5 s, cache 5 s)
    services.delete("web", &DeleteParams::default()).await.expect("delete the Service");
    eventually("the deleted Service's name is NXDOMAIN", TIMEOUT, || async {
        ask(&web_name).await.is_some_and(|a| a.rcode == 3)
    })
    .await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client).delete(&ns, &DeleteParams::default()).await;
}

fn pod_ip(pod: &Pod) -> Option<String> {
    pod.status.as_ref().and_then(|s| s.pod_ip.clone())
}

fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The node with the pod network: `MICROFLEET_POD_NETWORK_NODE` (scripts/test.sh runs a second, tainted
/// node for it), else the tests' node. The pods name it (`nodeName`), so its taint keeps only them there.
fn pod_network_node() -> String {
    std::env::var("MICROFLEET_POD_NETWORK_NODE").unwrap_or_else(|_| cluster::node_name())
}

#[tokio::test]
async fn pod_reaches_another_pod_through_a_services_name() {
    let ns = TestNamespace::new("pn-svc").await;
    let node = pod_network_node();
    let found = Api::<Node>::all(ns.client.clone()).get_opt(&node).await.expect("get the node");
    assert!(found.is_some(), "no node {node}: start one with MICROFLEET_POD_NETWORK=1 scripts/node.sh up");
    let probe = json!({"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1});
    ns.create::<Pod>(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "web", "image": TESTBOX_IMAGE, "args": ["serve", "8080", "--bind", "0.0.0.0"],
            "ports": [{"containerPort": 8080, "name": "http"}], "readinessProbe": probe
        }]}
    }))
    .await;
    // the readiness probe reaches the pod at its own address
    let pods = ns.api::<Pod>();
    let web = wait_for(&pods, "web", TIMEOUT, "a ready pod", is_ready).await;
    let web_ip = pod_ip(&web).expect("a pod IP");
    let host_ip = web.status.as_ref().and_then(|s| s.host_ip.clone()).expect("a host IP");
    assert_ne!(web_ip, host_ip, "the pod has no address of its own: is the node up with MICROFLEET_POD_NETWORK=1?");
    assert_eq!(web.status.as_ref().and_then(|s| s.pod_ips.clone()).unwrap_or_default().len(), 1);

    // a Service as the operator emits them (its ClusterIP reached through the runner's nftables DNAT) and a
    // headless one (its name resolves to the ready pods' addresses); the endpoint controller lists the pod
    // in their EndpointSlices from the pod's status
    let ports = json!([{"name": "http", "port": 80, "targetPort": "http"}]);
    let selector = json!({"app": "web"});
    let service: Service =
        ns.create(json!({"metadata": {"name": "web"}, "spec": {"selector": selector, "ports": ports}})).await;
    let cluster_ip = service.spec.and_then(|s| s.cluster_ip).expect("a ClusterIP");
    let headless = json!({"clusterIP": "None", "selector": selector, "ports": ports});
    ns.create::<Service>(json!({"metadata": {"name": "web-headless"}, "spec": headless})).await;
    let slices = ns.api::<EndpointSlice>();
    eventually("both EndpointSlices list the pod's IP", TIMEOUT, || async {
        let listed = slices.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
        let with_pod = listed.iter().filter(|s| s.endpoints.iter().any(|e| e.addresses.contains(&web_ip)));
        with_pod.count() == 2
    })
    .await;

    // the client resolves short names through its resolv.conf (search path <ns>.svc.cluster.local)
    let fetch = |name: &str, host: &str, port: &str| json!({"name": name, "image": TESTBOX_IMAGE, "args": ["fetch", host, port, "/readyz", "--within", "45"]});
    let client = json!({
        "metadata": {"name": "client"},
        "spec": {"nodeName": node, "restartPolicy": "Never", "containers": [
            fetch("by-cluster-ip", "web", "80"),
            fetch("by-endpoints", "web-headless", "8080"),
        ]}
    });
    ns.create::<Pod>(client).await;
    let client = wait_for(&pods, "client", TIMEOUT, "a finished client", |p| {
        matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
    })
    .await;
    let statuses = client.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    let message = |name: &str| {
        let status = statuses.iter().find(|s| s.name == name);
        status.and_then(|s| s.state.as_ref()?.terminated.as_ref()?.message.clone()).unwrap_or_default()
    };
    assert_eq!(message("by-cluster-ip"), format!("resolved={cluster_ip} status=200"));
    assert_eq!(message("by-endpoints"), format!("resolved={web_ip} status=200"));
    assert_ne!(pod_ip(&client), Some(web_ip.clone()), "each pod has an address of its own");
    ns.delete().await;
}

#[tokio::test]
async fn pod_on_the_pod_network_reaches_the_api_server_through_the_kubernetes_service() {
    let ns = TestNamespace::new("pn-api").await;
    let node = pod_network_node();
    let env = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"];
    let containers = json!([
        {"name": "env", "image": TESTBOX_IMAGE, "args": ["env", env[0], env[1]]},
        {"name": "whoami", "image": TESTBOX_IMAGE, "args": ["whoami"]},
    ]);
    let pod = json!({"metadata": {"name": "who"}, "spec": {"nodeName": node, "restartPolicy": "Never", "containers": containers}});
    ns.create::<Pod>(pod).await;
    let pod = wait_for(&ns.api::<Pod>(), "who", TIMEOUT, "a finished pod", |p| {
        matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
    })
    .await;
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    let message = |name: &str| {
        let status = statuses.iter().find(|s| s.name == name);
        status.and_then(|s| s.state.as_ref()?.terminated.as_ref()?.message.clone()).unwrap_or_default()
    };
    let kubernetes = Api::<Service>::namespaced(ns.client.clone(), "default")
        .get("kubernetes")
        .await
        .expect("the kubernetes Service");
    let cluster_ip = kubernetes.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
    assert_eq!(message("env"), format!("KUBERNETES_SERVICE_HOST={cluster_ip}\nKUBERNETES_SERVICE_PORT=443"));
    // in-cluster config over the ClusterIP (DNATed to the API server), TLS verified against the cluster CA
    assert_eq!(message("whoami"), format!("user=system:serviceaccount:{}:default\nlist-pods=forbidden", ns.name));
    ns.delete().await;
}

/// Serves `HTTP/1.1 200` on a free port of the host's 127.0.0.1 from a thread of the test; returns the port.
fn host_http_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    port
}

#[tokio::test]
async fn pod_reaches_a_server_on_the_hosts_loopback_at_its_gateway() {
    let ns = TestNamespace::new("pn-host").await;
    let port = host_http_server().to_string();
    // the bridge's address, as scripts/node.sh sets it (MICROFLEET_POD_CIDR)
    let cidr = std::env::var("MICROFLEET_POD_CIDR").unwrap_or_else(|_| "10.88.0.1/16".into());
    let gateway = cidr.split('/').next().unwrap_or_default().to_string();
    let args = ["fetch", gateway.as_str(), port.as_str(), "/", "--within", "30"];
    let container = json!({"name": "fetch", "image": TESTBOX_IMAGE, "args": args});
    let spec = json!({"nodeName": pod_network_node(), "restartPolicy": "Never", "containers": [container]});
    ns.create::<Pod>(json!({"metadata": {"name": "to-host"}, "spec": spec})).await;
    let pod = wait_for(&ns.api::<Pod>(), "to-host", TIMEOUT, "a finished pod", |p| {
        matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
    })
    .await;
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    let message = statuses.first().and_then(|s| s.state.as_ref()?.terminated.as_ref()?.message.clone());
    assert_eq!(message.unwrap_or_default(), format!("resolved={gateway} status=200"));
    ns.delete().await;
}
