//! Leader election on a `coordination.k8s.io/v1` Lease, and the write fence that goes with it: only the
//! holder reconciles, and it stops writing as soon as it can no longer be sure it holds the Lease.
//!
//! Owns the Lease and the fence only; what the leader does is the caller's business. The rules are pure,
//! in [`lease`]; this file runs them against the API. Leading ends, for good, when a renewal has not
//! succeeded within `DURATION - MARGIN` of the last successful one, measured on the monotonic clock (a
//! process frozen past that instant is no longer leading when it resumes, whatever its tasks do first).

pub mod lease;

use std::{
    future::Future,
    ops::ControlFlow::{self, Break, Continue},
};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use kube::{
    api::{ObjectMeta, PostParams},
    Api, Client,
};
use lease::{Decision, CALL_TIMEOUT, RENEW_EVERY};
use tokio::{
    sync::watch,
    task::JoinHandle,
    time::{timeout, Instant},
};

/// Whether this replica leads: `Some(deadline)` while it does, the monotonic instant after which it must not
/// write unless a renewal moves it on.
type Lead = Option<Instant>;

/// A write was refused because this replica does not (or no longer surely) hold the leader Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not the leader: the leader Lease is not held or was not renewed in time, so writes are held back")]
pub struct NotLeading;

/// The write fence: cheap to clone and to check, checked immediately before every write the controllers make.
#[derive(Debug, Clone)]
pub struct Fence {
    /// `None`: always open (no leader election).
    lead: Option<watch::Receiver<Lead>>,
}

impl Fence {
    /// A fence that is always open, for a single replica without leader election.
    pub fn open() -> Fence {
        Fence { lead: None }
    }

    /// A fence that stays closed: a replica that never leads.
    #[cfg(test)]
    pub(crate) fn closed() -> Fence {
        Fence { lead: Some(watch::channel(None).1) }
    }

    /// Ok while this replica leads and its lease deadline (monotonic) lies ahead.
    pub fn check(&self) -> Result<(), NotLeading> {
        match &self.lead {
            None => Ok(()),
            Some(lead) => match *lead.borrow() {
                Some(deadline) if Instant::now() < deadline => Ok(()),
                _ => Err(NotLeading),
            },
        }
    }
}

/// A running election: a task that acquires and renews the Lease, and tells whether this replica leads.
pub struct Election {
    lead: watch::Receiver<Lead>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Election {
    /// Joins the election for Lease `name` in `namespace` as `identity` (starts a task; needs a Tokio runtime).
    pub fn join(client: Client, namespace: &str, name: &str, identity: &str) -> Election {
        let (lead_tx, lead) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let campaign = Campaign {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            lead: lead_tx,
            known: None,
            renewed: None,
        };
        Election { lead, stop, task: tokio::spawn(campaign.run(stopped)) }
    }

    /// Waits until this replica leads. Returns false if the election ended first.
    pub async fn acquired(&mut self) -> bool {
        self.lead.wait_for(Option::is_some).await.is_ok()
    }

    /// The write fence of this election: open only while this replica leads, within its lease deadline.
    pub fn fence(&self) -> Fence {
        Fence { lead: Some(self.lead.clone()) }
    }

    /// Resolves when this replica stops leading: a renewal did not succeed by the lease deadline (even if the
    /// renewing task is stuck), the Lease names another holder, or the election ended.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut lead = self.lead.clone();
        async move {
            loop {
                let Some(deadline) = *lead.borrow_and_update() else { return };
                if Instant::now() >= deadline {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {}
                    changed = lead.changed() => if changed.is_err() { return },
                }
            }
        }
    }

    /// Leaves the election and, if this replica still holds the Lease, clears its holder so a standby takes
    /// over at once.
    pub async fn release(self) {
        // Err: the campaign already ended (it stepped down); nothing to release then
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "leader election task failed");
        }
    }
}

/// The election task's state.
struct Campaign {
    api: Api<Lease>,
    name: String,
    identity: String,
    lead: watch::Sender<Lead>,
    /// The Lease as last read or written (its resourceVersion guards the next write).
    known: Option<Lease>,
    /// Monotonic start of the last successful write while leading.
    renewed: Option<Instant>,
}

/// How a write of the Lease went.
enum Written {
    /// The Lease as stored.
    Done(Box<Lease>),
    /// Another writer got there first (409): the Lease must be read again.
    Conflict,
}

impl Campaign {
    /// Acquires and renews until stopped (then releases a held Lease) or until it steps down.
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        loop {
            if self.step().await.is_break() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(RENEW_EVERY) => {}
                // a stop request, or the Election dropped
                _ = stopped.changed() => {
                    self.release().await;
                    return;
                }
            }
        }
    }

    /// One look at the Lease and what it calls for. Breaks after stepping down.
    async fn step(&mut self) -> ControlFlow<()> {
        if self.renewed.is_none() {
            // a standby reads the Lease; a leader writes on the copy it knows, its resourceVersion the guard
            match self.read().await {
                Ok(lease) => self.known = lease,
                Err(error) => {
                    tracing::warn!(%error, lease = %self.name, "could not read the leader Lease");
                    return Continue(());
                }
            }
        }
        let spec = self.known.as_ref().and_then(|l| l.spec.as_ref());
        let decision = lease::decide(spec, &self.identity, jiff::Timestamp::now(), self.renewed, Instant::now());
        match decision {
            Decision::Wait => {}
            Decision::StepDown => {
                let overdue = self.renewed.is_some_and(|r| Instant::now() >= lease::deadline(r));
                tracing::error!(
                    lease = %self.name,
                    holder = spec.and_then(|s| s.holder_identity.as_deref()).unwrap_or_default(),
                    reason = if overdue { "no renewal succeeded in time" } else { "the Lease is gone or held by another" },
                    "stepping down from leading"
                );
                self.renewed = None;
                self.lead.send_replace(None);
                return Break(());
            }
            Decision::Acquire => {
                let spec = lease::acquired(spec, &self.identity, jiff::Timestamp::now());
                if self.write(spec).await {
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired the leader Lease");
                }
            }
            Decision::Renew => {
                let Some(spec) = spec.map(|s| lease::renewed(s, jiff::Timestamp::now())) else { return Continue(()) };
                self.write(spec).await;
                if self.known.is_none() {
                    // another replica wrote it: read it again, so the next decision sees who holds it now
                    match self.read().await {
                        Ok(lease) => self.known = lease,
                        Err(error) => tracing::warn!(%error, lease = %self.name, "could not read the leader Lease"),
                    }
                }
            }
        }
        Continue(())
    }

    /// Writes `spec` over the known Lease (or creates it); on success this replica leads until the new
    /// deadline. Returns whether the write succeeded.
    async fn write(&mut self, spec: LeaseSpec) -> bool {
        let started = Instant::now();
        match self.put(spec).await {
            Ok(Written::Done(lease)) => {
                self.known = Some(*lease);
                self.renewed = Some(started);
                self.lead.send_replace(Some(lease::deadline(started)));
                true
            }
            Ok(Written::Conflict) => {
                tracing::warn!(lease = %self.name, "the leader Lease was written by another replica first");
                self.known = None;
                false
            }
            Err(error) => {
                tracing::warn!(%error, lease = %self.name, leading = self.renewed.is_some(), "writing the leader Lease failed");
                false
            }
        }
    }

    /// Leaves the Lease without a holder if this replica still holds it within its deadline.
    async fn release(&mut self) {
        let holding = self.renewed.is_some_and(|r| Instant::now() < lease::deadline(r));
        self.renewed = None;
        self.lead.send_replace(None);
        let Some(spec) = self.known.as_ref().and_then(|l| l.spec.as_ref()).filter(|_| holding) else { return };
        match self.put(lease::released(spec)).await {
            Ok(Written::Done(_)) => tracing::info!(lease = %self.name, "released the leader Lease"),
            Ok(Written::Conflict) => tracing::warn!(lease = %self.name, "not released: another replica wrote it"),
            Err(error) => tracing::warn!(%error, lease = %self.name, "could not release the leader Lease"),
        }
    }

    async fn read(&self) -> Result<Option<Lease>, kube::Error> {
        timeout(CALL_TIMEOUT, self.api.get_opt(&self.name)).await.map_err(timed_out)?
    }

    /// Replaces the known Lease with `spec` under its resourceVersion, or creates the Lease when none is known.
    async fn put(&self, spec: LeaseSpec) -> Result<Written, kube::Error> {
        let params = PostParams { field_manager: Some("microfleet-operator".into()), ..PostParams::default() };
        let call = async {
            match &self.known {
                Some(known) => {
                    let lease = Lease { metadata: known.metadata.clone(), spec: Some(spec) };
                    self.api.replace(&self.name, &params, &lease).await
                }
                None => {
                    let metadata = ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() };
                    self.api.create(&params, &Lease { metadata, spec: Some(spec) }).await
                }
            }
        };
        match timeout(CALL_TIMEOUT, call).await.map_err(timed_out)? {
            Ok(lease) => Ok(Written::Done(Box::new(lease))),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Written::Conflict),
            Err(error) => Err(error),
        }
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> kube::Error {
    kube::Error::Service(format!("no answer within {}s", CALL_TIMEOUT.as_secs()).into())
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
