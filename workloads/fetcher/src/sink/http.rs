//! The HTTP sink: `POST <url>/runs/<run>/batches/<seq>` per batch, then `POST <url>/runs/<run>/commit`
//! (or `/abort`), as `workloads/fetcher/receiver-protocol.openapi.yaml` (version 1) describes. Batches are
//! idempotent by (run, seq) and a commit repeated after it was applied answers success, so retries are
//! safe. Once the first commit request is sent the run is never aborted: it may already be live.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use std::time::Duration;

use bytes::Bytes;
use microfleet_crds::clusterfetch::HttpSink as HttpSinkSpec;
use reqwest::{Client, Url};

use super::Batch;
use crate::{
    plan::Auth,
    progress::Stats,
    retry::{self, Fault, Policy},
};

/// An HTTP receiver of one run.
#[derive(Clone)]
pub struct HttpSink {
    client: Client,
    /// Each request's whole timeout (`spec.sink.http.timeoutSeconds`), over the client's own.
    timeout: Duration,
    base: String,
    run_id: String,
    auth: Auth,
    headers: Vec<(String, String)>,
    policy: Policy,
    stats: Arc<Stats>,
    /// Set once the first commit request is sent: from then on the run may be live, and is never aborted.
    committing: Arc<AtomicBool>,
}

/// Why a commit did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The receiver answered every attempt, the last with a refusal: the run is not live.
    #[error("{0}")]
    Refused(Fault),
    /// The last attempt got no answer (timed out, connection dropped) and no attempt was refused or
    /// accepted after it: the receiver may or may not have applied the commit.
    #[error("{0}")]
    Unknown(Fault),
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink").field("run_id", &self.run_id).field("auth", &self.auth).finish()
    }
}

impl HttpSink {
    /// A sink for `run_id` to the receiver in `spec`, sending with `client` (shared with the source) and
    /// `spec.timeoutSeconds` as each request's timeout.
    pub fn new(
        client: Client,
        spec: &HttpSinkSpec,
        run_id: &str,
        auth: Auth,
        policy: Policy,
        stats: Arc<Stats>,
    ) -> Result<HttpSink, Fault> {
        Url::parse(&spec.url).map_err(|_| Fault::permanent("spec.sink.http.url is not a URL"))?;
        Ok(HttpSink {
            client,
            timeout: Duration::from_secs(u64::try_from(spec.timeout_seconds.max(1)).unwrap_or(1)),
            base: spec.url.trim_end_matches('/').to_string(),
            run_id: run_id.to_string(),
            auth,
            headers: spec.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
            policy,
            stats,
            committing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// `POST <url>/runs/<run>/<path>`, retried by `policy`; `answered` is told, after each attempt,
    /// whether the receiver answered it (a status, success or not) or left it unanswered after it was
    /// sent (timed out, connection dropped). A connection never opened leaves it as it was.
    async fn post(
        &self,
        path: &str,
        body: Bytes,
        what: &str,
        policy: Policy,
        answered: &AtomicBool,
    ) -> Result<(), Fault> {
        let url = format!("{}/runs/{}/{path}", self.base, self.run_id);
        retry::with_retries(
            policy,
            || async {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let mut request = self
                    .client
                    .post(&url)
                    .timeout(self.timeout)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("X-Microfleet-Run", &self.run_id)
                    .body(body.clone());
                for (name, value) in &self.headers {
                    request = request.header(name, value);
                }
                match self.auth.apply(request).send().await {
                    Ok(response) => {
                        answered.store(true, Ordering::Relaxed);
                        let wait = retry::retry_after(response.headers());
                        retry::classify_status(response.status(), wait, what).map_or(Ok(()), Err)
                    }
                    Err(error) => {
                        if !error.is_connect() {
                            answered.store(false, Ordering::Relaxed);
                        }
                        Err(retry::classify_error(&error, what))
                    }
                }
            },
            |fault, wait| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %fault, retry_in_ms = wait.as_millis() as u64, "sink request failed; retrying")
            },
        )
        .await
    }

    /// True once the first commit request was sent: the run may be live.
    pub fn commit_started(&self) -> bool {
        self.committing.load(Ordering::SeqCst)
    }

    /// Sends one batch.
    pub async fn send(&self, batch: Batch) -> Result<(), Fault> {
        let what = format!("sink batch {}", batch.seq);
        let path = format!("batches/{}", batch.seq);
        self.post(&path, batch.into_bytes(), &what, self.policy, &AtomicBool::new(true)).await
    }

    /// Commits the run. A refusal answered to the last attempt means the run is not live; no answer to it
    /// means nobody knows.
    pub async fn commit(&self, items: u64, batches: u64) -> Result<(), CommitError> {
        let body = serde_json::json!({ "items": items, "batches": batches }).to_string();
        self.committing.store(true, Ordering::SeqCst);
        let answered = AtomicBool::new(true);
        let result = self.post("commit", Bytes::from(body), "sink commit", self.policy, &answered).await;
        result.map_err(|fault| match answered.load(Ordering::Relaxed) {
            true => CommitError::Refused(fault),
            false => CommitError::Unknown(fault),
        })
    }

    /// Aborts the run (two quick attempts; the receiver also drops runs never committed) — unless a commit
    /// was sent, which may have made it live: then it is left alone.
    pub async fn abort(&self, reason: &str) {
        if self.commit_started() {
            tracing::warn!("a commit was sent, so the run may be live: not aborting it");
            return;
        }
        let body = serde_json::json!({ "reason": reason }).to_string();
        let quick = Policy {
            attempts: 2,
            initial: std::time::Duration::from_millis(200),
            max: std::time::Duration::from_secs(1),
        };
        let answered = AtomicBool::new(true);
        if let Err(error) = self.post("abort", Bytes::from(body), "sink abort", quick, &answered).await {
            tracing::warn!(%error, "could not abort the staged run; the receiver must expire it");
        }
    }
}
