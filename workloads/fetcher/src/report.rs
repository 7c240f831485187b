//! Report: the run summary (termination message, log line, exit code) and the optional Pushgateway push.

use std::{path::Path, sync::Arc, time::Duration};

use microfleet_crds::contract::RunSummary;

use crate::{progress::Stats, run::RunFailure};

/// The summary of a finished run.
pub fn summary(run_id: &str, result: &Result<u64, RunFailure>, stats: &Stats, elapsed: Duration) -> RunSummary {
    let (items, bytes, pages, requests, _) = stats.snapshot();
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    RunSummary {
        run_id: run_id.to_string(),
        succeeded: result.is_ok(),
        failure_class: result.as_ref().err().map(|f| f.class),
        message: result.as_ref().err().map(|f| f.message.clone()),
        items: as_i64(items),
        bytes: as_i64(bytes),
        pages: as_i64(pages),
        requests: as_i64(requests),
        retries: as_i64(stats.retries.load(std::sync::atomic::Ordering::Relaxed)),
        duration_seconds: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

/// The process exit code of a summary.
pub fn exit_code(summary: &RunSummary) -> u8 {
    match summary.failure_class {
        None => 0,
        Some(class) => u8::try_from(class.exit_code()).unwrap_or(1),
    }
}

/// Writes the summary where the kubelet reads the termination message.
pub fn write_termination_message(path: &Path, summary: &RunSummary) {
    if let Err(error) = std::fs::write(path, summary.to_termination_message()) {
        tracing::warn!(%error, path = %path.display(), "could not write the run summary");
    }
}

/// The Pushgateway body: this run's figures in the Prometheus text format.
pub fn pushgateway_body(summary: Option<&RunSummary>, stats: &Stats, now_seconds: f64) -> String {
    let (items, bytes, pages, requests, delivered) = stats.snapshot();
    let retries = stats.retries.load(std::sync::atomic::Ordering::Relaxed);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
    };
    gauge("microfleet_fetcher_items", "Items fetched so far in this run", items as f64);
    gauge("microfleet_fetcher_delivered_items", "Items delivered to the sink so far", delivered as f64);
    gauge("microfleet_fetcher_bytes", "Bytes read from the source so far", bytes as f64);
    gauge("microfleet_fetcher_pages", "Pages read so far", pages as f64);
    gauge("microfleet_fetcher_requests", "HTTP requests made so far, retries included", requests as f64);
    gauge("microfleet_fetcher_retries", "HTTP requests so far that retried a failed one", retries as f64);
    gauge("microfleet_fetcher_last_push_timestamp_seconds", "When these figures were pushed", now_seconds);
    if let Some(summary) = summary {
        gauge("microfleet_fetcher_duration_seconds", "Wall time of the finished run", summary.duration_seconds);
        gauge(
            "microfleet_fetcher_succeeded",
            "1 if the finished run succeeded, else 0",
            f64::from(u8::from(summary.succeeded)),
        );
    }
    out
}

/// Pushes to `<base>/metrics/job/microfleet-fetcher/namespace/<ns>/clusterfetch/<name>` (best effort).
pub async fn push(client: &reqwest::Client, base: &str, cluster_fetch: &str, body: String) {
    let (namespace, name) = cluster_fetch.split_once('/').unwrap_or(("default", cluster_fetch));
    let url = format!(
        "{}/metrics/job/microfleet-fetcher/namespace/{namespace}/clusterfetch/{name}",
        base.trim_end_matches('/')
    );
    match client.put(url).body(body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "the Pushgateway refused the run metrics"),
        Err(error) => {
            tracing::warn!(error = %crate::retry::classify_error(&error, "pushgateway"), "could not push run metrics")
        }
    }
}

/// Pushes the run's figures every `every` until dropped.
pub struct Pusher {
    task: tokio::task::JoinHandle<()>,
}

impl Pusher {
    /// Starts pushing.
    pub fn start(
        client: reqwest::Client,
        base: String,
        cluster_fetch: String,
        stats: Arc<Stats>,
        every: Duration,
    ) -> Pusher {
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                push(&client, &base, &cluster_fetch, pushgateway_body(None, &stats, now_seconds())).await;
            }
        });
        Pusher { task }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use microfleet_crds::contract::FailureClass;
    use std::sync::atomic::Ordering;

    #[test]
    fn summaries_and_exit_codes() {
        let stats = Stats::default();
        stats.items.store(10, Ordering::Relaxed);
        stats.pages.store(2, Ordering::Relaxed);
        let ok = summary("r", &Ok(10), &stats, Duration::from_millis(1500));
        assert!(ok.succeeded);
        assert_eq!((ok.items, ok.pages, ok.duration_seconds), (10, 2, 1.5));
        assert_eq!(exit_code(&ok), 0);
        let failure = RunFailure { class: FailureClass::Sink, message: "HTTP 503".into() };
        let failed = summary("r", &Err(failure), &stats, Duration::from_secs(1));
        assert_eq!(failed.failure_class, Some(FailureClass::Sink));
        assert_eq!(exit_code(&failed), 5);
        let body = pushgateway_body(Some(&failed), &stats, 1.0);
        assert!(
            body.contains("microfleet_fetcher_items 10\n") && body.contains("microfleet_fetcher_succeeded 0\n"),
            "{body}"
        );
    }
}
