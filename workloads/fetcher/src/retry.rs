//! Retry: which HTTP faults are worth another attempt, and how long to wait (exponential backoff with
//! jitter, honouring `Retry-After`).
//!
//! No I/O of its own; callers wrap their request in [`with_retries`].

use std::{future::Future, time::Duration};

use backon::{ExponentialBuilder, Retryable};

/// A failed HTTP exchange, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// Worth retrying: connect errors, timeouts, 5xx, 408, 429. `retry_after` comes from the response.
    #[error("{message}")]
    Transient {
        /// What happened (no secrets, no full URLs).
        message: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// Not worth retrying: other 4xx, bad bodies, refused redirects.
    #[error("{message}")]
    Permanent {
        /// What happened (no secrets, no full URLs).
        message: String,
    },
}

impl Fault {
    /// A permanent fault with this message.
    pub fn permanent(message: impl Into<String>) -> Fault {
        Fault::Permanent { message: message.into() }
    }

    /// A transient fault with this message and no Retry-After.
    pub fn transient(message: impl Into<String>) -> Fault {
        Fault::Transient { message: message.into(), retry_after: None }
    }

    /// True for a fault worth another attempt.
    pub fn is_transient(&self) -> bool {
        matches!(self, Fault::Transient { .. })
    }
}

/// How many times, and how patiently, to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the first retry.
    pub initial: Duration,
    /// Upper bound of one delay (Retry-After included).
    pub max: Duration,
}

impl Policy {
    /// The policy of a ClusterFetch's `spec.retry`.
    pub fn from_spec(retry: &microfleet_crds::clusterfetch::RetryPolicy) -> Policy {
        Policy {
            attempts: u32::try_from(retry.attempts.max(1)).unwrap_or(1),
            initial: Duration::from_secs(u64::try_from(retry.initial_backoff_seconds.max(1)).unwrap_or(1)),
            max: Duration::from_secs(u64::try_from(retry.max_backoff_seconds.max(1)).unwrap_or(1)),
        }
    }
}

/// Classifies an HTTP status: `None` for success, else the fault.
pub fn classify_status(status: reqwest::StatusCode, retry_after: Option<Duration>, what: &str) -> Option<Fault> {
    if status.is_success() {
        return None;
    }
    let message = format!("{what}: HTTP {status}");
    let transient = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    Some(if transient { Fault::Transient { message, retry_after } } else { Fault::Permanent { message } })
}

/// Classifies a transport error (never includes the URL: it may carry a secret).
pub fn classify_error(error: &reqwest::Error, what: &str) -> Fault {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        return Fault::permanent(format!("{what}: redirect refused (another host, or too many)"));
    } else if error.is_body() || error.is_decode() {
        "the response body broke off"
    } else {
        "request failed"
    };
    Fault::transient(format!("{what}: {kind}{}", detail(kind, error)))
}

/// What the error's cause adds to `kind`, as ` (cause)`: nothing when it only says the same again
/// (`timed out (operation timed out)` reads as one phrase, `timed out`).
fn detail(kind: &str, error: &reqwest::Error) -> String {
    let mut cause = std::error::Error::source(error);
    let mut deepest = None;
    while let Some(c) = cause {
        deepest = Some(c.to_string());
        cause = c.source();
    }
    let text = strip_urls(&deepest.unwrap_or_default());
    let last_word = kind.rsplit(' ').next().unwrap_or(kind);
    if text.is_empty() || text.contains(last_word) {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// Reads a `Retry-After` header given in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn strip_urls(text: &str) -> String {
    text.split_whitespace().map(|w| if w.contains("://") { "<url>" } else { w }).collect::<Vec<_>>().join(" ")
}

/// The waits between attempts of one request: exponential with jitter, `Retry-After` honoured, bounded
/// by the policy's attempts.
pub struct Delays {
    policy: Policy,
    delays: backon::ExponentialBackoff,
    attempts: u32,
}

impl Delays {
    /// The waits of `policy`, before the first attempt.
    pub fn new(policy: Policy) -> Delays {
        use backon::BackoffBuilder;
        let delays = ExponentialBuilder::default()
            .with_min_delay(policy.initial)
            .with_max_delay(policy.max)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(policy.attempts.saturating_sub(1) as usize)
            .build();
        Delays { policy, delays, attempts: 1 }
    }

    /// After a failed attempt: how long to wait before the next, or `None` when the fault is permanent or
    /// the attempts are spent.
    pub fn after(&mut self, fault: &Fault) -> Option<Duration> {
        let Fault::Transient { retry_after, .. } = fault else { return None };
        let delay = self.delays.next()?;
        self.attempts += 1;
        Some(retry_after.map_or(delay, |wait| wait.min(self.policy.max)))
    }

    /// Attempts made so far (the first included).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Sends `request` once: the response when its status is a success, else the fault, classified (honouring
/// `Retry-After`).
pub async fn send_checked(request: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, Fault> {
    let response = request.send().await.map_err(|e| classify_error(&e, what))?;
    let wait = retry_after(response.headers());
    match classify_status(response.status(), wait, what) {
        None => Ok(response),
        Some(fault) => Err(fault),
    }
}

/// Runs `attempt` until it succeeds, fails permanently, or the policy's attempts are spent. `on_retry` is
/// told each fault that will be retried and the wait before the next attempt.
pub async fn with_retries<T, F, Fut>(
    policy: Policy,
    mut attempt: F,
    mut on_retry: impl FnMut(&Fault, Duration),
) -> Result<T, Fault>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Fault>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.initial)
        .with_max_delay(policy.max)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(policy.attempts.saturating_sub(1) as usize);
    let max = policy.max;
    (|| attempt())
        .retry(backoff)
        .when(Fault::is_transient)
        .adjust(move |fault, delay| match (fault, delay) {
            (Fault::Transient { retry_after: Some(wait), .. }, Some(_)) => Some((*wait).min(max)),
            (_, delay) => delay,
        })
        .notify(|fault, wait| on_retry(fault, wait))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(attempts: u32) -> Policy {
        Policy { attempts, initial: Duration::from_millis(1), max: Duration::from_millis(5) }
    }

    #[test]
    fn statuses() {
        use reqwest::StatusCode as S;
        let rows = [
            (S::OK, None),
            (S::NO_CONTENT, None),
            (S::INTERNAL_SERVER_ERROR, Some(true)),
            (S::BAD_GATEWAY, Some(true)),
            (S::SERVICE_UNAVAILABLE, Some(true)),
            (S::REQUEST_TIMEOUT, Some(true)),
            (S::TOO_MANY_REQUESTS, Some(true)),
            (S::BAD_REQUEST, Some(false)),
            (S::UNAUTHORIZED, Some(false)),
            (S::FORBIDDEN, Some(false)),
            (S::NOT_FOUND, Some(false)),
        ];
        for (status, transient) in rows {
            assert_eq!(classify_status(status, None, "GET").map(|f| f.is_transient()), transient, "{status}");
        }
    }

    #[tokio::test]
    async fn transient_faults_are_retried_until_the_attempts_are_spent() {
        let calls = AtomicU32::new(0);
        let mut retries = 0;
        let result: Result<(), Fault> = with_retries(
            quick(4),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Fault::transient("503"))
            },
            |_, _| retries += 1,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(retries, 3);
    }

    #[tokio::test]
    async fn permanent_faults_stop_at_once_and_success_stops_retrying() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Fault> = with_retries(
            quick(5),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Fault::permanent("404"))
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err(Fault::permanent("404")));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let result = with_retries(
            quick(5),
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Fault::transient("503"))
                } else {
                    Ok(7)
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retry_after_sets_the_wait_within_the_cap() {
        let mut waits = Vec::new();
        let policy = Policy { attempts: 2, initial: Duration::from_millis(1), max: Duration::from_millis(20) };
        let _: Result<(), Fault> = with_retries(
            policy,
            || async { Err(Fault::Transient { message: "429".into(), retry_after: Some(Duration::from_secs(3600)) }) },
            |_, wait| waits.push(wait),
        )
        .await;
        assert_eq!(waits, [Duration::from_millis(20)]);
    }

    #[tokio::test]
    async fn a_timeout_reads_as_one_phrase() {
        crate::http::install_crypto_provider();
        // a server that accepts and never answers
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _held = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = crate::http::client(Duration::from_secs(1), Duration::from_millis(200)).unwrap();
        let error = client.get(format!("http://{addr}/")).send().await.unwrap_err();
        assert_eq!(classify_error(&error, "sink commit").to_string(), "sink commit: timed out");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let error = client.get(format!("http://{closed}/")).send().await.unwrap_err();
        let message = classify_error(&error, "GET /v1/users").to_string();
        assert!(message.starts_with("GET /v1/users: could not connect ("), "{message}");
        assert!(!message.contains("http://") && message.contains("refused"), "{message}");
    }

    #[test]
    fn urls_never_reach_messages() {
        assert_eq!(strip_urls("error sending https://user:pw@host/x now"), "error sending <url> now");
    }
}
