//! The sample promotion platform: a staging receiver of the HTTP sink protocol. Batches of a run are
//! staged; `commit` swaps the whole run in atomically if every batch is there; `abort` drops it. The
//! current list is never a partial one.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};

/// One way to misbehave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status to batch `seq`, `times` times.
    Batch { seq: u64, status: u16, times: u32 },
    /// Answer this status to commit, `times` times.
    Commit { status: u16, times: u32 },
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

fn fire(inner: &mut Inner, config: &Config, pick: impl Fn(&Fault) -> Option<(u16, u32)>) -> Option<StatusCode> {
    for (i, fault) in config.faults.iter().enumerate() {
        if let Some((status, times)) = pick(fault) {
            let count = inner.fired.entry(i).or_insert(0);
            if *count < times {
                *count += 1;
                return StatusCode::from_u16(status).ok();
            }
        }
    }
    None
}

/// Counts the elements of a JSON array in one pass, without building them (benchmark mode; test mode
/// parses every item). `None` if the body is not an array with balanced brackets.
fn count_items(body: &[u8]) -> Option<u64> {
    let (mut depth, mut in_string, mut escaped, mut commas, mut any) = (0i64, false, false, 0u64, false);
    let trimmed = body.trim_ascii();
    if trimmed.first() != Some(&b'[') || trimmed.last() != Some(&b']') {
        return None;
    }
    for &b in trimmed {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                any |= depth == 1;
            }
            b'[' | b'{' => {
                any |= depth == 1;
                depth += 1;
            }
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => commas += 1,
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => any |= depth == 1,
        }
        if depth < 0 {
            return None;
        }
    }
    (depth == 0 && !in_string).then_some(if any { commas + 1 } else { 0 })
}

async fn batch(State(shared): State<Arc<Shared>>, Path((run, seq)): Path<(String, u64)>, body: Bytes) -> Response {
    let kept = if shared.config.keep_items {
        match serde_json::from_slice::<Vec<serde_json::Value>>(&body) {
            Ok(items) => Some(items),
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("batch {seq} is not a JSON array: {e}")).into_response()
            }
        }
    } else {
        None
    };
    let count = match &kept {
        Some(items) => items.len() as u64,
        None => match count_items(&body) {
            Some(n) => n,
            None => return (StatusCode::BAD_REQUEST, format!("batch {seq} is not a JSON array")).into_response(),
        },
    };
    let Ok(mut inner) = shared.inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    inner.snapshot.batch_requests += 1;
    let injected = fire(&mut inner, &shared.config, |f| match f {
        Fault::Batch { seq: s, status, times } if *s == seq => Some((*status, *times)),
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
    let Ok(mut inner) = shared.inner.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    if let Some(status) = fire(&mut inner, &shared.config, |f| match f {
        Fault::Commit { status, times } => Some((*status, *times)),
        _ => None,
    }) {
        return (status, "injected failure").into_response();
    }
    if inner.snapshot.current.as_ref().is_some_and(|c| c.run == run) {
        return StatusCode::NO_CONTENT.into_response(); // a repeated commit
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
    inner.staged.remove(&run);
    inner.snapshot.aborts.push(run);
    StatusCode::NO_CONTENT.into_response()
}

async fn current(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = Promotion(shared).snapshot();
    Json(serde_json::json!({ "current": snapshot.current, "commits": snapshot.commits, "aborts": snapshot.aborts }))
        .into_response()
}
