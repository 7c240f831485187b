//! The clients of the chaos test: the set-up (a merchant, events with areas of limited capacity, their gates)
//! and the workload — concurrent customers placing and paying orders, gate devices scanning the tickets —
//! through the services' HTTP APIs, each request retried until answered while a process is down. One
//! function per kind of operation (`place_order`, `pay_order`, `scan_ticket`; a refund can join them).
//! It records what the clients saw in the [`Ledger`] and what contradicts the rules a client can see;
//! the databases are checked by `invariants`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Mutex};

use crate::cluster::Endpoints;
use crate::rng::Rng;

/// Orders placed in all (by every customer together); `CHAOS_ORDERS` sets another number (a shorter run
/// while developing).
pub const ORDERS: usize = 1_200;
/// Concurrent customers.
pub const CUSTOMERS: usize = 8;
/// Concurrent gate devices' scanners.
pub const SCANNERS: usize = 4;
/// Share of placed orders that get paid, in percent.
pub const PAY_PERCENT: u64 = 85;
/// Share of paid orders whose tickets are scanned, in percent.
pub const SCAN_PERCENT: u64 = 70;
/// The areas of each event: capacities (seats), 1,800 in all for about 2,400 seats asked, so that some
/// areas sell out.
pub const CAPACITIES: [[i32; 2]; 3] = [[120, 240], [360, 180], [480, 420]];
/// How long a request is re-sent while its service does not answer (down, or its database is).
const ANSWER_WITHIN: Duration = Duration::from_secs(150);
/// How long a scanner waits for a paid ticket's access to be prepared before it skips the ticket.
const ACCESS_WITHIN: Duration = Duration::from_secs(120);

/// An event of the set-up with its areas and its two gates (each admits every area).
#[derive(Debug, Clone)]
pub struct EventPlan {
    /// The ticketing service's event id (the gate-acl service uses the same).
    pub id: i64,
    /// Its area ids.
    pub areas: Vec<i64>,
    /// Its gates' ids.
    pub gates: [i64; 2],
}

/// An order a customer saw placed.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    /// Its number.
    pub number: String,
    /// The customer's reference (`clientReference`).
    pub reference: String,
    /// Seats bought.
    pub quantity: i64,
    /// Whether the customer saw it paid.
    pub paid: bool,
    /// Its tickets' ids, once paid.
    pub tickets: Vec<String>,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Every order a customer saw placed.
    pub orders: Vec<PlacedOrder>,
    /// Orders refused because an area had too few seats left.
    pub sold_out: u64,
    /// Orders answered as placed before (`200`: the first answer was lost and the order re-sent).
    pub replayed_orders: u64,
    /// Payments found done when re-sent (the first answer was lost).
    pub replayed_payments: u64,
    /// Distinct scans answered (device, nonce).
    pub scans: u64,
    /// Scans sent again on purpose with the same nonce.
    pub resent_scans: u64,
    /// Tickets not scanned because their access was not prepared in time during the workload.
    pub skipped_tickets: u64,
    /// Requests re-sent because no answer or a 5xx came.
    pub retries: u64,
    /// What contradicted a rule the client can see.
    pub violations: Vec<String>,
}

/// The services' HTTP APIs, with retries.
pub struct Api {
    http: reqwest::Client,
    endpoints: Endpoints,
}

impl Api {
    /// A client of `endpoints`.
    pub fn new(endpoints: Endpoints) -> Api {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build();
        Api { http: http.unwrap_or_else(|e| panic!("{e}")), endpoints }
    }

    /// Sends until answered (no transport error, no 5xx): (status, JSON body, re-sends); an error after
    /// [`ANSWER_WITHIN`].
    async fn call(
        &self,
        method: Method,
        url: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value, u64), String> {
        let started = Instant::now();
        let mut resent = 0;
        loop {
            let mut request = self.http.request(method.clone(), url).bearer_auth(key);
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = match request.send().await {
                Ok(response) if response.status().is_server_error() => format!("{}", response.status()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.json::<Value>().await.unwrap_or(Value::Null);
                    return Ok((status, body, resent));
                }
                Err(error) => error.to_string(),
            };
            if started.elapsed() > ANSWER_WITHIN {
                return Err(format!("{method} {url}: no answer within {ANSWER_WITHIN:?} (last: {last})"));
            }
            resent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn ticketing(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value, u64), String> {
        self.call(method, &format!("{}{path}", self.endpoints.ticketing), &self.endpoints.back_office_key, body).await
    }

    /// A call of the gate-acl service by the back office.
    async fn gate(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value, u64), String> {
        self.call(method, &format!("{}{path}", self.endpoints.gate), &self.endpoints.back_office_key, body).await
    }

    /// A call of the gate-acl service by a gate device.
    async fn gate_device(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value, u64), String> {
        self.call(method, &format!("{}{path}", self.endpoints.gate), &self.endpoints.gate_device_key, body).await
    }
}

/// Expects `status`; the body otherwise, in a panic (set-up only).
fn expect(answer: Result<(u16, Value, u64), String>, status: u16, what: &str) -> Value {
    match answer {
        Ok((got, body, _)) if got == status => body,
        Ok((got, body, _)) => panic!("{what}: {got} {body}"),
        Err(error) => panic!("{what}: {error}"),
    }
}

/// A merchant, [`CAPACITIES`]' events (running now, on sale), approved; and, once the gate-acl service
/// learned each event through the saga, two gates per event.
pub async fn setup(api: &Api) -> Vec<EventPlan> {
    let merchant = expect(
        api.ticketing(Method::POST, "/v1/merchants", Some(&json!({"name": "Chaos Promotor"}))).await,
        201,
        "merchant",
    );
    let now = Timestamp::now();
    let at = |hours: i64| (now + SignedDuration::from_hours(hours)).to_string();
    let mut plan = Vec::new();
    for (index, capacities) in CAPACITIES.iter().enumerate() {
        let areas: Vec<Value> = capacities
            .iter()
            .enumerate()
            .map(|(area, capacity)| json!({"name": format!("Area {area}"), "capacity": capacity, "price": 100_000}))
            .collect();
        let new = json!({
            "merchantId": merchant["id"], "name": format!("Chaos Festival {index}"), "venue": "Jakarta",
            "startsAt": at(-1), "endsAt": at(24), "saleStartsAt": at(-2), "saleEndsAt": at(20), "areas": areas,
        });
        let event = expect(api.ticketing(Method::POST, "/v1/events", Some(&new)).await, 201, "event");
        let id = event["id"].as_i64().unwrap_or_else(|| panic!("event id in {event}"));
        expect(api.ticketing(Method::POST, &format!("/v1/events/{id}/approve"), None).await, 200, "approve");
        let areas: Vec<i64> =
            event["areas"].as_array().into_iter().flatten().filter_map(|area| area["id"].as_i64()).collect();
        plan.push(EventPlan { id, areas, gates: [0, 0] });
    }
    for event in &mut plan {
        let started = Instant::now();
        while api.gate(Method::GET, &format!("/v1/events/{}", event.id), None).await.map(|a| a.0) != Ok(200) {
            assert!(started.elapsed() < Duration::from_secs(60), "gate-acl never learned event {}", event.id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for (index, name) in ["Gate A", "Gate B"].into_iter().enumerate() {
            let new = json!({"eventId": event.id, "name": name, "areaIds": event.areas});
            let gate = expect(api.gate(Method::POST, "/v1/gates", Some(&new)).await, 201, "gate");
            event.gates[index] = gate["id"].as_i64().unwrap_or_else(|| panic!("gate id in {gate}"));
        }
    }
    plan
}

/// A ticket to scan, and how.
#[derive(Debug, Clone)]
struct ScanJob {
    ticket: String,
    gates: [i64; 2],
    kind: ScanKind,
}

/// The scan patterns of the workload.
#[derive(Debug, Clone, Copy)]
enum ScanKind {
    /// An entry, then the same scan re-sent (same device and nonce): the same answer, counted once.
    EntryResent,
    /// Two entries at the same time at the two gates: exactly one is allowed.
    RaceAtTwoGates,
    /// Entry, exit, entry again: the second entry is refused (no re-entry at these events).
    Reentry,
}

/// Runs the workload to its end: [`CUSTOMERS`] customers place [`ORDERS`] orders and pay most; [`SCANNERS`]
/// gate devices scan the paid tickets meanwhile. `customers_done` turns true once the last order is placed
/// and paid (the scanners may still be at work).
pub async fn run(
    api: Arc<Api>,
    plan: Arc<Vec<EventPlan>>,
    mut rng: Rng,
    customers_done: watch::Sender<bool>,
) -> Ledger {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (jobs, queue) = mpsc::unbounded_channel();
    let queue = Arc::new(Mutex::new(queue));
    let (mut customers, mut scanners) = (Vec::new(), Vec::new());
    for customer in 0..CUSTOMERS {
        let (api, plan, ledger, jobs, rng) =
            (api.clone(), plan.clone(), ledger.clone(), jobs.clone(), rng.fork(customer as u64));
        customers.push(tokio::spawn(customer_task(api, plan, ledger, jobs, rng, customer)));
    }
    drop(jobs);
    for scanner in 0..SCANNERS {
        let (api, ledger, queue) = (api.clone(), ledger.clone(), queue.clone());
        scanners.push(tokio::spawn(scanner_task(api, ledger, queue, scanner)));
    }
    for (index, task) in customers.into_iter().chain(scanners).enumerate() {
        if let Err(error) = task.await {
            ledger.lock().await.violations.push(format!("a client task failed: {error}"));
        }
        if index + 1 == CUSTOMERS {
            let _ = customers_done.send(true);
        }
    }
    let mut ledger = ledger.lock().await;
    std::mem::take(&mut *ledger)
}

async fn customer_task(
    api: Arc<Api>,
    plan: Arc<Vec<EventPlan>>,
    ledger: Arc<Mutex<Ledger>>,
    jobs: mpsc::UnboundedSender<ScanJob>,
    mut rng: Rng,
    customer: usize,
) {
    let all = std::env::var("CHAOS_ORDERS").ok().and_then(|orders| orders.parse().ok()).unwrap_or(ORDERS);
    let orders = all / CUSTOMERS + usize::from(customer < all % CUSTOMERS);
    for n in 0..orders {
        let event = &plan[rng.range(0..plan.len() as u64) as usize];
        let area = event.areas[rng.range(0..event.areas.len() as u64) as usize];
        let quantity = rng.range(1..4) as i64;
        let reference = format!("chaos-{customer}-{n}");
        let Some((mut order, total)) = place_order(&api, &ledger, event.id, area, quantity, reference).await else {
            continue;
        };
        if rng.chance(PAY_PERCENT) {
            pay_order(&api, &ledger, &mut order, total).await;
        }
        if order.paid && rng.chance(SCAN_PERCENT) {
            for ticket in &order.tickets {
                let kind = match rng.range(0..100) {
                    0..60 => ScanKind::EntryResent,
                    60..85 => ScanKind::RaceAtTwoGates,
                    _ => ScanKind::Reentry,
                };
                let _ = jobs.send(ScanJob { ticket: ticket.clone(), gates: event.gates, kind });
            }
        }
        ledger.lock().await.orders.push(order);
    }
}

/// Places an order with the customer's reference, re-sent until answered: the order and its total, or
/// `None` when an area was sold out (or the answer broke a rule: recorded).
async fn place_order(
    api: &Api,
    ledger: &Mutex<Ledger>,
    event: i64,
    area: i64,
    quantity: i64,
    reference: String,
) -> Option<(PlacedOrder, i64)> {
    let body = json!({
        "eventId": event, "paymentMethod": "CASH", "customerEmail": "fan@example.com", "clientReference": reference,
        "items": [{"areaId": area, "quantity": quantity}],
    });
    let answer = api.ticketing(Method::POST, "/v1/orders", Some(&body)).await;
    let mut ledger = ledger.lock().await;
    match answer {
        Ok((status @ (200 | 201), order, resent)) => {
            ledger.retries += resent;
            ledger.replayed_orders += u64::from(status == 200);
            let (Some(number), Some(total)) = (order["number"].as_str(), order["totalPrice"].as_i64()) else {
                ledger.violations.push(format!("order {reference}: no number or total in {order}"));
                return None;
            };
            if order["clientReference"].as_str() != Some(reference.as_str()) {
                ledger.violations.push(format!("order {reference}: answered with another order: {order}"));
            }
            let placed =
                PlacedOrder { number: number.to_string(), reference, quantity, paid: false, tickets: Vec::new() };
            Some((placed, total))
        }
        Ok((409, refusal, resent)) if refusal["field"].as_str().is_some_and(|field| field.starts_with("items")) => {
            ledger.retries += resent;
            ledger.sold_out += 1;
            None
        }
        Ok((status, body, _)) => {
            ledger.violations.push(format!("order {reference}: {status} {body}"));
            None
        }
        Err(error) => {
            ledger.violations.push(format!("order {reference}: {error}"));
            None
        }
    }
}

/// Pays an order its total, re-sent until answered; a payment refused as done already (the first answer
/// was lost) is confirmed by reading the order.
async fn pay_order(api: &Api, ledger: &Mutex<Ledger>, order: &mut PlacedOrder, total: i64) {
    let path = format!("/v1/orders/{}/payment", order.number);
    let answer = api.ticketing(Method::POST, &path, Some(&json!({"amount": total}))).await;
    let (paid, replayed) = match answer {
        Ok((200, paid, resent)) => {
            ledger.lock().await.retries += resent;
            (paid, false)
        }
        Ok((409, refusal, resent)) if refusal["field"] == "orderNumber" => {
            ledger.lock().await.retries += resent;
            match api.ticketing(Method::GET, &format!("/v1/orders/{}", order.number), None).await {
                Ok((200, current, _)) if current["state"] == "paid" => (current, true),
                other => {
                    let problem = format!("payment of {}: refused ({refusal}) but not paid: {other:?}", order.number);
                    ledger.lock().await.violations.push(problem);
                    return;
                }
            }
        }
        other => {
            ledger.lock().await.violations.push(format!("payment of {}: {other:?}", order.number));
            return;
        }
    };
    let tickets: Vec<String> = paid["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ticket| ticket["id"].as_str().map(String::from))
        .collect();
    let mut ledger = ledger.lock().await;
    ledger.replayed_payments += u64::from(replayed);
    if tickets.len() as i64 != order.quantity {
        ledger.violations.push(format!(
            "order {}: {} tickets for {} seats",
            order.number,
            tickets.len(),
            order.quantity
        ));
    }
    order.paid = true;
    order.tickets = tickets;
}

async fn scanner_task(
    api: Arc<Api>,
    ledger: Arc<Mutex<Ledger>>,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<ScanJob>>>,
    scanner: usize,
) {
    loop {
        let job = queue.lock().await.recv().await;
        let Some(job) = job else { return };
        scan_ticket(&api, &ledger, &job, scanner).await;
    }
}

/// The ticket's QR code once its access is prepared (the saga's work), or `None` after [`ACCESS_WITHIN`].
async fn qr_code(api: &Api, ticket: &str) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < ACCESS_WITHIN {
        if let Ok((200, access, _)) = api.gate(Method::GET, &format!("/v1/access/{ticket}"), None).await {
            return access["qr"].as_str().map(String::from);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    None
}

/// A gate device's answer: `result/reason`, the whole answer and how often it was re-sent; or what went wrong.
type ScanAnswer = Result<(String, Value, u64), String>;

/// Scans a ticket as its job says and checks each answer a gate device can check.
async fn scan_ticket(api: &Api, ledger: &Mutex<Ledger>, job: &ScanJob, scanner: usize) {
    let Some(qr) = qr_code(api, &job.ticket).await else {
        ledger.lock().await.skipped_tickets += 1;
        return;
    };
    let scan = |gate: usize, direction: &str, step: u32| {
        json!({
            "qr": qr, "gateId": job.gates[gate], "direction": direction,
            "deviceId": format!("gate-{gate}-device-{scanner}"), "nonce": format!("{}-{step}", job.ticket),
            "scannedAt": Timestamp::now().to_string(),
        })
    };
    let send = |body: Value| async move {
        match api.gate_device(Method::POST, "/v1/scans", Some(&body)).await {
            Ok((200, answer, resent)) => Ok((
                format!("{}/{}", answer["result"].as_str().unwrap_or("?"), answer["reason"].as_str().unwrap_or("?")),
                answer,
                resent,
            )),
            other => Err(format!("scan {body}: {other:?}")),
        }
    };
    let (expected, answers): (&[&str], Vec<ScanAnswer>) = match job.kind {
        ScanKind::EntryResent => {
            let entry = scan(0, "entry", 0);
            let first = send(entry.clone()).await;
            let again = send(entry).await;
            if let (Ok((_, first, _)), Ok((_, again, _))) = (&first, &again) {
                if first != again {
                    ledger
                        .lock()
                        .await
                        .violations
                        .push(format!("ticket {}: a re-sent scan got {again}, first {first}", job.ticket));
                }
            }
            ledger.lock().await.resent_scans += 1;
            (&["allow/ok"], vec![first])
        }
        ScanKind::RaceAtTwoGates => {
            let (a, b) = tokio::join!(send(scan(0, "entry", 0)), send(scan(1, "entry", 1)));
            let mut pair = [a, b];
            // whichever won, one allowed and one refused as inside
            pair.sort_by_key(|answer| answer.as_ref().map(|(outcome, _, _)| outcome.clone()).unwrap_or_default());
            (&["allow/ok", "deny/already_inside"], pair.into_iter().collect())
        }
        ScanKind::Reentry => {
            let entry = send(scan(0, "entry", 0)).await;
            let exit = send(scan(1, "exit", 1)).await;
            let again = send(scan(0, "entry", 2)).await;
            (&["allow/ok", "allow/ok", "deny/reentry_not_allowed"], vec![entry, exit, again])
        }
    };
    let mut ledger = ledger.lock().await;
    let mut outcomes = Vec::new();
    for answer in answers {
        match answer {
            Ok((outcome, _, resent)) => {
                ledger.scans += 1;
                ledger.retries += resent;
                outcomes.push(outcome);
            }
            Err(error) => ledger.violations.push(format!("ticket {}: {error}", job.ticket)),
        }
    }
    if outcomes != expected {
        ledger.violations.push(format!(
            "ticket {} ({:?}): scans answered {outcomes:?}, expected {expected:?}",
            job.ticket, job.kind
        ));
    }
}
