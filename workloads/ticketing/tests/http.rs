//! The HTTP API against a real PostgreSQL and a real auth service (in process, its own database): through
//! the router (4xx answers naming the field, each route behind its scope — 401, 403 and 503 naming
//! `Authorization` —, the served OpenAPI document equal to the checked-in file, every documented path
//! routed), and the real `ticketing-service` binary (migrate, serve, an authenticated call, /readyz,
//! /metrics, SIGTERM).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use jiff::SignedDuration;
use microfleet_auth::test_support::AuthService;
use microfleet_common::plain_http::{get as http_get, get_authorized};
use microfleet_common::test_process::{stop_and_read_json_logs, KillOnDrop};
use microfleet_common::{test_broker, test_request::call};
use serde_json::{json, Value};
use support::{app, app_with, event_on_sale, fresh_database};

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let (app, pool, auth) = app("http_errors").await;
    let key = auth.admin_token();
    let (event_id, areas) = event_on_sale(&pool, &[(2, 100_000)]).await;
    let order = |items: Value| {
        json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": items}).to_string()
    };
    let cases = [
        ("no_key", Method::GET, "/v1/events".to_string(), None, None, StatusCode::UNAUTHORIZED, "Authorization"),
        (
            "wrong_key",
            Method::GET,
            "/v1/events".to_string(),
            None,
            Some("0123456789abcdef-wrong"),
            StatusCode::UNAUTHORIZED,
            "Authorization",
        ),
        ("empty_body", Method::POST, "/v1/merchants".to_string(), None, Some(key), StatusCode::BAD_REQUEST, "body"),
        (
            "unknown_field",
            Method::POST,
            "/v1/merchants".to_string(),
            Some(r#"{"nama": "x"}"#.to_string()),
            Some(key),
            StatusCode::BAD_REQUEST,
            "nama",
        ),
        (
            "blank_name",
            Method::POST,
            "/v1/merchants".to_string(),
            Some(r#"{"name": " "}"#.to_string()),
            Some(key),
            StatusCode::BAD_REQUEST,
            "name",
        ),
        (
            "event_bad_date",
            Method::POST,
            "/v1/events".to_string(),
            Some(r#"{"merchantId": 1, "name": "x", "venue": "y", "startsAt": "tomorrow"}"#.to_string()),
            Some(key),
            StatusCode::BAD_REQUEST,
            "startsAt",
        ),
        (
            "approve_bad_id",
            Method::POST,
            "/v1/events/abc/approve".to_string(),
            None,
            Some(key),
            StatusCode::BAD_REQUEST,
            "eventId",
        ),
        (
            "approve_unknown",
            Method::POST,
            "/v1/events/424242/approve".to_string(),
            None,
            Some(key),
            StatusCode::NOT_FOUND,
            "eventId",
        ),
        (
            "zero_seats",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": areas[0], "quantity": 0}]))),
            Some(key),
            StatusCode::BAD_REQUEST,
            "items[0].quantity",
        ),
        (
            "too_many_seats",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": areas[0], "quantity": 3}]))),
            Some(key),
            StatusCode::CONFLICT,
            "items[0].quantity",
        ),
        (
            "unknown_area",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": 999_999, "quantity": 1}]))),
            Some(key),
            StatusCode::NOT_FOUND,
            "items[0].areaId",
        ),
        (
            "unknown_order",
            Method::GET,
            "/v1/orders/2023-03-20-345-2612".to_string(),
            None,
            Some(key),
            StatusCode::NOT_FOUND,
            "orderNumber",
        ),
    ];
    for (case, method, path, body, credential, status, field) in cases {
        let (got, answer) = call(&app, method, &path, body.as_deref(), credential).await;
        assert_eq!(got, status, "{case}: {answer}");
        assert_eq!(answer["field"], field, "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
    }
    assert_eq!(support::count(&pool, "SELECT count(*) FROM orders").await, 0, "no refused order was written");
    assert_eq!(support::count(&pool, "SELECT sum(sold)::bigint FROM areas").await, 0);
}

#[tokio::test]
async fn each_route_admits_the_roles_and_keys_holding_its_scope_only() {
    let (app, pool, mut auth) = app_with("http_scopes", SignedDuration::from_mins(15), 120).await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 100_000)]).await;
    let cashier = auth.user_token("putri", &["cashier"]).await;
    let operator = auth.user_token("budi", &["merchant_operator"]).await;
    let gate_staff = auth.user_token("nazar", &["gate_staff"]).await;
    let (_, reader) = auth.api_key("dashboard", &["ticketing:read"]).await;
    let (_, never_used) = auth.api_key("box-office", &["ticketing:read"]).await;
    let order = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id",
                       "items": [{"areaId": areas[0], "quantity": 1}]})
    .to_string();
    let approve = format!("/v1/events/{event_id}/approve");
    type Case<'a> = (&'a str, Method, &'a str, Option<&'a str>, &'a str, StatusCode);
    let cases: [Case; 12] = [
        ("cashier_orders", Method::POST, "/v1/orders", Some(&order), &cashier, StatusCode::CREATED),
        ("cashier_reads", Method::GET, "/v1/events", None, &cashier, StatusCode::OK),
        ("cashier_approves", Method::POST, &approve, None, &cashier, StatusCode::FORBIDDEN),
        (
            "cashier_creates_merchants",
            Method::POST,
            "/v1/merchants",
            Some(r#"{"name": "X"}"#),
            &cashier,
            StatusCode::FORBIDDEN,
        ),
        (
            "operator_creates_merchants",
            Method::POST,
            "/v1/merchants",
            Some(r#"{"name": "Bandung"}"#),
            &operator,
            StatusCode::CREATED,
        ),
        ("operator_approves", Method::POST, &approve, None, &operator, StatusCode::FORBIDDEN),
        ("operator_refunds", Method::POST, "/v1/orders/x/refund", Some("{}"), &operator, StatusCode::FORBIDDEN),
        ("operator_expires_orders", Method::POST, "/v1/admin/expire-orders", None, &operator, StatusCode::FORBIDDEN),
        ("gate_staff_reads", Method::GET, "/v1/events", None, &gate_staff, StatusCode::FORBIDDEN),
        ("read_key_reads", Method::GET, "/v1/events", None, &reader, StatusCode::OK),
        ("read_key_orders", Method::POST, "/v1/orders", Some(&order), &reader, StatusCode::FORBIDDEN),
        ("admin_approves", Method::POST, &approve, None, auth.admin_token(), StatusCode::OK),
    ];
    for (case, method, path, body, credential, status) in cases {
        let (got, answer) = call(&app, method, path, body, Some(credential)).await;
        assert_eq!(got, status, "{case}: {answer}");
        if status == StatusCode::FORBIDDEN {
            assert_eq!(answer["field"], "Authorization", "{case}: {answer}");
            assert!(
                answer["error"].as_str().is_some_and(|error| error.contains("needs the scope")),
                "{case}: {answer}"
            );
        }
    }

    auth.stop().await;
    let (status, answer) = call(&app, Method::GET, "/v1/events", None, Some(&never_used)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("Authorization")),
        "{answer}"
    );
    let (status, answer) = call(&app, Method::GET, "/v1/events", None, Some(&cashier)).await;
    assert_eq!(status, StatusCode::OK, "a token is verified offline with the cached key set: {answer}");
}

#[tokio::test]
async fn an_order_is_placed_paid_and_refunded_over_http() {
    let (app, pool, auth) = app("http_flow").await;
    let key = auth.admin_token();
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let body = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": [{"areaId": areas[0], "quantity": 2}]});
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&body.to_string()), Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let number = placed["number"].as_str().unwrap().to_string();
    assert_eq!((placed["state"].as_str(), placed["totalPrice"].as_i64()), (Some("pending"), Some(400_000)));

    let payment = format!("/v1/orders/{number}/payment");
    let (status, short) = call(&app, Method::POST, &payment, Some(r#"{"amount": 1}"#), Some(key)).await;
    assert_eq!((status, short["field"].as_str()), (StatusCode::BAD_REQUEST, Some("amount")));
    let (status, paid) = call(&app, Method::POST, &payment, Some(r#"{"amount": 400000}"#), Some(key)).await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("paid")));
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2));
    let (status, again) = call(&app, Method::POST, &payment, Some(r#"{"amount": 400000}"#), Some(key)).await;
    assert_eq!((status, again["field"].as_str()), (StatusCode::CONFLICT, Some("orderNumber")));

    let refund = format!("/v1/orders/{number}/refund");
    let (status, refunding) = call(&app, Method::POST, &refund, Some("{}"), Some(key)).await;
    assert_eq!((status, refunding["state"].as_str()), (StatusCode::OK, Some("refunding")));
    let (status, expired) = call(&app, Method::POST, "/v1/admin/expire-orders", None, Some(key)).await;
    assert_eq!((status, expired), (StatusCode::OK, json!({"expired": []})));
}

#[tokio::test]
async fn paying_an_expired_order_is_a_409_that_says_so() {
    // no hold: every order expires as it is placed
    let (app, pool, auth) = app_with("http_pay_expired", SignedDuration::ZERO, 10).await;
    let key = auth.admin_token();
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let body = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": [{"areaId": areas[0], "quantity": 1}]});
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&body.to_string()), Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let number = placed["number"].as_str().unwrap().to_string();
    let payment = format!("/v1/orders/{number}/payment");
    // before the sweeper ran (still pending, past its hold) and after (expired)
    for case in ["past_its_hold", "expired"] {
        if case == "expired" {
            let (status, expired) = call(&app, Method::POST, "/v1/admin/expire-orders", None, Some(key)).await;
            assert_eq!((status, expired), (StatusCode::OK, json!({"expired": [number]})));
        }
        let (status, refused) = call(&app, Method::POST, &payment, Some(r#"{"amount": 200000}"#), Some(key)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{case}: {refused}");
        assert_eq!(refused["field"], "orderNumber", "{case}");
        assert_eq!(refused["error"], "the order expired before it was paid", "{case}");
        assert_eq!(refused["fix"], "place a new order", "{case}");
    }
    let (_, order) = call(&app, Method::GET, &format!("/v1/orders/{number}"), None, Some(key)).await;
    assert_eq!((order["state"].as_str(), order["tickets"].as_array().map(Vec::len)), (Some("expired"), Some(0)));
}

#[tokio::test]
async fn an_order_sent_again_with_its_client_reference_is_placed_once() {
    let (app, pool, auth) = app("http_client_reference").await;
    let key = auth.admin_token();
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let order = |quantity: i32| {
        json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "clientReference": "checkout-7",
               "items": [{"areaId": areas[0], "quantity": quantity}]})
        .to_string()
    };
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&order(2)), Some(key)).await;
    assert_eq!((status, placed["clientReference"].as_str()), (StatusCode::CREATED, Some("checkout-7")), "{placed}");
    let (status, again) = call(&app, Method::POST, "/v1/orders", Some(&order(2)), Some(key)).await;
    assert_eq!(status, StatusCode::OK, "the answer of a re-sent order: {again}");
    assert_eq!(again["number"], placed["number"], "the same order");
    let (status, other) = call(&app, Method::POST, "/v1/orders", Some(&order(3)), Some(key)).await;
    assert_eq!((status, other["field"].as_str()), (StatusCode::CONFLICT, Some("clientReference")), "{other}");
    assert_eq!(support::count(&pool, "SELECT count(*) FROM orders").await, 1, "one order");
    assert_eq!(support::count(&pool, "SELECT sum(sold)::bigint FROM areas").await, 2, "its seats held once");
    let (status, _) =
        call(&app, Method::POST, "/v1/orders", Some(&order(1).replace("checkout-7", "checkout-8")), Some(key)).await;
    assert_eq!(status, StatusCode::CREATED, "another reference is another order");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_file_and_lists_every_route() {
    let (app, _, auth) = app("http_openapi").await;
    let (status, served) = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(&file).unwrap());
    let routes = [
        ("post", "/v1/merchants", "/v1/merchants"),
        ("get", "/v1/merchants", "/v1/merchants"),
        ("get", "/v1/merchants/{merchant_id}", "/v1/merchants/1"),
        ("put", "/v1/merchants/{merchant_id}", "/v1/merchants/1"),
        ("post", "/v1/events", "/v1/events"),
        ("get", "/v1/events", "/v1/events"),
        ("get", "/v1/events/{event_id}", "/v1/events/1"),
        ("put", "/v1/events/{event_id}", "/v1/events/1"),
        ("post", "/v1/events/{event_id}/approve", "/v1/events/1/approve"),
        ("post", "/v1/orders", "/v1/orders"),
        ("get", "/v1/orders", "/v1/orders"),
        ("get", "/v1/orders/{order_number}", "/v1/orders/x"),
        ("post", "/v1/orders/{order_number}/payment", "/v1/orders/x/payment"),
        ("post", "/v1/orders/{order_number}/refund", "/v1/orders/x/refund"),
        ("get", "/v1/refunds", "/v1/refunds"),
        ("get", "/v1/payment-methods", "/v1/payment-methods"),
        ("post", "/v1/payment-methods", "/v1/payment-methods"),
        ("put", "/v1/payment-methods/{code}", "/v1/payment-methods/CASH"),
        ("get", "/v1/stats", "/v1/stats"),
        ("post", "/v1/admin/expire-orders", "/v1/admin/expire-orders"),
    ];
    let documented: usize =
        served["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len() + 1, "every documented operation is in this table (plus /openapi.json)");
    for (method, template, _) in routes {
        assert!(served["paths"][template][method].is_object(), "{method} {template} is not documented");
    }
    auth.assert_scopes_as_documented(&app, &served, &routes).await;
}

#[tokio::test]
async fn the_binary_migrates_serves_and_stops_on_sigterm() {
    let (_, url) = fresh_database("http_binary", 1).await;
    let auth = AuthService::start("http_binary").await;
    let (_, reader_key) = auth.api_key("dashboard", &["ticketing:read"]).await;
    let binary = env!("CARGO_BIN_EXE_ticketing-service");
    let migrate =
        Command::new(binary).arg("migrate").env("DATABASE_URL", &url).env("LOG_FORMAT", "text").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = KillOnDrop(
        Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("KAFKA_BOOTSTRAP_SERVERS", test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}")))
            .env("KAFKA_TOPIC_PREFIX", test_broker::unique("http-binary"))
            .env("AUTH_URL", &auth.url)
            .env("AUTH_SERVICE_KEY_FILE", auth.service_key_file())
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
        ("admin_token", Some(auth.admin_token().to_string()), 200),
        ("api_key_by_introspection", Some(reader_key.clone()), 200),
        ("none", None, 401),
    ] {
        // blocking, off this runtime: the binary asks the auth service, which runs on it
        let answer = tokio::task::spawn_blocking(move || get_authorized(port, "/v1/events", credential.as_deref()));
        assert_eq!(answer.await.unwrap().map(|(status, _)| status), Some(expected), "{case}");
    }
    let (status, metrics) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    for metric in [
        "ticketing_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}",
        "saga_dead_letters_total{consumer=\"ticketing.activate-tickets\"} 0",
        "saga_dead_letters_total{consumer=\"ticketing.complete-refund\"} 0",
        "saga_outbox_pending_messages ",
        "saga_outbox_oldest_pending_age_seconds ",
    ] {
        assert!(metrics.contains(metric), "{metric} missing from {metrics}");
    }

    let logs = stop_and_read_json_logs(&mut server).await;
    let service_key = std::fs::read_to_string(auth.service_key_file()).unwrap();
    for secret in [service_key.as_str(), reader_key.as_str(), auth.admin_token(), "microfleet:microfleet"] {
        assert!(!logs.contains(secret), "no secret in the logs: {logs}");
    }
}
