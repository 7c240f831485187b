//! The services' pre-provisioned keys (`SERVICE_KEYS_DIR`) on a real PostgreSQL: `migrate` registers each
//! file's key (hashed like a key made through the API, scope auth:introspect only) and the key introspects;
//! a second run changes nothing; a new key in a file revokes the old one; a revoked key written back, a
//! malformed file or a badly named one is refused naming the file and the fix, never the key, and changes
//! nothing; the real binary does the same.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::http::StatusCode;
use jiff::Timestamp;
use microfleet_auth::domain::secrets::{digest, new_api_key};
use microfleet_auth::domain::service_keys::CREATED_BY;
use microfleet_auth::http;
use microfleet_auth::repository::ServiceKeyChange;
use microfleet_auth::service_keys::{register_dir, Registered};
use microfleet_common::{database, test_database};
use support::*;

fn key() -> String {
    new_api_key().unwrap().0 .0
}

/// A fresh directory laid out as a mounted Secret: the files are links into `..data`, which is skipped.
fn keys_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auth-service-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("..data")).unwrap();
    for (file, content) in files {
        write(&dir, file, content);
    }
    dir
}

fn write(dir: &Path, file: &str, content: &str) {
    std::fs::write(dir.join("..data").join(file), content).unwrap();
    let link = dir.join(file);
    if !link.exists() {
        std::os::unix::fs::symlink(PathBuf::from("..data").join(file), &link).unwrap();
    }
}

fn changes(done: &[Registered]) -> Vec<(String, &'static str, usize)> {
    done.iter()
        .map(|r| match &r.change {
            ServiceKeyChange::Present => (r.name.clone(), "present", 0),
            ServiceKeyChange::Registered { revoked, .. } => (r.name.clone(), "registered", revoked.len()),
        })
        .collect()
}

async fn introspects(app: &axum::Router, service_key: &str, probe: &str) -> StatusCode {
    introspect(app, service_key, probe).await.0
}

#[tokio::test]
async fn service_keys_are_registered_once_rotated_and_malformed_files_refused() {
    let pool = fresh_database("auth_service_keys").await;
    let app = http::router(state_with(pool.clone(), keys(&[NEW_SEED]), policy(), false));
    let (ticketing, gate_acl) = (key(), key());
    let dir = keys_dir("main", &[("ticketing", &format!("{ticketing}\n")), ("gate-acl", &gate_acl)]);

    // registered, hashed like an API key, scope auth:introspect only; it introspects
    let done = register_dir(&pool, &dir, Timestamp::now()).await.unwrap();
    let expected = |kind| vec![("gate-acl".to_string(), kind, 0), ("ticketing".to_string(), kind, 0)];
    assert_eq!(changes(&done), expected("registered"));
    let client = pool.get().await.unwrap();
    let row = client
        .query_one("SELECT key_hash, scopes, created_by FROM api_keys WHERE name = 'ticketing'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), digest(&ticketing));
    assert_eq!(row.get::<_, Vec<String>>(1), ["auth:introspect"]);
    assert_eq!(row.get::<_, String>(2), CREATED_BY);
    let admin = admin_token(&app).await;
    let (_, gate_key) = api_key(&app, &admin, "gate-north-1a", &["gate:scan"]).await;
    let (status, answer) = introspect(&app, &ticketing, &gate_key).await;
    assert_eq!((status, answer["active"].as_bool()), (StatusCode::OK, Some(true)), "{answer}");
    assert_eq!(introspects(&app, &gate_acl, &gate_key).await, StatusCode::OK);
    let (status, _) = call_keys(&app, &ticketing).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a service key may introspect, nothing else");

    // idempotent: a second run changes nothing
    let keys_before = count(&pool, "SELECT count(*) FROM api_keys").await;
    let done = register_dir(&pool, &dir, Timestamp::now()).await.unwrap();
    assert_eq!(changes(&done), expected("present"));
    assert_eq!(count(&pool, "SELECT count(*) FROM api_keys").await, keys_before);

    // a key made through the API, written into a file, is present already
    let (_, made) = api_key(&app, &admin, "cms", &["auth:introspect"]).await;
    let from_api = keys_dir("from-api", &[("cms", &made)]);
    assert_eq!(
        changes(&register_dir(&pool, &from_api, Timestamp::now()).await.unwrap()),
        [("cms".into(), "present", 0)]
    );

    // a rotation: the new key registered, the old one revoked
    let rotated = key();
    write(&dir, "ticketing", &rotated);
    let done = register_dir(&pool, &dir, Timestamp::now()).await.unwrap();
    assert_eq!(changes(&done), [("gate-acl".into(), "present", 0), ("ticketing".into(), "registered", 1)]);
    assert_eq!(introspects(&app, &rotated, &gate_key).await, StatusCode::OK);
    assert_eq!(introspects(&app, &ticketing, &gate_key).await, StatusCode::UNAUTHORIZED, "the old key is revoked");
    let active = "SELECT count(*) FROM api_keys WHERE name = 'ticketing' AND revoked_at IS NULL";
    assert_eq!(count(&pool, active).await, 1);

    // refused, naming the file and the fix, never the key; nothing changes
    let keys_before = count(&pool, "SELECT count(*) FROM api_keys").await;
    let cases = [
        ("revoked", "ticketing", ticketing.clone(), "was revoked"),
        ("malformed", "cms", "not-a-key-4711".to_string(), "mf_<8 hex digits>_<64 hex digits>"),
        ("truncated", "cms", rotated[..40].to_string(), "mf_<8 hex digits>_<64 hex digits>"),
        ("bad_name", "Gate_ACL", key(), "rename the file"),
    ];
    for (case, file, content, fix) in cases {
        let bad = keys_dir(case, &[(file, &content), ("gate-acl", &key())]);
        let error = register_dir(&pool, &bad, Timestamp::now()).await.unwrap_err().to_string();
        let path = bad.join(file).display().to_string();
        assert!(error.contains(&path) && error.contains(fix), "{case}: {error}");
        assert!(!error.contains(&content), "{case}: the key is in the message: {error}");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM api_keys").await, keys_before, "nothing registered");
    let missing = std::env::temp_dir().join("auth-service-keys-nonexistent");
    let error = register_dir(&pool, &missing, Timestamp::now()).await.unwrap_err().to_string();
    assert!(error.contains("SERVICE_KEYS_DIR") && error.contains(&missing.display().to_string()), "{error}");
    let audited = "SELECT count(*) FROM audit_events WHERE reason = 'service_key_file'";
    assert_eq!(count(&pool, audited).await, 4, "three keys stored, one revoked");
}

/// `GET /v1/api-keys` with `credential`.
async fn call_keys(app: &axum::Router, credential: &str) -> (StatusCode, serde_json::Value) {
    microfleet_common::test_request::call(app, axum::http::Method::GET, "/v1/api-keys", None, Some(credential)).await
}

#[tokio::test]
async fn the_binary_registers_the_keys_once_and_names_a_malformed_file() {
    let url = test_database::create("auth_service_keys_binary").await.unwrap();
    let service_key = key();
    let dir = keys_dir("binary", &[("ticketing", &service_key)]);
    let binary = env!("CARGO_BIN_EXE_auth-service");
    let migrate = |dir: &Path| {
        Command::new(binary)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .env("SERVICE_KEYS_DIR", dir)
            .env("LOG_FORMAT", "json")
            .output()
            .unwrap()
    };
    for run in ["first", "second"] {
        let output = migrate(&dir);
        let logs = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{run}: {logs}");
        assert!(!logs.contains(&service_key[12..]), "{run}: the key is in the logs: {logs}");
    }
    let pool = database::connect(&url, 1).unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM api_keys WHERE name = 'ticketing'").await, 1, "registered once");
    let bad = keys_dir("binary-bad", &[("ticketing", "mf_1234")]);
    let output = migrate(&bad);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a malformed file fails the migration");
    assert!(stderr.contains(&bad.join("ticketing").display().to_string()), "{stderr}");
}
