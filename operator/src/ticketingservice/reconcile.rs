//! The TicketingService reconcile: read → validate → build → apply → status, in that order and nothing else.
//!
//! Decisions live in the pure modules (`validate`, `rollout`, `build`, `status`); this file sequences them
//! and performs the writes `writes` plans: the Secret of the services' generated keys created once (its keys
//! drawn here), the children not in line server-side applied with the one field manager (Jobs created
//! once), the children no longer wanted deleted, the status applied when it changed, an Event per
//! transition. A reconcile with nothing to change writes nothing.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use k8s_openapi::api::{batch::v1::Job, core::v1::Secret};
use kube::{
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::{controller::Action, events::Event},
    Api, Resource, ResourceExt,
};
use microfleet_common::api_key::new_api_key;
use microfleet_crds::ticketingservice::{TicketingService, TicketingServiceStatus};
use serde_json::json;

use super::{
    build::build_children,
    read,
    rollout::plan_rollout,
    service_keys::{build_service_keys_secret, generated_components, generates_secret, secret_name},
    status::{derive_status, transition_events, Verdict},
    validate::{validate, SpecProblem},
    writes::{plan_writes, OwnedChild, Writes},
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
            let owned = read::owned_children(&ctx.client, &ts, &discovered).await?;
            let full = ctx.full_apply_due(&ts);
            let writes = plan_writes(&children, &owned, full);
            match write_all(&ctx, &ts, &writes, full).await {
                Ok(()) => {
                    if full {
                        ctx.full_apply_done(&ts);
                    }
                    Verdict::Applied
                }
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

/// The writes of one reconcile: with a full apply, the Secret of the services' keys first (when the spec
/// relies on it), then the children.
async fn write_all(ctx: &Context, ts: &TicketingService, writes: &Writes, full: bool) -> Result<(), Error> {
    if full && generates_secret(ts) {
        create_service_keys(ctx, ts).await?;
    }
    write_children(ctx, ts, writes).await
}

/// Applies the children `writes` names (Jobs are created once: their template cannot change; their names
/// carry what they run), then deletes the ones no longer wanted.
async fn write_children(ctx: &Context, ts: &TicketingService, writes: &Writes) -> Result<(), Error> {
    for child in &writes.apply {
        if child["kind"] == "Job" {
            let job: Job =
                serde_json::from_value(child.clone()).map_err(crate::ticketingservice::build::BuildError::from)?;
            create_job_once(&ctx.client, &ctx.fence, &job).await?;
        } else {
            apply_object(&ctx.client, &ctx.fence, child).await?;
        }
    }
    for child in &writes.delete {
        delete_child(ctx, &ts.namespace().unwrap_or_default(), child).await?;
    }
    Ok(())
}

/// Creates the Secret of the services' generated keys unless it exists — one random key per component that
/// may rely on it, drawn here, never in `build` — and never rewrites it (it is immutable; an existing one,
/// 409, is left as it is). Only its name is logged. Runs with the full applies (a process's first reconcile
/// of `ts`, then periodically), so a settled reconcile makes no call for it.
async fn create_service_keys(ctx: &Context, ts: &TicketingService) -> Result<(), Error> {
    let mut keys = BTreeMap::new();
    for kind in generated_components() {
        let (key, _prefix) = new_api_key().map_err(|error| Error::Random(error.to_string()))?;
        keys.insert(kind.suffix().to_string(), key);
    }
    let secret = build_service_keys_secret(ts, keys)?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ts.namespace().unwrap_or_default());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    ctx.fence.check()?;
    match api.create(&params, &secret).await {
        Ok(_) => {
            tracing::info!(secret = secret_name(ts), "created the Secret of the services' keys");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Deletes a child the TicketingService no longer wants (gone already is fine).
async fn delete_child(ctx: &Context, namespace: &str, child: &OwnedChild) -> Result<(), Error> {
    let stub = json!({"apiVersion": child.api_version, "kind": child.kind, "metadata": {"namespace": namespace}});
    ctx.fence.check()?;
    match dynamic_api(&ctx.client, &stub).delete(&child.name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(kind = child.kind, name = child.name, "deleted a child no longer wanted");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error.into()),
    }
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
