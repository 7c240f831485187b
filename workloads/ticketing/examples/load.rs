//! The load generator of `scripts/bench-ticketing.sh` (a benchmark tool, not a test): drives
//! `ticketing-service` and `gate-acl-service` over HTTP with many concurrent clients and prints throughput
//! and p50/p99 latency on one line (`rate=... p50_ms=... p99_ms=...`).
//!
//! - `saga`: each operation places an order of one seat, pays it, and ends when its ticket is `active`
//!   (gate-acl prepared its access over Kafka). Activation is observed in ticketing's database, one query
//!   every 5 ms for every waiting order (its ticket's row, by the id the payment answered: one primary-key
//!   lookup per waiting order), so the observation adds no HTTP load.
//! - `scan`: each operation is one `POST /v1/scans` of a prepared ticket at a gate (entries and exits taking
//!   turns, one device per client, a new nonce each scan).
//!
//! Closed loop (`--clients` each waiting for its answer) measures the peak; `--rate` runs open loop at a
//! fixed rate, each latency measured from the operation's scheduled start (no coordinated omission).
//! It decides nothing about tickets; it only calls the APIs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    /// ticketing-service's base URL
    #[arg(long, global = true, default_value = "http://127.0.0.1:28080")]
    ticketing: String,
    /// gate-acl-service's base URL
    #[arg(long, global = true, default_value = "http://127.0.0.1:28081")]
    gate: String,
    /// An API key of the auth service for the back-office calls (ticketing:read, ticketing:catalog,
    /// ticketing:approve, ticketing:orders, gate:read, gate:admin)
    #[arg(long, global = true, env = "LOAD_API_KEY", hide_env_values = true, default_value = "")]
    api_key: String,
    /// Concurrent clients (closed loop), or most operations in flight (open loop)
    #[arg(long, global = true, default_value_t = 32)]
    clients: usize,
    /// Seconds measured
    #[arg(long, global = true, default_value_t = 10)]
    seconds: u64,
    /// Seconds run before measuring (not counted)
    #[arg(long, global = true, default_value_t = 2)]
    warmup: u64,
    /// Operations per second, open loop; closed loop when absent
    #[arg(long, global = true)]
    rate: Option<f64>,
    /// Areas of the benchmark's event; orders take turns among them (each area's seat count is one row every
    /// order of it updates, as a pgbench branch is)
    #[arg(long, global = true, default_value_t = 1)]
    areas: usize,
    /// Writes each measured operation as "start_ms latency_ms lag_ms" (start from the measurement's start;
    /// open loop: the scheduled start, and lag how late this generator sent it) to this file, to see when the
    /// slow ones happened and whether they left late
    #[arg(long, global = true)]
    timeline: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Mode {
    /// Orders through the whole saga: order, payment, access prepared, ticket active
    Saga {
        /// ticketing-service's database (to observe tickets turning active)
        #[arg(long, env = "TICKETING_DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
    /// Gate scans
    Scan {
        /// An API key of the auth service with gate:scan (the gate devices')
        #[arg(long, env = "GATE_DEVICE_KEY", hide_env_values = true)]
        gate_key: String,
        /// Tickets prepared for the scans
        #[arg(long, default_value_t = 2000)]
        tickets: usize,
    },
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let http = reqwest::Client::builder().pool_max_idle_per_host(cli.clients * 2).build()?;
    let api = Api { http, ticketing: cli.ticketing.clone(), gate: cli.gate.clone(), api_key: cli.api_key.clone() };
    let event = api.event_on_sale(cli.areas.max(1)).await?;
    let operation: Arc<dyn Operation> = match &cli.mode {
        Mode::Saga { database_url } => {
            let pool = microfleet_common::database::connect(database_url, 1)?;
            let waiting = Arc::new(Mutex::new(HashMap::new()));
            tokio::spawn(observe_activation(pool, waiting.clone()));
            Arc::new(PaidOrder { api: api.clone(), event, waiting })
        }
        Mode::Scan { gate_key, tickets } => Arc::new(api.scans(&event, gate_key, *tickets).await?),
    };
    let report = run(&cli, operation).await;
    println!("{report}");
    Ok(())
}

/// The two services' APIs.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    ticketing: String,
    gate: String,
    api_key: String,
}

/// The benchmark's event (approved, learned by gate-acl), its areas and a gate admitting them all.
struct BenchEvent {
    id: i64,
    areas: Vec<i64>,
    price: i64,
    gate: i64,
}

impl Api {
    async fn call(&self, base: &str, path: &str, key: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let url = format!("{base}{path}");
        let request = match body {
            Some(body) => self.http.post(url).json(body),
            None => self.http.get(url),
        };
        let response = request.bearer_auth(key).send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {answer}").into());
        }
        Ok(answer)
    }

    fn id(value: &Value, field: &str) -> Result<i64, Failure> {
        value[field].as_i64().ok_or_else(|| format!("no {field} in {value}").into())
    }

    /// A merchant, an approved event on sale with `areas` large areas, known to gate-acl, and a gate for them.
    async fn event_on_sale(&self, areas: usize) -> Result<BenchEvent, Failure> {
        let (t, key) = (self.ticketing.as_str(), self.api_key.as_str());
        let now = Timestamp::now();
        let merchant = self
            .call(t, "/v1/merchants", key, Some(&json!({"name": format!("Bench {}", now.as_nanosecond())})))
            .await?;
        let event = self
            .call(
                t,
                "/v1/events",
                key,
                Some(&json!({
                    "merchantId": Self::id(&merchant, "id")?,
                    "name": "Benchmark night",
                    "venue": "127.0.0.1",
                    "startsAt": now + SignedDuration::from_hours(1),
                    "endsAt": now + SignedDuration::from_hours(48),
                    "saleStartsAt": now - SignedDuration::from_hours(1),
                    "saleEndsAt": now + SignedDuration::from_hours(1),
                    "areas": (1..=areas)
                        .map(|n| json!({"name": format!("Area {n}"), "capacity": 1_000_000, "price": 100_000}))
                        .collect::<Vec<_>>(),
                })),
            )
            .await?;
        let id = Self::id(&event, "id")?;
        let area_ids = (0..areas).map(|n| Self::id(&event["areas"][n], "id")).collect::<Result<Vec<_>, _>>()?;
        self.call(t, &format!("/v1/events/{id}/approve"), key, Some(&json!({}))).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.call(&self.gate, &format!("/v1/events/{id}"), key, None).await.is_err() {
            if Instant::now() > deadline {
                return Err(format!("gate-acl did not learn event {id} within 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let gate = self
            .call(&self.gate, "/v1/gates", key, Some(&json!({"eventId": id, "name": "Main", "areaIds": area_ids})))
            .await?;
        Ok(BenchEvent { id, areas: area_ids, price: 100_000, gate: Self::id(&gate, "id")? })
    }

    /// Prepares `tickets` access entries (directly at gate-acl) and returns the scan operation over them.
    async fn scans(&self, event: &BenchEvent, gate_key: &str, tickets: usize) -> Result<Scans, Failure> {
        let now = Timestamp::now();
        let mut codes = Vec::with_capacity(tickets);
        for n in 0..tickets {
            let access = json!({
                "ticketId": format!("00000000-0000-4000-8000-{:012}", now.as_second() % 1_000_000 * 100_000 + n as i64),
                "eventId": event.id,
                "areaId": event.areas[n % event.areas.len()],
                "validFrom": now - SignedDuration::from_hours(1),
                "validUntil": now + SignedDuration::from_hours(48),
            });
            let entry = self.call(&self.gate, "/v1/access", &self.api_key, Some(&access)).await?;
            codes.push(entry["qr"].as_str().ok_or("no qr in the access entry")?.to_string());
        }
        Ok(Scans {
            api: self.clone(),
            gate_key: gate_key.to_string(),
            gate: event.gate,
            codes,
            next: Mutex::new(0),
            run: now.as_nanosecond(),
        })
    }
}

/// One measured operation; `client` is the caller's number (closed loop) or a sequence number (open loop).
trait Operation: Send + Sync {
    fn once(&self, client: usize) -> futures::future::BoxFuture<'_, Result<(), Failure>>;
}

/// Orders waiting for their ticket to turn active, by the id of their (first) ticket: the saga activates an
/// order's tickets together.
type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<()>>>>;

struct PaidOrder {
    api: Api,
    event: BenchEvent,
    waiting: Waiting,
}

impl Operation for PaidOrder {
    fn once(&self, client: usize) -> futures::future::BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            let (t, key) = (self.api.ticketing.as_str(), self.api.api_key.as_str());
            let order = json!({
                "eventId": self.event.id,
                "paymentMethod": "BANK_TRANSFER",
                "customerEmail": format!("fan{client}@example.com"),
                "items": [{"areaId": self.event.areas[client % self.event.areas.len()], "quantity": 1}],
            });
            let placed = self.api.call(t, "/v1/orders", key, Some(&order)).await?;
            let number = placed["number"].as_str().ok_or("no order number")?.to_string();
            let payment = json!({"amount": self.event.price});
            let paid = self.api.call(t, &format!("/v1/orders/{number}/payment"), key, Some(&payment)).await?;
            let ticket =
                paid["tickets"][0]["id"].as_str().ok_or_else(|| format!("order {number}: no ticket in {paid}"))?;
            let (active, activated) = oneshot::channel();
            // an activation before this insert is still seen: the watcher reads the ticket's state, not a change
            lock(&self.waiting).insert(ticket.to_string(), active);
            tokio::time::timeout(Duration::from_secs(60), activated)
                .await
                .map_err(|_| format!("order {number}: ticket not active within 60 s"))??;
            Ok(())
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every 5 ms, asks ticketing's database which waiting orders have their ticket active (one prepared query
/// for all of them, by the tickets' primary key), and wakes them.
async fn observe_activation(pool: deadpool_postgres::Pool, waiting: Waiting) {
    const ACTIVE: &str = "SELECT id::text FROM tickets WHERE id = ANY($1::text[]::uuid[]) AND state = 'active'";
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let tickets: Vec<String> = lock(&waiting).keys().cloned().collect();
        if tickets.is_empty() {
            continue;
        }
        let rows = match pool.get().await {
            Ok(client) => match client.prepare_cached(ACTIVE).await {
                Ok(active) => client.query(&active, &[&tickets]).await,
                Err(error) => Err(error),
            },
            Err(error) => {
                eprintln!("observer: {error}");
                continue;
            }
        };
        match rows {
            Ok(rows) => {
                let mut waiting = lock(&waiting);
                for row in rows {
                    if let Some(active) = waiting.remove(row.get::<_, &str>(0)) {
                        let _ = active.send(());
                    }
                }
            }
            Err(error) => eprintln!("observer: {error}"),
        }
    }
}

struct Scans {
    api: Api,
    gate_key: String,
    gate: i64,
    codes: Vec<String>,
    /// The next scan's number: picks the ticket, the direction and the nonce.
    next: Mutex<usize>,
    run: i128,
}

impl Operation for Scans {
    fn once(&self, client: usize) -> futures::future::BoxFuture<'_, Result<(), Failure>> {
        Box::pin(async move {
            let n = {
                let mut next = lock(&self.next);
                *next += 1;
                *next
            };
            // each ticket comes round once per pass over the codes: entry on odd passes, exit on even ones
            let pass = n / self.codes.len();
            let scan = json!({
                "qr": self.codes[n % self.codes.len()],
                "gateId": self.gate,
                "direction": if pass.is_multiple_of(2) { "entry" } else { "exit" },
                "deviceId": format!("bench-{}-{client}", self.run),
                "nonce": n.to_string(),
                "scannedAt": Timestamp::now(),
            });
            let answer = self.api.call(&self.api.gate, "/v1/scans", &self.gate_key, Some(&scan)).await?;
            if answer["result"].as_str().is_none() {
                return Err(format!("not a scan answer: {answer}").into());
            }
            Ok(())
        })
    }
}

/// What a run measured.
struct Report {
    done: usize,
    /// Operations completed, the warm-up's included (what the processes' CPU time was spent on).
    all: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    first_error: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percentile = |p: f64| -> f64 {
            if self.latencies.is_empty() {
                return f64::NAN;
            }
            let index = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
            self.latencies[index].as_secs_f64() * 1000.0
        };
        write!(
            f,
            "rate={:.1} p50_ms={:.2} p99_ms={:.2} done={} all={} errors={} seconds={:.1}",
            self.done as f64 / self.seconds,
            percentile(0.50),
            percentile(0.99),
            self.done,
            self.all,
            self.errors,
            self.seconds
        )?;
        if let Some(error) = &self.first_error {
            write!(f, " first_error={error:?}")?;
        }
        Ok(())
    }
}

/// A task's tally.
#[derive(Default)]
struct Tally {
    /// Each measured operation's start (open loop: its scheduled start), its lag (open loop: how late it was
    /// sent) and its latency.
    samples: Vec<(Instant, Duration, Duration)>,
    all: usize,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, result: Result<(), Failure>, started: Instant, lag: Duration, took: Duration, measured: bool) {
        if result.is_ok() {
            self.all += 1;
        }
        match result {
            Ok(()) if measured => self.samples.push((started, lag, took)),
            Ok(()) => {}
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

async fn run(cli: &Cli, operation: Arc<dyn Operation>) -> Report {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(cli.warmup);
    let end = measure_from + Duration::from_secs(cli.seconds);
    let tallies = match cli.rate {
        None => closed_loop(cli.clients, operation, measure_from, end).await,
        Some(rate) => open_loop(rate, cli.clients, operation, measure_from, end).await,
    };
    let mut report =
        Report { done: 0, all: 0, errors: 0, seconds: cli.seconds as f64, latencies: Vec::new(), first_error: None };
    let mut samples = Vec::new();
    for tally in tallies {
        report.errors += tally.errors;
        report.all += tally.all;
        samples.extend(tally.samples);
        if report.first_error.is_none() {
            report.first_error = tally.first_error;
        }
    }
    if let Some(path) = &cli.timeline {
        samples.sort();
        let wall = Timestamp::now() - SignedDuration::try_from(measure_from.elapsed()).unwrap_or_default();
        let header = format!("# measured from {wall}\n");
        let lines: String = std::iter::once(header)
            .chain(samples.iter().map(|(started, lag, took)| {
                let at = started.saturating_duration_since(measure_from);
                let ms = |duration: Duration| duration.as_secs_f64() * 1000.0;
                format!("{:.3} {:.3} {:.3}\n", ms(at), ms(*took), ms(*lag))
            }))
            .collect();
        if let Err(error) = std::fs::write(path, lines) {
            eprintln!("timeline {}: {error}", path.display());
        }
    }
    report.latencies = samples.into_iter().map(|(_, _, took)| took).collect();
    report.done = report.latencies.len();
    report.latencies.sort();
    report
}

/// `clients` tasks, each starting its next operation when the last one answered.
async fn closed_loop(clients: usize, operation: Arc<dyn Operation>, from: Instant, end: Instant) -> Vec<Tally> {
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let started = Instant::now();
                    if started >= end {
                        return tally;
                    }
                    let result = operation.once(client).await;
                    let measured = started >= from && Instant::now() <= end;
                    tally.record(result, started, Duration::ZERO, started.elapsed(), measured);
                }
            })
        })
        .collect();
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.extend(task.await.ok());
    }
    tallies
}

/// One operation every `1 / rate` seconds, each in its own task, at most `in_flight` at once (a late start
/// still counts from its scheduled time). The schedule is kept by a thread of its own sleeping until each
/// operation's time (to tens of µs), not by Tokio's timer: its 1 ms ticks would send the operations of each
/// millisecond together, up to 1 ms late, and count that against the service.
async fn open_loop(
    rate: f64,
    in_flight: usize,
    operation: Arc<dyn Operation>,
    from: Instant,
    end: Instant,
) -> Vec<Tally> {
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1) * 16));
    let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel();
    let (ticks, mut due) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut next = Instant::now();
        while next < end {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            if ticks.send(next).is_err() {
                return;
            }
            next += every;
        }
    });
    let mut sequence = 0;
    while let Some(scheduled) = due.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let (operation, done) = (operation.clone(), done.clone());
        sequence += 1;
        let client = sequence;
        tokio::spawn(async move {
            let lag = scheduled.elapsed();
            let result = operation.once(client).await;
            let _ = done.send((result, scheduled, lag, scheduled.elapsed(), scheduled >= from));
            drop(slot);
        });
    }
    drop(done);
    let mut tally = Tally::default();
    while let Some((result, scheduled, lag, took, measured)) = results.recv().await {
        tally.record(result, scheduled, lag, took, measured);
    }
    vec![tally]
}
