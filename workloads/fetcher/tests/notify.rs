//! The notifier binary against a real webhook server on 127.0.0.1: delivery, retries, refusals, and no
//! secret in its output.

mod support;

use std::process::Output;

use support::{Reply, Server};

const TOKEN: &str = "T0KEN-SECRET-42";

fn notification() -> String {
    serde_json::json!({
        "namespace": "promo", "clusterFetch": "promo-users", "runId": "promo-users-29000000",
        "trigger": "Scheduled", "failureClass": "Source",
        "message": "GET /v1/users: HTTP 503 Service Unavailable after 5 attempts",
        "consecutiveFailures": 2
    })
    .to_string()
}

async fn notify(url: &str, format: &str, extra: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.arg("notify").args(["--attempts", "3", "--initial-backoff-ms", "20"]).args(extra);
    cmd.env("MICROFLEET_NOTIFICATION", notification())
        .env("MICROFLEET_NOTIFY_FORMAT", format)
        .env("MICROFLEET_NOTIFY_WEBHOOK_URL", url)
        .env("MICROFLEET_LOG_FORMAT", "json");
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn logs(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_notification_is_delivered_once_after_a_transient_failure() {
    let server = Server::start(vec![Reply::status(503), Reply::ok("ok")]).await;
    let out = notify(&server.url(&format!("/hooks/{TOKEN}")), "slack", &[]).await;
    assert!(out.status.success(), "{}", logs(&out));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one retry after the 503");
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    let text = body["text"].as_str().unwrap();
    for part in ["promo/promo-users", "promo-users-29000000", "Source", "HTTP 503", "2 failure(s) in a row"] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    assert_eq!(requests[1].header("idempotency-key"), Some("promo/promo-users/promo-users-29000000".into()));
    assert!(!logs(&out).contains(TOKEN), "the webhook token leaked into the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_notification_carries_every_field() {
    let server = Server::start(vec![Reply::ok("")]).await;
    let out = notify(&server.url(&format!("/hooks/{TOKEN}")), "generic", &[]).await;
    assert!(out.status.success(), "{}", logs(&out));
    let body: serde_json::Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(body["event"], "ClusterFetchRunFailed");
    assert_eq!(body["run"]["runId"], "promo-users-29000000");
    assert_eq!(body["run"]["failureClass"], "Source");
    assert!(!body.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_not_retried() {
    let server = Server::start(vec![Reply::status(404)]).await;
    let out = notify(&server.url(&format!("/hooks/{TOKEN}")), "slack", &[]).await;
    assert_eq!(out.status.code(), Some(5), "{}", logs(&out));
    assert_eq!(server.requests().len(), 1);
    assert!(logs(&out).contains("404"));
    assert!(!logs(&out).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_webhook_fails_after_the_attempts() {
    let url = format!("http://127.0.0.1:{}/hooks/{TOKEN}", support::closed_port());
    let out = notify(&url, "slack", &[]).await;
    assert_eq!(out.status.code(), Some(5), "{}", logs(&out));
    let text = logs(&out);
    assert_eq!(text.matches("notification not accepted yet").count(), 2, "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_webhook_url_is_a_config_error_naming_the_variable() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.arg("notify").env("MICROFLEET_NOTIFICATION", notification()).env_remove("MICROFLEET_NOTIFY_WEBHOOK_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(logs(&out).contains("MICROFLEET_NOTIFY_WEBHOOK_URL is not set"), "{}", logs(&out));
}
