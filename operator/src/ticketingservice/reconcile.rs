//! The TicketingService reconcile: read → validate → build → apply → status, in that order and nothing else.
//!
//! Decisions live in the pure modules (`validate`, `rollout`, `build`, `status`); this file sequences them
//! and performs the writes: every child server-side applied with the one field manager (Jobs created once),
//! the children no longer wanted deleted, the status applied when it changed, an Event per transition.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::batch::v1::Job;
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{controller::Action, events::Event},
    Api, Resource, ResourceExt,
};
use microfleet_crds::{
    labels,
    ticketingservice::{TicketingService, TicketingServiceStatus},
};
use serde_json::{json, Value};

use super::{
    build::build_children,
    discovery::Discovered,
    prune::{prunable_kinds, stale},
    read,
    rollout::plan_rollout,
    status::{derive_status, transition_events, Verdict},
    validate::{validate, SpecProblem},
    Context, CONTROLLER,
};
use crate::{
    apply::{apply_object, create_job_once, dynamic_api, FIELD_MANAGER},
    error::Error,
};

/// How often a TicketingService that is Ready is looked at again without a change.
const RESYNC: Duration = Duration::from_secs(300);
/// How often one that is not Ready yet is looked at again: its CloudNativePG clusters and KafkaTopics are not
/// watched, and the optional APIs may be installed meanwhile.
const PROGRESS_POLL: Duration = Duration::from_secs(10);

/// Brings the cluster in line with one TicketingService and records what it observed in status.
pub async fn reconcile(ts: Arc<TicketingService>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let now = (ctx.clock)();

    // read
    let discovered = read::discover(&ctx.client).await?;
    let observed = read::observe(&ctx.client, &ts, &discovered, &ctx.config).await?;

    // validate → build → apply
    let plan = plan_rollout(&ts, &discovered, &observed, &ctx.config);
    let mut apply_error = None;
    let verdict = match validate(&ts, &discovered) {
        Err(problems) => Verdict::Invalid(problems),
        Ok(()) => {
            let children = build_children(&ts, &discovered, &plan, &ctx.config)?;
            let applied = match apply_children(&ctx, &children).await {
                Ok(()) => prune_children(&ctx, &ts, &discovered, &children).await,
                Err(error) => Err(error),
            };
            match applied {
                Ok(()) => Verdict::Applied,
                Err(Error::Kube(kube::Error::Api(rejected))) if rejected.code == 400 || rejected.code == 422 => {
                    Verdict::Invalid(vec![SpecProblem {
                        reason: "ChildRejected",
                        field: "spec".into(),
                        message: format!("the API server rejected a child object: {}", rejected.message),
                    }])
                }
                Err(error) => {
                    let verdict = Verdict::Retrying(format!("applying the children failed: {error}"));
                    apply_error = Some(error);
                    verdict
                }
            }
        }
    };

    // status (derived purely), then its write and the Events of its transitions
    let status = derive_status(&ts, &discovered, &observed, &plan, &verdict, now);
    let events = transition_events(ts.status.as_ref(), &status);
    if ts.status.as_ref() != Some(&status) {
        apply_status(&ctx, &ts, &status).await?;
    }
    for (type_, reason, note) in events {
        publish(&ctx, &ts, Event { type_, reason, note: Some(note), action: "Reconcile".into(), secondary: None })
            .await;
    }

    if let Some(error) = apply_error {
        return Err(error);
    }
    let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    Ok(Action::requeue(if ready { RESYNC } else { PROGRESS_POLL }))
}

/// Applies every child; Jobs are created once (their template cannot change; their names carry what they
/// run).
async fn apply_children(ctx: &Context, children: &[Value]) -> Result<(), Error> {
    for child in children {
        if child["kind"] == "Job" {
            let job: Job =
                serde_json::from_value(child.clone()).map_err(crate::ticketingservice::build::BuildError::from)?;
            create_job_once(&ctx.client, &ctx.fence, &job).await?;
        } else {
            apply_object(&ctx.client, &ctx.fence, child).await?;
        }
    }
    Ok(())
}

/// Deletes the children of the prunable kinds that `ts` owns and no longer wants.
async fn prune_children(
    ctx: &Context,
    ts: &TicketingService,
    discovered: &Discovered,
    children: &[Value],
) -> Result<(), Error> {
    let selector = format!("{}={}", labels::TICKETING_SERVICE, ts.name_any());
    let uid = ts.metadata.uid.clone();
    for (api_version, kind) in prunable_kinds(discovered) {
        let stub = json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": ts.namespace()}});
        let api = dynamic_api(&ctx.client, &stub);
        let owned: Vec<String> = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter(|o| {
                o.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.controller == Some(true) && Some(&r.uid) == uid.as_ref())
            })
            .filter_map(|o| o.metadata.name)
            .collect();
        for name in stale(children, kind, &owned) {
            ctx.fence.check()?;
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(kind, name, "pruned a child no longer wanted"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

async fn apply_status(ctx: &Context, ts: &TicketingService, status: &TicketingServiceStatus) -> Result<(), Error> {
    let api: Api<TicketingService> = Api::namespaced(ctx.client.clone(), &ts.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": TicketingService::api_version(&()),
        "kind": TicketingService::kind(&()),
        "status": status,
    });
    ctx.fence.check()?;
    api.patch_status(&ts.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await?;
    Ok(())
}

/// Publishes an Event about `ts`; a failure (the fence included) is logged, not returned: Events are best
/// effort.
async fn publish(ctx: &Context, ts: &TicketingService, event: Event) {
    if let Err(error) = ctx.fence.check() {
        tracing::warn!(%error, reason = event.reason, "Event not published");
        return;
    }
    if let Err(error) = ctx.recorder.publish(&event, &ts.object_ref(&())).await {
        tracing::warn!(%error, reason = event.reason, "could not publish an Event");
    }
}
