//! The sample promotion platform: a staging receiver of the HTTP sink protocol (version 1,
//! `workloads/fetcher/receiver-protocol.openapi.yaml`). Batches of a run are staged; `commit` swaps the
//! whole run in atomically if every batch is there, and answers success again when repeated; `abort`
//! drops a staged run and leaves a committed one alone. The current list is never a partial one.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

/// One way to misbehave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status to batch `seq`, `times` times.
    Batch { seq: u64, status: u16, times: u32 },
    /// Answer this status to commit, `times` times.
    Commit { status: u16, times: u32 },
    /// Answer batch `seq` only after `delay`, `times` times (then stage it as usual).
    SlowBatch { seq: u64, delay: Duration, times: u32 },
    /// Apply a commit at once but answer it only after `delay`, `times` times (a receiver that answers
    /// late, or never).
    SlowCommit { delay: Duration, times: u32 },
    /// Break the protocol: refuse (409) a commit repeated after it was applied.
    RefuseRepeatedCommit,
}

/// The receiver's settings.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Keep every item of committed runs (tests); otherwise count only (benchmarks).
    pub keep_items: bool,
    /// Faults to inject.
    pub faults: Vec<Fault>,
}

/// A committed run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Committed {
    /// Run id.
    pub run: String,
    /// Items.
    pub items: u64,
    /// Batches.
    pub batches: u64,
    /// The items, when kept.
    #[serde(skip)]
    pub list: Vec<serde_json::Value>,
}

/// What the receiver holds.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The current (last committed) list.
    pub current: Option<Committed>,
    /// Every run committed, in order.
    pub commits: Vec<String>,
    /// Every run aborted, in order.
    pub aborts: Vec<String>,
    /// Runs staged and neither committed nor aborted.
    pub staged: Vec<String>,
    /// Batch requests received (retries included).
    pub batch_requests: u64,
}

#[derive(Default)]
struct Staged {
    batches: BTreeMap<u64, u64>,
    items: BTreeMap<u64, Vec<serde_json::Value>>,
}

#[derive(Default)]
struct Inner {
    staged: HashMap<String, Staged>,
    snapshot: Snapshot,
    fired: HashMap<usize, u32>,
}

struct Shared {
    config: Config,
    inner: Mutex<Inner>,
}

/// A handle on a running receiver.
#[derive(Clone)]
pub struct Promotion(Arc<Shared>);

impl Promotion {
    /// What it holds now.
    pub fn snapshot(&self) -> Snapshot {
        self.0
            .inner
            .lock()
            .map(|i| {
                let mut s = i.snapshot.clone();
                s.staged = i.staged.keys().cloned().collect();
                s
            })
            .unwrap_or_default()
    }
}

/// The router of a receiver with `config`, mounted at `/v1/eligible-users/imports`.
pub fn router(config: Config) -> (Router, Promotion) {
    let shared = Arc::new(Shared { config, inner: Mutex::default() });
    let router = Router::new()
        .route("/v1/eligible-users/imports/runs/{run}/batches/{seq}", post(batch))
        .route("/v1/eligible-users/imports/runs/{run}/commit", post(commit))
        .route("/v1/eligible-users/imports/runs/{run}/abort", post(abort))
        .route("/v1/eligible-users/current", get(current))
        .with_state(shared.clone());
    (router, Promotion(shared))
}

/// The first fault `pick` chooses (with how often it fires) that has not fired that often yet; counts it.
fn fire<T>(inner: &mut Inner, config: &Config, pick: impl Fn(&Fault) -> Option<(T, u32)>) -> Option<T> {
    for (i, fault) in config.faults.iter().enumerate() {
        if let Some((what, times)) = pick(fault) {
            let count = inner.fired.entry(i).or_insert(0);
            if *count < times {
                *count += 1;
                return Some(what);
            }
        }
    }
    None
}

/// Counts a batch's items by its lines as the body streams in (the protocol puts one item per line:
/// `[item,\nitem,\n…]`), without parsing or holding them: benchmark mode, where memory stays flat
/// whatever the body's size. Test mode parses every item and checks the two counts agree.
#[derive(Debug, Default)]
struct LineCount {
    /// The first and last bytes that are not whitespace.
    first: Option<u8>,
    last: u8,
    /// Bytes that are not whitespace (up to 3: enough to tell `[]` apart).
    solid: u8,
    /// Line breaks in all, before the first solid byte, and since the last one.
    newlines: u64,
    leading: u64,
    trailing: u64,
}

impl LineCount {
    fn feed(&mut self, chunk: &[u8]) {
        let newlines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        self.newlines += newlines;
        let (Some(first), Some(last)) =
            (chunk.iter().position(|b| !b.is_ascii_whitespace()), chunk.iter().rposition(|b| !b.is_ascii_whitespace()))
        else {
            // all whitespace
            if self.first.is_none() {
                self.leading += newlines;
            }
            self.trailing += newlines;
            return;
        };
        if self.first.is_none() {
            self.first = Some(chunk[first]);
            self.leading += memchr::memchr_iter(b'\n', &chunk[..first]).count() as u64;
        }
        let solid = chunk[first..].iter().filter(|b| !b.is_ascii_whitespace()).take(3).count() as u8;
        self.solid = (self.solid + solid).min(3);
        self.last = chunk[last];
        self.trailing = memchr::memchr_iter(b'\n', &chunk[last..]).count() as u64;
    }

    /// The items, or `None` if the body is not bracketed like an array.
    fn items(&self) -> Option<u64> {
        if self.first != Some(b'[') || self.last != b']' || self.solid < 2 {
            return None;
        }
        let inner = self.newlines - self.leading - self.trailing;
        Some(if self.solid == 2 { 0 } else { inner + 1 })
    }
}

async fn batch(State(shared): State<Arc<Shared>>, Path((run, seq)): Path<(String, u64)>, body: Body) -> Response {
    let mut stream = body.into_data_stream();
    let mut whole = Vec::new();
    let mut lines = LineCount::default();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { return (StatusCode::BAD_REQUEST, "the body broke off").into_response() };
        lines.feed(&chunk);
        if shared.config.keep_items {
            whole.extend_from_slice(&chunk);
        }
    }
    let kept = if shared.config.keep_items {
        match serde_json::from_slice::<Vec<serde_json::Value>>(&whole) {
            Ok(items) => Some(items),
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("batch {seq} is not a JSON array: {e}")).into_response()
            }
        }
    } else {
        None
    };
    let Some(count) = lines.items() else {
        return (StatusCode::BAD_REQUEST, format!("batch {seq} is not a JSON array")).into_response();
    };
    if let Some(items) = kept.as_ref().filter(|items| items.len() as u64 != count) {
        let message =
            format!("batch {seq} has {} items on {count} lines: the protocol wants one per line", items.len());
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let slow = match shared.inner.lock() {
        Ok(mut inner) => fire(&mut inner, &shared.config, |f| match f {
            Fault::SlowBatch { seq: s, delay, times } if *s == seq => Some((*delay, *times)),
            _ => None,
        }),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let Ok(mut inner) = shared.inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    inner.snapshot.batch_requests += 1;
    let injected = fire(&mut inner, &shared.config, |f| match f {
        Fault::Batch { seq: s, status, times } if *s == seq => StatusCode::from_u16(*status).ok().map(|c| (c, *times)),
        _ => None,
    });
    if let Some(status) = injected {
        return (status, "injected failure").into_response();
    }
    let staged = inner.staged.entry(run).or_default();
    staged.batches.insert(seq, count);
    if let Some(items) = kept {
        staged.items.insert(seq, items);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct CommitBody {
    items: u64,
    batches: u64,
}

async fn commit(State(shared): State<Arc<Shared>>, Path(run): Path<String>, Json(body): Json<CommitBody>) -> Response {
    let (response, slow) = {
        let Ok(mut inner) = shared.inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
        let slow = fire(&mut inner, &shared.config, |f| match f {
            Fault::SlowCommit { delay, times } => Some((*delay, *times)),
            _ => None,
        });
        (apply_commit(&mut inner, &shared.config, run, &body), slow)
    };
    // applied (or refused) already: only the answer is late
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Commits `run` if every batch the commit names is staged, and answers.
fn apply_commit(inner: &mut Inner, config: &Config, run: String, body: &CommitBody) -> Response {
    if let Some(status) = fire(inner, config, |f| match f {
        Fault::Commit { status, times } => StatusCode::from_u16(*status).ok().map(|c| (c, *times)),
        _ => None,
    }) {
        return (status, "injected failure").into_response();
    }
    if inner.snapshot.commits.contains(&run) {
        if config.faults.contains(&Fault::RefuseRepeatedCommit) {
            return (StatusCode::CONFLICT, format!("run {run} is already committed")).into_response();
        }
        return StatusCode::NO_CONTENT.into_response(); // a repeated commit: it was applied
    }
    let staged = inner.staged.remove(&run).unwrap_or_default();
    let items: u64 = staged.batches.values().sum();
    let complete = staged.batches.keys().copied().eq(0..body.batches);
    if !complete || items != body.items {
        let message = format!(
            "run {run}: commit says {} items in {} batches, staged {items} items in {} batches",
            body.items,
            body.batches,
            staged.batches.len()
        );
        inner.staged.insert(run, staged);
        return (StatusCode::CONFLICT, message).into_response();
    }
    let list = staged.items.into_values().flatten().collect();
    inner.snapshot.current = Some(Committed { run: run.clone(), items, batches: body.batches, list });
    inner.snapshot.commits.push(run);
    StatusCode::NO_CONTENT.into_response()
}

async fn abort(State(shared): State<Arc<Shared>>, Path(run): Path<String>, _headers: HeaderMap) -> Response {
    let Ok(mut inner) = shared.inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    // a committed run stays: an abort after its commit is a no-op
    inner.staged.remove(&run);
    inner.snapshot.aborts.push(run);
    StatusCode::NO_CONTENT.into_response()
}

async fn current(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = Promotion(shared).snapshot();
    Json(serde_json::json!({ "current": snapshot.current, "commits": snapshot.commits, "aborts": snapshot.aborts }))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::LineCount;

    fn count_lines(body: &[u8]) -> Option<u64> {
        let mut count = LineCount::default();
        count.feed(body);
        count.items()
    }

    #[test]
    fn batches_are_counted_by_lines() {
        assert_eq!(count_lines(b"[{\"a\":\"x,y\"},\n2,\n[3, 4]]"), Some(3));
        assert_eq!(count_lines(b" [ ] "), Some(0));
        assert_eq!(count_lines(b"[1]"), Some(1));
        assert_eq!(count_lines(b"{\"a\":1}"), None);
        assert_eq!(count_lines(b"\n[\n]\n"), Some(0));
        assert_eq!(count_lines(b"\n[1,\n2]\n\n"), Some(2));
        // fed in pieces, as a body streams in
        let body = b" \n[{\"a\":1},\n{\"b\":2},\n3] \n";
        for cut in 0..body.len() {
            let mut count = LineCount::default();
            count.feed(&body[..cut]);
            count.feed(&body[cut..]);
            assert_eq!(count.items(), Some(3), "cut at {cut}");
        }
    }
}
