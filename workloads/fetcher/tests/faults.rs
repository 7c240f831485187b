//! The fetcher binary, run exactly as its pod runs it (plan and credentials in the environment, summary
//! to a termination-log file), against the sample clustering service and promotion platform on
//! 127.0.0.1, under every fault class. For each: outcome, summary, exit code, and what the sink holds —
//! never a committed partial list.

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::PathBuf,
    process::{Output, Stdio},
    time::{Duration, Instant},
};

use microfleet_crds::contract::{FailureClass, RunSummary};
use microfleet_demo::{
    clustering::{self, Clustering, Fault, Format, Paging},
    promotion::{self, Promotion},
    spawn,
};

const TOKEN: &str = "s3cr3t-t0ken-value";

struct Scenario {
    source: clustering::Config,
    sink: promotion::Config,
    /// Edits of the plan JSON before the run.
    plan: serde_json::Value,
    /// Extra env.
    env: Vec<(&'static str, String)>,
    /// Source host (127.0.0.1 unless a test needs another).
    source_url: Option<String>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            source: clustering::Config { users: 2500, default_limit: 1000, ..Default::default() },
            sink: promotion::Config { keep_items: true, faults: Vec::new() },
            plan: serde_json::json!({}),
            env: Vec::new(),
            source_url: None,
        }
    }
}

struct Outcome {
    output: Output,
    summary: RunSummary,
    sink: promotion::Snapshot,
    source: clustering::Seen,
    elapsed: Duration,
}

impl Outcome {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    fn logs(&self) -> String {
        format!("{}{}", String::from_utf8_lossy(&self.output.stdout), String::from_utf8_lossy(&self.output.stderr))
    }
    fn message(&self) -> String {
        self.summary.message.clone().unwrap_or_default()
    }
    /// The committed list is whole: every user once.
    fn assert_whole_list(&self, users: u64) {
        let current = self.sink.current.as_ref().unwrap_or_else(|| panic!("nothing committed: {}", self.logs()));
        assert_eq!(current.items, users);
        // CSV values are strings
        let id = |u: &serde_json::Value| u["user_id"].as_u64().or_else(|| u["user_id"].as_str()?.parse().ok());
        let ids: HashSet<u64> = current.list.iter().map(|u| id(u).expect("a user_id")).collect();
        assert_eq!(ids.len() as u64, users, "duplicates or gaps in the committed list");
        assert_eq!(self.summary.items as u64, users);
    }
    /// Nothing was committed, and the staged run was aborted.
    fn assert_nothing_committed(&self) {
        assert!(self.sink.current.is_none(), "a partial list was committed: {:?}", self.sink.current);
        assert!(self.sink.commits.is_empty());
        assert_eq!(self.sink.aborts, ["promo-users-29000000"], "the staged run must be aborted");
        assert!(self.sink.staged.is_empty(), "staged batches left behind");
    }
}

fn merge(base: &mut serde_json::Value, edit: &serde_json::Value) {
    match (base, edit) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

async fn serve(scenario: &Scenario) -> (SocketAddr, Clustering, SocketAddr, Promotion) {
    let (source, clustering) = clustering::router(scenario.source.clone());
    let (sink, promotion) = promotion::router(scenario.sink.clone());
    let any = "127.0.0.1:0".parse().unwrap();
    (spawn(source, any).await.unwrap(), clustering, spawn(sink, any).await.unwrap(), promotion)
}

fn plan_for(scenario: &Scenario, source: SocketAddr, sink: SocketAddr) -> serde_json::Value {
    let items_path = match scenario.source.format {
        Format::Json => serde_json::json!("/users"),
        _ => serde_json::Value::Null,
    };
    let pagination = match scenario.source.paging {
        Paging::Cursor => {
            serde_json::json!({"type": "cursor", "cursorPath": "/next_cursor", "pageSize": 1000, "pageParam": "page", "firstPage": 1, "offsetParam": "offset", "sizeParam": "limit", "cursorParam": "cursor", "maxPages": 1000})
        }
        Paging::Page => {
            serde_json::json!({"type": "page", "pageSize": 1000, "pageParam": "page", "firstPage": 1, "offsetParam": "offset", "sizeParam": "limit", "cursorParam": "cursor", "maxPages": 1000})
        }
        Paging::Offset => {
            serde_json::json!({"type": "offset", "pageSize": 1000, "pageParam": "page", "firstPage": 1, "offsetParam": "offset", "sizeParam": "limit", "cursorParam": "cursor", "maxPages": 1000})
        }
        Paging::Link => {
            serde_json::json!({"type": "linkHeader", "pageSize": 1000, "pageParam": "page", "firstPage": 1, "offsetParam": "offset", "sizeParam": "limit", "cursorParam": "cursor", "maxPages": 1000})
        }
        Paging::None => serde_json::Value::Null,
    };
    let format = match scenario.source.format {
        Format::Json => "json",
        Format::Ndjson => "ndjson",
        Format::Csv => "csv",
    };
    let mut plan = serde_json::json!({
        "source": {
            "url": scenario.source_url.clone().unwrap_or(format!("http://{source}/v1/users")),
            "method": "GET",
            "timeouts": {"connectSeconds": 2, "requestSeconds": 5},
            "format": format,
        },
        "sink": {"http": {"url": format!("http://{sink}/v1/eligible-users/imports"), "batchSize": 400, "timeoutSeconds": 5}},
        "retry": {"attempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2},
        "checks": {"minItems": 1, "maxItemBytes": 1048576},
    });
    if !items_path.is_null() {
        plan["source"]["itemPath"] = items_path;
    }
    if !pagination.is_null() {
        plan["source"]["pagination"] = pagination;
    }
    if scenario.source.bearer.is_some() {
        plan["source"]["credentials"] = serde_json::json!({"bearerToken": {"name": "clustering-api", "key": "token"}});
    }
    merge(&mut plan, &scenario.plan);
    plan
}

fn command(
    plan: &serde_json::Value,
    termination_log: &PathBuf,
    env: &[(&'static str, String)],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.arg("run")
        .env("MICROFLEET_FETCH_PLAN", plan.to_string())
        .env("MICROFLEET_RUN_ID", "promo-users-29000000")
        .env("MICROFLEET_CLUSTER_FETCH", "promo/promo-users")
        .env("MICROFLEET_TERMINATION_LOG", termination_log)
        .env("MICROFLEET_LOG_FORMAT", "json")
        .env_remove("MICROFLEET_PUSHGATEWAY_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn termination_log() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("microfleet-faults-{}-{n}.json", std::process::id()))
}

async fn run(scenario: Scenario) -> Outcome {
    run_with(scenario, |_| None).await
}

/// Runs the scenario; `signal_after` may send SIGTERM after a delay.
async fn run_with(scenario: Scenario, signal_after: impl Fn(&Scenario) -> Option<Duration>) -> Outcome {
    let (source, clustering, sink, promotion) = serve(&scenario).await;
    let plan = plan_for(&scenario, source, sink);
    let log = termination_log();
    let mut env = scenario.env.clone();
    if scenario.source.bearer.is_some() && !env.iter().any(|(k, _)| *k == "MICROFLEET_SOURCE_BEARER_TOKEN") {
        env.push(("MICROFLEET_SOURCE_BEARER_TOKEN", TOKEN.to_string()));
    }
    let mut cmd = command(&plan, &log, &env);
    let signal = signal_after(&scenario);
    let start = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        let child = cmd.spawn().unwrap();
        if let Some(delay) = signal {
            std::thread::sleep(delay);
            let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let elapsed = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_else(|_| {
        panic!(
            "no summary written; logs:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_file(&log);
    let summary = RunSummary::from_termination_message(&text).expect("the summary is JSON");
    let outcome = Outcome { output, summary, sink: promotion.snapshot(), source: clustering.seen(), elapsed };
    assert!(!outcome.logs().contains(TOKEN), "a secret reached the logs:\n{}", outcome.logs());
    assert!(text.len() <= 4096);
    outcome
}

fn source_with(faults: Vec<Fault>) -> clustering::Config {
    clustering::Config { users: 2500, default_limit: 1000, faults, ..Default::default() }
}

// ---------------------------------------------------------------- success across paging and formats

#[tokio::test(flavor = "multi_thread")]
async fn every_paging_and_format_delivers_the_whole_list() {
    let cases = [
        (Paging::Cursor, Format::Json),
        (Paging::Page, Format::Json),
        (Paging::Offset, Format::Json),
        (Paging::Link, Format::Json),
        (Paging::None, Format::Json),
        (Paging::Page, Format::Ndjson),
        (Paging::None, Format::Csv),
    ];
    for (paging, format) in cases {
        let scenario = Scenario {
            source: clustering::Config {
                users: 2500,
                paging,
                format,
                bearer: Some(TOKEN.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = run(scenario).await;
        assert_eq!(out.code(), Some(0), "{paging:?}/{format:?}: {}", out.logs());
        out.assert_whole_list(2500);
        assert!(out.summary.succeeded);
        assert_eq!(out.sink.current.as_ref().unwrap().batches, 7, "2500 items in batches of 400");
    }
}

// ---------------------------------------------------------------- source faults

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_then_recovery_retries_only_that_page() {
    let out = run(Scenario {
        source: source_with(vec![Fault::Status { page: 1, status: 503, retry_after: None, times: 2 }]),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);
    assert_eq!(out.source.requests[&0], 1, "page one is not fetched again");
    assert_eq!(out.source.requests[&1], 3);
    assert_eq!((out.summary.requests, out.summary.retries), (3 + 2 + 7 + 1, 2), "pages, retries, batches, commit");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_page_is_requested_while_one_is_read_and_a_failed_early_request_is_retried() {
    // page 2 answers late, so a fetcher that requests it ahead has it open while page 1 is answered;
    // page 3's early request fails and is retried like any other page
    let faults = vec![
        Fault::Delay { page: 1, delay: Duration::from_millis(500), times: 1 },
        Fault::Status { page: 2, status: 503, retry_after: None, times: 1 },
    ];
    // (paging, pages read, requests of page index 2, requests ahead); page and offset paging read the
    // empty page that ends the list, and the service numbers the page at offset 2500 as index 2
    let cases = [(Paging::Page, 4, 2, true), (Paging::Offset, 4, 3, true), (Paging::Cursor, 3, 2, false)];
    for (paging, pages, third, ahead) in cases {
        let source = clustering::Config { paging, ..source_with(faults.clone()) };
        let out = run(Scenario { source, ..Default::default() }).await;
        assert_eq!(out.code(), Some(0), "{paging:?}: {}", out.logs());
        out.assert_whole_list(2500);
        assert_eq!(out.summary.pages, pages, "{paging:?}");
        assert_eq!((out.source.requests[&0], out.source.requests[&2]), (1, third), "{paging:?}: {:?}", out.source);
        assert_eq!(out.source.max_concurrent >= 2, ahead, "{paging:?}: requests ahead only when the URL is known");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_is_honoured() {
    let out = run(Scenario {
        source: source_with(vec![Fault::Status { page: 0, status: 429, retry_after: Some(2), times: 1 }]),
        plan: serde_json::json!({"retry": {"initialBackoffSeconds": 1, "maxBackoffSeconds": 2}}),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);
    assert!(out.elapsed >= Duration::from_secs(2), "waited only {:?}", out.elapsed);
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_fails_as_source_after_the_attempts() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = run(Scenario { source_url: Some(format!("http://{closed}/v1/users")), ..Default::default() }).await;
    assert_eq!(out.code(), Some(FailureClass::Source.exit_code()), "{}", out.logs());
    assert_eq!(out.summary.failure_class, Some(FailureClass::Source));
    assert!(
        out.message().contains("could not connect") && out.message().contains("after 3 attempt(s)"),
        "{}",
        out.message()
    );
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_timeout_fails_as_source() {
    let slow = Fault::Delay { page: 0, delay: Duration::from_secs(3), times: 10 };
    let out = run(Scenario {
        source: source_with(vec![slow]),
        plan: serde_json::json!({"source": {"timeouts": {"connectSeconds": 1, "requestSeconds": 1}}, "retry": {"attempts": 2}}),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("timed out"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_reset_mid_body_resumes_without_duplicates() {
    let out = run(Scenario {
        source: source_with(vec![Fault::ResetAfter { page: 1, bytes: 20_000, times: 1 }]),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);
    assert_eq!(out.source.requests[&1], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_body_is_retried_and_a_persistent_one_fails() {
    let out = run(Scenario {
        source: source_with(vec![Fault::Truncate { page: 2, bytes: 9_000, times: 1 }]),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);

    let out = run(Scenario {
        source: source_with(vec![Fault::Truncate { page: 2, bytes: 9_000, times: 99 }]),
        ..Default::default()
    })
    .await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("truncated"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_ndjson_and_csv_fail_at_once() {
    for format in [Format::Json, Format::Ndjson, Format::Csv] {
        let source = clustering::Config {
            format,
            paging: Paging::Page,
            faults: vec![Fault::Malformed { page: 1, times: 99 }],
            ..source_with(vec![])
        };
        let out = run(Scenario { source, ..Default::default() }).await;
        assert_eq!(out.code(), Some(4), "{format:?}: {}", out.logs());
        assert!(out.message().contains("malformed"), "{format:?}: {}", out.message());
        assert_eq!(out.source.requests[&1], 1, "{format:?}: a malformed page is not retried");
        out.assert_nothing_committed();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn items_spread_over_lines_are_delivered_one_per_line() {
    // the receiver (test mode) refuses a batch whose lines do not match its items
    let source = clustering::Config { pretty: true, ..source_with(vec![]) };
    let out = run(Scenario { source, ..Default::default() }).await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_item_path_names_the_field() {
    let out =
        run(Scenario { plan: serde_json::json!({"source": {"itemPath": "/data/users"}}), ..Default::default() }).await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("no item array at /data/users: check spec.source.itemPath"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_host_is_refused_and_credentials_do_not_follow() {
    let (other, other_seen) = clustering::router(clustering::Config::default());
    let other_addr = spawn(other, "127.0.0.2:0".parse().unwrap()).await.unwrap();
    let source = clustering::Config {
        bearer: Some(TOKEN.into()),
        faults: vec![Fault::RedirectTo(format!("http://{other_addr}"))],
        ..source_with(vec![])
    };
    let out = run(Scenario { source, ..Default::default() }).await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("redirect refused"), "{}", out.message());
    assert_eq!(other_seen.seen().total, 0, "the other host was contacted");
    assert!(other_seen.seen().authorizations.is_empty());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_item_fails_the_checks() {
    let source = source_with(vec![Fault::OversizeItem { index: 1500, bytes: 2_000_000 }]);
    let out = run(Scenario { source, ..Default::default() }).await;
    assert_eq!(out.code(), Some(FailureClass::Checks.exit_code()), "{}", out.logs());
    assert!(out.message().contains("larger than checks.maxItemBytes"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pagination_loop_is_detected() {
    let out = run(Scenario { source: source_with(vec![Fault::LoopCursor]), ..Default::default() }).await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("pagination loop"), "{}", out.message());
    out.assert_nothing_committed();
}

// ---------------------------------------------------------------- sink faults

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_sink_error_is_retried_with_the_same_batch() {
    let sink =
        promotion::Config { keep_items: true, faults: vec![promotion::Fault::Batch { seq: 2, status: 503, times: 1 }] };
    let out = run(Scenario { sink, ..Default::default() }).await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    out.assert_whole_list(2500);
    assert_eq!(out.sink.batch_requests, 8, "7 batches and one retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_failing_mid_delivery_aborts_and_commits_nothing() {
    let sink = promotion::Config {
        keep_items: true,
        faults: vec![promotion::Fault::Batch { seq: 3, status: 500, times: 99 }],
    };
    let out = run(Scenario { sink, ..Default::default() }).await;
    assert_eq!(out.code(), Some(FailureClass::Sink.exit_code()), "{}", out.logs());
    assert!(out.message().contains("sink batch 3: HTTP 500"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sink_slower_than_its_timeout_fails_as_sink_though_the_source_may_take_longer() {
    // the sink's own timeoutSeconds (1 s) applies to its requests, not the source's requestSeconds (5 s)
    let slow = promotion::Fault::SlowBatch { seq: 2, delay: Duration::from_secs(3), times: 99 };
    let sink = promotion::Config { keep_items: true, faults: vec![slow] };
    let plan = serde_json::json!({"sink": {"http": {"timeoutSeconds": 1}}, "retry": {"attempts": 2}});
    let started = std::time::Instant::now();
    let out = run(Scenario { sink, plan, ..Default::default() }).await;
    assert_eq!(out.code(), Some(FailureClass::Sink.exit_code()), "{}", out.logs());
    assert!(out.message().contains("sink batch 2"), "{}", out.message());
    assert!(started.elapsed() < Duration::from_secs(5), "two 1 s attempts, not 3 s each: {:?}", started.elapsed());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_commit_fails_as_sink_and_is_not_aborted() {
    let sink =
        promotion::Config { keep_items: true, faults: vec![promotion::Fault::Commit { status: 500, times: 99 }] };
    let out = run(Scenario { sink, ..Default::default() }).await;
    assert_eq!(out.code(), Some(5), "{}", out.logs());
    assert!(out.message().contains("sink commit: HTTP 500"), "{}", out.message());
    assert!(out.sink.current.is_none() && out.sink.commits.is_empty(), "{:?}", out.sink.current);
    assert!(out.sink.aborts.is_empty(), "an abort was sent after a commit: {:?}", out.sink.aborts);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_applied_but_answered_late_succeeds_on_the_repeated_commit_and_is_never_aborted() {
    // the platform applies the commit at once and answers after 3 s; the fetcher gives up on it after 1 s
    let slow = promotion::Fault::SlowCommit { delay: Duration::from_secs(3), times: 1 };
    let sink = promotion::Config { keep_items: true, faults: vec![slow] };
    let plan = serde_json::json!({"sink": {"http": {"timeoutSeconds": 1}}});
    let out = run(Scenario { sink, plan, ..Default::default() }).await;
    assert_eq!(out.code(), Some(0), "{}", out.logs());
    assert!(out.summary.succeeded, "{:?}", out.summary);
    out.assert_whole_list(2500);
    assert_eq!(out.sink.commits, ["promo-users-29000000"], "applied once");
    assert!(out.sink.aborts.is_empty(), "an abort was sent for a live list: {:?}", out.sink.aborts);
    assert!(out.summary.retries >= 1, "{:?}", out.summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_never_answered_is_commit_unknown_and_is_never_aborted() {
    let silent = promotion::Fault::SlowCommit { delay: Duration::from_secs(30), times: 99 };
    let sink = promotion::Config { keep_items: true, faults: vec![silent] };
    let plan = serde_json::json!({"sink": {"http": {"timeoutSeconds": 1}}, "retry": {"attempts": 2}});
    let out = run(Scenario { sink, plan, ..Default::default() }).await;
    assert_eq!(out.code(), Some(FailureClass::CommitUnknown.exit_code()), "{}", out.logs());
    assert_eq!(out.summary.failure_class, Some(FailureClass::CommitUnknown));
    assert!(out.message().contains("sink commit: timed out"), "{}", out.message());
    assert!(out.message().contains("the receiver may hold this list: check it"), "{}", out.message());
    assert!(out.sink.aborts.is_empty(), "an abort was sent after a commit: {:?}", out.sink.aborts);
    out.assert_whole_list(2500); // it did hold it: the commit was applied, only its answers were lost
}

// ---------------------------------------------------------------- checks, config, signals

#[tokio::test(flavor = "multi_thread")]
async fn checks_fail_the_run_with_the_reason() {
    let out = run(Scenario { plan: serde_json::json!({"checks": {"minItems": 3000}}), ..Default::default() }).await;
    assert_eq!(out.code(), Some(6), "{}", out.logs());
    assert!(out.message().contains("the list has 2500 items, fewer than checks.minItems (3000)"), "{}", out.message());
    out.assert_nothing_committed();

    let out =
        run(Scenario { plan: serde_json::json!({"checks": {"requiredFields": ["email"]}}), ..Default::default() })
            .await;
    assert_eq!(out.code(), Some(6));
    assert!(out.message().contains("item 1 has no field \"email\""), "{}", out.message());
    out.assert_nothing_committed();

    let out = run(Scenario { plan: serde_json::json!({"checks": {"maxItems": 2000}}), ..Default::default() }).await;
    assert_eq!(out.code(), Some(6));
    assert!(out.message().contains("more than checks.maxItems (2000)"), "{}", out.message());
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drop_guard_fails_a_list_half_as_long_as_the_last_successful_one() {
    // (case, the last success's items as the operator passes them, the exit code)
    let cases = [("half as long", "5000", 6), ("a little shorter", "2600", 0), ("no earlier success", "", 0)];
    for (case, last, code) in cases {
        let out = run(Scenario {
            plan: serde_json::json!({"checks": {"maxDropPercent": 30}}),
            env: vec![("MICROFLEET_LAST_SUCCESS_ITEMS", last.into())],
            ..Default::default()
        })
        .await;
        assert_eq!(out.code(), Some(code), "{case}: {}", out.logs());
        if code == 0 {
            out.assert_whole_list(2500);
        } else {
            assert_eq!(out.summary.failure_class, Some(FailureClass::Checks), "{case}");
            assert!(
                out.message().contains("the list shrank by 50.0% since the last successful run"),
                "{}",
                out.message()
            );
            out.assert_nothing_committed();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_total_the_source_states_must_match_the_items_fetched() {
    use clustering::Total;
    let total_path = serde_json::json!({"source": {"totalPath": "/total"}});
    let total_header = serde_json::json!({"source": {"totalHeader": "X-Total-Count"}});
    // (case, where the service states it, how far off, the plan, the exit code, the message)
    let cases = [
        ("body, right", Total::Body, 0, total_path.clone(), 0, ""),
        ("header, right", Total::Header, 0, total_header.clone(), 0, ""),
        (
            "body, more than served",
            Total::Body,
            500,
            total_path.clone(),
            6,
            "the source says the list has 3000 items (/total in the first page), but 2500 were fetched",
        ),
        (
            "header, fewer than served",
            Total::Header,
            -1,
            total_header.clone(),
            6,
            "the source says the list has 2499 items (header X-Total-Count), but 2500 were fetched",
        ),
        (
            "header missing",
            Total::None,
            0,
            total_header,
            4,
            "no total at header X-Total-Count: check spec.source.totalHeader",
        ),
    ];
    for (case, total, off, plan, code, message) in cases {
        let faults = if off == 0 { vec![] } else { vec![Fault::TotalOff(off)] };
        let source = clustering::Config { total, paging: Paging::Page, ..source_with(faults) };
        let out = run(Scenario { source, plan, ..Default::default() }).await;
        assert_eq!(out.code(), Some(code), "{case}: {}", out.logs());
        if code == 0 {
            out.assert_whole_list(2500);
        } else {
            assert!(out.message().contains(message), "{case}: {}", out.message());
            out.assert_nothing_committed();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_run_to_stdout_writes_only_data_there_and_its_logs_without_colour_to_stderr() {
    let (source, _) = clustering::router(clustering::Config { users: 2500, ..Default::default() });
    let source = spawn(source, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let manifest = format!(
        "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {{name: users, namespace: promo}}\nspec:\n  \
         schedule: '@daily'\n  source:\n    url: http://{source}/v1/users\n    itemPath: /users\n    pagination: \
         {{type: cursor, cursorPath: /next_cursor}}\n  sink: {{http: {{url: 'http://127.0.0.1:1/unused'}}}}\n"
    );
    let path = termination_log().with_extension("yaml");
    std::fs::write(&path, manifest).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.args(["run", "--stdout", "--spec"])
        .arg(&path)
        .env_remove("MICROFLEET_RUN_ID")
        .env_remove("MICROFLEET_LOG_FORMAT");
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let _ = std::fs::remove_file(&path);
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2500, "stdout holds the items, and only them:\n{}", &stdout[..stdout.len().min(2000)]);
    for line in lines {
        let item: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(item["user_id"].is_u64(), "{line}");
    }
    assert!(stderr.contains("run succeeded"), "the logs go to stderr: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes where no terminal reads them: {stderr:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_credential_is_a_config_error() {
    let source = clustering::Config { bearer: Some(TOKEN.into()), ..source_with(vec![]) };
    let out =
        run(Scenario { source, env: vec![("MICROFLEET_SOURCE_BEARER_TOKEN", String::new())], ..Default::default() })
            .await;
    assert_eq!(out.code(), Some(FailureClass::Config.exit_code()), "{}", out.logs());
    assert!(out.message().contains("MICROFLEET_SOURCE_BEARER_TOKEN is not set"), "{}", out.message());
    assert_eq!(out.source.total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_credential_is_not_retried() {
    let source = clustering::Config { bearer: Some(TOKEN.into()), ..source_with(vec![]) };
    let out =
        run(Scenario { source, env: vec![("MICROFLEET_SOURCE_BEARER_TOKEN", "wrong".into())], ..Default::default() })
            .await;
    assert_eq!(out.code(), Some(4), "{}", out.logs());
    assert!(out.message().contains("401"), "{}", out.message());
    assert_eq!(out.source.total, 1);
    out.assert_nothing_committed();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_aborts_and_reports_interrupted() {
    let slow: Vec<Fault> =
        (0..20).map(|page| Fault::Delay { page, delay: Duration::from_millis(300), times: 1 }).collect();
    let source = clustering::Config { users: 20_000, default_limit: 1000, faults: slow, ..Default::default() };
    let out = run_with(Scenario { source, ..Default::default() }, |_| Some(Duration::from_millis(1200))).await;
    assert_eq!(out.code(), Some(FailureClass::Interrupted.exit_code()), "{}", out.logs());
    assert_eq!(out.summary.failure_class, Some(FailureClass::Interrupted));
    assert!(out.summary.items > 0 && out.summary.items < 20_000, "{:?}", out.summary);
    out.assert_nothing_committed();
}
