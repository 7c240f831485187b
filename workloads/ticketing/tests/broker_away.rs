//! Shutdown with the broker away, against a real broker of this test's own (`test_broker::OwnBroker`: pausing
//! the shared one would stall the other tests) and the real `ticketing-service` process on a fresh database of
//! the real PostgreSQL (`MICROFLEET_PG_URL`). Orders paid, their `order.paid` commands published by the
//! service's relay, their `access.prepared` replies (the test plays the gate-acl service) applied; then the
//! broker frozen (SIGSTOP), one more order paid (its command waits in the outbox), and SIGTERM: the service
//! exits 0 well within [`EXITS_WITHIN`] (its consumers' last offset commit and leaving the group are bounded
//! by `kafka_consumer::CLOSE_TIMEOUT`; unbounded, librdkafka waited 60-90 s for the frozen broker), saying
//! why. The broker resumed and the service restarted, nothing is lost or doubled: every paid order's command
//! is published under one message id, every reply applied once (the ones whose offsets were not committed
//! come again and are found applied), every ticket issued once and active.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use jiff::Timestamp;
use microfleet_auth::test_support::AuthService;
use microfleet_common::kafka::client::Broker;
use microfleet_common::kafka::{self, MESSAGE_ID_HEADER};
use microfleet_common::test_broker::{self, OwnBroker};
use microfleet_ticketing::repository;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Headers as _, Message as _, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use support::{count, event_on_sale, fresh_database, place};

/// The bound on the service's exit after SIGTERM with the broker frozen: the consumers' close timeout (10 s)
/// and the relay's publish timeout (10 s) run side by side; before the bound, the process lived 91 s.
const EXITS_WITHIN: Duration = Duration::from_secs(30);
/// How long the saga's steps may take with the broker up.
const WITHIN: Duration = Duration::from_secs(60);
/// Seats per order.
const SEATS: i32 = 2;

/// One `ticketing-service serve` on the test's database, broker and auth service, logging JSON to a file.
struct Service {
    env: Vec<(&'static str, String)>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ticketing-service"))
            .arg("serve")
            .envs(self.env.iter().map(|(key, value)| (*key, value.as_str())))
            .stdout(Stdio::from(log))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits for `/readyz`; a process that exited meanwhile (a broker not answering its start-up in time)
    /// is started again, as a kubelet would. How many times.
    async fn wait_ready(&mut self) -> u32 {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let started = Instant::now();
        let mut restarts = 0;
        loop {
            let ready = http.get(format!("http://127.0.0.1:{}/readyz", self.port)).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return restarts;
            }
            if self.child.as_mut().is_some_and(|child| child.try_wait().is_ok_and(|status| status.is_some())) {
                restarts += 1;
                self.start();
            }
            assert!(started.elapsed() < WITHIN, "not ready within {WITHIN:?}:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM; how long it took to exit and its status (`None`: still running after `within`, then killed).
    async fn stop(&mut self, within: Duration) -> (Duration, Option<std::process::ExitStatus>) {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert!(sent.is_ok_and(|status| status.success()), "kill -TERM {}", child.id());
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(status) = child.try_wait().unwrap() {
                return (started.elapsed(), Some(status));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        (started.elapsed(), None)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    /// Kills a process still running; deletes the log's folder, kept when the test fails.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("the service's log is kept in {}", self.log.display());
        } else if let Some(folder) = self.log.parent() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// The commands `order.paid` seen on the broker, by order number: their message ids.
type Commands = BTreeMap<String, BTreeSet<String>>;

/// Reads `order.paid` commands (as the gate-acl service would) until every one of `orders` has one.
async fn commands_for(reader: &StreamConsumer, seen: &mut Commands, orders: &[String]) {
    let started = Instant::now();
    while !orders.iter().all(|order| seen.contains_key(order)) {
        assert!(started.elapsed() < WITHIN, "no order.paid command for some of {orders:?}: {seen:?}");
        let Ok(Ok(message)) = tokio::time::timeout(Duration::from_secs(1), reader.recv()).await else { continue };
        let order = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        let headers = message.headers().unwrap();
        let id = headers.iter().find(|header| header.key == MESSAGE_ID_HEADER).and_then(|header| header.value);
        seen.entry(order).or_default().insert(String::from_utf8_lossy(id.unwrap()).into_owned());
    }
}

/// Publishes the gate-acl service's `access.prepared` reply for `order`, always under the same message id.
async fn prepared(producer: &kafka::client::Producer, topic: &str, order: &str) {
    let message_id = format!("prepared-{order}");
    let payload = serde_json::json!({"orderNumber": order}).to_string();
    let headers = OwnedHeaders::new().insert(Header { key: MESSAGE_ID_HEADER, value: Some(message_id.as_str()) });
    let record = FutureRecord::to(topic).key(order).payload(&payload).headers(headers);
    producer.inner().send(record, Timeout::After(Duration::from_secs(10))).await.unwrap();
}

async fn active_tickets(pool: &Pool, orders: &[String]) -> i64 {
    let list = orders.iter().map(|order| format!("'{order}'")).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id WHERE t.state = 'active' AND o.number IN ({list})"
    );
    count(pool, &sql).await
}

async fn wait_active(pool: &Pool, orders: &[String], service: &Service) {
    let started = Instant::now();
    let expected = i64::from(SEATS) * orders.len() as i64;
    while active_tickets(pool, orders).await < expected {
        assert!(started.elapsed() < WITHIN, "tickets of {orders:?} not active:\n{}", service.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pay(pool: &Pool, event_id: i64, area: i64) -> String {
    let order = place(pool, event_id, &[(area, SEATS)]).await.unwrap();
    repository::confirm_payment(pool, &order.number, order.total_price, Timestamp::now()).await.unwrap();
    order.number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_broker_frozen_exits_within_its_bound_and_loses_no_paid_order() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    // a JVM starting (seconds): the database and the auth service meanwhile
    let starting = tokio::task::spawn_blocking(OwnBroker::start);
    let (pool, url) = fresh_database("broker_away", 2).await;
    let auth = AuthService::start("broker_away").await;
    let (event_id, areas) = event_on_sale(&pool, &[(100, 50_000)]).await;
    let broker = starting.await.unwrap().unwrap_or_else(|error| panic!("{error}"));
    println!("own broker up at {} in {:.1} s", broker.bootstrap(), started.elapsed().as_secs_f64());
    let prefix = test_broker::unique("broker-away");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let scratch = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&scratch).unwrap();
    let mut service = Service {
        env: vec![
            ("DATABASE_URL", url),
            ("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap()),
            ("KAFKA_TOPIC_PREFIX", prefix.clone()),
            ("KAFKA_TOPIC_PARTITIONS", "1".into()),
            ("OUTBOX_RELAY_INTERVAL_MS", "50".into()),
            ("AUTH_URL", auth.url.clone()),
            ("AUTH_SERVICE_KEY_FILE", auth.service_key_file().display().to_string()),
            ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("SHUTDOWN_GRACE_SECONDS", "2".into()),
            ("RUST_LOG", "info,microfleet_common::kafka_consumer=debug".into()),
        ],
        port,
        log: scratch.join("ticketing-service.log"),
        child: None,
    };
    service.start();
    service.wait_ready().await;

    // the test plays the gate-acl service: reads the commands, answers access.prepared
    let own = Broker::plaintext(broker.bootstrap());
    let mut config = own.client_config();
    config.set("group.id", test_broker::unique("gate")).set("auto.offset.reset", "earliest");
    let reader: StreamConsumer = config.create().unwrap();
    reader.subscribe(&[format!("{prefix}.order-paid").as_str()]).unwrap();
    let producer = kafka::producer(&own).unwrap();
    let replies = format!("{prefix}.access-prepared");
    let mut commands = Commands::new();
    let mut before = Vec::new();
    for _ in 0..3 {
        before.push(pay(&pool, event_id, areas[0]).await);
    }
    commands_for(&reader, &mut commands, &before).await;
    for order in &before {
        prepared(&producer, &replies, order).await;
    }
    wait_active(&pool, &before, &service).await;

    // frozen at once: the last batch's offsets are likely stored and not committed yet (every 1 s)
    let frozen = broker.pause().unwrap();
    let during = pay(&pool, event_id, areas[0]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (took, status) = service.stop(EXITS_WITHIN).await;
    let logs = service.logs();
    println!("ticketing-service exited {:.1} s after SIGTERM with the broker frozen ({status:?})", took.as_secs_f64());
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM; killed:\n{logs}"));
    assert!(status.success(), "exit status {status}:\n{logs}");
    let why = "the broker did not take the last offsets in time";
    assert!(logs.contains(why), "no warning that the last offsets were given up:\n{logs}");
    assert!(logs.contains("ticketing-service stopped"), "{logs}");

    // the broker back, the service again: the waiting command goes out, nothing is lost or doubled
    drop(frozen);
    let restart_log_from = logs.len();
    service.start();
    // the broker, frozen longer than its session with its own controller, is fenced for a while
    let restarts = service.wait_ready().await;
    let mut all = before.clone();
    all.push(during.clone());
    commands_for(&reader, &mut commands, &all).await;
    // a reply delivered twice (at-least-once) changes nothing; sent first, it is applied when the next is
    prepared(&producer, &replies, &before[0]).await;
    prepared(&producer, &replies, &during).await;
    wait_active(&pool, &all, &service).await;
    let doubled: Vec<_> = commands.iter().filter(|(_, ids)| ids.len() != 1).collect();
    assert!(doubled.is_empty(), "a paid order commanded under two message ids: {doubled:?}");
    let commanded: BTreeSet<&String> = commands.keys().collect();
    assert_eq!(commanded, all.iter().collect(), "one command per paid order, none for another");
    let tickets = count(&pool, "SELECT count(*) FROM tickets").await;
    assert_eq!(tickets, i64::from(SEATS) * all.len() as i64, "every ticket issued once");
    assert_eq!(active_tickets(&pool, &all).await, tickets, "and active");
    let sold = count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {}", areas[0])).await;
    assert_eq!(sold, tickets, "no seat sold twice or lost");
    let paid = count(&pool, "SELECT count(*) FROM orders WHERE state = 'paid' AND paid").await;
    assert_eq!(paid, all.len() as i64, "every paid order still paid");
    let applied =
        count(&pool, "SELECT count(*) FROM processed_messages WHERE consumer = 'ticketing.activate-tickets'").await;
    assert_eq!(applied, all.len() as i64, "one reply applied per order");
    let pending = count(&pool, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await;
    assert_eq!(pending, 0, "the outbox drained");
    println!(
        "after the restart ({restarts} more while the broker recovered): {} deliveries found applied before \
         (one re-sent by the test); {:.1} s in all",
        found_applied(&service.logs()[restart_log_from..]),
        started.elapsed().as_secs_f64()
    );
    let (took, status) = service.stop(EXITS_WITHIN).await;
    assert!(status.is_some_and(|status| status.success()), "with the broker up: {status:?} after {took:?}");
    // the test's own clients leave while the broker is still there
    drop((reader, producer));
    drop(broker);
}

/// How many deliveries the consumers' debug lines in `logs` say were found applied before.
fn found_applied(logs: &str) -> u64 {
    let lines = logs.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok());
    lines
        .map(|line| match line["message"].as_str() {
            Some("batch processed") => {
                line["messages"].as_u64().unwrap_or(0).saturating_sub(line["applied"].as_u64().unwrap_or(0))
            }
            Some("message processed") => u64::from(line["outcome"] == "Duplicate"),
            _ => 0,
        })
        .sum()
}
