//! `ClusterFetch` spec: what to fetch, where to deliver it, when, and how to react to failure.
//!
//! Only types, defaults and admission rules (OpenAPI + CEL) live here; no I/O and no controller logic.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::ClusterFetchStatus;

/// A scheduled fetch of a list from one service over HTTP, delivered to another service, with
/// every run tracked in status and every failed run notified once.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "microfleet.io",
    version = "v1alpha1",
    kind = "ClusterFetch",
    plural = "clusterfetches",
    namespaced,
    status = "ClusterFetchStatus",
    shortname = "cf",
    category = "microfleet",
    doc = "ClusterFetch runs a scheduled HTTP fetch of a list from one service and delivers it to another; every run is tracked in status, exported as metrics and notified on failure.",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspend"),
    printcolumn(name = "Last Success", type_ = "date", json_path = ".status.lastSuccessfulTime"),
    printcolumn(
        name = "Failures",
        type_ = "integer",
        json_path = ".status.consecutiveFailures",
        description = "Consecutive failed runs"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 52").message("metadata.name must be at most 52 characters: it names the CronJob, whose Jobs add an 11-character suffix")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFetchSpec {
    /// When to run, in cron syntax (5 fields, or @hourly/@daily/@weekly/@monthly/@yearly), e.g. "0 2 * * *".
    /// The operator checks the expression and reports a bad one in the Stalled condition.
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("!self.contains('TZ=')").message("spec.schedule must not carry TZ= or CRON_TZ=: set spec.timeZone instead"))]
    pub schedule: String,

    /// IANA time zone the schedule is read in, e.g. "Asia/Jakarta". Defaults to the kube-controller-manager's zone (usually UTC).
    /// The operator checks the name and reports an unknown zone in the Stalled condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,

    /// Stops scheduling new runs; a run already started goes on. A run-now request is still honoured.
    #[serde(default)]
    pub suspend: bool,

    /// What to do when a run is due while the previous one is still active.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,

    /// How late (seconds) a missed run may still start; a run missed by more is skipped. At least 10:
    /// the CronJob controller looks every 10 seconds, so less could skip every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10))]
    pub starting_deadline_seconds: Option<i64>,

    /// How many succeeded runs to keep (Jobs in the cluster and entries in status.recentRuns).
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 1, max = 50))]
    pub successful_runs_history_limit: i32,

    /// How many failed runs to keep. At least 1: the operator reads a failed run's outcome from its Job.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 1, max = 50))]
    pub failed_runs_history_limit: i32,

    /// The longest a run may take, in seconds; a run still going after this is killed and counted as failed.
    #[serde(default = "default_active_deadline")]
    #[schemars(range(min = 10, max = 86400))]
    pub active_deadline_seconds: i64,

    /// Where the list comes from.
    pub source: Source,

    /// Where the list goes.
    pub sink: Sink,

    /// Retries of transient faults inside one run (connect errors, timeouts, 5xx, 408, 429).
    #[serde(default)]
    pub retry: RetryPolicy,

    /// Sanity checks on the fetched list; a run whose list fails one is failed and nothing is committed.
    #[serde(default)]
    pub checks: Checks,

    /// Where to send a notification when a run fails (once per failed run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,

    /// Prometheus alerts for this ClusterFetch (a PrometheusRule the operator owns, when the
    /// prometheus-operator is installed).
    #[serde(default)]
    pub alerts: Alerts,

    /// Fetcher image to run; defaults to the image the operator was installed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(IMAGE_RULE).message("spec.image must be an image reference such as registry.example:5000/team/fetcher:1.2.3 or team/fetcher@sha256:<digest>: lower-case repository path, no spaces, no scheme"))]
    pub image: Option<String>,

    /// Compute resources of the fetcher container; defaults to requests 50m CPU / 64Mi, limit 256Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounded_quantities)]
    #[x_kube(validation = Rule::new("!has(self.limits) || self.limits.all(k, isQuantity(string(self.limits[k])))").message("resources.limits must be quantities such as \"500m\", \"64Mi\" or \"1Gi\": a number and a unit, no space between them"))]
    #[x_kube(validation = Rule::new("!has(self.requests) || self.requests.all(k, isQuantity(string(self.requests[k])))").message("resources.requests must be quantities such as \"500m\", \"64Mi\" or \"1Gi\": a number and a unit, no space between them"))]
    pub resources: Option<ResourceRequirements>,

    /// Service account the run's pod uses; defaults to the namespace's "default" (no API token is mounted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
}

/// The CEL rule of an image reference: an optional registry host and port, a lower-case repository path, an
/// optional tag and an optional digest (the grammar of the distribution reference).
pub(crate) const IMAGE_RULE: &str = "self.matches('^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?([.][a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$')";

/// Bounds `resources.limits` and `resources.requests` (16 entries, 64 characters each), so the API server can
/// bound the cost of their CEL rules.
pub(crate) fn bounded_quantities(schema: &mut schemars::Schema) {
    fn visit(node: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(properties) = node.get_mut("properties").and_then(|p| p.as_object_mut()) {
            for key in ["limits", "requests"] {
                if let Some(map) = properties.get_mut(key).and_then(|m| m.as_object_mut()) {
                    map.insert("maxProperties".into(), 16.into());
                    if let Some(values) = map.get_mut("additionalProperties").and_then(|a| a.as_object_mut()) {
                        values.insert("maxLength".into(), 64.into());
                    }
                }
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in node.get_mut(key).and_then(|b| b.as_array_mut()).into_iter().flatten() {
                if let Some(branch) = branch.as_object_mut() {
                    visit(branch);
                }
            }
        }
    }
    if let Some(node) = schema.as_object_mut() {
        visit(node);
    }
}

fn default_successful_history() -> i32 {
    3
}
fn default_failed_history() -> i32 {
    3
}
fn default_active_deadline() -> i64 {
    3600
}

/// What to do when a run is due while another is still active (as in batch/v1 CronJob).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConcurrencyPolicy {
    /// Start the new run alongside the active one.
    Allow,
    /// Skip the new run while one is active (the default: two deliveries of one list race each other).
    #[default]
    Forbid,
    /// Stop the active run and start the new one.
    Replace,
}

/// A key in a Secret in the resource's namespace. Values never appear in the spec, in logs or in Events.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// HTTP method of the source request.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET (the default).
    #[default]
    Get,
    /// POST, with `source.body` as the request body.
    Post,
}

/// A plain (non-secret) request header.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.name.matches('(?i)^(authorization|proxy-authorization|cookie)$')").message("headers[].name: credentials do not belong in plain headers; use credentials (a Secret reference) instead"))]
pub struct Header {
    /// Header name.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub name: String,
    /// Header value (not secret: it is stored in the CR and in the CronJob).
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new(r"!self.matches('[\\x00-\\x08\\x0a-\\x1f\\x7f]')").message("headers[].value must not contain CR, LF or other control characters: a header value is one line of text"))]
    pub value: String,
}

/// Credentials for an HTTP endpoint, each read from a Secret at run time. Set exactly one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.bearerToken) ? 1 : 0) + (has(self.basic) ? 1 : 0) + (has(self.apiKey) ? 1 : 0) == 1").message("credentials: set exactly one of bearerToken, basic or apiKey"))]
pub struct Credentials {
    /// Secret key holding a bearer token, sent as "Authorization: Bearer <token>".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretKeyRef>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// An API key sent in a header of your choosing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
}

/// HTTP basic authentication, both parts from Secrets.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// Secret key holding the user name.
    pub username: SecretKeyRef,
    /// Secret key holding the password.
    pub password: SecretKeyRef,
}

/// An API key header whose value comes from a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Header that carries the key, e.g. "X-API-Key".
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub header: String,
    /// Secret key holding the API key.
    pub secret_key_ref: SecretKeyRef,
}

/// Timeouts of each HTTP request, in seconds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.connectSeconds <= self.requestSeconds").message("timeouts.connectSeconds must not exceed timeouts.requestSeconds"))]
pub struct Timeouts {
    /// Time allowed to open the connection.
    #[serde(default = "default_connect_timeout")]
    #[schemars(range(min = 1, max = 300))]
    pub connect_seconds: i32,
    /// Time allowed for one whole request (one page), body included.
    #[serde(default = "default_request_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub request_seconds: i32,
}

fn default_connect_timeout() -> i32 {
    10
}
fn default_request_timeout() -> i32 {
    60
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect_seconds: default_connect_timeout(), request_seconds: default_request_timeout() }
    }
}

/// How the source splits the list into pages.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PaginationType {
    /// `?<pageParam>=1,2,3…&<sizeParam>=<pageSize>` until a page comes back empty (or, with
    /// `shortPageEnds`, with fewer than pageSize items).
    Page,
    /// `?<offsetParam>=0,N,…&<sizeParam>=<pageSize>`, each offset after the items received so far, until a
    /// page comes back empty (or, with `shortPageEnds`, with fewer than pageSize items).
    Offset,
    /// `?<cursorParam>=<value of cursorPath in the previous page>` until the cursor is absent, null or empty.
    Cursor,
    /// Follow the `Link: <…>; rel="next"` response header until there is none.
    LinkHeader,
}

/// Pagination of the source.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'cursor' || has(self.cursorPath)").message("pagination.cursorPath is required when pagination.type is cursor: give the JSON pointer of the next cursor in a page, e.g. /next_cursor"))]
#[x_kube(validation = Rule::new("self.type == 'cursor' || !has(self.cursorPath)").message("pagination.cursorPath is only used when pagination.type is cursor: remove it or change the type"))]
pub struct Pagination {
    /// Kind of pagination.
    #[serde(rename = "type")]
    pub type_: PaginationType,
    /// Items per page (page and offset types), sent as sizeParam.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 100000))]
    pub page_size: i32,
    /// Query parameter carrying the page number (page type).
    #[serde(default = "default_page_param")]
    #[schemars(length(min = 1, max = 64))]
    pub page_param: String,
    /// Number of the first page (page type), usually 0 or 1.
    #[serde(default = "default_first_page")]
    #[schemars(range(min = 0, max = 1))]
    pub first_page: i32,
    /// Query parameter carrying the offset (offset type).
    #[serde(default = "default_offset_param")]
    #[schemars(length(min = 1, max = 64))]
    pub offset_param: String,
    /// Query parameter carrying the page size (page and offset types).
    #[serde(default = "default_size_param")]
    #[schemars(length(min = 1, max = 64))]
    pub size_param: String,
    /// Query parameter carrying the cursor (cursor type).
    #[serde(default = "default_cursor_param")]
    #[schemars(length(min = 1, max = 64))]
    pub cursor_param: String,
    /// JSON pointer (RFC 6901) of the next cursor inside a page, e.g. "/meta/next" (cursor type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 256), regex(pattern = r"^/"))]
    pub cursor_path: Option<String>,
    /// Guard against endless pagination: a run that needs more pages fails.
    #[serde(default = "default_max_pages")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_pages: i32,
    /// Page and offset types: a page with fewer than pageSize items is the last one. Set it only for a
    /// server that never serves fewer than it is asked for: one that caps its page size (PostgREST's
    /// max-rows, GitHub's 100 per page) would have its list cut at the first page. By default the list
    /// ends at the first empty page, which costs one request more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short_page_ends: bool,
}

fn default_page_size() -> i32 {
    1000
}
fn default_page_param() -> String {
    "page".into()
}
fn default_first_page() -> i32 {
    1
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_size_param() -> String {
    "limit".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}
fn default_max_pages() -> i32 {
    100000
}

/// Response body format of the source.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum Format {
    /// A JSON document; the items are the array at `itemPath` (the whole document when empty).
    #[default]
    Json,
    /// One JSON value per line.
    Ndjson,
    /// CSV with a header row; each row becomes an object keyed by the header.
    Csv,
}

/// The HTTP service the list is fetched from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.method == 'POST' || !has(self.body)").message("source.body is only sent with method POST: remove it or set source.method to POST"))]
#[x_kube(validation = Rule::new("self.format == 'json' || !has(self.itemPath)").message("source.itemPath applies to format json only: remove it for ndjson and csv"))]
#[x_kube(validation = Rule::new("!has(self.pagination) || self.pagination.type != 'cursor' || self.format == 'json'").message("source.pagination.type cursor reads the cursor from a JSON page: use format json or another pagination type"))]
pub struct Source {
    /// URL of the list, e.g. "http://clustering.promo.svc:8080/v1/eligible-users". No credentials in the URL.
    #[schemars(length(min = 8, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("source.url must start with http:// or https://"))]
    #[x_kube(validation = Rule::new("!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')").message("source.url must not carry user:password@: use source.credentials with a Secret reference"))]
    #[x_kube(validation = Rule::new(r"self.matches('^https?://(\\[[0-9a-fA-F:.]+\\]|[^[:space:]/?#:@\\[\\]]+)(:[0-9]{1,5})?([/?#][^[:space:]]*)?$')").message("source.url must be an absolute http(s) URL with a host, e.g. http://clustering.promo.svc:8080/v1/users: no spaces (percent-encode them as %20), no empty host, a port of digits"))]
    pub url: String,
    /// HTTP method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Request body (method POST only), sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
    /// Extra request headers (not secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<Header>,
    /// Credentials, read from Secrets at run time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Request timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Pagination; without it the list is one response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Body format.
    #[serde(default)]
    pub format: Format,
    /// JSON pointer (RFC 6901) of the item array inside each JSON page, e.g. "/data/users".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 256), regex(pattern = r"^/"))]
    pub item_path: Option<String>,
    /// JSON pointer (RFC 6901) of the whole list's item count in the first page's body, e.g. "/meta/total"
    /// (format json). A run that delivers another number of items fails its checks, uncommitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 256), regex(pattern = r"^/"))]
    pub total_path: Option<String>,
    /// Response header of the first page holding the whole list's item count, e.g. "X-Total-Count". A run
    /// that delivers another number of items fails its checks, uncommitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub total_header: Option<String>,
}

/// Where the fetched list is delivered. Set exactly one kind.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.http) ? 1 : 0) + (has(self.kafka) ? 1 : 0) == 1").message("sink: set exactly one of sink.http or sink.kafka"))]
pub struct Sink {
    /// Deliver over HTTP in batches, then commit (see the crate's `contract` docs for the protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSink>,
    /// Deliver to a Kafka topic, in one transaction per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaSink>,
}

/// An HTTP receiver that stages batches per run and swaps them in atomically on commit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpSink {
    /// Base URL of the receiver, e.g. "http://promotion-platform.promo.svc:8080/v1/eligible-users/imports".
    #[schemars(length(min = 8, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("sink.http.url must start with http:// or https://"))]
    #[x_kube(validation = Rule::new("!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')").message("sink.http.url must not carry user:password@: use sink.http.credentials with a Secret reference"))]
    #[x_kube(validation = Rule::new(r"self.matches('^https?://(\\[[0-9a-fA-F:.]+\\]|[^[:space:]/?#:@\\[\\]]+)(:[0-9]{1,5})?([/?#][^[:space:]]*)?$')").message("sink.http.url must be an absolute http(s) URL with a host, e.g. http://promotion.promo.svc:8080/v1/imports: no spaces (percent-encode them as %20), no empty host, a port of digits"))]
    pub url: String,
    /// Items per batch request.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = 100000))]
    pub batch_size: i32,
    /// Extra request headers (not secret).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<Header>,
    /// Credentials, read from Secrets at run time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Time allowed for one request to the receiver, in seconds.
    #[serde(default = "default_sink_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
}

fn default_batch_size() -> i32 {
    1000
}
fn default_sink_timeout() -> i32 {
    30
}

/// A Kafka topic the list is delivered to in one transaction per run: a consumer reading with
/// `isolation.level=read_committed` sees the whole list or none of it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSink {
    /// Bootstrap servers, each "host:port" (an entry may also list several, comma-separated).
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 1024)))]
    #[x_kube(validation = Rule::new(r"self.all(s, s.matches('^[^,[:space:]/]+:[0-9]{1,5}(,[^,[:space:]/]+:[0-9]{1,5})*$'))").message("sink.kafka.bootstrapServers: each entry must be host:port, e.g. kafka-0.kafka.svc:9092 (several may be comma-separated), no scheme, no spaces"))]
    pub bootstrap_servers: Vec<String>,
    /// Topic name; the topic must exist (the sink never creates it).
    #[schemars(length(min = 1, max = 249))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9._-]{1,249}$') && self != '.' && self != '..'").message("sink.kafka.topic must be a Kafka topic name: 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-' (and not '.' or '..')"))]
    pub topic: String,
    /// JSON pointer into each item whose value becomes the record key, e.g. "/user_id" (a string as is,
    /// anything else as its JSON text). Without it, records have no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("sink.kafka.keyField must be a JSON pointer starting with '/', e.g. /user_id"))]
    pub key_field: Option<String>,
    /// Connect with TLS (the brokers' certificates checked against the system roots, or the CA given here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTls>,
    /// Authenticate with SASL; the user name and password come from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSasl>,
    /// Prefix of the producer's `transactional.id` (`<prefix>-<namespace>/<name>-<run>`; default
    /// "microfleet"), for brokers whose ACLs grant transactional ids by prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9._-]+$')").message("sink.kafka.transactionalIdPrefix may hold only a-z, A-Z, 0-9, '.', '_' and '-', e.g. microfleet-promo"))]
    pub transactional_id_prefix: Option<String>,
    /// Time allowed for each step with the brokers (connecting and starting the transaction, delivering a
    /// record, committing), in seconds.
    #[serde(default = "default_sink_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: i32,
}

/// TLS to the Kafka brokers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTls {
    /// Secret key holding the PEM CA certificate(s) that signed the brokers' certificates; without it, the
    /// system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_key_ref: Option<SecretKeyRef>,
}

/// SASL authentication to the Kafka brokers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KafkaSasl {
    /// The SASL mechanism.
    pub mechanism: SaslMechanism,
    /// Secret key holding the user name.
    pub username: SecretKeyRef,
    /// Secret key holding the password.
    pub password: SecretKeyRef,
}

/// A SASL mechanism the Kafka sink speaks.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN (use it with TLS: the password travels as is).
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM-SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The name Kafka clients use (`sasl.mechanism`).
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Retries of transient faults inside one run, with exponential backoff and jitter.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.initialBackoffSeconds <= self.maxBackoffSeconds").message("retry.initialBackoffSeconds must not exceed retry.maxBackoffSeconds"))]
pub struct RetryPolicy {
    /// Attempts per request, the first included (1 = no retry).
    #[serde(default = "default_attempts")]
    #[schemars(range(min = 1, max = 20))]
    pub attempts: i32,
    /// Delay before the first retry, in seconds; doubles each retry.
    #[serde(default = "default_initial_backoff")]
    #[schemars(range(min = 1, max = 3600))]
    pub initial_backoff_seconds: i32,
    /// Upper bound of one delay, in seconds.
    #[serde(default = "default_max_backoff")]
    #[schemars(range(min = 1, max = 3600))]
    pub max_backoff_seconds: i32,
}

fn default_attempts() -> i32 {
    5
}
fn default_initial_backoff() -> i32 {
    1
}
fn default_max_backoff() -> i32 {
    60
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            initial_backoff_seconds: default_initial_backoff(),
            max_backoff_seconds: default_max_backoff(),
        }
    }
}

/// Sanity checks on the fetched list.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maxItems) || self.minItems <= self.maxItems").message("checks.minItems must not exceed checks.maxItems"))]
pub struct Checks {
    /// Fewest items a good list has; the default 1 makes an empty list a failure.
    #[serde(default = "default_min_items")]
    #[schemars(range(min = 0))]
    pub min_items: i64,
    /// Most items a good list has; more fails the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_items: Option<i64>,
    /// Fields (top-level keys) every item must have, e.g. ["user_id"].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 128)))]
    pub required_fields: Vec<String>,
    /// Largest single item, in bytes; a bigger item fails the run.
    #[serde(default = "default_max_item_bytes")]
    #[schemars(range(min = 16, max = 16777216))]
    pub max_item_bytes: i64,
    /// Drop guard: the run fails, uncommitted, when the list has shrunk by more than this percentage since
    /// the last successful run (the operator tells the run that run's item count). Unset: no guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_drop_percent: Option<i32>,
}

fn default_min_items() -> i64 {
    1
}
fn default_max_item_bytes() -> i64 {
    1_048_576
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            min_items: default_min_items(),
            max_items: None,
            required_fields: Vec::new(),
            max_item_bytes: default_max_item_bytes(),
            max_drop_percent: None,
        }
    }
}

/// Severity label of an alert.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Worth a look during working hours.
    #[default]
    Warning,
    /// Worth waking someone up.
    Critical,
}

/// The alerts of one ClusterFetch: the last run failed; no success within the window the schedule
/// implies (stale); too many failures in a row; a run still active past its deadline.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.labels) || !('severity' in self.labels || 'namespace' in self.labels || 'name' in self.labels || 'alertname' in self.labels)").message("alerts.labels must not set severity, namespace, name or alertname: the operator sets them (use alerts.severity for the severity)"))]
pub struct Alerts {
    /// Emit the PrometheusRule.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Severity of the run-failed, stale and overdue alerts (the consecutive-failures alert is critical).
    #[serde(default)]
    pub severity: Severity,
    /// Failed runs in a row that fire ClusterFetchConsecutiveFailures.
    #[serde(default = "default_consecutive_failures")]
    #[schemars(range(min = 1, max = 100))]
    pub consecutive_failures: i32,
    /// Seconds without a success after which ClusterFetchStale fires; by default the longest gap between
    /// two scheduled runs, plus activeDeadlineSeconds, plus 10 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60))]
    pub stale_after_seconds: Option<i64>,
    /// Extra labels on every alert (e.g. team: promo), for routing in Alertmanager.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}
fn default_consecutive_failures() -> i32 {
    3
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            enabled: true,
            severity: Severity::default(),
            consecutive_failures: default_consecutive_failures(),
            stale_after_seconds: None,
            labels: Default::default(),
        }
    }
}

/// Payload shape of the failure notification.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub enum NotifyFormat {
    /// A JSON object with every field of the failure (see the crate's `contract::Notification`).
    #[default]
    Generic,
    /// A Slack incoming-webhook message (`{"text": …}`), also accepted by Mattermost and Rocket.Chat.
    Slack,
}

/// Failure notification: one webhook call per failed run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// Secret key holding the webhook URL (it usually embeds a token, so it is never in the spec).
    pub webhook_url: SecretKeyRef,
    /// Payload shape.
    #[serde(default)]
    pub format: NotifyFormat,
}
