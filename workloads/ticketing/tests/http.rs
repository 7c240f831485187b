//! The HTTP API against a real PostgreSQL: through the router (4xx answers naming the field, the served
//! OpenAPI document equal to the checked-in file, every documented path routed), and the real
//! `ticketing-service` binary (migrate, serve, /readyz, /metrics, SIGTERM).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::Router;
use jiff::SignedDuration;
use microfleet_common::api_key::ApiKey;
use microfleet_common::{plain_http::get as http_get, test_broker, test_request::call};
use microfleet_ticketing::http::{self, AppState};
use serde_json::{json, Value};
use support::{event_on_sale, fresh_database};

const KEY: &str = "0123456789abcdef-test-admin";

async fn app(name: &str) -> (Router, deadpool_postgres::Pool) {
    let (pool, _) = fresh_database(name, 4).await;
    let state = AppState { pool: pool.clone(), order_hold: SignedDuration::from_mins(15) };
    (http::router(state, ApiKey::new(KEY).unwrap()), pool)
}

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let (app, pool) = app("http_errors").await;
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
        ("empty_body", Method::POST, "/v1/merchants".to_string(), None, Some(KEY), StatusCode::BAD_REQUEST, "body"),
        (
            "unknown_field",
            Method::POST,
            "/v1/merchants".to_string(),
            Some(r#"{"nama": "x"}"#.to_string()),
            Some(KEY),
            StatusCode::BAD_REQUEST,
            "nama",
        ),
        (
            "blank_name",
            Method::POST,
            "/v1/merchants".to_string(),
            Some(r#"{"name": " "}"#.to_string()),
            Some(KEY),
            StatusCode::BAD_REQUEST,
            "name",
        ),
        (
            "event_bad_date",
            Method::POST,
            "/v1/events".to_string(),
            Some(r#"{"merchantId": 1, "name": "x", "venue": "y", "startsAt": "tomorrow"}"#.to_string()),
            Some(KEY),
            StatusCode::BAD_REQUEST,
            "startsAt",
        ),
        (
            "approve_bad_id",
            Method::POST,
            "/v1/events/abc/approve".to_string(),
            None,
            Some(KEY),
            StatusCode::BAD_REQUEST,
            "eventId",
        ),
        (
            "approve_unknown",
            Method::POST,
            "/v1/events/424242/approve".to_string(),
            None,
            Some(KEY),
            StatusCode::NOT_FOUND,
            "eventId",
        ),
        (
            "zero_seats",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": areas[0], "quantity": 0}]))),
            Some(KEY),
            StatusCode::BAD_REQUEST,
            "items[0].quantity",
        ),
        (
            "too_many_seats",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": areas[0], "quantity": 3}]))),
            Some(KEY),
            StatusCode::CONFLICT,
            "items[0].quantity",
        ),
        (
            "unknown_area",
            Method::POST,
            "/v1/orders".to_string(),
            Some(order(json!([{"areaId": 999_999, "quantity": 1}]))),
            Some(KEY),
            StatusCode::NOT_FOUND,
            "items[0].areaId",
        ),
        (
            "unknown_order",
            Method::GET,
            "/v1/orders/2023-03-20-345-2612".to_string(),
            None,
            Some(KEY),
            StatusCode::NOT_FOUND,
            "orderNumber",
        ),
    ];
    for (case, method, path, body, key, status, field) in cases {
        let (got, answer) = call(&app, method, &path, body.as_deref(), key).await;
        assert_eq!(got, status, "{case}: {answer}");
        assert_eq!(answer["field"], field, "{case}: {answer}");
        assert!(answer["error"].is_string(), "{case}: {answer}");
    }
    assert_eq!(support::count(&pool, "SELECT count(*) FROM orders").await, 0, "no refused order was written");
    assert_eq!(support::count(&pool, "SELECT sum(sold)::bigint FROM areas").await, 0);
}

#[tokio::test]
async fn an_order_is_placed_paid_and_refunded_over_http() {
    let (app, pool) = app("http_flow").await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let body = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": [{"areaId": areas[0], "quantity": 2}]});
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&body.to_string()), Some(KEY)).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let number = placed["number"].as_str().unwrap().to_string();
    assert_eq!((placed["state"].as_str(), placed["totalPrice"].as_i64()), (Some("pending"), Some(400_000)));

    let payment = format!("/v1/orders/{number}/payment");
    let (status, short) = call(&app, Method::POST, &payment, Some(r#"{"amount": 1}"#), Some(KEY)).await;
    assert_eq!((status, short["field"].as_str()), (StatusCode::BAD_REQUEST, Some("amount")));
    let (status, paid) = call(&app, Method::POST, &payment, Some(r#"{"amount": 400000}"#), Some(KEY)).await;
    assert_eq!((status, paid["state"].as_str()), (StatusCode::OK, Some("paid")));
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2));
    let (status, again) = call(&app, Method::POST, &payment, Some(r#"{"amount": 400000}"#), Some(KEY)).await;
    assert_eq!((status, again["field"].as_str()), (StatusCode::CONFLICT, Some("orderNumber")));

    let refund = format!("/v1/orders/{number}/refund");
    let (status, refunding) = call(&app, Method::POST, &refund, Some("{}"), Some(KEY)).await;
    assert_eq!((status, refunding["state"].as_str()), (StatusCode::OK, Some("refunding")));
    let (status, expired) = call(&app, Method::POST, "/v1/admin/expire-orders", None, Some(KEY)).await;
    assert_eq!((status, expired), (StatusCode::OK, json!({"expired": []})));
}

#[tokio::test]
async fn paying_an_expired_order_is_a_409_that_says_so() {
    let (pool, _) = fresh_database("http_pay_expired", 4).await;
    // no hold: every order expires as it is placed
    let state = AppState { pool: pool.clone(), order_hold: SignedDuration::ZERO };
    let app = http::router(state, ApiKey::new(KEY).unwrap());
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let body = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": [{"areaId": areas[0], "quantity": 1}]});
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&body.to_string()), Some(KEY)).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let number = placed["number"].as_str().unwrap().to_string();
    let payment = format!("/v1/orders/{number}/payment");
    // before the sweeper ran (still pending, past its hold) and after (expired)
    for case in ["past_its_hold", "expired"] {
        if case == "expired" {
            let (status, expired) = call(&app, Method::POST, "/v1/admin/expire-orders", None, Some(KEY)).await;
            assert_eq!((status, expired), (StatusCode::OK, json!({"expired": [number]})));
        }
        let (status, refused) = call(&app, Method::POST, &payment, Some(r#"{"amount": 200000}"#), Some(KEY)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{case}: {refused}");
        assert_eq!(refused["field"], "orderNumber", "{case}");
        assert_eq!(refused["error"], "the order expired before it was paid", "{case}");
        assert_eq!(refused["fix"], "place a new order", "{case}");
    }
    let (_, order) = call(&app, Method::GET, &format!("/v1/orders/{number}"), None, Some(KEY)).await;
    assert_eq!((order["state"].as_str(), order["tickets"].as_array().map(Vec::len)), (Some("expired"), Some(0)));
}

#[tokio::test]
async fn an_order_sent_again_with_its_client_reference_is_placed_once() {
    let (app, pool) = app("http_client_reference").await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 200_000)]).await;
    let order = |quantity: i32| {
        json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "clientReference": "checkout-7",
               "items": [{"areaId": areas[0], "quantity": quantity}]})
        .to_string()
    };
    let (status, placed) = call(&app, Method::POST, "/v1/orders", Some(&order(2)), Some(KEY)).await;
    assert_eq!((status, placed["clientReference"].as_str()), (StatusCode::CREATED, Some("checkout-7")), "{placed}");
    let (status, again) = call(&app, Method::POST, "/v1/orders", Some(&order(2)), Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "the answer of a re-sent order: {again}");
    assert_eq!(again["number"], placed["number"], "the same order");
    let (status, other) = call(&app, Method::POST, "/v1/orders", Some(&order(3)), Some(KEY)).await;
    assert_eq!((status, other["field"].as_str()), (StatusCode::CONFLICT, Some("clientReference")), "{other}");
    assert_eq!(support::count(&pool, "SELECT count(*) FROM orders").await, 1, "one order");
    assert_eq!(support::count(&pool, "SELECT sum(sold)::bigint FROM areas").await, 2, "its seats held once");
    let (status, _) =
        call(&app, Method::POST, "/v1/orders", Some(&order(1).replace("checkout-7", "checkout-8")), Some(KEY)).await;
    assert_eq!(status, StatusCode::CREATED, "another reference is another order");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_checked_in_file_and_lists_every_route() {
    let (app, _) = app("http_openapi").await;
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
    for (method, template, example) in routes {
        assert!(served["paths"][template][method].is_object(), "{method} {template} is not documented");
        let (status, _) = call(&app, method.to_uppercase().parse().unwrap(), example, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {example} is routed (behind the key)");
    }
}

#[tokio::test]
async fn the_binary_migrates_serves_and_stops_on_sigterm() {
    let (_, url) = fresh_database("http_binary", 1).await;
    let binary = env!("CARGO_BIN_EXE_ticketing-service");
    let migrate =
        Command::new(binary).arg("migrate").env("DATABASE_URL", &url).env("LOG_FORMAT", "text").output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(binary)
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("KAFKA_BOOTSTRAP_SERVERS", test_broker::bootstrap().unwrap_or_else(|error| panic!("{error}")))
        .env("KAFKA_TOPIC_PREFIX", test_broker::unique("http-binary"))
        .env("ADMIN_API_KEY", KEY)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
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

    let logs = microfleet_common::test_process::stop_and_read_json_logs(&mut server).await;
    assert!(!logs.contains(KEY) && !logs.contains("microfleet:microfleet"), "no secret in the logs: {logs}");
}
