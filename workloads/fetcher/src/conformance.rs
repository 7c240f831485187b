//! The receiver conformance check (`microfleet-fetcher check-receiver`): runs the calls of the receiver
//! protocol (`workloads/fetcher/receiver-protocol.openapi.yaml`, version 1) against a receiver and says,
//! per rule, whether it keeps it.
//!
//! It commits small lists of its own (`{"conformance":…}` items): run it against a test instance of the
//! receiver, never against the one that serves production.

use reqwest::{Client, StatusCode};

/// The verdict on one rule of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The rule, in a few words.
    pub name: &'static str,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// What a receiver answered: a status, or why it did not.
type Answer = Result<StatusCode, String>;

/// The receiver at `base` (`spec.sink.http.url`), and the prefix of the run ids the check uses.
struct Receiver<'a> {
    client: &'a Client,
    base: &'a str,
    prefix: &'a str,
}

impl Receiver<'_> {
    async fn post(&self, run: &str, path: &str, body: String) -> Answer {
        let url = format!("{}/runs/{}-{run}/{path}", self.base.trim_end_matches('/'), self.prefix);
        let request = self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        match request.send().await {
            Ok(response) => Ok(response.status()),
            Err(error) => Err(crate::retry::classify_error(&error, path).to_string()),
        }
    }

    /// Stages batch `seq` of `run` with `items` items.
    async fn batch(&self, run: &str, seq: u64, items: u64) -> Answer {
        let lines: Vec<String> = (0..items).map(|n| format!("{{\"conformance\":\"{run}\",\"n\":{n}}}")).collect();
        self.post(run, &format!("batches/{seq}"), format!("[{}]", lines.join(",\n"))).await
    }

    async fn commit(&self, run: &str, items: u64, batches: u64) -> Answer {
        self.post(run, "commit", format!("{{\"items\":{items},\"batches\":{batches}}}")).await
    }

    async fn abort(&self, run: &str) -> Answer {
        self.post(run, "abort", "{\"reason\":\"conformance check\"}".into()).await
    }
}

/// `Ok` when `answer` is a success, else why not (`what` names the call).
fn success(answer: Answer, what: &str) -> Result<(), String> {
    match answer {
        Ok(status) if status.is_success() => Ok(()),
        Ok(status) => Err(format!("{what} answered {status}, want 2xx")),
        Err(error) => Err(format!("{what}: {error}")),
    }
}

/// `Ok` when `answer` is a refusal (4xx), else why not.
fn refusal(answer: Answer, what: &str) -> Result<(), String> {
    match answer {
        Ok(status) if status.is_client_error() => Ok(()),
        Ok(status) => Err(format!("{what} answered {status}, want a refusal (4xx)")),
        Err(error) => Err(format!("{what}: {error}")),
    }
}

/// Runs every check against the receiver at `base`, with run ids starting with `prefix`.
pub async fn check_receiver(client: &Client, base: &str, prefix: &str) -> Vec<Check> {
    let r = Receiver { client, base, prefix };
    let mut checks = Vec::new();
    let mut record = |name, result: Result<(), String>| checks.push(Check { name, failure: result.err() });

    let staged = async {
        success(r.batch("a", 0, 2).await, "batch 0")?;
        success(r.batch("a", 1, 1).await, "batch 1")
    };
    record("batches of a run are staged", staged.await);
    record("a batch sent twice is taken again", success(r.batch("a", 1, 1).await, "batch 1, again"));
    record(
        "a commit that does not match the staged batches is refused",
        refusal(r.commit("a", 5, 2).await, "a commit of 5 items in 2 batches, 3 items staged"),
    );
    record("a commit makes the run live", success(r.commit("a", 3, 2).await, "the commit"));
    record("a commit sent twice answers success", success(r.commit("a", 3, 2).await, "the repeated commit"));
    let abort_after_commit = async {
        match r.abort("a").await {
            Ok(status) if status.is_success() || status == StatusCode::CONFLICT => {}
            other => return success(other, "abort after the commit").map(|_| ()),
        }
        success(r.commit("a", 3, 2).await, "a commit after that abort (the run must still be live)")
    };
    record("an abort after the commit leaves the run live", abort_after_commit.await);
    let abort = async {
        success(r.batch("b", 0, 1).await, "batch 0")?;
        success(r.abort("b").await, "the abort")?;
        refusal(r.commit("b", 1, 1).await, "a commit of the aborted run")
    };
    record("an abort drops the staged run", abort.await);
    let interleaved = async {
        success(r.batch("c", 0, 2).await, "run c batch 0")?;
        success(r.batch("d", 0, 3).await, "run d batch 0")?;
        success(r.batch("c", 1, 1).await, "run c batch 1")?;
        success(r.batch("d", 1, 2).await, "run d batch 1")?;
        success(r.commit("d", 5, 2).await, "run d's commit")?;
        success(r.commit("c", 3, 2).await, "run c's commit")
    };
    record("two runs interleaved are kept apart", interleaved.await);
    checks
}

/// The report: one `PASS`/`FAIL` line per check, then the count.
pub fn report(base: &str, checks: &[Check]) -> String {
    let mut out = format!("receiver protocol v1 conformance of {base}\n");
    for check in checks {
        match &check.failure {
            None => out.push_str(&format!("  PASS  {}\n", check.name)),
            Some(why) => out.push_str(&format!("  FAIL  {}: {why}\n", check.name)),
        }
    }
    let passed = checks.iter().filter(|c| c.failure.is_none()).count();
    out.push_str(&format!("{passed} of {} checks passed\n", checks.len()));
    out
}
