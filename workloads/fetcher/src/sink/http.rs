//! The HTTP sink: `POST <url>/runs/<run>/batches/<seq>` per batch, then `POST <url>/runs/<run>/commit`
//! (or `/abort`). Batches are idempotent by (run, seq), so a retried batch is safe.

use std::sync::{atomic::Ordering, Arc};
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
        })
    }

    async fn post(&self, path: &str, body: Bytes, what: &str, policy: Policy) -> Result<(), Fault> {
        let url = format!("{}/runs/{}/{path}", self.base, self.run_id);
        retry::with_retries(
            policy,
            || async {
                self.stats.attempts.fetch_add(1, Ordering::Relaxed);
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
                retry::send_checked(self.auth.apply(request), what).await.map(drop)
            },
            |fault, wait| tracing::warn!(error = %fault, retry_in_ms = wait.as_millis() as u64, "sink request failed; retrying"),
        )
        .await
    }

    /// Sends one batch.
    pub async fn send(&self, batch: Batch) -> Result<(), Fault> {
        let what = format!("sink batch {}", batch.seq);
        let path = format!("batches/{}", batch.seq);
        self.post(&path, batch.into_bytes(), &what, self.policy).await
    }

    /// Commits the run.
    pub async fn commit(&self, items: u64, batches: u64) -> Result<(), Fault> {
        let body = serde_json::json!({ "items": items, "batches": batches }).to_string();
        self.post("commit", Bytes::from(body), "sink commit", self.policy).await
    }

    /// Aborts the run (two quick attempts; the receiver also drops runs never committed).
    pub async fn abort(&self, reason: &str) {
        let body = serde_json::json!({ "reason": reason }).to_string();
        let quick = Policy {
            attempts: 2,
            initial: std::time::Duration::from_millis(200),
            max: std::time::Duration::from_secs(1),
        };
        if let Err(error) = self.post("abort", Bytes::from(body), "sink abort", quick).await {
            tracing::warn!(%error, "could not abort the staged run; the receiver must expire it");
        }
    }
}
