//! The node's pod loop: watches the pods bound to this node and gives each its own task (`pod.rs`), passing
//! on every update; stops them all on shutdown. It must not touch processes itself.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use microfleet_common::shutdown::Shutdown;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pod::{self, PodView};
use crate::runtime::Runtime;

struct PodHandle {
    updates: watch::Sender<PodView>,
    task: JoinHandle<()>,
}

/// Runs every pod bound to the node until shutdown, then waits for their tasks to stop them.
pub async fn run(rt: Arc<Runtime>, shutdown: Shutdown) {
    let api: Api<Pod> = Api::all(rt.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", rt.node.node_name));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut pods: HashMap<String, PodHandle> = HashMap::new();
    let mut listed: Vec<String> = Vec::new();
    let shutdown_requested = shutdown.clone().requested();
    tokio::pin!(shutdown_requested);
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = &mut shutdown_requested => break,
        };
        pods.retain(|_, handle| !handle.task.is_finished());
        match event {
            Some(Ok(Event::Apply(pod))) => dispatch(&rt, &mut pods, pod, &shutdown),
            Some(Ok(Event::InitApply(pod))) => {
                listed.extend(pod.metadata.uid.clone());
                dispatch(&rt, &mut pods, pod, &shutdown);
            }
            Some(Ok(Event::Init)) => listed.clear(),
            Some(Ok(Event::InitDone)) => {
                // pods that vanished while the watch was down
                for (uid, handle) in pods.iter().filter(|(uid, _)| !listed.contains(uid)) {
                    tracing::info!(%uid, "pod is gone");
                    handle.updates.send_modify(|view| view.gone = true);
                }
                listed.clear();
            }
            Some(Ok(Event::Delete(pod))) => {
                if let Some(handle) = pod.metadata.uid.as_ref().and_then(|uid| pods.get(uid)) {
                    handle.updates.send_modify(|view| view.gone = true);
                }
            }
            Some(Err(error)) => tracing::warn!(%error, "pod watch failed; retrying"),
            None => break,
        }
    }
    tracing::info!(pods = pods.len(), "stopping every pod");
    for (_, handle) in pods {
        if let Err(error) = handle.task.await {
            tracing::warn!(%error, "a pod task failed");
        }
    }
}

fn dispatch(rt: &Arc<Runtime>, pods: &mut HashMap<String, PodHandle>, pod: Pod, shutdown: &Shutdown) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    match pods.get(&uid) {
        Some(handle) => {
            handle.updates.send_replace(PodView { pod, gone: false });
        }
        None => {
            let (updates, receiver) = watch::channel(PodView { pod, gone: false });
            let task = tokio::spawn(pod::run(rt.clone(), receiver, shutdown.clone()));
            pods.insert(uid, PodHandle { updates, task });
        }
    }
}
