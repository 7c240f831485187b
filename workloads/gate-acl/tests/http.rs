//! The HTTP API against a real PostgreSQL and a real auth service (in process, its own database): through
//! the router (4xx answers naming the field, a gate device's key kept out of administration and a
//! co-ordinator out of scans, a ticket's story from access to revocation, the public key verifying a code
//! offline, the served OpenAPI document equal to the checked-in file and every documented route routed),
//! and the real `gate-acl-service` binary (migrate, serve, an authenticated call, /readyz, one Kafka producer,
//! /metrics, JSON logs without secrets, SIGTERM).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::test_support::AuthService;
use microfleet_common::plain_http::{get as http_get, get_authorized};
use microfleet_common::test_process::{stop_and_read_json_logs, KillOnDrop};
use microfleet_common::{test_broker, test_request::call};
use serde_json::{json, Value};
use support::{app, app_with, event, fresh_database, ticket_id, EVENT, SEED, VIP};

fn scan_body(qr: &str, gate: i64, direction: &str, nonce: &str) -> String {
    json!({"qr": qr, "gateId": gate, "direction": direction, "deviceId": "gate-north-1a", "nonce": nonce,
           "scannedAt": Timestamp::now()})
    .to_string()
}

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let (app, pool, auth, gate) = app("http_errors").await;
    let (admin, gate) = (auth.admin_token(), gate.as_str());
    let coordinator = auth.user_token("ayu", &["coordinator"]).await;
    let gates = event(&pool, false).await;
    let now = Timestamp::now();
    let access = |ticket: &str, area: i64| {
        json!({"ticketId": ticket, "eventId": EVENT, "areaId": area, "validFrom": now,
               "validUntil": now + SignedDuration::from_hours(1)})
        .to_string()
    };
    let future = json!({"qr": "MF1.a.b", "gateId": gates.north_1, "direction": "entry", "deviceId": "d", "nonce": "n",
                        "scannedAt": now + SignedDuration::from_hours(1)})
    .to_string();
    type Case<'a> = (&'static str, Method, String, Option<String>, Option<&'a str>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        ("no_key", Method::POST, "/v1/gates".into(), None, None, StatusCode::UNAUTHORIZED, "Authorization"),
        (
            "gate_key_on_admin",
            Method::POST,
            "/v1/access".into(),
            Some(access(&ticket_id(1), VIP)),
            Some(gate),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "gate_key_revokes",
            Method::POST,
            format!("/v1/access/{}/revoke", ticket_id(1)),
            None,
            Some(gate),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "coordinator_scans",
            Method::POST,
            "/v1/scans".into(),
            Some(scan_body("MF1.a.b", gates.north_1, "entry", "n")),
            Some(&coordinator),
            StatusCode::FORBIDDEN,
            "Authorization",
        ),
        (
            "not_a_credential",
            Method::POST,
            "/v1/scans".into(),
            Some(scan_body("MF1.a.b", gates.north_1, "entry", "n")),
            Some("0123456789abcdef-old-static-key"),
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
        ("empty_body", Method::POST, "/v1/gates".into(), None, Some(admin), StatusCode::BAD_REQUEST, "body"),
        (
            "gate_unknown_area",
            Method::POST,
            "/v1/gates".into(),
            Some(json!({"eventId": EVENT, "name": "West", "areaIds": [VIP, 99]}).to_string()),
            Some(admin),
            StatusCode::NOT_FOUND,
            "areaIds[1]",
        ),
        (
            "gate_name_taken",
            Method::POST,
            "/v1/gates".into(),
            Some(json!({"eventId": EVENT, "name": "North 1", "areaIds": [VIP]}).to_string()),
            Some(admin),
            StatusCode::CONFLICT,
            "name",
        ),
        (
            "access_not_uuid",
            Method::POST,
            "/v1/access".into(),
            Some(access("ticket-1", VIP)),
            Some(admin),
            StatusCode::BAD_REQUEST,
            "ticketId",
        ),
        (
            "access_unknown_area",
            Method::POST,
            "/v1/access".into(),
            Some(access(&ticket_id(1), 99)),
            Some(admin),
            StatusCode::NOT_FOUND,
            "areaId",
        ),
        (
            "access_unknown_field",
            Method::POST,
            "/v1/access".into(),
            Some(json!({"ticket": 1}).to_string()),
            Some(admin),
            StatusCode::BAD_REQUEST,
            "ticket",
        ),
        (
            "revoke_unknown",
            Method::POST,
            format!("/v1/access/{}/revoke", ticket_id(5)),
            None,
            Some(admin),
            StatusCode::NOT_FOUND,
            "ticketId",
        ),
        (
            "event_no_areas",
            Method::PUT,
            "/v1/events/2".into(),
            Some(json!({"name": "x", "areas": []}).to_string()),
            Some(admin),
            StatusCode::BAD_REQUEST,
            "areas",
        ),
        ("event_unknown", Method::GET, "/v1/events/404".into(), None, Some(admin), StatusCode::NOT_FOUND, "eventId"),
        ("staff_bad_id", Method::GET, "/v1/staff/abc".into(), None, Some(admin), StatusCode::BAD_REQUEST, "staffId"),
        (
            "staff_role",
            Method::POST,
            "/v1/staff".into(),
            Some(
                json!({"eventId": EVENT, "name": "Ayu", "role": "boss", "validFrom": now,
                       "validUntil": now + SignedDuration::from_hours(1)})
                .to_string(),
            ),
            Some(admin),
            StatusCode::BAD_REQUEST,
            "role",
        ),
        (
            "scan_bad_direction",
            Method::POST,
            "/v1/scans".into(),
            Some(scan_body("MF1.a.b", gates.north_1, "sideways", "n")),
            Some(gate),
            StatusCode::BAD_REQUEST,
            "direction",
        ),
        (
            "scan_in_the_future",
            Method::POST,
            "/v1/scans".into(),
            Some(future),
            Some(gate),
            StatusCode::BAD_REQUEST,
            "scannedAt",
        ),
    ];
    for (case, method, path, body, credential, status, field) in cases {
        let (got, answer) = call(&app, method, &path, body.as_deref(), credential).await;
        assert_eq!(got, status, "{case}: {answer}");
        assert_eq!(answer["field"], field, "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
    }
    assert_eq!(support::count(&pool, "SELECT count(*) FROM access_entries").await, 0, "nothing refused was written");
    assert_eq!(support::count(&pool, "SELECT count(*) FROM gates").await, 3);
}

#[tokio::test]
async fn a_ticket_is_prepared_scanned_refused_again_revoked_and_verified_offline() {
    let (app, pool, auth, gate) = app("http_flow").await;
    let (admin, gate) = (auth.admin_token(), gate.as_str());
    let gates = event(&pool, false).await;
    let now = Timestamp::now();
    let access = json!({"ticketId": ticket_id(1), "eventId": EVENT, "areaId": VIP,
                        "validFrom": now - SignedDuration::from_hours(1), "validUntil": now + SignedDuration::from_hours(6)})
    .to_string();
    let (status, event) = call(&app, Method::GET, &format!("/v1/events/{EVENT}"), None, Some(admin)).await;
    assert_eq!((status, &event["gates"][0]["areaIds"]), (StatusCode::OK, &json!([VIP])), "{event}");
    assert_eq!(event["gates"].as_array().map(Vec::len), Some(3));
    let (status, prepared) = call(&app, Method::POST, "/v1/access", Some(&access), Some(admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{prepared}");
    let (status, again) = call(&app, Method::POST, "/v1/access", Some(&access), Some(admin)).await;
    assert_eq!((status, &again), (StatusCode::OK, &prepared), "a re-sent prepare gets the same entry and code");
    let qr = prepared["qr"].as_str().unwrap();

    let (_, keys) = call(&app, Method::GET, "/v1/keys", None, None).await;
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(keys["keys"][0]["x"].as_str().unwrap()).unwrap().try_into().unwrap();
    let public = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let (signed, signature) = qr.rsplit_once('.').unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    assert!(
        public.verify_strict(signed.as_bytes(), &signature).is_ok(),
        "a gate verifies the code with /v1/keys alone"
    );
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["ar"].as_i64(), &claims["kid"]),
        (Some(ticket_id(1).as_str()), Some(VIP), &keys["keys"][0]["kid"])
    );

    let entry = scan_body(qr, gates.north_1, "entry", "n-1");
    let (status, allowed) = call(&app, Method::POST, "/v1/scans", Some(&entry), Some(gate)).await;
    assert_eq!(
        (status, allowed["result"].as_str(), allowed["reason"].as_str()),
        (StatusCode::OK, Some("allow"), Some("ok"))
    );
    let (_, resent) = call(&app, Method::POST, "/v1/scans", Some(&entry), Some(gate)).await;
    assert_eq!(resent, allowed, "the re-sent scan gets the same answer");
    let (_, refused) =
        call(&app, Method::POST, "/v1/scans", Some(&scan_body(qr, gates.north_2, "entry", "n-2")), Some(gate)).await;
    assert_eq!(
        (refused["result"].as_str(), refused["reason"].as_str(), refused["pretixReason"].as_str()),
        (Some("deny"), Some("already_inside"), Some("already_redeemed"))
    );

    let (status, revoked) =
        call(&app, Method::POST, &format!("/v1/access/{}/revoke", ticket_id(1)), None, Some(admin)).await;
    assert_eq!((status, revoked["state"].as_str()), (StatusCode::OK, Some("revoked")));
    let (_, after) =
        call(&app, Method::POST, "/v1/scans", Some(&scan_body(qr, gates.north_1, "exit", "n-3")), Some(gate)).await;
    assert_eq!((after["result"].as_str(), after["reason"].as_str()), (Some("deny"), Some("revoked")));
    let mut altered = qr.to_string();
    altered.insert(10, 'x');
    let (_, forged) =
        call(&app, Method::POST, "/v1/scans", Some(&scan_body(&altered, gates.north_1, "entry", "n-4")), Some(gate))
            .await;
    assert_eq!((forged["reason"].as_str(), forged["pretixReason"].as_str()), (Some("forged"), Some("invalid")));
    assert_eq!(support::count(&pool, "SELECT entries::bigint FROM access_entries").await, 1);

    let staff =
        json!({"eventId": EVENT, "name": "Ayu", "role": "security", "validFrom": now - SignedDuration::from_hours(1),
                       "validUntil": now + SignedDuration::from_hours(6)})
        .to_string();
    let (status, ayu) = call(&app, Method::POST, "/v1/staff", Some(&staff), Some(admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{ayu}");
    let id = ayu["id"].as_i64().unwrap();
    let shift = json!({"startsAt": now - SignedDuration::from_mins(30), "endsAt": now + SignedDuration::from_hours(4)})
        .to_string();
    let (_, ayu) = call(&app, Method::POST, &format!("/v1/staff/{id}/shifts"), Some(&shift), Some(admin)).await;
    let staff_qr = ayu["qr"].as_str().unwrap().to_string();
    let (_, early) =
        call(&app, Method::POST, "/v1/scans", Some(&scan_body(&staff_qr, gates.south, "entry", "s-1")), Some(gate))
            .await;
    assert_eq!(early["reason"].as_str(), Some("outside_work_window"), "not approved yet");
    let shift_id = ayu["shifts"][0]["id"].as_i64().unwrap();
    let (status, _) =
        call(&app, Method::POST, &format!("/v1/staff/{id}/shifts/{shift_id}/approve"), None, Some(admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, approved) =
        call(&app, Method::POST, "/v1/scans", Some(&scan_body(&staff_qr, gates.south, "entry", "s-2")), Some(gate))
            .await;
    assert_eq!((approved["reason"].as_str(), approved["kind"].as_str()), (Some("ok"), Some("staff")));
}

#[tokio::test]
async fn gate_staff_scan_but_do_not_administer_a_revoked_key_stops_within_the_cache_lifetime_and_an_unreachable_auth_service_is_a_503(
) {
    const CACHE_TTL: std::time::Duration = Duration::from_secs(3);
    let (app, pool, mut auth, _) = app_with("http_auth", CACHE_TTL.as_secs()).await;
    let gates = event(&pool, false).await;
    let staff = auth.user_token("nazar", &["gate_staff"]).await;
    let now = Timestamp::now();
    let access = json!({"ticketId": ticket_id(1), "eventId": EVENT, "areaId": VIP,
                        "validFrom": now - SignedDuration::from_hours(1), "validUntil": now + SignedDuration::from_hours(6)})
    .to_string();
    let (status, prepared) = call(&app, Method::POST, "/v1/access", Some(&access), Some(auth.admin_token())).await;
    assert_eq!(status, StatusCode::CREATED, "{prepared}");
    let qr = prepared["qr"].as_str().unwrap().to_string();
    let nonce = std::sync::atomic::AtomicU32::new(0);
    let scan = || {
        scan_body(
            &qr,
            gates.north_1,
            "entry",
            &format!("n-{}", nonce.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        )
    };

    let (status, allowed) = call(&app, Method::POST, "/v1/scans", Some(&scan()), Some(&staff)).await;
    assert_eq!((status, allowed["result"].as_str()), (StatusCode::OK, Some("allow")), "gate staff scan: {allowed}");
    let gate = json!({"eventId": EVENT, "name": "West", "areaIds": [VIP]}).to_string();
    for (case, method, path, body) in [
        ("prepare_access", Method::POST, "/v1/access".to_string(), Some(access.as_str())),
        ("revoke_access", Method::POST, format!("/v1/access/{}/revoke", ticket_id(1)), None),
        ("create_gate", Method::POST, "/v1/gates".to_string(), Some(gate.as_str())),
    ] {
        let (status, answer) = call(&app, method, &path, body, Some(&staff)).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (StatusCode::FORBIDDEN, Some("Authorization")),
            "{case}: {answer}"
        );
    }
    let (status, _) = call(&app, Method::GET, &format!("/v1/access/{}", ticket_id(1)), None, Some(&staff)).await;
    assert_eq!(status, StatusCode::OK, "gate staff read access entries");

    let (device_id, device) = auth.api_key("gate-north-1b", &["gate:scan"]).await;
    let before_first_use = std::time::Instant::now();
    let (status, answer) = call(&app, Method::POST, "/v1/scans", Some(&scan()), Some(&device)).await;
    assert_eq!(status, StatusCode::OK, "the device's key is accepted: {answer}");
    auth.revoke(device_id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let (status, answer) = call(&app, Method::POST, "/v1/scans", Some(&scan()), Some(&device)).await;
        if status != StatusCode::OK {
            break (status, answer);
        }
        assert!(std::time::Instant::now() < deadline, "the revoked key was still accepted after 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (refused.0, refused.1["field"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Authorization")),
        "{}",
        refused.1
    );
    assert!(before_first_use.elapsed() >= CACHE_TTL, "refused only once the cached answer expired");

    let (_, unused) = auth.api_key("gate-south-1", &["gate:scan"]).await;
    auth.stop().await;
    let (status, answer) = call(&app, Method::POST, "/v1/scans", Some(&scan()), Some(&unused)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("Authorization")),
        "{answer}"
    );
    let (status, answer) = call(&app, Method::POST, "/v1/scans", Some(&scan()), Some(&staff)).await;
    assert_eq!(status, StatusCode::OK, "a token is verified offline with the cached key set: {answer}");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_file_and_lists_every_route() {
    let (app, _, auth, _) = app("http_openapi").await;
    let (status, served) = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&file).unwrap());
    let protected = [
        ("put", "/v1/events/{event_id}", "/v1/events/1"),
        ("get", "/v1/events/{event_id}", "/v1/events/1"),
        ("post", "/v1/gates", "/v1/gates"),
        ("post", "/v1/access", "/v1/access"),
        ("get", "/v1/access/{ticket_id}", "/v1/access/x"),
        ("post", "/v1/access/{ticket_id}/revoke", "/v1/access/x/revoke"),
        ("post", "/v1/staff", "/v1/staff"),
        ("get", "/v1/staff", "/v1/staff"),
        ("get", "/v1/shifts", "/v1/shifts"),
        ("get", "/v1/staff/{staff_id}", "/v1/staff/1"),
        ("post", "/v1/staff/{staff_id}/shifts", "/v1/staff/1/shifts"),
        ("post", "/v1/staff/{staff_id}/shifts/{shift_id}/approve", "/v1/staff/1/shifts/2/approve"),
        ("post", "/v1/scans", "/v1/scans"),
    ];
    let documented: usize =
        served["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(documented, protected.len() + 2, "every documented operation is in this table (plus the two open ones)");
    for (method, template, _) in protected {
        assert!(served["paths"][template][method].is_object(), "{method} {template} is not documented");
    }
    auth.assert_scopes_as_documented(&app, &served, &protected).await;
    let (status, keys) = call(&app, Method::GET, "/v1/keys", None, None).await;
    assert_eq!((status, keys["keys"][0]["crv"].as_str()), (StatusCode::OK, Some("Ed25519")));
    assert!(served["paths"]["/v1/keys"]["get"].is_object());
}

#[tokio::test]
async fn the_binary_migrates_serves_and_stops_on_sigterm() {
    let (_, url) = fresh_database("http_binary", 1).await;
    let auth = AuthService::start("http_binary").await;
    let (_, gate_key) = auth.api_key("gate-north-1a", &["gate:scan"]).await;
    let staff = auth.user_token("nazar", &["gate_staff"]).await;
    let binary = env!("CARGO_BIN_EXE_gate-acl-service");
    let migrate =
        Command::new(binary).arg("migrate").env("DATABASE_URL", &url).env("LOG_FORMAT", "text").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let signing_key = STANDARD.encode(SEED);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = KillOnDrop(
        Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("KAFKA_BOOTSTRAP_SERVERS", test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}")))
            .env("KAFKA_TOPIC_PREFIX", test_broker::unique("http-binary"))
            .env("AUTH_URL", &auth.url)
            .env("AUTH_SERVICE_KEY_FILE", auth.service_key_file())
            .env("SIGNING_KEY", &signing_key)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = None;
    for _ in 0..100 {
        ready = http_get(port, "/readyz");
        if matches!(ready, Some((200, _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.map(|(status, _)| status), Some(200), "/readyz answers 200 once the database is reachable");
    assert_eq!(http_get(port, "/healthz").map(|(status, _)| status), Some(200));
    for (case, credential, expected) in [
        ("gate_staff_token_reads", Some(staff.clone()), 404),
        ("gate_key_by_introspection", Some(gate_key.clone()), 403),
        ("none", None, 401),
    ] {
        // blocking, off this runtime: the binary asks the auth service, which runs on it
        let answer = tokio::task::spawn_blocking(move || get_authorized(port, "/v1/staff/1", credential.as_deref()));
        assert_eq!(answer.await.unwrap().map(|(status, _)| status), Some(expected), "{case}");
    }
    // one Kafka producer for the relay and every consumer's dead letters: each one is librdkafka's threads
    // and a polling thread that wakes ten times a second, idle or not (rdkafka names it "producer polling
    // thread", cut to 15 characters)
    let pollers = std::fs::read_dir(format!("/proc/{}/task", server.id()))
        .unwrap()
        .filter(|task| {
            let comm = std::fs::read_to_string(task.as_ref().unwrap().path().join("comm")).unwrap_or_default();
            comm.trim_end() == "producer pollin"
        })
        .count();
    assert_eq!(pollers, 1, "one producer in the service");
    let (status, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    for metric in [
        "gate_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}",
        "gate_scans_total{reason=\"already_inside\",result=\"deny\"} 0",
        "gate_scans_total{reason=\"ok\",result=\"allow\"} 0",
        "gate_scan_duration_seconds_bucket",
        "saga_dead_letters_total{consumer=\"gate-acl.revoke-access\"} 0",
        "saga_outbox_pending_messages ",
        "saga_outbox_oldest_pending_age_seconds ",
    ] {
        assert!(metrics.contains(metric), "{metric} missing from {metrics}");
    }

    let logs = stop_and_read_json_logs(&mut server).await;
    let service_key = std::fs::read_to_string(auth.service_key_file()).unwrap();
    for secret in
        [service_key.as_str(), gate_key.as_str(), staff.as_str(), signing_key.as_str(), "microfleet:microfleet"]
    {
        assert!(!logs.contains(secret), "no secret in the logs: {logs}");
    }
}
