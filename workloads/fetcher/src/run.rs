//! One run: fetch every page (retrying each page on its own, resuming where it broke; with page or offset
//! paging the next page is requested while the current one is read), check the items, deliver them in
//! batches while the next ones are read, then commit — or fail with a class and a reason, in which case
//! the caller aborts the sink.

use std::{
    collections::VecDeque,
    sync::{atomic::Ordering, Arc},
};

use microfleet_crds::{
    clusterfetch::{Format, HttpMethod, Source},
    contract::{FailureClass, RECEIVER_MAY_HOLD_LIST},
};
use reqwest::{Client, Url};
use tokio::sync::mpsc;

use crate::{
    checks::ItemChecks,
    pagination::{PageInfo, Paginator},
    parse::{value::Scanned, ItemSink, PageParser, ParseError, Stop},
    plan::{Auth, RunPlan},
    progress::Stats,
    retry::{self, Delays, Fault, Policy},
    sink::{http::CommitError, Batch, BodyPool, Sink},
};

/// Batches waiting for the sink while the next ones are parsed (bounds memory).
const BATCHES_IN_FLIGHT: usize = 2;

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class:?}: {message}")]
pub struct RunFailure {
    /// What kind of failure.
    pub class: FailureClass,
    /// Why, in one line (no secrets, no URLs with credentials).
    pub message: String,
}

impl RunFailure {
    fn new(class: FailureClass, message: impl Into<String>) -> RunFailure {
        RunFailure { class, message: message.into() }
    }
}

/// Runs `plan` into `sink`, counting in `stats`. Returns the items committed. On failure the caller
/// aborts the sink (through [`Sink::aborter`], taken before the call).
pub async fn run(plan: &RunPlan, client: &Client, mut sink: Sink, stats: Arc<Stats>) -> Result<u64, RunFailure> {
    sink.begin().await.map_err(|fault| RunFailure::new(FailureClass::Sink, fault.to_string()))?;
    let policy = Policy::from_spec(&plan.plan.retry);
    let checks = ItemChecks::new(&plan.plan.checks, plan.last_success_items);
    let batch_size =
        plan.plan.sink.http.as_ref().map_or(1000, |h| usize::try_from(h.batch_size).unwrap_or(1000)).max(1);
    let max_item_bytes = usize::try_from(plan.plan.checks.max_item_bytes).unwrap_or(1_048_576);
    let (tx, rx) = mpsc::channel::<Batch>(BATCHES_IN_FLIGHT);
    // delivery runs as its own task, so it overlaps with fetching and parsing on another core
    let mut delivery = Task(Some(tokio::spawn(deliver(sink, rx, stats.clone()))));

    let mut collector = Collector::new(checks.clone(), max_item_bytes, batch_size, stats.clone());
    let origin = Origin { source: &plan.plan.source, auth: &plan.source_auth, client };
    let fetched = fetch_all(&origin, policy, &mut collector, &tx).await;
    let fetched = match fetched {
        Ok(total) => match collector.flush() {
            Some(batch) => tx.send(batch).await.map(|_| total).map_err(|_| None),
            None => Ok(total),
        },
        Err(failure) => Err(Some(failure)),
    };
    drop(tx);
    let (mut sink, delivered) = delivery.join().await?;
    delivered?;
    let total = match fetched {
        Ok(total) => total,
        Err(Some(failure)) => return Err(failure),
        Err(None) => return Err(RunFailure::new(FailureClass::Internal, "the sink stopped taking batches")),
    };
    checks.total(collector.items).map_err(|m| RunFailure::new(FailureClass::Checks, m))?;
    if let Some(stated) = total.iter().find(|stated| stated.items != collector.items) {
        let message = format!(
            "the source says the list has {} items ({}), but {} were fetched",
            stated.items, stated.from, collector.items
        );
        return Err(RunFailure::new(FailureClass::Checks, message));
    }
    sink.commit(collector.items, collector.seq).await.map_err(|error| match error {
        CommitError::Refused(fault) => RunFailure::new(FailureClass::Sink, fault.to_string()),
        CommitError::Unknown(fault) => RunFailure::new(
            FailureClass::CommitUnknown,
            format!("{fault}; the commit's outcome is unknown: {RECEIVER_MAY_HOLD_LIST}"),
        ),
    })?;
    Ok(collector.items)
}

/// Sends every batch from `rx`, in order; stops at the first failure. Gives the sink back.
async fn deliver(mut sink: Sink, mut rx: mpsc::Receiver<Batch>, stats: Arc<Stats>) -> (Sink, Result<(), RunFailure>) {
    while let Some(batch) = rx.recv().await {
        let items = batch.len() as u64;
        if let Err(fault) = sink.send(batch).await {
            // closing the channel stops the producer at its next batch
            rx.close();
            return (sink, Err(RunFailure::new(FailureClass::Sink, fault.to_string())));
        }
        stats.delivered.fetch_add(items, Ordering::Relaxed);
    }
    (sink, Ok(()))
}

/// A spawned task that is stopped when its owner is dropped (e.g. when SIGTERM ends the run).
struct Task<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Task<T> {
    async fn join(&mut self) -> Result<T, RunFailure> {
        let handle = self.0.take().ok_or_else(|| RunFailure::new(FailureClass::Internal, "task joined twice"))?;
        handle.await.map_err(|e| RunFailure::new(FailureClass::Internal, format!("a background task failed: {e}")))
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

/// Receives parsed items: checks them, batches them, and resumes a retried page after the items it already took.
struct Collector {
    checks: ItemChecks,
    max_item_bytes: usize,
    batch_size: usize,
    stats: Arc<Stats>,
    pool: BodyPool,
    current: Batch,
    ready: VecDeque<Batch>,
    items: u64,
    seq: u64,
    /// Items of the current page already taken in earlier attempts.
    page_taken: u64,
    /// Items of the current page seen in this attempt.
    page_seen: u64,
    /// Items not yet counted in `stats`.
    unreported: u64,
    failure: Option<RunFailure>,
}

impl Collector {
    fn new(checks: ItemChecks, max_item_bytes: usize, batch_size: usize, stats: Arc<Stats>) -> Collector {
        let pool = BodyPool::default();
        Collector {
            checks,
            max_item_bytes,
            batch_size,
            stats,
            current: Batch::new(0, &pool, 64 * 1024),
            pool,
            ready: VecDeque::new(),
            items: 0,
            seq: 0,
            page_taken: 0,
            page_seen: 0,
            unreported: 0,
            failure: None,
        }
    }

    fn start_page(&mut self) {
        self.page_taken = 0;
        self.page_seen = 0;
    }

    fn start_attempt(&mut self) {
        self.page_seen = 0;
    }

    /// Adds the items taken since the last call to the progress counters.
    fn report(&mut self) {
        self.stats.items.fetch_add(std::mem::take(&mut self.unreported), Ordering::Relaxed);
    }

    fn flush(&mut self) -> Option<Batch> {
        if self.current.is_empty() {
            return None;
        }
        let capacity = self.current.body.len();
        let mut batch = std::mem::replace(&mut self.current, Batch::new(self.seq + 1, &self.pool, capacity));
        batch.seal();
        self.seq += 1;
        Some(batch)
    }
}

impl ItemSink for Collector {
    fn item(&mut self, raw: &[u8], scanned: Scanned) -> Result<(), Stop> {
        self.page_seen += 1;
        if self.page_seen <= self.page_taken {
            return Ok(()); // delivered by an earlier attempt at this page
        }
        if let Err(message) = self.checks.item(&scanned, self.items + 1) {
            self.failure = Some(RunFailure::new(FailureClass::Checks, message));
            return Err(Stop);
        }
        self.page_taken += 1;
        self.items += 1;
        self.unreported += 1;
        self.current.push(raw, scanned.line_break);
        if self.current.len() >= self.batch_size {
            if let Some(batch) = self.flush() {
                self.ready.push_back(batch);
            }
        }
        Ok(())
    }
}

/// A failed page attempt.
enum PageFault {
    /// The HTTP exchange or the body failed.
    Http(Fault),
    /// A check failed or an item was refused.
    Run(RunFailure),
    /// The sink went away (its own error is reported).
    SinkGone,
}

/// A request for the page after the one being read, sent ahead so that its round trip overlaps reading
/// the current page. Only where the next URL is known in advance (page and offset paging) and only for
/// GET, which is safe to send speculatively: after the last page it is dropped unread. Its response
/// waits, unread, in the connection until its page's turn (its total timeout runs from when it was sent).
struct Ahead {
    url: Url,
    response: Task<Result<reqwest::Response, Fault>>,
}

/// Where the pages come from: the source, its credentials and the client.
struct Origin<'a> {
    source: &'a Source,
    auth: &'a Auth,
    client: &'a Client,
}

impl Origin<'_> {
    /// The request for the page at `url`.
    fn request(&self, url: &Url) -> reqwest::RequestBuilder {
        let mut request = match self.source.method {
            HttpMethod::Get => self.client.get(url.clone()),
            HttpMethod::Post => self.client.post(url.clone()).body(self.source.body.clone().unwrap_or_default()),
        };
        for header in &self.source.headers {
            request = request.header(&header.name, &header.value);
        }
        self.auth.apply(request)
    }

    /// What a request for `url` is called in messages (no query: it may hold tokens).
    fn what(&self, url: &Url) -> String {
        format!("{} {}", method_name(self.source.method), url.path())
    }

    /// Sends the request for `url` ahead.
    fn send_ahead(&self, url: Url) -> Ahead {
        let (request, what) = (self.request(&url), self.what(&url));
        let response = Task(Some(tokio::spawn(async move { retry::send_checked(request, &what).await })));
        Ahead { url, response }
    }
}

/// The list's item count as the source states it (in its first page).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatedTotal {
    items: u64,
    /// Where it was read, e.g. `header X-Total-Count`.
    from: String,
}

/// The totals the first page states, as the spec asks for them (`source.totalPath`, `source.totalHeader`).
fn stated_totals(
    source: &Source,
    body: Option<serde_json::Value>,
    header: Option<String>,
) -> Result<Vec<StatedTotal>, RunFailure> {
    let wanted = [
        source.total_path.as_ref().map(|p| (format!("{p} in the first page"), "spec.source.totalPath", body)),
        source
            .total_header
            .as_ref()
            .map(|h| (format!("header {h}"), "spec.source.totalHeader", header.map(serde_json::Value::String))),
    ];
    wanted
        .into_iter()
        .flatten()
        .map(|(from, field, value)| {
            let items = match &value {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            match (items, value) {
                (Some(items), _) => Ok(StatedTotal { items, from }),
                (None, None) => Err(format!("no total at {from}: check {field}")),
                (None, Some(other)) => Err(format!("the total at {from} is {other}, not an item count: check {field}")),
            }
        })
        .collect::<Result<_, String>>()
        .map_err(|message| RunFailure::new(FailureClass::Source, message))
}

/// Fetches every page into `collector`; returns the totals the first page stated, if the spec asks.
async fn fetch_all(
    origin: &Origin<'_>,
    policy: Policy,
    collector: &mut Collector,
    tx: &mpsc::Sender<Batch>,
) -> Result<Vec<StatedTotal>, RunFailure> {
    let source = origin.source;
    let base =
        Url::parse(&source.url).map_err(|_| RunFailure::new(FailureClass::Config, "spec.source.url is not a URL"))?;
    if source.total_path.is_some() && source.format != Format::Json {
        return Err(RunFailure::new(FailureClass::Config, "spec.source.totalPath needs format json: use totalHeader"));
    }
    let mut totals = Vec::new();
    let cursor_path = source.pagination.as_ref().and_then(|p| p.cursor_path.clone());
    let mut paginator = Paginator::new(base, source.pagination.clone());
    let mut url = paginator.first();
    let mut ahead: Option<Ahead> = None;
    loop {
        collector.start_page();
        // the request sent ahead for this page, if any, is its first attempt
        let mut early = ahead.take().filter(|a| a.url == url).map(|a| a.response);
        if source.method == HttpMethod::Get {
            ahead = paginator.following().map(|next| origin.send_ahead(next));
        }
        let mut delays = Delays::new(policy);
        let page_number = paginator.pages() + 1;
        let first = page_number == 1;
        let (info, body_total, header_total) = loop {
            collector.start_attempt();
            match fetch_page(origin, &url, cursor_path.as_deref(), first, early.take(), collector, tx).await {
                Ok(fetched) => break fetched,
                Err(PageFault::Http(fault)) => match delays.after(&fault) {
                    Some(wait) => {
                        collector.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(page = page_number, error = %fault, retry_in_ms = wait.as_millis() as u64, taken = collector.page_taken, "page failed; retrying it");
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        let attempts = delays.attempts();
                        return Err(RunFailure::new(
                            FailureClass::Source,
                            format!("page {page_number}: {fault} (after {attempts} attempt(s))"),
                        ));
                    }
                },
                Err(PageFault::Run(failure)) => return Err(failure),
                Err(PageFault::SinkGone) => return Err(RunFailure::new(FailureClass::Sink, "the sink failed")),
            }
        };
        collector.stats.pages.fetch_add(1, Ordering::Relaxed);
        if first {
            totals = stated_totals(source, body_total, header_total)?;
        }
        match paginator.next(&url, &info) {
            Ok(Some(next)) => url = next,
            Ok(None) => return Ok(totals),
            Err(error) => return Err(RunFailure::new(FailureClass::Source, error.to_string())),
        }
    }
}

/// Reads one page (its response comes from `early` when it was requested ahead), handing its items to
/// `collector` and its full batches to the sink. Of the `first` page, also the total in its body and in
/// its header, as the spec asks.
async fn fetch_page(
    origin: &Origin<'_>,
    url: &Url,
    cursor_path: Option<&str>,
    first: bool,
    early: Option<Task<Result<reqwest::Response, Fault>>>,
    collector: &mut Collector,
    tx: &mpsc::Sender<Batch>,
) -> Result<(PageInfo, Option<serde_json::Value>, Option<String>), PageFault> {
    let what = origin.what(url);
    collector.stats.requests.fetch_add(1, Ordering::Relaxed);
    let sent = match early {
        Some(mut task) => task.join().await.unwrap_or_else(|failure| Err(Fault::transient(failure.message))),
        None => retry::send_checked(origin.request(url), &what).await,
    };
    let mut response = sent.map_err(PageFault::Http)?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let link = header(reqwest::header::LINK.as_str());
    let header_total = origin.source.total_header.as_deref().filter(|_| first).and_then(header);
    let mut parser = PageParser::new(
        origin.source.format,
        origin.source.item_path.as_deref(),
        cursor_path,
        collector.max_item_bytes,
        collector.checks.scanner(),
    )
    .with_total(origin.source.total_path.as_deref().filter(|_| first));
    let parse_fault = |error: ParseError, collector: &mut Collector| -> PageFault {
        match error {
            ParseError::Stopped => PageFault::Run(
                collector.failure.take().unwrap_or_else(|| RunFailure::new(FailureClass::Internal, "stopped")),
            ),
            ParseError::Truncated => PageFault::Http(Fault::transient(format!("{what}: {error}"))),
            ParseError::ItemTooLarge { .. } => {
                PageFault::Run(RunFailure::new(FailureClass::Checks, format!("{what}: {error}")))
            }
            other => PageFault::Http(Fault::permanent(format!("{what}: {other}"))),
        }
    };
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(PageFault::Http(retry::classify_error(&e, &what))),
        };
        collector.stats.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let fed = parser.feed(&chunk, collector);
        collector.report();
        if let Err(error) = fed {
            return Err(parse_fault(error, collector));
        }
        while let Some(batch) = collector.ready.pop_front() {
            tx.send(batch).await.map_err(|_| PageFault::SinkGone)?;
        }
    }
    let end = parser.finish(collector);
    collector.report();
    let end = end.map_err(|e| parse_fault(e, collector))?;
    while let Some(batch) = collector.ready.pop_front() {
        tx.send(batch).await.map_err(|_| PageFault::SinkGone)?;
    }
    Ok((PageInfo { items: end.items, cursor: end.cursor, link }, end.total, header_total))
}

fn method_name(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    }
}
