//! The real `auth-service` binary on a real PostgreSQL: `migrate` creates the bootstrap admin from the
//! password file (once), `serve` answers /readyz and /metrics (`auth_events_total`), logs in, rotates,
//! issues and introspects keys over HTTP, and stops on SIGTERM — and neither its JSON log lines nor the audit
//! rows contain any password, token or key.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use microfleet_common::plain_http::get as http_get;
use microfleet_common::test_process::{stop_and_read_json_logs, KillOnDrop};
use microfleet_common::{database, test_database};
use serde_json::{json, Value};
use support::{count, ADMIN_PASSWORD, NEW_SEED};

const PORT: u16 = 26101;
const WRONG_PASSWORD: &str = "wrong-secret-password-4711";

#[tokio::test]
async fn the_binary_bootstraps_serves_without_leaking_secrets_and_stops_on_sigterm() {
    let url = test_database::create("auth_binary").await.unwrap_or_else(|error| panic!("{error}"));
    let dir = std::env::temp_dir().join(format!("auth-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("admin-password");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let key_file = dir.join("signing-key");
    let signing_key = STANDARD.encode(NEW_SEED);
    std::fs::write(&key_file, &signing_key).unwrap();
    let binary = env!("CARGO_BIN_EXE_auth-service");
    let common_env = [
        ("DATABASE_URL", url.clone()),
        ("BOOTSTRAP_ADMIN_USERNAME", "root".to_string()),
        ("BOOTSTRAP_ADMIN_PASSWORD_FILE", password_file.display().to_string()),
        ("PASSWORD_HASH_MEMORY_KIB", "64".to_string()),
        ("PASSWORD_HASH_ITERATIONS", "1".to_string()),
    ];
    for run in ["first", "second"] {
        let migrate = Command::new(binary).arg("migrate").envs(common_env.clone()).output().unwrap();
        assert!(migrate.status.success(), "{run}: {}", String::from_utf8_lossy(&migrate.stderr));
    }
    let pool = database::connect(&url, 1).unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM users WHERE 'admin' = ANY(roles)").await, 1, "one bootstrap admin");

    let mut server = KillOnDrop(
        Command::new(binary)
            .arg("serve")
            .envs(common_env)
            .env("SIGNING_KEY_FILES", key_file.display().to_string())
            .env("LISTEN_ADDR", format!("127.0.0.1:{PORT}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = None;
    for _ in 0..200 {
        ready = http_get(PORT, "/readyz");
        if matches!(ready, Some((200, _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.map(|(status, _)| status), Some(200), "/readyz answers 200 once the database is reachable");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{PORT}");
    let post = |path: &str, body: Value, bearer: Option<&str>| {
        let mut request = http.post(format!("{base}{path}")).json(&body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, _) = post("/v1/login", json!({"username": "root", "password": WRONG_PASSWORD}), None).await;
    assert_eq!(status, 401);
    let (status, pair) = post("/v1/login", json!({"username": "root", "password": ADMIN_PASSWORD}), None).await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["accessToken"].as_str().unwrap().to_string();
    let refresh = pair["refreshToken"].as_str().unwrap().to_string();
    let (status, next) = post("/v1/token/refresh", json!({"refreshToken": refresh}), None).await;
    assert_eq!(status, 200, "{next}");
    let (status, key) =
        post("/v1/api-keys", json!({"name": "svc", "scopes": ["auth:introspect"]}), Some(&access)).await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_string();
    let (status, answer) = post("/v1/introspect", json!({"token": access}), Some(&key)).await;
    assert_eq!((status, answer["active"].as_bool()), (200, Some(true)), "{answer}");
    let (status, metrics) = http_get(PORT, "/metrics").unwrap();
    assert_eq!(status, 200);
    for metric in [
        "auth_events_total{kind=\"login\",outcome=\"refused\"} 1",
        "auth_events_total{kind=\"login\",outcome=\"granted\"} 1",
        "auth_events_total{kind=\"refresh\",outcome=\"granted\"} 1",
        "auth_events_total{kind=\"introspect\",outcome=\"granted\"} 1",
        "auth_events_total{kind=\"api_key_revoke\",outcome=\"revoked\"} 0",
        "auth_http_requests_total{method=\"POST\",route=\"/v1/login\",status=\"401\"} 1",
    ] {
        assert!(metrics.contains(metric), "{metric} missing from {metrics}");
    }

    let logs = stop_and_read_json_logs(&mut server).await;
    assert!(logs.contains("auth event"), "{logs}");
    let rows: String = pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT coalesce(string_agg(audit_events::text, '\n'), '') FROM audit_events", &[])
        .await
        .unwrap()
        .get(0);
    assert!(rows.contains("bad_password"), "{rows}");
    let secret_key_part = key[12..].to_string();
    let secrets = [
        ADMIN_PASSWORD,
        WRONG_PASSWORD,
        access.as_str(),
        &access[access.len() - 40..],
        refresh.as_str(),
        next["refreshToken"].as_str().unwrap(),
        key.as_str(),
        &secret_key_part,
        signing_key.as_str(),
        "microfleet:microfleet",
    ];
    for secret in secrets {
        assert!(!logs.contains(secret), "a secret in the logs: {logs}");
        assert!(!rows.contains(secret), "a secret in the audit rows: {rows}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
