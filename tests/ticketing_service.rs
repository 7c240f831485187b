//! Smoke test of the TicketingService controller on the real control plane (no node needed): the operator
//! process, scoped to a namespace of its own (where the restricted Pod Security profile is enforced), turns
//! the example TicketingService into its children, whose pods the API server admits; each
//! component's Deployment appears only once its migration Job has completed (here: marked complete, as no
//! pod runs); the status and the Events say where each part stands; with nothing to change, reconciles
//! write nothing (by the API server's audit log); the Secret of the services' generated keys is created once,
//! owned and immutable, and a restarted operator leaves it as it is; a child the spec no longer asks for is
//! deleted.

use std::{path::PathBuf, time::Duration};

use k8s_openapi::api::{
    apps::v1::Deployment,
    autoscaling::v2::HorizontalPodAutoscaler,
    batch::v1::Job,
    core::v1::{ConfigMap, Event, Namespace, Pod, Secret, Service},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    api::{ListParams, Patch, PatchParams},
    Api, ResourceExt,
};
use microfleet_crds::ticketingservice::{MigrationState, TicketingService};
use microfleet_tests::{
    audit,
    cluster::{self, eventually},
    operator::{self, OperatorProcess},
    repo_root,
    tools::kstatus,
};

/// The example, with its CloudNativePG database swapped for a URL Secret (the control plane has no
/// CloudNativePG), in `namespace`.
fn example(namespace: &str) -> TicketingService {
    let text = std::fs::read_to_string(repo_root().join("examples/ticketing-service.yaml")).unwrap();
    let text = text
        .replace("cloudNativePG: {instances: 2, storageSize: 2Gi}", "urlSecretKeyRef: {name: auth-db, key: url}")
        .replace("namespace: ticketing", &format!("namespace: {namespace}"));
    serde_yaml::from_str(&text).unwrap()
}

async fn names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api.list(&ListParams::default().labels("microfleet.io/ticketingservice=tickets")).await.unwrap();
    let mut names: Vec<String> = list.items.iter().filter_map(|o| o.meta().name.clone()).collect();
    names.sort();
    names
}

/// Marks a Job complete through its status, as the Job controller would once its pod succeeded.
async fn complete(jobs: &Api<Job>, name: &str) {
    let now = jiff::Timestamp::now().to_string();
    let status = serde_json::json!({"status": {
        "completionTime": now, "succeeded": 1, "active": 0, "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
        ],
    }});
    jobs.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("marking {name} complete: {e}"));
}

#[tokio::test]
async fn the_example_yields_its_children_and_each_deployment_waits_for_its_migration() {
    let client = cluster::client().await;
    cluster::install_crds(&client).await;
    let namespace = format!("mf-ts-{}", std::process::id());
    // the restricted Pod Security profile enforced: a pod of a child that breaks it is refused at creation
    let restricted: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": namespace,
        "labels": {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}))
    .unwrap();
    cluster::apply(&Api::<Namespace>::all(client.clone()), &restricted).await;
    let binary = operator::binary("microfleet-operator");
    let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").unwrap_or_default());
    let args = ["--no-leader-election", "--watch-namespace", namespace.as_str()];
    let process = OperatorProcess::start(&binary, &kubeconfig, &namespace, "ts-smoke", &args);

    let services: Api<TicketingService> = Api::namespaced(client.clone(), &namespace);
    cluster::apply(&services, &example(&namespace)).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let within = Duration::from_secs(90);
    let components = ["tickets-auth", "tickets-cms", "tickets-gate-acl", "tickets-ticketing"];
    let (config_maps, kube_services, budgets, ingresses, policies) = (
        Api::<ConfigMap>::namespaced(client.clone(), &namespace),
        Api::<Service>::namespaced(client.clone(), &namespace),
        Api::<PodDisruptionBudget>::namespaced(client.clone(), &namespace),
        Api::<Ingress>::namespaced(client.clone(), &namespace),
        Api::<NetworkPolicy>::namespaced(client.clone(), &namespace),
    );
    eventually("every child of the first pass", within, || async {
        names(&jobs).await.len() == 5
            && names(&config_maps).await == components
            && names(&kube_services).await == components
            && names(&budgets).await == components
            && names(&ingresses).await == ["tickets"]
            && names(&policies).await.len() == 5
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    assert!(
        names(&deployments).await.is_empty(),
        "no Deployment before its migration: {:?}",
        names(&deployments).await
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    eventually("a pod of every Job, admitted under the restricted profile", within, || async {
        let list = pods.list(&ListParams::default().labels("microfleet.io/ticketingservice=tickets")).await.unwrap();
        // by Job: a pod that fails on a node (the topic Job's, there being no broker) is retried by another
        let jobs: std::collections::BTreeSet<String> =
            list.items.iter().filter_map(|p| p.labels().get("batch.kubernetes.io/job-name").cloned()).collect();
        jobs.len() == 5
    })
    .await;
    eventually("Reconciling=True while the migrations run", within, || async {
        let status = services.get("tickets").await.unwrap().status.unwrap_or_default();
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Reconciling" && c.status == "True" && c.message.contains("auth: migration running"))
    })
    .await;

    // the CMS's migration completes: its Deployment appears, the others still wait
    let cms_job = names(&jobs).await.into_iter().find(|n| n.starts_with("tickets-cms-migrate-")).unwrap();
    complete(&jobs, &cms_job).await;
    eventually("the CMS Deployment", within, || async { names(&deployments).await == ["tickets-cms"] }).await;
    eventually("the CMS Deployment's pods, admitted under the restricted profile", within, || async {
        let list = pods
            .list(&ListParams::default().labels("microfleet.io/component=cms,microfleet.io/role=serve"))
            .await
            .unwrap();
        list.items.len() == 2
    })
    .await;
    eventually("the status shows the CMS migrated", within, || async {
        let status = services.get("tickets").await.unwrap().status.unwrap_or_default();
        status.components.iter().any(|c| c.name == "cms" && c.migration.state == MigrationState::Succeeded)
            && status.components.iter().any(|c| c.name == "auth" && c.migration.state == MigrationState::Running)
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    eventually("a MigrationSucceeded Event", within, || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items.iter().any(|e| e.reason.as_deref() == Some("MigrationSucceeded"))
    })
    .await;
    // the services' keys: one Secret, generated once, owned by the TicketingService, immutable
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let keys = secrets.get("tickets-service-keys").await.unwrap();
    let owner = &keys.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("TicketingService", "tickets", Some(true))
    );
    assert_eq!(keys.immutable, Some(true));
    let data = keys.data.clone().unwrap();
    assert_eq!(data.keys().map(String::as_str).collect::<Vec<_>>(), ["gate-acl", "ticketing"]);
    for (name, key) in &data {
        let key = String::from_utf8(key.0.clone()).unwrap();
        assert!(microfleet_common::api_key::api_key_prefix(&key).is_some(), "{name}: an API key");
    }
    let deployment = deployments.get("tickets-cms").await.unwrap();
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].args.as_deref(), Some(&["serve".to_string()][..]));

    // nothing to change: reconciles (every 10 s while not Ready, and on a touch) write nothing
    let touch = serde_json::json!({"metadata": {"annotations": {"smoke-test/touched": "1"}}});
    services.patch("tickets", &PatchParams::default(), &Patch::Merge(&touch)).await.unwrap();
    let settled_at = eventually("the status settles", within, || async {
        let before = services.get("tickets").await.unwrap().status;
        tokio::time::sleep(Duration::from_secs(3)).await;
        services.get("tickets").await.unwrap().status == before
    })
    .await;
    let writes_by =
        |writes: Vec<audit::Audited>| writes.into_iter().filter(|w| w.user_agent == process.user_agent()).count();
    let before = writes_by(audit::writes_in(&client, &namespace).await);
    assert!(before >= 20, "the audit log shows the operator's first writes (children, status): {before}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    services
        .patch(
            "tickets",
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({"metadata": {"annotations": {"smoke-test/touched": "2"}}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = audit::writes_in(&client, &namespace).await;
    let idle: Vec<_> = writes.iter().filter(|w| w.user_agent == process.user_agent()).skip(before).collect();
    assert!(idle.is_empty(), "an operator with nothing to change wrote (settled after {settled_at:?}): {idle:#?}");
    let secret_writes: Vec<_> = writes.iter().filter(|w| w.resource == "secrets").collect();
    let created: Vec<_> = secret_writes.iter().filter(|w| w.verb == "create" && w.code == 201).collect();
    assert_eq!(created.len(), 1, "the Secret of the services' keys is created once: {secret_writes:#?}");
    assert!(secret_writes.iter().all(|w| w.verb == "create"), "and never changed: {secret_writes:#?}");

    // a restarted operator (a full apply) leaves the Secret as it is
    drop(process);
    let process = OperatorProcess::start(&binary, &kubeconfig, &namespace, "ts-smoke-2", &args);
    eventually("the restarted operator's first reconcile", within, || async {
        let writes = audit::writes_in(&client, &namespace).await;
        writes.iter().any(|w| w.user_agent == process.user_agent() && w.resource == "secrets" && w.code == 409)
    })
    .await;
    let again = secrets.get("tickets-service-keys").await.unwrap();
    assert_eq!(
        (again.metadata.uid, again.metadata.resource_version, again.data),
        (keys.metadata.uid, keys.metadata.resource_version, Some(data)),
        "never overwritten"
    );

    // autoscaling unset: the autoscaler goes (pruned), the Deployment gets replicas again
    let autoscalers: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    assert_eq!(names(&autoscalers).await, ["tickets-ticketing"]);
    let mut fixed = example(&namespace);
    fixed.spec.ticketing.autoscaling = None;
    fixed.spec.ticketing.replicas = Some(3);
    cluster::apply(&services, &fixed).await;
    eventually("the autoscaler pruned", within, || async { names(&autoscalers).await.is_empty() }).await;
    // kstatus (what Flux and Argo CD read): in progress while the migrations run, with its generation observed
    eventually("kstatus InProgress for the new generation", within, || async {
        let ts = services.get("tickets").await.unwrap();
        ts.status.as_ref().and_then(|s| s.observed_generation) == ts.metadata.generation && kstatus(&ts) == "InProgress"
    })
    .await;
    drop(process);
    let _ = Api::<Namespace>::all(client).delete(&namespace, &Default::default()).await;
}
