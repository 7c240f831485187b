//! Tier 5: the cluster end-to-end, against the cluster of `KUBECONFIG` (e.g. kind with kind-config.yaml,
//! images built and loaded as the README says). Installs the CRDs and the chart, runs the sample services,
//! applies a ClusterFetch against them, triggers a run-now, and checks status, Events and metrics.
//!
//! These tests are `#[ignore]`d: `scripts/test.sh` runs them only when KUBECONFIG is set, and otherwise
//! prints that they were skipped and why (no cluster can be made on a machine without Docker).

use std::{process::Command, time::Duration};

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Namespace, Secret, Service},
    events::v1::Event,
};
use kube::{
    api::{ListParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use microfleet_crds::clusterfetch::{ClusterFetch, RunOutcome};
use microfleet_tests::{repo_root, tools};

const NS: &str = "microfleet-e2e";
const USERS: u64 = 50_000;

fn tag() -> String {
    std::env::var("MICROFLEET_E2E_TAG").unwrap_or_else(|_| "e2e".into())
}

async fn apply<K>(api: &Api<K>, yaml: &str) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_yaml::from_str(yaml).unwrap();
    api.patch(&object.name_any(), &PatchParams::apply("microfleet-e2e").force(), &Patch::Apply(&object)).await.unwrap()
}

async fn install(client: &Client) {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for (_, yaml) in microfleet_crds::crd_documents() {
        apply(&crds, yaml.split("---\n").nth(1).unwrap()).await;
    }
    let (ok, text) = tools::run(
        Command::new(tools::helm())
            .args(["upgrade", "--install", "microfleet"])
            .arg(tools::chart_dir())
            .args(["--namespace", "microfleet-system", "--create-namespace", "--wait", "--timeout", "5m"])
            .args(["--set", "image.repository=microfleet-operator", "--set", &format!("image.tag={}", tag())])
            .args([
                "--set",
                "fetcherImage.repository=microfleet-fetcher",
                "--set",
                &format!("fetcherImage.tag={}", tag()),
            ])
            .args(["--set", "image.pullPolicy=IfNotPresent"]),
    );
    assert!(ok, "helm install failed:\n{text}");
}

async fn sample_services(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    apply(&namespaces, &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n")).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    apply(
        &deployments,
        &format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: demo}}
spec:
  selector: {{matchLabels: {{app: demo}}}}
  template:
    metadata: {{labels: {{app: demo}}}}
    spec:
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: demo
          image: microfleet-demo:{}
          args: ["--users", "{USERS}"]
          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
"#,
            tag()
        ),
    )
    .await;
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    apply(
        &services,
        "apiVersion: v1\nkind: Service\nmetadata: {name: demo}\nspec:\n  selector: {app: demo}\n  ports:\n    - {name: clustering, port: 18080}\n    - {name: promotion, port: 18081}\n    - {name: webhook, port: 18082}\n",
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    apply(
        &secrets,
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: oncall-webhook}}\nstringData: {{url: http://demo.{NS}.svc:18082/hooks/e2e}}\n"),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs a cluster: set KUBECONFIG (scripts/test.sh runs it then)"]
async fn a_cluster_fetch_runs_now_and_reports_status_events_and_metrics() {
    let client = Client::try_default().await.expect("KUBECONFIG points to a reachable cluster");
    install(&client).await;
    sample_services(&client).await;

    let manifest = std::fs::read_to_string(repo_root().join("examples/promo-eligible-users-local.yaml"))
        .unwrap()
        .replace("namespace: promo", &format!("namespace: {NS}"))
        .replace("127.0.0.1", &format!("demo.{NS}.svc"))
        .replace("minItems: 1000", "minItems: 1")
        .replace("name: promo-oncall-webhook", "name: oncall-webhook");
    let fetches: Api<ClusterFetch> = Api::namespaced(client.clone(), NS);
    let cf = apply(&fetches, &manifest).await;
    let run_now = serde_json::json!({"metadata": {"annotations": {"microfleet.io/run-now": format!("e2e-{}", std::process::id())}}});
    fetches.patch(&cf.name_any(), &PatchParams::default(), &Patch::Merge(&run_now)).await.unwrap();

    let mut last = None;
    for _ in 0..120 {
        let current = fetches.get(&cf.name_any()).await.unwrap();
        if let Some(run) = current.status.as_ref().and_then(|s| s.recent_runs.first()) {
            last = Some(run.clone());
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let run = last.expect("no run finished within 10 minutes");
    assert_eq!(run.outcome, RunOutcome::Succeeded, "{run:?}");
    assert_eq!(run.items, Some(USERS as i64));

    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(cf.name_any().as_str()))
        .filter_map(|e| e.reason)
        .collect();
    assert!(reasons.iter().any(|r| r == "RunNowStarted"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "RunSucceeded"), "{reasons:?}");

    let request =
        http::Request::get("/api/v1/namespaces/microfleet-system/services/microfleet-metrics:8080/proxy/metrics")
            .body(Vec::new())
            .unwrap();
    let metrics = client.request_text(request).await.unwrap();
    let series =
        format!("microfleet_clusterfetch_last_run_items{{name=\"{}\",namespace=\"{NS}\"}} {USERS}", cf.name_any());
    assert!(metrics.contains(&series), "{series} not in the operator's metrics");

    // alerts: the PrometheusRule when the prometheus-operator is installed, else a condition saying so
    let current = fetches.get(&cf.name_any()).await.unwrap();
    let alerts =
        current.status.unwrap().conditions.into_iter().find(|c| c.type_ == "AlertsReady").expect("AlertsReady");
    let rules = kube::api::ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    };
    let rules: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), NS, &rules);
    match rules.get(&format!("{}-alerts", cf.name_any())).await {
        Ok(rule) => assert_eq!(alerts.reason, "RuleApplied", "{rule:?}"),
        Err(_) => assert_eq!(alerts.reason, "PrometheusOperatorMissing"),
    }

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(NS, &Default::default()).await;
}
