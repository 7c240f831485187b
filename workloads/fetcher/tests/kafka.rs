//! The Kafka sink against the real broker (`scripts/kafka.sh up`, at `MICROFLEET_KAFKA_BOOTSTRAP`; the tests
//! fail without it): the fetcher binary, run as its pod runs it, delivers the sample clustering service's
//! list into a topic in one transaction. A `read_committed` reader sees the whole list or nothing; a
//! `read_uncommitted` reader sees the aborted records too (proof that a transaction was used), and a good
//! run after a failed one is visible at once (proof that the failed one's transaction was aborted, not left
//! open). The test that freezes the broker (`kill -STOP`, its PID from `MICROFLEET_KAFKA_DIR`) runs alone.

use std::{
    collections::HashSet,
    net::SocketAddr,
    process::{Output, Stdio},
    time::{Duration, Instant},
};

use microfleet_crds::contract::{FailureClass, RunSummary, RECEIVER_MAY_HOLD_LIST};
use microfleet_demo::{
    clustering::{self, Fault, Paging},
    spawn,
};
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
    message::{Headers, Message},
    ClientConfig, Offset, TopicPartitionList,
};

/// The broker: the tests share it (read), the one that freezes it has it alone (write).
fn broker() -> &'static tokio::sync::RwLock<()> {
    static BROKER: std::sync::OnceLock<tokio::sync::RwLock<()>> = std::sync::OnceLock::new();
    BROKER.get_or_init(|| tokio::sync::RwLock::new(()))
}

fn bootstrap() -> String {
    std::env::var("MICROFLEET_KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("MICROFLEET_KAFKA_BOOTSTRAP is not set: start a broker with `eval \"$(scripts/kafka.sh up)\"`")
    })
}

/// A topic name of its own for each test and process.
fn topic_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("fetcher-{test}-{}-{nanos}", std::process::id())
}

async fn create_topic(test: &str) -> String {
    let name = topic_name(test);
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&[NewTopic::new(&name, 3, TopicReplication::Fixed(1))], &options).await;
    for result in results.unwrap_or_else(|e| panic!("creating {name}: {e}")) {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
    // the broker answers the creation before its metadata shows the topic: wait until it does
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metadata = admin.inner().fetch_metadata(Some(&name), Duration::from_secs(5)).unwrap();
        let topic = &metadata.topics()[0];
        if topic.error().is_none() && topic.partitions().len() == 3 {
            return name;
        }
        assert!(Instant::now() < deadline, "{name}: not in the broker's metadata within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One record as a reader sees it.
#[derive(Debug)]
struct Record {
    key: Option<String>,
    value: serde_json::Value,
    run: Option<String>,
}

/// Every record of `topic` a reader with this `isolation.level` sees, from the beginning to the end of
/// each partition.
async fn read(topic: &str, isolation: &'static str) -> Vec<Record> {
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("group.id", format!("reader-{topic}-{isolation}"))
            .set("isolation.level", isolation)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10)).unwrap();
        let partitions = metadata.topics()[0].partitions().len();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(&topic, partition as i32, Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let (mut records, mut ended, deadline) = (Vec::new(), HashSet::new(), Instant::now() + Duration::from_secs(30));
        while ended.len() < partitions {
            assert!(Instant::now() < deadline, "{topic}: no end of partitions within 30 s ({isolation})");
            match consumer.poll(Duration::from_millis(500)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    ended.insert(partition);
                }
                Some(Err(error)) => panic!("reading {topic}: {error}"),
                Some(Ok(message)) => records.push(Record {
                    key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    value: serde_json::from_slice(message.payload().unwrap_or_default()).unwrap(),
                    run: message.headers().and_then(|h| {
                        h.iter()
                            .find(|h| h.key == "microfleet-run")
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    }),
                }),
            }
        }
        records
    })
    .await
    .unwrap()
}

/// A run's outcome.
struct Outcome {
    output: Output,
    summary: RunSummary,
}

impl Outcome {
    fn logs(&self) -> String {
        format!("{}{}", String::from_utf8_lossy(&self.output.stdout), String::from_utf8_lossy(&self.output.stderr))
    }
    fn message(&self) -> String {
        self.summary.message.clone().unwrap_or_default()
    }
    fn assert_class(&self, class: Option<FailureClass>) {
        assert_eq!(self.summary.failure_class, class, "{}", self.logs());
        assert_eq!(self.output.status.code(), Some(class.map_or(0, FailureClass::exit_code)), "{}", self.logs());
    }
}

/// The kafka sink's settings for `topic` on the test broker; `edit` is merged into them.
fn kafka_sink(topic: &str, edit: serde_json::Value) -> serde_json::Value {
    let mut sink = serde_json::json!({
        "bootstrapServers": [bootstrap()], "topic": topic, "keyField": "/user_id", "timeoutSeconds": 10,
    });
    if let (Some(sink), serde_json::Value::Object(edit)) = (sink.as_object_mut(), edit) {
        sink.extend(edit);
    }
    sink
}

/// Runs the fetcher binary as its pod runs it, as run `run_id`, fetching from the sample clustering
/// service (`source`) into the Kafka sink `sink`, with these `checks`; `sigterm_after` may stop it.
async fn run(
    run_id: &str,
    source: clustering::Config,
    sink: serde_json::Value,
    checks: serde_json::Value,
    sigterm_after: Option<Duration>,
) -> Outcome {
    run_with_env(run_id, source, sink, checks, sigterm_after, &[]).await
}

/// [`run`], with these extra environment variables (the credentials the kubelet would fill in).
async fn run_with_env(
    run_id: &str,
    source: clustering::Config,
    sink: serde_json::Value,
    checks: serde_json::Value,
    sigterm_after: Option<Duration>,
    env: &[(&str, &str)],
) -> Outcome {
    let paging = source.paging;
    let (addr, _clustering) = serve(source).await;
    run_at(run_id, addr, paging, sink, checks, sigterm_after, env).await
}

/// The sample clustering service with `source`, serving on a free port, and a handle on what it sees.
async fn serve(source: clustering::Config) -> (SocketAddr, clustering::Clustering) {
    let (router, clustering) = clustering::router(source);
    (spawn(router, "127.0.0.1:0".parse().unwrap()).await.unwrap(), clustering)
}

/// [`run_with_env`] against a clustering service already serving at `addr` with `paging`.
async fn run_at(
    run_id: &str,
    addr: SocketAddr,
    paging: Paging,
    sink: serde_json::Value,
    checks: serde_json::Value,
    sigterm_after: Option<Duration>,
    env: &[(&str, &str)],
) -> Outcome {
    let pagination = match paging {
        Paging::Page => serde_json::json!({"type": "page"}),
        _ => serde_json::json!({"type": "cursor", "cursorPath": "/next_cursor"}),
    };
    let plan = serde_json::json!({
        "source": {
            "url": format!("http://{addr}/v1/users"), "method": "GET", "format": "json", "itemPath": "/users",
            "timeouts": {"connectSeconds": 2, "requestSeconds": 5},
            "pagination": pagination,
        },
        "sink": {"kafka": sink},
        "retry": {"attempts": 2, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1},
        "checks": checks,
    });
    let defaults = serde_json::json!({"pageSize": 1000, "pageParam": "page", "firstPage": 1, "offsetParam": "offset",
        "sizeParam": "limit", "cursorParam": "cursor", "maxPages": 1000});
    let mut plan = plan;
    if let (Some(pagination), Some(defaults)) = (plan["source"]["pagination"].as_object_mut(), defaults.as_object()) {
        pagination.extend(defaults.clone());
    }
    // its own file per process started: two attempts of one run (the fencing test) run at the same time
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::env::temp_dir().join(format!("microfleet-kafka-{run_id}-{}-{nth}.json", std::process::id()));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.arg("run")
        .env("MICROFLEET_FETCH_PLAN", plan.to_string())
        .env("MICROFLEET_RUN_ID", run_id)
        .env("MICROFLEET_CLUSTER_FETCH", "promo/promo-users")
        .env("MICROFLEET_TERMINATION_LOG", &log)
        .env("MICROFLEET_LOG_FORMAT", "json")
        .env_remove("MICROFLEET_PUSHGATEWAY_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(env.iter().copied());
    let output = tokio::task::spawn_blocking(move || {
        let child = cmd.spawn().unwrap();
        if let Some(delay) = sigterm_after {
            std::thread::sleep(delay);
            let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_else(|_| {
        panic!(
            "no summary; logs:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_file(&log);
    Outcome { output, summary: RunSummary::from_termination_message(&text).expect("the summary is JSON") }
}

/// The id of run `n` into `topic` (its own: runs with one id share a `transactional.id` and fence each other).
fn run_id(topic: &str, n: u32) -> String {
    format!("{topic}-{n}")
}

fn users(users: u64) -> clustering::Config {
    clustering::Config { users, default_limit: 1000, ..Default::default() }
}

fn checks() -> serde_json::Value {
    serde_json::json!({"minItems": 1, "maxItemBytes": 1048576})
}

/// `read_committed` sees exactly `users` records of `run`, each user once, keyed by its user_id.
fn assert_whole_list(records: &[Record], users: u64, run: &str) {
    assert_eq!(records.len() as u64, users, "read_committed must see the whole list");
    let ids: HashSet<u64> = records.iter().map(|r| r.value["user_id"].as_u64().expect("a user_id")).collect();
    assert_eq!(ids.len() as u64, users, "duplicates or gaps");
    for record in records {
        assert_eq!(record.key.as_deref(), Some(record.value["user_id"].to_string().as_str()), "key from keyField");
        assert_eq!(record.run.as_deref(), Some(run), "header microfleet-run");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_delivers_the_whole_list_in_one_committed_transaction_keyed_by_key_field() {
    let _shared = broker().read().await;
    let topic = create_topic("whole").await;
    let out = run(&run_id(&topic, 1), users(2500), kafka_sink(&topic, serde_json::json!({})), checks(), None).await;
    out.assert_class(None);
    assert_eq!(out.summary.items, 2500);
    assert_whole_list(&read(&topic, "read_committed").await, 2500, &run_id(&topic, 1));
    assert_eq!(read(&topic, "read_uncommitted").await.len(), 2500, "nothing but the list was written");
}

/// After a failed run: nothing of it for `read_committed`, its records for `read_uncommitted` (they were
/// produced, in a transaction that was aborted), and a good run's list visible at once.
async fn assert_aborted_then_a_good_run_is_visible(topic: &str, failed: &Outcome) {
    let committed = read(topic, "read_committed").await;
    assert!(committed.is_empty(), "read_committed sees {} records of a failed run", committed.len());
    let uncommitted = read(topic, "read_uncommitted").await;
    assert!(!uncommitted.is_empty(), "the failed run produced nothing, so its transaction proves nothing");
    assert!(uncommitted.len() as i64 <= failed.summary.items, "{} records, {:?}", uncommitted.len(), failed.summary);
    let good = run(&run_id(topic, 2), users(1200), kafka_sink(topic, serde_json::json!({})), checks(), None).await;
    good.assert_class(None);
    let committed = read(topic, "read_committed").await;
    assert_whole_list(&committed, 1200, &run_id(topic, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_failing_mid_way_leaves_nothing_visible_to_read_committed() {
    let _shared = broker().read().await;
    let broken_page_3 = vec![Fault::Status { page: 2, status: 500, retry_after: None, times: u32::MAX }];
    let cases = [
        (
            "max_items_exceeded",
            users(2500),
            serde_json::json!({"minItems": 1, "maxItems": 2000, "maxItemBytes": 1048576}),
            FailureClass::Checks,
            "2000",
        ),
        (
            "source_breaks_after_two_pages",
            clustering::Config { faults: broken_page_3, ..users(5000) },
            checks(),
            FailureClass::Source,
            "page 3",
        ),
    ];
    for (case, source, checks, class, says) in cases {
        let topic = create_topic(case).await;
        let out = run(&run_id(&topic, 1), source, kafka_sink(&topic, serde_json::json!({})), checks, None).await;
        out.assert_class(Some(class));
        assert!(out.message().contains(says), "{case}: {}", out.message());
        assert_aborted_then_a_good_run_is_visible(&topic, &out).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_aborts_the_transaction() {
    let _shared = broker().read().await;
    let topic = create_topic("sigterm").await;
    let slow: Vec<Fault> =
        (0..20).map(|page| Fault::Delay { page, delay: Duration::from_millis(300), times: 1 }).collect();
    let source = clustering::Config { faults: slow, ..users(20_000) };
    let sink = kafka_sink(&topic, serde_json::json!({}));
    let out = run(&run_id(&topic, 1), source, sink, checks(), Some(Duration::from_millis(2500))).await;
    out.assert_class(Some(FailureClass::Interrupted));
    assert!(out.summary.items > 0 && out.summary.items < 20_000, "{:?}", out.summary);
    assert_aborted_then_a_good_run_is_visible(&topic, &out).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_fails_as_sink_naming_the_topic() {
    let _shared = broker().read().await;
    let topic = topic_name("missing");
    let out = run(&run_id(&topic, 1), users(100), kafka_sink(&topic, serde_json::json!({})), checks(), None).await;
    out.assert_class(Some(FailureClass::Sink));
    assert!(out.message().contains(&format!("topic {topic} does not exist")), "{}", out.message());
    assert_eq!(out.summary.items, 0, "the topic is checked before the source is read");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_broker_fails_as_sink_after_the_retries() {
    let _shared = broker().read().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sink =
        serde_json::json!({"bootstrapServers": [format!("127.0.0.1:{port}")], "topic": "t", "timeoutSeconds": 2});
    let started = Instant::now();
    let out = run(&run_id("unreachable", 1), users(100), sink, checks(), None).await;
    out.assert_class(Some(FailureClass::Sink));
    let message = out.message();
    assert!(message.contains(&format!("no answer from the brokers 127.0.0.1:{port}")), "{message}");
    assert!(message.contains("after 2 attempt(s)"), "{message}");
    assert_eq!((out.summary.requests, out.summary.retries), (2, 1), "{:?}", out.summary);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_sasl_credentials_are_a_config_failure_naming_the_secret() {
    let _shared = broker().read().await;
    let secret = serde_json::json!({"name": "promo-kafka", "key": "password"});
    let sasl = serde_json::json!({"sasl": {"mechanism": "SCRAM-SHA-512", "username": secret, "password": secret}});
    let out = run(&run_id("sasl", 1), users(100), kafka_sink("t", sasl), checks(), None).await;
    out.assert_class(Some(FailureClass::Config));
    assert!(out.message().contains("MICROFLEET_SINK_KAFKA_SASL_USERNAME is not set"), "{}", out.message());
    assert!(out.message().contains("\"promo-kafka\""), "{}", out.message());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_started_again_fences_the_first_attempt_and_only_its_list_is_committed() {
    let _shared = broker().read().await;
    let topic = create_topic("fenced").await;
    let slow: Vec<Fault> =
        (0..10).map(|page| Fault::Delay { page, delay: Duration::from_millis(400), times: 1 }).collect();
    let zombie_source = clustering::Config { faults: slow, ..users(10_000) };
    let paging = zombie_source.paging;
    let (zombie_addr, zombie_seen) = serve(zombie_source).await;
    let sink = kafka_sink(&topic, serde_json::json!({}));
    let id = run_id(&topic, 1);
    let zombie = run_at(&id, zombie_addr, paging, sink.clone(), checks(), None, &[]);
    // the second attempt starts once the first one's transaction has begun: the fetcher begins it before its
    // first request (a fixed delay was not enough on a loaded machine: the second attempt registered its
    // transactional id first, and the first one fenced it)
    let again = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while zombie_seen.seen().total == 0 {
            assert!(Instant::now() < deadline, "the first attempt never asked for a page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run(&id, users(1200), sink.clone(), checks(), None).await
    };
    let (zombie, again) = tokio::join!(zombie, again);
    again.assert_class(None);
    zombie.assert_class(Some(FailureClass::Sink));
    assert!(zombie.message().contains("fenced this one"), "{}", zombie.message());
    assert_whole_list(&read(&topic, "read_committed").await, 1200, &id);
}

/// The password of the test broker's SASL users (`scripts/kafka.sh`).
const SASL_PASSWORD: &str = "microfleet-test-password";

fn sasl_bootstrap() -> String {
    std::env::var("MICROFLEET_KAFKA_SASL_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("MICROFLEET_KAFKA_SASL_BOOTSTRAP is not set: start a broker with `eval \"$(scripts/kafka.sh up)\"`")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_logins_deliver_and_refusals_say_why_without_the_password() {
    let _shared = broker().read().await;
    let cases = [
        ("plain", "PLAIN", "microfleet", SASL_PASSWORD, None, ""),
        ("scram_sha_512", "SCRAM-SHA-512", "microfleet", SASL_PASSWORD, None, ""),
        (
            "wrong_password",
            "PLAIN",
            "microfleet",
            "not-the-password",
            Some(FailureClass::Sink),
            "refused the SASL login",
        ),
        ("authorization_refused", "PLAIN", "nobody", SASL_PASSWORD, Some(FailureClass::Sink), "refused authorization"),
    ];
    for (case, mechanism, user, password, class, says) in cases {
        let topic = create_topic(case).await;
        let secret = |key: &str| serde_json::json!({"name": "promo-kafka", "key": key});
        let sink = kafka_sink(
            &topic,
            serde_json::json!({
                "bootstrapServers": [sasl_bootstrap()], "timeoutSeconds": 5,
                "sasl": {"mechanism": mechanism, "username": secret("username"), "password": secret("password")},
            }),
        );
        let env = [("MICROFLEET_SINK_KAFKA_SASL_USERNAME", user), ("MICROFLEET_SINK_KAFKA_SASL_PASSWORD", password)];
        let out = run_with_env(&run_id(&topic, 1), users(1200), sink, checks(), None, &env).await;
        out.assert_class(class);
        assert!(out.message().contains(says), "{case}: {}", out.message());
        assert!(!out.logs().contains(password), "{case}: the password reached the logs:\n{}", out.logs());
        if class.is_none() {
            assert_whole_list(&read(&topic, "read_committed").await, 1200, &run_id(&topic, 1));
        }
    }
}

/// The test broker's process id, from `scripts/kafka.sh`'s PID file (`MICROFLEET_KAFKA_DIR`).
fn broker_pid() -> String {
    let dir = std::env::var("MICROFLEET_KAFKA_DIR").unwrap_or_else(|_| "/tmp/microfleet-kafka".into());
    let file = format!("{dir}/kafka.pid");
    let pid = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}: set MICROFLEET_KAFKA_DIR"));
    pid.trim().to_string()
}

/// The broker frozen (SIGSTOP) until dropped (SIGCONT), even when the test fails.
struct Frozen(String);

impl Frozen {
    fn freeze(pid: String) -> Frozen {
        assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_never_answered_is_commit_unknown_and_not_aborted() {
    let _alone = broker().write().await;
    let topic = create_topic("commit-unknown").await;
    let pid = broker_pid();
    // two full batches are delivered at once; the empty page that ends page paging comes 4 s late, and the
    // broker freezes meanwhile, so the commit is sent to a broker that never answers
    let late_end = vec![Fault::Delay { page: 2, delay: Duration::from_secs(4), times: 1 }];
    let source = clustering::Config { paging: Paging::Page, faults: late_end, ..users(2000) };
    let sink = kafka_sink(&topic, serde_json::json!({"timeoutSeconds": 2}));
    let id = run_id(&topic, 1);
    let frozen = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        Frozen::freeze(pid)
    };
    let (out, frozen) = tokio::join!(run(&id, source, sink, checks(), None), frozen);
    drop(frozen);
    // the other tests wait until the broker, thawed, creates topics again
    create_topic("thawed").await;
    out.assert_class(Some(FailureClass::CommitUnknown));
    assert_eq!(out.summary.items, 2000, "{:?}", out.summary);
    assert!(out.message().contains(RECEIVER_MAY_HOLD_LIST), "{}", out.message());
    assert!(out.message().contains("sink kafka commit"), "{}", out.message());
    assert!(!out.logs().contains("aborting the Kafka transaction"), "an unknown commit must not be aborted");
}

fn tls_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: start a broker with `eval \"$(scripts/kafka.sh up)\"`"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_the_brokers_ca_delivers_and_without_it_fails_naming_tls() {
    let _shared = broker().read().await;
    let ca = std::fs::read_to_string(tls_env("MICROFLEET_KAFKA_TLS_CA")).unwrap();
    let with_ca = serde_json::json!({"tls": {"caSecretKeyRef": {"name": "promo-kafka", "key": "ca.crt"}}});
    let cases = [
        ("tls_with_ca", with_ca, vec![("MICROFLEET_SINK_KAFKA_CA_PEM", ca.as_str())], None, ""),
        ("tls_system_roots", serde_json::json!({"tls": {}}), vec![], Some(FailureClass::Sink), "TLS handshake"),
    ];
    for (case, tls, env, class, says) in cases {
        let topic = create_topic(case).await;
        let mut sink = kafka_sink(&topic, tls);
        sink["bootstrapServers"] = serde_json::json!([tls_env("MICROFLEET_KAFKA_TLS_BOOTSTRAP")]);
        sink["timeoutSeconds"] = serde_json::json!(5);
        let out = run_with_env(&run_id(&topic, 1), users(1200), sink, checks(), None, &env).await;
        out.assert_class(class);
        assert!(out.message().contains(says), "{case}: {}", out.message());
        if class.is_none() {
            assert_whole_list(&read(&topic, "read_committed").await, 1200, &run_id(&topic, 1));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_stops_answering_mid_run_fails_the_run_as_sink_and_nothing_is_committed() {
    let _alone = broker().write().await;
    let topic = create_topic("frozen-mid-run").await;
    let slow: Vec<Fault> =
        (1..5).map(|page| Fault::Delay { page, delay: Duration::from_millis(700), times: 1 }).collect();
    let source = clustering::Config { faults: slow, ..users(5000) };
    let sink = kafka_sink(&topic, serde_json::json!({"timeoutSeconds": 2}));
    let frozen = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let frozen = Frozen::freeze(broker_pid());
        tokio::time::sleep(Duration::from_secs(8)).await;
        frozen
    };
    let id = run_id(&topic, 1);
    let (out, frozen) = tokio::join!(run(&id, source, sink, checks(), None), frozen);
    drop(frozen);
    create_topic("thawed").await;
    out.assert_class(Some(FailureClass::Sink));
    assert!(out.message().contains("no answer from the brokers"), "{}", out.message());
    assert!(out.logs().contains("aborting the Kafka transaction"), "{}", out.logs());
    // (its abort could not reach the frozen broker: the broker ends the transaction when it times out)
    assert!(read(&topic, "read_committed").await.is_empty(), "nothing is committed");
}
