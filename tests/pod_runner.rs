//! Tier 5: the pod runner (tests/pod-runner) against the real control plane — one test per behaviour of the
//! kubelet's part: exit codes and termination messages, image pulls, config errors, env, memory limits,
//! deletion, deadlines, probes under a Deployment, a Job through the Job controller, and the projected
//! service-account token. Needs a running cluster (KUBECONFIG) and pod runner with `microfleet-testbox`
//! mapped; without them each test fails saying so.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStateWaiting, Pod, Secret};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, WatchEvent, WatchParams};
use microfleet_tests::cluster::{free_port, wait_for, TestNamespace, TESTBOX_IMAGE};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A one-container pod running the testbox with `args`; `extra` is merged into the container.
fn testbox_pod(name: &str, restart_policy: &str, args: &[&str], extra: Value) -> Value {
    let mut container = json!({"name": "main", "image": TESTBOX_IMAGE, "args": args});
    merge(&mut container, extra);
    json!({
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart_policy, "terminationGracePeriodSeconds": 5, "containers": [container]}
    })
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.first()?.state.as_ref()?.terminated.as_ref()
}

fn waiting(pod: &Pod) -> Option<&ContainerStateWaiting> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.first()?.state.as_ref()?.waiting.as_ref()
}

fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn finished(ns: &TestNamespace, name: &str) -> Pod {
    wait_for(&ns.api::<Pod>(), name, TIMEOUT, "a finished pod", |p| matches!(phase(p), "Succeeded" | "Failed")).await
}

#[tokio::test]
async fn pod_succeeds_with_its_termination_message() {
    let ns = TestNamespace::new("pr-ok").await;
    ns.create::<Pod>(testbox_pod("ok", "Never", &["exit", "0", "--message", "all done"], json!({}))).await;
    let pod = finished(&ns, "ok").await;
    assert_eq!(phase(&pod), "Succeeded");
    let t = terminated(&pod).expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref(), t.message.as_deref()), (0, Some("Completed"), Some("all done")));
    assert!(t.container_id.as_deref().is_some_and(|id| id.starts_with("microfleet://")), "{t:?}");
    assert!(t.started_at.is_some() && t.finished_at.is_some());
    let status = pod.status.as_ref().expect("status");
    assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(status.start_time.is_some());
    let conditions = status.conditions.as_ref().expect("conditions");
    for (kind, expected) in [("PodScheduled", "True"), ("Initialized", "True"), ("Ready", "False")] {
        assert!(conditions.iter().any(|c| c.type_ == kind && c.status == expected), "{kind}: {conditions:?}");
    }
    ns.delete().await;
}

#[tokio::test]
async fn failing_pod_reports_exit_code_reason_and_message() {
    let ns = TestNamespace::new("pr-fail").await;
    ns.create::<Pod>(testbox_pod("fail", "Never", &["exit", "3", "--message", "config is broken"], json!({}))).await;
    let pod = finished(&ns, "fail").await;
    assert_eq!(phase(&pod), "Failed");
    let t = terminated(&pod).expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref(), t.message.as_deref()), (3, Some("Error"), Some("config is broken")));
    ns.delete().await;
}

#[tokio::test]
async fn fallback_to_logs_on_error_reports_the_log_tail() {
    let ns = TestNamespace::new("pr-logs").await;
    let extra = json!({"terminationMessagePolicy": "FallbackToLogsOnError"});
    ns.create::<Pod>(testbox_pod("crash", "Never", &["exit", "2", "--lines", "100"], extra)).await;
    let pod = finished(&ns, "crash").await;
    let message = terminated(&pod).and_then(|t| t.message.clone()).expect("a message from the log");
    assert!(message.starts_with("log line 21\n") && message.ends_with("log line 100\n"), "{message}");
    ns.delete().await;
}

#[tokio::test]
async fn unknown_image_is_err_image_pull_then_image_pull_back_off() {
    let ns = TestNamespace::new("pr-pull").await;
    let mut object = testbox_pod("pull", "Never", &[], json!({}));
    object["spec"]["containers"][0]["image"] = json!("registry.invalid/nothing:1.0");
    ns.create::<Pod>(object).await;
    let api = ns.api::<Pod>();
    let reason = |p: &Pod| waiting(p).and_then(|w| w.reason.clone()).unwrap_or_default();
    let pod = wait_for(&api, "pull", TIMEOUT, "ErrImagePull", |p| reason(p) == "ErrImagePull").await;
    let message = waiting(&pod).and_then(|w| w.message.clone()).unwrap_or_default();
    assert!(message.contains("registry.invalid/nothing:1.0"), "{message}");
    let pod = wait_for(&api, "pull", TIMEOUT, "ImagePullBackOff", |p| reason(p) == "ImagePullBackOff").await;
    assert_eq!(phase(&pod), "Pending");
    let message = waiting(&pod).and_then(|w| w.message.clone()).unwrap_or_default();
    assert_eq!(message, "Back-off pulling image \"registry.invalid/nothing:1.0\"");
    ns.delete().await;
}

#[tokio::test]
async fn missing_secret_is_a_config_error_until_it_is_created() {
    let ns = TestNamespace::new("pr-secret").await;
    let env = json!({"env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]});
    ns.create::<Pod>(testbox_pod("needs-secret", "Never", &["env", "TOKEN"], env)).await;
    let api = ns.api::<Pod>();
    let pod = wait_for(&api, "needs-secret", TIMEOUT, "CreateContainerConfigError", |p| {
        waiting(p).and_then(|w| w.reason.as_deref()) == Some("CreateContainerConfigError")
    })
    .await;
    assert_eq!(waiting(&pod).and_then(|w| w.message.as_deref()), Some("secret \"creds\" not found"));
    assert_eq!(phase(&pod), "Pending");

    ns.create::<Secret>(json!({"metadata": {"name": "creds"}, "stringData": {"other": "x"}})).await;
    wait_for(&api, "needs-secret", TIMEOUT, "the missing-key message", |p| {
        waiting(p)
            .and_then(|w| w.message.clone())
            .is_some_and(|m| m == format!("couldn't find key token in Secret {}/creds", ns.name))
    })
    .await;

    let secrets = ns.api::<Secret>();
    secrets.delete("creds", &DeleteParams::default()).await.expect("delete the secret");
    ns.create::<Secret>(json!({"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}})).await;
    let pod = finished(&ns, "needs-secret").await;
    assert_eq!(phase(&pod), "Succeeded");
    assert_eq!(terminated(&pod).and_then(|t| t.message.as_deref()), Some("TOKEN=s3cret"));
    ns.delete().await;
}

#[tokio::test]
async fn env_from_values_secrets_config_maps_and_fields() {
    let ns = TestNamespace::new("pr-env").await;
    ns.create::<Secret>(json!({"metadata": {"name": "creds"}, "stringData": {"password": "pw", "user": "u1"}})).await;
    ns.create::<k8s_openapi::api::core::v1::ConfigMap>(
        json!({"metadata": {"name": "settings"}, "data": {"level": "debug"}}),
    )
    .await;
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let extra = json!({
        "envFrom": [{"prefix": "DB_", "secretRef": {"name": "creds"}}],
        "env": [
            {"name": "PLAIN", "value": "plain value"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
            {"name": "OPTIONAL", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}},
            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
            {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
            {"name": "TEAM", "valueFrom": field("metadata.labels['team']")},
            {"name": "NODE", "valueFrom": field("spec.nodeName")},
            {"name": "POD_IP", "valueFrom": field("status.podIP")},
            {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "GREETING", "value": "hello $(POD_NAME)"},
        ],
        "resources": {"limits": {"memory": "256Mi"}},
    });
    let names = [
        "PLAIN",
        "PASSWORD",
        "LEVEL",
        "OPTIONAL",
        "POD_NAME",
        "POD_NAMESPACE",
        "TEAM",
        "NODE",
        "POD_IP",
        "MEMORY_MI",
        "GREETING",
        "DB_user",
        "KUBERNETES_SERVICE_HOST",
        "HOME",
    ];
    let mut args = vec!["env"];
    args.extend(names);
    let mut object = testbox_pod("env", "Never", &args, extra);
    object["metadata"]["labels"] = json!({"team": "fetchers"});
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "env").await;
    let message = terminated(&pod).and_then(|t| t.message.clone()).expect("the env report");
    let node = microfleet_tests::cluster::node_name();
    let expected = [
        "PLAIN=plain value".to_string(),
        "PASSWORD=pw".into(),
        "LEVEL=debug".into(),
        "OPTIONAL=<unset>".into(),
        "POD_NAME=env".into(),
        format!("POD_NAMESPACE={}", ns.name),
        "TEAM=fetchers".into(),
        format!("NODE={node}"),
        "POD_IP=127.0.0.1".into(),
        "MEMORY_MI=256".into(),
        "GREETING=hello env".into(),
        "DB_user=u1".into(),
        "KUBERNETES_SERVICE_HOST=127.0.0.1".into(),
        // the runner's own environment does not leak into pods
        "HOME=<unset>".into(),
    ];
    assert_eq!(message, expected.join("\n"));
    ns.delete().await;
}

#[tokio::test]
async fn memory_limit_is_enforced_as_oom_killed() {
    let ns = TestNamespace::new("pr-oom").await;
    let extra = json!({"resources": {"limits": {"memory": "64Mi"}}});
    ns.create::<Pod>(testbox_pod("hog", "Never", &["alloc", "512"], extra)).await;
    let pod = finished(&ns, "hog").await;
    assert_eq!(phase(&pod), "Failed");
    let t = terminated(&pod).expect("terminated state");
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")), "{t:?}");
    ns.delete().await;
}

#[tokio::test]
async fn deletion_sends_sigterm_then_the_pod_is_gone() {
    let ns = TestNamespace::new("pr-delete").await;
    ns.create::<Pod>(testbox_pod("sleeper", "Always", &["sleep", "600"], json!({}))).await;
    let api = ns.api::<Pod>();
    let running = wait_for(&api, "sleeper", TIMEOUT, "Running", |p| phase(p) == "Running").await;
    let version = running.metadata.resource_version.clone().unwrap_or_default();
    let params = WatchParams::default().fields("metadata.name=sleeper").timeout(60);
    let mut events = api.watch(&params, &version).await.expect("watch the pod").boxed();
    api.delete("sleeper", &DeleteParams::default()).await.expect("delete the pod");
    let (mut sigterm_seen, mut deleted) = (false, false);
    let watched = tokio::time::timeout(TIMEOUT, async {
        while let Some(event) = events.try_next().await.expect("watch event") {
            match event {
                WatchEvent::Modified(pod) => {
                    let message = terminated(&pod).and_then(|t| t.message.clone());
                    sigterm_seen |= message.as_deref() == Some("SIGTERM received");
                }
                WatchEvent::Deleted(_) => {
                    deleted = true;
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(watched.is_ok(), "the pod was not deleted within {TIMEOUT:?}");
    assert!(sigterm_seen, "the container never reported SIGTERM before the pod went away");
    assert!(deleted);
    assert!(api.get_opt("sleeper").await.expect("get").is_none());
    ns.delete().await;
}

#[tokio::test]
async fn active_deadline_fails_the_pod_with_deadline_exceeded() {
    let ns = TestNamespace::new("pr-deadline").await;
    let mut object = testbox_pod("slow", "Never", &["sleep", "600"], json!({}));
    object["spec"]["activeDeadlineSeconds"] = json!(2);
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "slow").await;
    let status = pod.status.as_ref().expect("status");
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert!(terminated(&pod).is_some(), "the container was stopped");
    ns.delete().await;
}

#[tokio::test]
async fn deployment_gets_ready_by_its_readiness_probe_and_liveness_failures_restart_it() {
    let ns = TestNamespace::new("pr-deploy").await;
    let port = free_port();
    let probe = |path: &str, threshold: u32| json!({"httpGet": {"path": path, "port": port}, "periodSeconds": 1, "failureThreshold": threshold});
    let port_text = port.to_string();
    ns.create::<Deployment>(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{
                        "name": "web",
                        "image": TESTBOX_IMAGE,
                        "args": ["serve", port_text, "--ready-after", "2", "--fail-live-after", "6"],
                        "ports": [{"containerPort": port}],
                        "readinessProbe": probe("/readyz", 1),
                        "livenessProbe": probe("/healthz", 2),
                    }]
                }
            }
        }
    }))
    .await;
    let deployments = ns.api::<Deployment>();
    let ready_replicas = |d: &Deployment| d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    wait_for(&deployments, "web", TIMEOUT, "a ready replica", |d| ready_replicas(d) == 1).await;

    let pods = ns.api::<Pod>();
    let listed = pods.list(&Default::default()).await.expect("list pods");
    let pod = listed.items.first().expect("the deployment's pod");
    let name = pod.metadata.name.clone().unwrap_or_default();
    assert!(is_ready(pod), "{:?}", pod.status);
    let restarted = wait_for(&pods, &name, TIMEOUT, "a liveness restart", |p| {
        let statuses = p.status.as_ref().and_then(|s| s.container_statuses.as_ref());
        statuses.and_then(|s| s.first()).is_some_and(|s| s.restart_count >= 1)
    })
    .await;
    let status = &restarted.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default()[0];
    assert!(status.last_state.as_ref().and_then(|s| s.terminated.as_ref()).is_some(), "{status:?}");
    // and it comes back to ready after the restart
    wait_for(&pods, &name, TIMEOUT, "ready again", |p| {
        let statuses = p.status.as_ref().and_then(|s| s.container_statuses.as_ref());
        is_ready(p) && statuses.and_then(|s| s.first()).is_some_and(|s| s.restart_count >= 1)
    })
    .await;
    ns.delete().await;
}

#[tokio::test]
async fn job_runs_to_complete_through_the_job_controller() {
    let ns = TestNamespace::new("pr-job").await;
    ns.create::<Job>(json!({
        "metadata": {"name": "once"},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": TESTBOX_IMAGE, "args": ["exit", "0", "--message", "job done"]}]
            }}
        }
    }))
    .await;
    let complete = |j: &Job| {
        let conditions = j.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Complete" && c.status == "True"))
    };
    let job = wait_for(&ns.api::<Job>(), "once", TIMEOUT, "Complete", complete).await;
    assert_eq!(job.status.as_ref().and_then(|s| s.succeeded), Some(1));
    ns.delete().await;
}

#[tokio::test]
async fn projected_service_account_token_authenticates_with_rbac_enforced() {
    let ns = TestNamespace::new("pr-token").await;
    // as the chart's pods run: non-root, read-only root filesystem (the token must still be readable)
    let mut object =
        testbox_pod("who", "Never", &["whoami"], json!({"securityContext": {"readOnlyRootFilesystem": true}}));
    object["spec"]["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532});
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "who").await;
    let message = terminated(&pod).and_then(|t| t.message.clone()).unwrap_or_default();
    assert_eq!(message, format!("user=system:serviceaccount:{}:default\nlist-pods=forbidden", ns.name));

    ns.create::<Role>(json!({
        "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    }))
    .await;
    ns.create::<RoleBinding>(json!({
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns.name}]
    }))
    .await;
    ns.create::<Pod>(testbox_pod("who-again", "Never", &["whoami"], json!({}))).await;
    let pod = finished(&ns, "who-again").await;
    let message = terminated(&pod).and_then(|t| t.message.clone()).unwrap_or_default();
    assert!(message.ends_with("list-pods=allowed"), "{message}");
    ns.delete().await;
}

#[tokio::test]
async fn volumes_are_mounted_in_the_containers_own_mount_namespace() {
    let ns = TestNamespace::new("pr-volumes").await;
    ns.create::<Secret>(json!({"metadata": {"name": "creds"}, "stringData": {"token": "t0k3n"}})).await;
    ns.create::<k8s_openapi::api::core::v1::ConfigMap>(
        json!({"metadata": {"name": "settings"}, "data": {"level": "debug", "other": "x"}}),
    )
    .await;
    // the same paths in every run and every pod: each container has its own mounts
    let base = "/var/lib/microfleet-testbox/volumes";
    let paths = [
        format!("{base}/creds/token"),
        format!("{base}/creds/settings/level.conf"),
        format!("{base}/creds/settings/other"),
        format!("{base}/info/team"),
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace".to_string(),
    ];
    let mut args = vec!["cat"];
    args.extend(paths.iter().map(String::as_str));
    let mut object = testbox_pod(
        "reader",
        "Never",
        &args,
        json!({"volumeMounts": [
            {"name": "creds", "mountPath": format!("{base}/creds")},
            // a volume inside another one
            {"name": "settings", "mountPath": format!("{base}/creds/settings")},
            {"name": "info", "mountPath": format!("{base}/info")},
        ]}),
    );
    object["metadata"]["labels"] = json!({"team": "fetchers"});
    object["spec"]["volumes"] = json!([
        {"name": "creds", "secret": {"secretName": "creds"}},
        {"name": "settings", "configMap": {"name": "settings", "items": [{"key": "level", "path": "level.conf"}]}},
        {"name": "info", "downwardAPI": {"items": [{"path": "team", "fieldRef": {"fieldPath": "metadata.labels['team']"}}]}},
    ]);
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "reader").await;
    let message = terminated(&pod).and_then(|t| t.message.clone()).unwrap_or_default();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], format!("{}:t0k3n", paths[0]), "{message}");
    assert_eq!(lines[1], format!("{}:debug", paths[1]));
    assert!(lines[2].starts_with(&format!("{}:<", paths[2])), "only the listed item is projected: {message}");
    assert_eq!(lines[3], format!("{}:fetchers", paths[3]));
    assert_eq!(lines[4], format!("{}:{}", paths[4], ns.name));
    // the host sees only the (empty) mount points
    assert!(!std::path::Path::new(&paths[0]).exists(), "the secret leaked onto the host");
    ns.delete().await;
}

#[tokio::test]
async fn init_containers_run_first_and_share_an_empty_dir() {
    let ns = TestNamespace::new("pr-init").await;
    let mount = json!({"volumeMounts": [{"name": "shared", "mountPath": "/var/lib/microfleet-testbox/shared"}]});
    let file = "/var/lib/microfleet-testbox/shared/greeting";
    // the container reads it relative to its working directory, a subdirectory of the volume made for it
    let mut main = mount.clone();
    main["workingDir"] = json!("/var/lib/microfleet-testbox/shared/work");
    let mut object = testbox_pod("init", "Never", &["cat", "../greeting"], main);
    let mut init = json!({"name": "prepare", "image": TESTBOX_IMAGE, "args": ["write", file, "hello from init"]});
    merge(&mut init, mount);
    object["spec"]["initContainers"] = json!([init]);
    object["spec"]["volumes"] = json!([{"name": "shared", "emptyDir": {}}]);
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "init").await;
    assert_eq!(phase(&pod), "Succeeded");
    assert_eq!(terminated(&pod).and_then(|t| t.message.clone()).as_deref(), Some("../greeting:hello from init"));
    let init_status = pod.status.as_ref().and_then(|s| s.init_container_statuses.clone()).unwrap_or_default();
    let init_state = init_status.first().and_then(|s| s.state.clone()).and_then(|s| s.terminated);
    assert_eq!(init_state.and_then(|t| t.reason), Some("Completed".to_string()));

    // a failing init container fails the pod (restartPolicy Never) and the container never starts
    let mut object = testbox_pod("broken-init", "Never", &["exit", "0"], json!({}));
    object["spec"]["initContainers"] = json!([{"name": "prepare", "image": TESTBOX_IMAGE, "args": ["exit", "4"]}]);
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "broken-init").await;
    assert_eq!(phase(&pod), "Failed");
    assert_eq!(waiting(&pod).and_then(|w| w.reason.as_deref()), Some("PodInitializing"));
    ns.delete().await;
}

#[tokio::test]
async fn exec_readiness_probe_sees_the_containers_mounts() {
    let ns = TestNamespace::new("pr-exec").await;
    let dir = "/var/lib/microfleet-testbox/exec";
    let ready_file = format!("{dir}/ready");
    let extra = json!({
        "volumeMounts": [{"name": "data", "mountPath": dir}],
        "readinessProbe": {"exec": {"command": ["cat", ready_file]}, "periodSeconds": 1},
    });
    let mut object = testbox_pod("probed", "Always", &["sleep", "600", "--touch", &ready_file], extra);
    object["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
    ns.create::<Pod>(object).await;
    wait_for(&ns.api::<Pod>(), "probed", TIMEOUT, "Ready", is_ready).await;
    assert!(!std::path::Path::new(&ready_file).exists(), "the emptyDir's file is visible on the host");
    ns.delete().await;
}

#[tokio::test]
async fn security_context_sets_the_user_and_a_read_only_root() {
    let ns = TestNamespace::new("pr-security").await;
    let dir = "/var/lib/microfleet-testbox/security";
    let (scratch, outside) = (format!("{dir}/scratch/file"), "/var/tmp/microfleet-testbox-outside".to_string());
    let extra = json!({
        "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false},
        "volumeMounts": [{"name": "scratch", "mountPath": format!("{dir}/scratch")}],
    });
    let mut object = testbox_pod("restricted", "Never", &["identity", &scratch, &outside], extra);
    object["spec"]["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532});
    object["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    ns.create::<Pod>(object).await;
    let pod = finished(&ns, "restricted").await;
    // the termination message itself shows that the non-root user may write it
    let message = terminated(&pod).and_then(|t| t.message.clone()).unwrap_or_default();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], "uid=65532 gid=65532", "{message}");
    assert_eq!(lines[1], format!("{scratch}:written"), "an emptyDir is writable: {message}");
    assert!(lines[2].contains("Read-only file system"), "the root filesystem is read-only: {message}");

    // runAsNonRoot without a user: the "image" would run as root, which the kubelet refuses
    let mut object = testbox_pod("as-root", "Never", &["exit", "0"], json!({}));
    object["spec"]["securityContext"] = json!({"runAsNonRoot": true});
    ns.create::<Pod>(object).await;
    let pod = wait_for(&ns.api::<Pod>(), "as-root", TIMEOUT, "CreateContainerConfigError", |p| {
        waiting(p).and_then(|w| w.reason.as_deref()) == Some("CreateContainerConfigError")
    })
    .await;
    let message = waiting(&pod).and_then(|w| w.message.clone()).unwrap_or_default();
    assert!(message.starts_with("container has runAsNonRoot and image will run as root"), "{message}");
    ns.delete().await;
}
