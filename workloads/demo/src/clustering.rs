//! The sample clustering service: `GET /v1/users` serves a deterministic list of promo-eligible users in
//! pages, in JSON, NDJSON or CSV, optionally with the list's total (a header or a body field), and can be
//! told to fail the ways real services fail.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Deserialize;

/// How the service pages its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum Paging {
    /// `?cursor=&limit=`, next cursor in `next_cursor`.
    Cursor,
    /// `?page=&limit=` (from 1).
    Page,
    /// `?offset=&limit=`.
    Offset,
    /// `Link: <…>; rel="next"`.
    Link,
    /// The whole list in one (streamed) response.
    None,
}

/// Body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum Format {
    /// `{"users":[…],"next_cursor":…}`.
    Json,
    /// One user per line.
    Ndjson,
    /// `user_id,cluster,score` with a header row.
    Csv,
}

/// One way to misbehave, on one page (0-based), a number of times.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given); page `u64::MAX` means every page.
    Status { page: u64, status: u16, retry_after: Option<u64>, times: u32 },
    /// Send this many body bytes, then break the connection.
    ResetAfter { page: u64, bytes: usize, times: u32 },
    /// Send a well-framed response whose document is cut after this many bytes.
    Truncate { page: u64, bytes: usize, times: u32 },
    /// Wait this long before answering.
    Delay { page: u64, delay: Duration, times: u32 },
    /// Answer 200 with a body that is not the format.
    Malformed { page: u64, times: u32 },
    /// Always point to the same next cursor / link (a pagination loop).
    LoopCursor,
    /// Redirect every request to this base URL (e.g. another host).
    RedirectTo(String),
    /// Make item number `index` (0-based, global) this many bytes long.
    OversizeItem { index: u64, bytes: usize },
    /// Put the items under this key instead of "users".
    ItemsKey(String),
    /// Serve at most this many items per page, whatever the request asks for, and say nothing (as
    /// PostgREST's max-rows or GitHub's 100 per page do).
    MaxPageSize(u64),
    /// Report a total this far off the real one.
    TotalOff(i64),
}

/// Where the service reports the whole list's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Total {
    /// Nowhere.
    #[default]
    None,
    /// In the `X-Total-Count` header of every page.
    Header,
    /// In a `"total"` field before the items of every JSON page.
    Body,
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many users the list holds.
    pub users: u64,
    /// Paging.
    pub paging: Paging,
    /// Format.
    pub format: Format,
    /// Page size when the request names none.
    pub default_limit: u64,
    /// Required bearer token, if any.
    pub bearer: Option<String>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
    /// Keep every page body once generated (benchmarks: serving then costs no generation).
    pub cache_pages: bool,
    /// Spread each JSON item over several lines, as a pretty-printing service does.
    pub pretty: bool,
    /// Where the list's total is reported.
    pub total: Total,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: 1000,
            paging: Paging::Cursor,
            format: Format::Json,
            default_limit: 1000,
            bearer: None,
            faults: Vec::new(),
            cache_pages: false,
            pretty: false,
            total: Total::None,
        }
    }
}

/// What the service saw: requests per page, and the Authorization headers it got.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Requests per page index.
    pub requests: HashMap<u64, u32>,
    /// Every Authorization header value received.
    pub authorizations: Vec<String>,
    /// Total requests.
    pub total: u64,
    /// The most requests ever being answered at once (a request counts until its response starts).
    pub max_concurrent: u64,
}

struct Shared {
    config: Config,
    seen: Mutex<Seen>,
    fired: Mutex<HashMap<usize, u32>>,
    cache: Mutex<HashMap<(u64, u64), Bytes>>,
    /// Requests being answered now.
    answering: AtomicU64,
}

/// Counts a request as being answered while it lives.
struct Answering<'a>(&'a Shared);

impl<'a> Answering<'a> {
    fn start(shared: &'a Shared) -> Answering<'a> {
        let now = shared.answering.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut seen) = shared.seen.lock() {
            seen.max_concurrent = seen.max_concurrent.max(now);
        }
        Answering(shared)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A handle on a running service's observations.
#[derive(Clone)]
pub struct Clustering(Arc<Shared>);

impl Clustering {
    /// What it saw so far.
    pub fn seen(&self) -> Seen {
        self.0.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The router of a service with `config`, and a handle on what it sees.
pub fn router(config: Config) -> (Router, Clustering) {
    let shared = Arc::new(Shared {
        config,
        seen: Mutex::default(),
        fired: Mutex::default(),
        cache: Mutex::default(),
        answering: AtomicU64::new(0),
    });
    let router = Router::new().route("/v1/users", get(users)).with_state(shared.clone());
    (router, Clustering(shared))
}

#[derive(Debug, Deserialize)]
struct Params {
    cursor: Option<String>,
    after: Option<String>,
    page: Option<u64>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// Appends user `i` to `out` in `format`.
pub fn write_user(out: &mut Vec<u8>, format: Format, i: u64, pad: usize) {
    let clusters = ["gold", "silver", "bronze", "new"];
    let cluster = clusters[(i % 4) as usize];
    let score = (i * 7919) % 1000;
    let mut buf = itoa::Buffer::new();
    match format {
        Format::Json | Format::Ndjson => {
            out.extend_from_slice(b"{\"user_id\":");
            out.extend_from_slice(buf.format(i).as_bytes());
            out.extend_from_slice(b",\"cluster\":\"");
            out.extend_from_slice(cluster.as_bytes());
            out.extend_from_slice(b"\",\"score\":0.");
            push_score(out, score);
            if pad > 0 {
                out.extend_from_slice(b",\"pad\":\"");
                out.resize(out.len() + pad, b'x');
                out.push(b'"');
            }
            out.push(b'}');
        }
        Format::Csv => {
            out.extend_from_slice(buf.format(i).as_bytes());
            out.push(b',');
            out.extend_from_slice(cluster.as_bytes());
            out.extend_from_slice(b",0.");
            push_score(out, score);
            out.push(b'\n');
        }
    }
}

/// Three digits, zero-padded.
fn push_score(out: &mut Vec<u8>, score: u64) {
    out.extend_from_slice(&[b'0' + (score / 100) as u8, b'0' + (score / 10 % 10) as u8, b'0' + (score % 10) as u8]);
}

impl Shared {
    /// Fires the first matching fault still due for `page`, counting it.
    fn fault_for(&self, page: u64) -> Option<Fault> {
        let mut fired = self.fired.lock().ok()?;
        for (i, fault) in self.config.faults.iter().enumerate() {
            let (p, times) = match fault {
                Fault::Status { page, times, .. }
                | Fault::ResetAfter { page, times, .. }
                | Fault::Truncate { page, times, .. }
                | Fault::Delay { page, times, .. }
                | Fault::Malformed { page, times } => (*page, *times),
                _ => continue,
            };
            let count = fired.entry(i).or_insert(0);
            if (p == page || p == u64::MAX) && *count < times {
                *count += 1;
                return Some(fault.clone());
            }
        }
        None
    }

    fn has(&self, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        self.config.faults.iter().find(|f| pick(f)).cloned()
    }
}

async fn users(State(shared): State<Arc<Shared>>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let _answering = Answering::start(&shared);
    let config = &shared.config;
    let limit = params.limit.unwrap_or(config.default_limit).max(1);
    let limit = match shared.has(|f| matches!(f, Fault::MaxPageSize(_))) {
        Some(Fault::MaxPageSize(cap)) => limit.min(cap.max(1)),
        _ => limit,
    };
    let start = match config.paging {
        Paging::Cursor => {
            params.cursor.as_deref().and_then(|c| c.strip_prefix("u").and_then(|n| n.parse().ok())).unwrap_or(0)
        }
        Paging::Link => params.after.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0),
        Paging::Page => params.page.unwrap_or(1).saturating_sub(1) * limit,
        Paging::Offset => params.offset.unwrap_or(0),
        Paging::None => 0,
    };
    let page = if config.paging == Paging::None { 0 } else { start / limit };
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Ok(mut seen) = shared.seen.lock() {
        *seen.requests.entry(page).or_insert(0) += 1;
        seen.total += 1;
        seen.authorizations.extend(auth.clone());
    }
    if let Some(Fault::RedirectTo(base)) = shared.has(|f| matches!(f, Fault::RedirectTo(_))) {
        return (StatusCode::FOUND, [(header::LOCATION, format!("{base}/v1/users"))]).into_response();
    }
    if let Some(token) = &config.bearer {
        if auth.as_deref() != Some(&format!("Bearer {token}")) {
            return (StatusCode::UNAUTHORIZED, "bad or missing bearer token").into_response();
        }
    }
    let fault = shared.fault_for(page);
    match &fault {
        Some(Fault::Status { status, retry_after, .. }) => {
            let mut response =
                (StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "injected failure")
                    .into_response();
            if let Some(seconds) = retry_after {
                if let Ok(value) = seconds.to_string().parse() {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            return response;
        }
        Some(Fault::Delay { delay, .. }) => tokio::time::sleep(*delay).await,
        Some(Fault::Malformed { .. }) => {
            let body = match config.format {
                Format::Json => "<html><body>502 Bad Gateway</body></html>",
                Format::Ndjson => "{\"user_id\":1}\n{\"user_id\":\n",
                Format::Csv => "user_id,cluster,score\n1,gold,0.5,extra\n",
            };
            return (StatusCode::OK, body).into_response();
        }
        _ => {}
    }
    let end = if config.paging == Paging::None { config.users } else { (start + limit).min(config.users) };
    let more = end < config.users;
    let looping = shared.has(|f| matches!(f, Fault::LoopCursor)).is_some();
    let oversize = shared.has(|f| matches!(f, Fault::OversizeItem { .. }));
    let items_key = match shared.has(|f| matches!(f, Fault::ItemsKey(_))) {
        Some(Fault::ItemsKey(k)) => k,
        _ => "users".to_string(),
    };
    let next = if looping { Some(limit) } else { more.then_some(end) };

    let mut response_headers = HeaderMap::new();
    let content_type = match config.format {
        Format::Json => "application/json",
        Format::Ndjson => "application/x-ndjson",
        Format::Csv => "text/csv",
    };
    response_headers
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap_or(header::HeaderValue::from_static("text/plain")));
    if config.paging == Paging::Link {
        if let Some(n) = next {
            if let Ok(value) = format!("</v1/users?after={n}&limit={limit}>; rel=\"next\"").parse() {
                response_headers.insert(header::LINK, value);
            }
        }
    }
    let total = match shared.has(|f| matches!(f, Fault::TotalOff(_))) {
        Some(Fault::TotalOff(off)) => config.users.saturating_add_signed(off),
        _ => config.users,
    };
    if config.total == Total::Header {
        response_headers.insert("x-total-count", header::HeaderValue::from(total));
    }
    let json_head = match config.total {
        Total::Body => format!("{{\"total\":{total},\"{items_key}\":["),
        _ => format!("{{\"{items_key}\":["),
    };
    let format = config.format;
    let cursor_next = if config.paging == Paging::Cursor { next } else { None };
    let pad_for = move |i: u64| match &oversize {
        Some(Fault::OversizeItem { index, bytes }) if *index == i => *bytes,
        _ => 0,
    };
    // the body, generated in chunks of 1000 users so a huge unpaged list streams
    let pretty = config.pretty && format == Format::Json;
    let chunks = body_chunks(format, start, end, cursor_next, json_head, pad_for, pretty);
    let cut = match &fault {
        Some(Fault::ResetAfter { bytes, .. }) => Some((*bytes, true)),
        Some(Fault::Truncate { bytes, .. }) => Some((*bytes, false)),
        _ => None,
    };
    let cacheable = config.cache_pages && config.paging != Paging::None && fault.is_none();
    if cacheable {
        let key = (start, limit);
        let cached = shared.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        let body = match cached {
            Some(body) => body,
            None => {
                let body = Bytes::from(chunks.flat_map(|c| c.to_vec()).collect::<Vec<u8>>());
                if let Ok(mut cache) = shared.cache.lock() {
                    cache.insert(key, body.clone());
                }
                body
            }
        };
        return (StatusCode::OK, response_headers, Body::from(body)).into_response();
    }
    match cut {
        None => (StatusCode::OK, response_headers, Body::from_stream(futures_stream(chunks))).into_response(),
        Some((limit_bytes, reset)) => {
            let mut whole = Vec::new();
            for chunk in chunks {
                whole.extend_from_slice(&chunk);
                if whole.len() > limit_bytes {
                    break;
                }
            }
            whole.truncate(limit_bytes);
            if reset {
                let stream = async_stream_reset(Bytes::from(whole));
                (StatusCode::OK, response_headers, Body::from_stream(stream)).into_response()
            } else {
                (StatusCode::OK, response_headers, Body::from(whole)).into_response()
            }
        }
    }
}

/// The body of one response, lazily, in chunks; a JSON body opens with `json_head` (`{"users":[`).
fn body_chunks(
    format: Format,
    start: u64,
    end: u64,
    cursor_next: Option<u64>,
    json_head: String,
    pad_for: impl Fn(u64) -> usize + Send + 'static,
    pretty: bool,
) -> impl Iterator<Item = Bytes> + Send + 'static {
    const PER_CHUNK: u64 = 1000;
    let mut i = start;
    let mut state = 0u8; // 0 = head, 1 = items, 2 = tail, 3 = done
    std::iter::from_fn(move || {
        let mut out = Vec::with_capacity(64 * 1024);
        match state {
            0 => {
                state = 1;
                match format {
                    Format::Json => out.extend_from_slice(json_head.as_bytes()),
                    Format::Csv => out.extend_from_slice(b"user_id,cluster,score\n"),
                    Format::Ndjson => {}
                }
            }
            1 => {
                let stop = (i + PER_CHUNK).min(end);
                while i < stop {
                    if format == Format::Json && i > start {
                        out.push(b',');
                    }
                    let at = out.len();
                    write_user(&mut out, format, i, pad_for(i));
                    if pretty {
                        spread(&mut out, at);
                    }
                    if format == Format::Ndjson {
                        out.push(b'\n');
                    }
                    i += 1;
                }
                if i >= end {
                    state = 2;
                }
            }
            2 => {
                state = 3;
                if format == Format::Json {
                    match cursor_next {
                        Some(n) => out.extend_from_slice(format!("],\"next_cursor\":\"u{n}\"}}").as_bytes()),
                        None => out.extend_from_slice(b"],\"next_cursor\":null}"),
                    }
                }
            }
            _ => return None,
        }
        Some(Bytes::from(out))
    })
}

/// Spreads the user written from `at` over lines: `{\n  "user_id": 1,\r\n  …\n}` (its strings hold no
/// commas or braces).
fn spread(out: &mut Vec<u8>, at: usize) {
    let user = out.split_off(at);
    for (k, &b) in user.iter().enumerate() {
        match b {
            b'{' if k == 0 => out.extend_from_slice(b"{\n  "),
            b'}' if k == user.len() - 1 => out.extend_from_slice(b"\n}"),
            b',' => out.extend_from_slice(b",\r\n  "),
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
}

fn futures_stream(
    chunks: impl Iterator<Item = Bytes> + Send + 'static,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::iter(chunks.map(Ok))
}

/// Sends `head`, then fails the body so the server drops the connection mid-response.
fn async_stream_reset(head: Bytes) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures::stream::iter(vec![
        Ok(head),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset")),
    ])
}
