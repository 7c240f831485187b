//! The CMS's lists, edits and dashboard over HTTP against a real PostgreSQL: paging and search (total, page
//! boundaries, a bad parameter → 400 naming it), the lists' filters, the event edit rules, payment methods
//! that can be disabled, and the stats' buckets after orders are paid and refunded.

mod support;

use axum::http::{Method, StatusCode};
use axum::Router;
use jiff::{SignedDuration, Timestamp, ToSpan};
use microfleet_auth::test_support::AuthService;
use microfleet_common::test_request::call;
use microfleet_ticketing::domain::event::{NewArea, NewEvent};
use microfleet_ticketing::repository;
use serde_json::{json, Value};
use support::event_on_sale;

/// The router over a fresh database, called with an admin's access token (every scope; which route needs
/// which scope is `tests/http.rs`'s business).
struct Api {
    router: Router,
    auth: AuthService,
}

impl Api {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        call(&self.router, Method::GET, path, None, Some(self.auth.admin_token())).await
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> (StatusCode, Value) {
        call(&self.router, method, path, Some(&body.to_string()), Some(self.auth.admin_token())).await
    }
}

async fn app(name: &str) -> (Api, deadpool_postgres::Pool) {
    let (router, pool, auth) = support::app(name).await;
    (Api { router, auth }, pool)
}

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|item| item["name"].as_str().unwrap().to_string()).collect()
}

/// An event of a merchant starting in `starts_in` hours (negative: it has ended), with one area.
async fn event(pool: &deadpool_postgres::Pool, merchant_id: i64, name: &str, starts_in: i64) -> i64 {
    let now = Timestamp::now();
    let starts_at = now + SignedDuration::from_hours(starts_in);
    let new = NewEvent {
        merchant_id,
        name: name.into(),
        venue: "Jakarta".into(),
        starts_at,
        ends_at: starts_at + SignedDuration::from_hours(2),
        sale_starts_at: starts_at - SignedDuration::from_hours(48),
        sale_ends_at: starts_at,
        areas: vec![NewArea { name: "Festival".into(), capacity: 10, price: 100 }],
    };
    repository::create_event(pool, &new, now).await.unwrap().id
}

#[tokio::test]
async fn merchants_page_search_and_rename() {
    let (app, pool) = app("lists_merchants").await;
    for n in 1..=25 {
        repository::create_merchant(&pool, &format!("Merchant {n:02}")).await.unwrap();
    }
    repository::create_merchant(&pool, "50%_off Promotions").await.unwrap();
    let cases = [
        ("first_page", "/v1/merchants", 26, 1, 20, 20, Some("50%_off Promotions")),
        ("last_page", "/v1/merchants?page=2", 26, 2, 20, 6, Some("Merchant 06")),
        ("past_the_end", "/v1/merchants?page=3", 26, 3, 20, 0, None),
        ("small_pages", "/v1/merchants?perPage=5&page=6", 26, 6, 5, 1, Some("Merchant 01")),
        ("search", "/v1/merchants?q=merchant%201", 10, 1, 20, 10, Some("Merchant 19")),
        ("search_wildcards_are_text", "/v1/merchants?q=%25_", 1, 1, 20, 1, Some("50%_off Promotions")),
        ("underscore_is_text", "/v1/merchants?q=t_0", 0, 1, 20, 0, None),
        ("empty_parameters", "/v1/merchants?q=&page=&perPage=", 26, 1, 20, 20, Some("50%_off Promotions")),
    ];
    for (case, path, total, page, per_page, len, first) in cases {
        let (status, answer) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{case}: {answer}");
        assert_eq!(
            (answer["total"].as_i64(), answer["page"].as_u64(), answer["perPage"].as_u64()),
            (Some(total), Some(page), Some(per_page)),
            "{case}"
        );
        let got = names(&answer);
        assert_eq!(got.len(), len, "{case}: {got:?}");
        assert_eq!(got.first().map(String::as_str), first, "{case}");
    }
    let refused = [
        ("per_page_zero", "/v1/merchants?perPage=0", "perPage"),
        ("per_page_too_big", "/v1/merchants?perPage=101", "perPage"),
        ("page_text", "/v1/merchants?page=two", "page"),
        ("unknown_parameter", "/v1/merchants?approval=waiting", "approval"),
    ];
    for (case, path, field) in refused {
        let (status, answer) = app.get(path).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{case}: {answer}");
    }

    let merchant_id = repository::create_merchant(&pool, "Promotor Bali").await.unwrap().id;
    event(&pool, merchant_id, "Bali night", 24).await;
    event(&pool, merchant_id, "Bali day", 48).await;
    let (status, merchant) = app.get(&format!("/v1/merchants/{merchant_id}")).await;
    assert_eq!(
        (status, merchant["name"].as_str(), merchant["events"].as_i64()),
        (StatusCode::OK, Some("Promotor Bali"), Some(2))
    );
    let (_, listed) = app.get("/v1/merchants?q=bali").await;
    assert_eq!(listed["items"][0]["events"], 2, "{listed}");
    let path = format!("/v1/merchants/{merchant_id}");
    let (status, renamed) = app.send(Method::PUT, &path, &json!({"name": "Promotor Bali Utara"})).await;
    assert_eq!((status, renamed["name"].as_str()), (StatusCode::OK, Some("Promotor Bali Utara")), "{renamed}");
    let edits = [
        ("taken_name", path.clone(), json!({"name": "Merchant 01"}), StatusCode::CONFLICT, "name"),
        ("blank_name", path.clone(), json!({"name": " "}), StatusCode::BAD_REQUEST, "name"),
        ("unknown", "/v1/merchants/424242".to_string(), json!({"name": "x"}), StatusCode::NOT_FOUND, "merchantId"),
        ("bad_id", "/v1/merchants/x".to_string(), json!({"name": "x"}), StatusCode::BAD_REQUEST, "merchantId"),
    ];
    for (case, path, body, status, field) in edits {
        let (got, answer) = app.send(Method::PUT, &path, &body).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{case}: {answer}");
    }
}

#[tokio::test]
async fn events_filter_by_approval_merchant_and_search() {
    let (app, pool) = app("lists_events").await;
    let jakarta = repository::create_merchant(&pool, "Promotor Jakarta").await.unwrap().id;
    let bali = repository::create_merchant(&pool, "Promotor Bali").await.unwrap().id;
    let waiting = event(&pool, jakarta, "EXO waiting", 24).await;
    let approved = event(&pool, jakarta, "EXO approved", 24).await;
    repository::approve_event(&pool, approved, Timestamp::now()).await.unwrap();
    let ended = event(&pool, bali, "Bali ended", -24).await;
    let cases = [
        ("all", "/v1/events".to_string(), vec![ended, approved, waiting]),
        ("waiting", "/v1/events?approval=waiting".to_string(), vec![waiting]),
        ("approved", "/v1/events?approval=approved".to_string(), vec![approved]),
        ("expired", "/v1/events?approval=expired".to_string(), vec![ended]),
        ("merchant", format!("/v1/events?merchantId={jakarta}"), vec![approved, waiting]),
        ("merchant_and_state", format!("/v1/events?merchantId={bali}&approval=approved"), vec![]),
        ("search", "/v1/events?q=exo".to_string(), vec![approved, waiting]),
        ("search_venue", "/v1/events?q=jakarta&perPage=1&page=2".to_string(), vec![approved]),
    ];
    for (case, path, expected) in cases {
        let (status, answer) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{case}: {answer}");
        let ids: Vec<i64> = answer["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, expected, "{case}");
        if case != "search_venue" {
            assert_eq!(answer["total"].as_u64(), Some(expected.len() as u64), "{case}");
        }
    }
    let (_, all) = app.get("/v1/events").await;
    assert_eq!(all["items"][0]["areas"][0]["name"], "Festival", "events come with their areas");
    assert_eq!(all["items"][0]["approval"], "expired");
    for (case, path, field) in [
        ("bad_state", "/v1/events?approval=sold", "approval"),
        ("bad_merchant", "/v1/events?merchantId=x", "merchantId"),
    ] {
        let (status, answer) = app.get(path).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{case}: {answer}");
    }
    let (status, one) = app.get(&format!("/v1/events/{waiting}")).await;
    assert_eq!((status, one["name"].as_str()), (StatusCode::OK, Some("EXO waiting")));
    let (status, missing) = app.get("/v1/events/424242").await;
    assert_eq!((status, missing["field"].as_str()), (StatusCode::NOT_FOUND, Some("eventId")));
}

#[tokio::test]
async fn an_event_edit_keeps_sold_seats_and_an_approved_events_times() {
    let (app, pool) = app("lists_event_edit").await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 100_000)]).await;
    support::place(&pool, event_id, &[(areas[0], 3)]).await.unwrap();
    let path = format!("/v1/events/{event_id}");
    let (_, current) = app.get(&path).await;
    let edit = |change: &dyn Fn(&mut Value)| {
        let mut body = json!({
            "name": current["name"], "venue": current["venue"], "startsAt": current["startsAt"],
            "endsAt": current["endsAt"], "saleStartsAt": current["saleStartsAt"], "saleEndsAt": current["saleEndsAt"],
            "areas": [{"id": areas[0], "name": "Area 0", "capacity": 5, "price": 100_000}],
        });
        change(&mut body);
        body
    };
    let refused: [(&str, Value, StatusCode, &str); 5] = [
        (
            "capacity_below_sold",
            edit(&|b| b["areas"][0]["capacity"] = json!(2)),
            StatusCode::CONFLICT,
            "areas[0].capacity",
        ),
        (
            "approved_times",
            edit(&|b| b["startsAt"] = json!(Timestamp::now() + SignedDuration::from_hours(30))),
            StatusCode::CONFLICT,
            "startsAt",
        ),
        (
            "area_removed",
            edit(&|b| b["areas"] = json!([{"name": "New", "capacity": 1, "price": 1}])),
            StatusCode::BAD_REQUEST,
            "areas",
        ),
        ("unknown_area", edit(&|b| b["areas"][0]["id"] = json!(424242)), StatusCode::NOT_FOUND, "areas[0].id"),
        ("unknown_field", edit(&|b| b["merchantId"] = json!(1)), StatusCode::BAD_REQUEST, "merchantId"),
    ];
    for (case, body, status, field) in refused {
        let (got, answer) = app.send(Method::PUT, &path, &body).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{case}: {answer}");
    }
    let outbox = "SELECT count(*) FROM outbox WHERE topic = 'event.approved'";
    assert_eq!(support::count(&pool, outbox).await, 1, "nothing refused was announced");

    let body = edit(&|b| {
        b["name"] = json!("EXO EXPLORATION (extra night)");
        b["areas"][0]["capacity"] = json!(3);
        b["areas"][0]["price"] = json!(90_000);
        b["areas"].as_array_mut().unwrap().push(json!({"name": "Tribune", "capacity": 50, "price": 10_000}));
    });
    let (status, edited) = app.send(Method::PUT, &path, &body).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "EXO EXPLORATION (extra night)");
    let area = |index: usize| {
        (
            edited["areas"][index]["name"].clone(),
            edited["areas"][index]["capacity"].clone(),
            edited["areas"][index]["available"].clone(),
        )
    };
    assert_eq!(area(0), (json!("Area 0"), json!(3), json!(0)), "capacity down to the seats sold");
    assert_eq!(area(1), (json!("Tribune"), json!(50), json!(50)), "an area added");
    assert_eq!(support::count(&pool, outbox).await, 2, "the gate-acl service learns the new area");

    // a waiting event may move
    let merchant = repository::create_merchant(&pool, "Promotor Bali").await.unwrap().id;
    let waiting = event(&pool, merchant, "Bali night", 24).await;
    let (_, current) = app.get(&format!("/v1/events/{waiting}")).await;
    let later = |field: &str| {
        json!(current[field].as_str().unwrap().parse::<Timestamp>().unwrap() + SignedDuration::from_hours(1))
    };
    let body = json!({
        "name": "Bali night", "venue": "Denpasar", "startsAt": later("startsAt"), "endsAt": later("endsAt"),
        "saleStartsAt": later("saleStartsAt"), "saleEndsAt": later("saleEndsAt"),
        "areas": [{"id": current["areas"][0]["id"], "name": "VIP", "capacity": 10, "price": 100}],
    });
    let (status, moved) = app.send(Method::PUT, &format!("/v1/events/{waiting}"), &body).await;
    assert_eq!(
        (status, moved["venue"].as_str(), &moved["startsAt"]),
        (StatusCode::OK, Some("Denpasar"), &later("startsAt")),
        "{moved}"
    );
    assert_eq!(support::count(&pool, outbox).await, 2, "a waiting event is not announced");
}

#[tokio::test]
async fn orders_and_refunds_are_listed_searched_and_filtered() {
    let (app, pool) = app("lists_orders").await;
    let (event_id, areas) = event_on_sale(&pool, &[(20, 1_000)]).await;
    let mut numbers = Vec::new();
    for (n, email) in ["ayu@mail.id", "budi@mail.id", "ayu@mail.id"].iter().enumerate() {
        let mut new = support::new_order(event_id, &[(areas[0], 1 + n as i32)]);
        new.customer_email = email.to_string();
        let wanted = microfleet_ticketing::domain::order::validate_new_order(&new).unwrap();
        let (placed, _) =
            repository::create_order(&pool, &new, &wanted, Timestamp::now(), support::HOLD).await.unwrap();
        numbers.push(placed.number);
    }
    for number in &numbers[..2] {
        let total = repository::get_order(&pool, number).await.unwrap().total_price;
        repository::confirm_payment(&pool, number, total, Timestamp::now()).await.unwrap();
    }
    repository::refund_order(&pool, &numbers[0], None, Timestamp::now()).await.unwrap();
    let cases = [
        ("all", "/v1/orders".to_string(), vec![2, 1, 0]),
        ("by_email", "/v1/orders?q=AYU".to_string(), vec![2, 0]),
        ("by_number", format!("/v1/orders?q={}", numbers[1]), vec![1]),
        ("pending", "/v1/orders?state=pending".to_string(), vec![2]),
        ("refunding", "/v1/orders?state=refunding".to_string(), vec![0]),
        ("event", format!("/v1/orders?eventId={event_id}&perPage=2"), vec![2, 1]),
        ("other_event", format!("/v1/orders?eventId={}", event_id + 1), vec![]),
    ];
    for (case, path, expected) in cases {
        let (status, answer) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{case}: {answer}");
        let got: Vec<&str> =
            answer["items"].as_array().unwrap().iter().map(|o| o["number"].as_str().unwrap()).collect();
        let expected: Vec<&str> = expected.iter().map(|&i| numbers[i].as_str()).collect();
        assert_eq!(got, expected, "{case}");
    }
    let (_, page) = app.get(&format!("/v1/orders?q={}", numbers[1])).await;
    let item = &page["items"][0];
    assert_eq!(
        (item["eventName"].as_str(), item["customerEmail"].as_str(), item["state"].as_str()),
        (Some("EXO EXPLORATION"), Some("budi@mail.id"), Some("paid"))
    );
    assert_eq!(
        (
            item["totalPrice"].as_i64(),
            item["paymentReceived"].as_i64(),
            item["paid"].as_bool(),
            item["checkedOut"].as_bool()
        ),
        (Some(2_000), Some(2_000), Some(true), Some(true))
    );
    assert!(item["paidAt"].is_string() && item["createdAt"].is_string() && item["paymentMethod"] == "CASH", "{item}");
    assert!(item.get("items").is_none() && item.get("tickets").is_none(), "the list has no detail: {item}");
    let (status, bad) = app.get("/v1/orders?state=validated").await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::BAD_REQUEST, Some("state")));

    let (status, refunds) = app.get("/v1/refunds").await;
    assert_eq!((status, refunds["total"].as_i64()), (StatusCode::OK, Some(1)), "{refunds}");
    let refund = &refunds["items"][0];
    assert_eq!(
        (refund["orderNumber"].as_str(), refund["amount"].as_i64(), refund["state"].as_str()),
        (Some(numbers[0].as_str()), Some(1_000), Some("pending"))
    );
    assert!(refund["id"].is_i64() && refund["createdAt"].is_string() && refund["completedAt"].is_null(), "{refund}");
    let mut client = pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    repository::complete_refund(&tx, &numbers[0], Timestamp::now()).await.unwrap();
    tx.commit().await.unwrap();
    let cases = [
        ("pending", "/v1/refunds?state=pending".to_string(), 0),
        ("refunded", "/v1/refunds?state=refunded".to_string(), 1),
        ("by_number", format!("/v1/refunds?q={}", &numbers[0][11..]), 1),
        ("other_number", format!("/v1/refunds?q={}", numbers[1]), 0),
    ];
    for (case, path, total) in cases {
        let (status, answer) = app.get(&path).await;
        assert_eq!((status, answer["total"].as_i64()), (StatusCode::OK, Some(total)), "{case}: {answer}");
    }
    let (_, refunded) = app.get("/v1/refunds?state=refunded").await;
    assert!(refunded["items"][0]["completedAt"].is_string(), "{refunded}");
    let (status, bad) = app.get("/v1/refunds?state=refunding").await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::BAD_REQUEST, Some("state")));
}

#[tokio::test]
async fn a_disabled_payment_method_refuses_new_orders() {
    let (app, pool) = app("lists_payment_methods").await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 1_000)]).await;
    let (status, methods) = app.get("/v1/payment-methods").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        methods,
        json!([{"code": "BANK_TRANSFER", "name": "Bank transfer", "enabled": true}, {"code": "CASH", "name": "Cash", "enabled": true}])
    );
    let (status, created) =
        app.send(Method::POST, "/v1/payment-methods", &json!({"code": "E_WALLET", "name": "E-wallet"})).await;
    assert_eq!(
        (status, created),
        (StatusCode::CREATED, json!({"code": "E_WALLET", "name": "E-wallet", "enabled": true}))
    );
    let refused = [
        (
            "taken",
            Method::POST,
            "/v1/payment-methods",
            json!({"code": "CASH", "name": "Cash"}),
            StatusCode::CONFLICT,
            "code",
        ),
        (
            "bad_code",
            Method::POST,
            "/v1/payment-methods",
            json!({"code": "e wallet", "name": "x"}),
            StatusCode::BAD_REQUEST,
            "code",
        ),
        (
            "unknown",
            Method::PUT,
            "/v1/payment-methods/CARD",
            json!({"name": "Card", "enabled": true}),
            StatusCode::NOT_FOUND,
            "code",
        ),
        (
            "missing_enabled",
            Method::PUT,
            "/v1/payment-methods/CASH",
            json!({"name": "Cash"}),
            StatusCode::BAD_REQUEST,
            "enabled",
        ),
    ];
    for (case, method, path, body, status, field) in refused {
        let (got, answer) = app.send(method, path, &body).await;
        assert_eq!((got, answer["field"].as_str()), (status, Some(field)), "{case}: {answer}");
    }
    let order = json!({"eventId": event_id, "paymentMethod": "CASH", "customerEmail": "a@b.id", "items": [{"areaId": areas[0], "quantity": 1}]});
    let (status, _) = app.send(Method::POST, "/v1/orders", &order).await;
    assert_eq!(status, StatusCode::CREATED, "CASH is enabled");
    let (status, disabled) = app
        .send(Method::PUT, "/v1/payment-methods/CASH", &json!({"name": "Cash at the box office", "enabled": false}))
        .await;
    assert_eq!(
        (status, disabled),
        (StatusCode::OK, json!({"code": "CASH", "name": "Cash at the box office", "enabled": false}))
    );
    let (status, refused) = app.send(Method::POST, "/v1/orders", &order).await;
    assert_eq!(
        (status, refused["field"].as_str(), refused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("paymentMethod"), Some("this payment method is disabled")),
        "{refused}"
    );
    let (status, _) =
        app.send(Method::PUT, "/v1/payment-methods/CASH", &json!({"name": "Cash", "enabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.send(Method::POST, "/v1/orders", &order).await;
    assert_eq!(status, StatusCode::CREATED, "enabled again");
    assert_eq!(support::count(&pool, "SELECT count(*) FROM orders").await, 2);
}

#[tokio::test]
async fn stats_count_paid_orders_per_day_and_month_minus_refunds() {
    let (app, pool) = app("lists_stats").await;
    let (event_id, areas) = event_on_sale(&pool, &[(50, 1_000)]).await;
    let mut numbers = Vec::new();
    for (quantity, email) in [(1, "ayu@mail.id"), (2, "budi@mail.id"), (3, "AYU@mail.id"), (4, "citra@mail.id")] {
        let mut new = support::new_order(event_id, &[(areas[0], quantity)]);
        new.customer_email = email.into();
        let wanted = microfleet_ticketing::domain::order::validate_new_order(&new).unwrap();
        numbers.push(
            repository::create_order(&pool, &new, &wanted, Timestamp::now(), support::HOLD).await.unwrap().0.number,
        );
    }
    // paid: 1, 2 and 3 seats (6,000); the 2-seat order refunded; the 4-seat order never paid
    for number in &numbers[..3] {
        let total = repository::get_order(&pool, number).await.unwrap().total_price;
        repository::confirm_payment(&pool, number, total, Timestamp::now()).await.unwrap();
    }
    repository::refund_order(&pool, &numbers[1], None, Timestamp::now()).await.unwrap();

    // around today (UTC), so a test running at midnight still finds its orders
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let (from, to) = (today.checked_sub(1.day()).unwrap(), today.checked_add(1.day()).unwrap());
    let (status, stats) = app.get(&format!("/v1/stats?from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        (stats["merchants"].as_i64(), stats["events"].as_i64(), stats["customers"].as_i64()),
        (Some(1), Some(1), Some(2)),
        "{stats}"
    );
    assert_eq!((stats["orders"].as_i64(), stats["revenue"].as_i64()), (Some(3), Some(4_000)), "{stats}");
    let days: Vec<String> =
        stats["byDay"].as_array().unwrap().iter().map(|d| d["day"].as_str().unwrap().to_string()).collect();
    assert_eq!(days, [from.to_string(), today.to_string(), to.to_string()]);
    let sum = |list: &str, field: &str| {
        stats[list].as_array().unwrap().iter().map(|b| b[field].as_i64().unwrap()).sum::<i64>()
    };
    assert_eq!((sum("byDay", "orders"), sum("byDay", "revenue")), (3, 4_000));
    assert_eq!((sum("byMonth", "orders"), sum("byMonth", "revenue")), (3, 4_000));
    let month = format!("{:04}-{:02}", today.year(), today.month());
    assert!(stats["byMonth"].as_array().unwrap().iter().any(|m| m["month"] == month.as_str()), "{stats}");

    let (status, default) = app.get("/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(default["byDay"].as_array().map(Vec::len), Some(30), "the last 30 days");
    assert_eq!(default["byDay"][29]["day"], today.to_string());
    let (_, before) = app.get("/v1/stats?from=2020-01-01&to=2020-12-31").await;
    assert_eq!(
        (
            before["orders"].as_i64(),
            before["byDay"].as_array().map(Vec::len),
            before["byMonth"].as_array().map(Vec::len)
        ),
        (Some(0), Some(366), Some(12))
    );
    for (case, query, field) in [
        ("bad_date", "from=yesterday", "from"),
        ("reversed", "from=2020-02-01&to=2020-01-01", "from"),
        ("too_long", "from=2020-01-01&to=2023-01-02", "from"),
        ("paged", "page=2", "page"),
    ] {
        let (status, answer) = app.get(&format!("/v1/stats?{query}")).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{case}: {answer}");
    }
}
