//! The CMS's staff and shifts (the seed's schedules) lists over HTTP against a real PostgreSQL: paging and
//! search (total, page boundaries, a bad parameter → 400 naming it) and the filters by event and approval.

mod support;

use axum::http::{Method, StatusCode};
use axum::Router;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::test_support::AuthService;
use microfleet_common::test_request::call;
use microfleet_gate_acl::domain::acl::{AreaSpec, EventSpec, NewShift, NewStaff};
use microfleet_gate_acl::repository;
use serde_json::Value;
use support::{event, EVENT};

/// The second event of these tests.
const OTHER_EVENT: i64 = 2;

/// The router over a fresh database, called with an admin's access token (every scope), and a gate device's
/// key (`gate:scan` only).
struct Api {
    router: Router,
    auth: AuthService,
    gate_key: String,
}

impl Api {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        call(&self.router, Method::GET, path, None, Some(self.auth.admin_token())).await
    }
}

async fn app(name: &str) -> (Api, deadpool_postgres::Pool) {
    let (router, pool, auth, gate_key) = support::app(name).await;
    (Api { router, auth, gate_key }, pool)
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|item| item["id"].as_i64().unwrap()).collect()
}

/// Staff members of events 1 and 2, the first two with two work windows each (the first window approved).
async fn staff(pool: &deadpool_postgres::Pool) -> Vec<i64> {
    event(pool, false).await;
    let other = EventSpec {
        name: "Bali night".into(),
        reentry_allowed: false,
        areas: vec![AreaSpec { area_id: 20, name: "Festival".into() }],
    };
    repository::put_event(pool, OTHER_EVENT, &other, Timestamp::now()).await.unwrap();
    let now = Timestamp::now();
    let mut ids = Vec::new();
    for (event_id, name, role) in
        [(EVENT, "Putri Security", "security"), (OTHER_EVENT, "Budi Usher", "usher"), (EVENT, "Citra Medic", "medic")]
    {
        let new = NewStaff {
            event_id,
            name: name.into(),
            role: role.into(),
            valid_from: now,
            valid_until: now + SignedDuration::from_hours(48),
        };
        ids.push(repository::create_staff(pool, &new, now).await.unwrap().id);
    }
    for (n, staff_id) in ids[..2].iter().enumerate() {
        for hours in [1, 25] {
            let starts_at = now + SignedDuration::from_hours(hours + n as i64);
            let shift = NewShift { starts_at, ends_at: starts_at + SignedDuration::from_hours(8) };
            let staff = repository::add_shift(pool, *staff_id, &shift).await.unwrap();
            if hours == 1 {
                repository::approve_shift(pool, *staff_id, staff.shifts[0].id, now).await.unwrap();
            }
        }
    }
    ids
}

#[tokio::test]
async fn staff_are_paged_searched_and_filtered_by_event() {
    let (app, pool) = app("lists_staff").await;
    let staff = staff(&pool).await;
    let cases = [
        ("all", "/v1/staff".to_string(), 3, vec![staff[0], staff[1], staff[2]]),
        ("first_page", "/v1/staff?perPage=2".to_string(), 3, vec![staff[0], staff[1]]),
        ("last_page", "/v1/staff?perPage=2&page=2".to_string(), 3, vec![staff[2]]),
        ("past_the_end", "/v1/staff?perPage=2&page=3".to_string(), 3, vec![]),
        ("event", format!("/v1/staff?eventId={EVENT}"), 2, vec![staff[0], staff[2]]),
        ("search", "/v1/staff?q=USHER".to_string(), 1, vec![staff[1]]),
        ("search_and_event", format!("/v1/staff?q=usher&eventId={EVENT}"), 0, vec![]),
    ];
    for (case, path, total, expected) in cases {
        let (status, answer) = app.get(&path).await;
        assert_eq!((status, answer["total"].as_i64()), (StatusCode::OK, Some(total)), "{case}: {answer}");
        assert_eq!(ids(&answer), expected, "{case}");
    }
    let (_, all) = app.get("/v1/staff").await;
    let first = &all["items"][0];
    assert_eq!(
        (first["name"].as_str(), first["role"].as_str(), first["eventId"].as_i64()),
        (Some("Putri Security"), Some("security"), Some(EVENT))
    );
    assert_eq!(first["shifts"].as_array().map(Vec::len), Some(2), "with their work windows: {first}");
    assert_eq!(
        (first["shifts"][0]["approved"].as_bool(), first["shifts"][1]["approved"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(first.get("qr").is_none(), "the list carries no QR code: {first}");
    assert_eq!((all["page"].as_u64(), all["perPage"].as_u64()), (Some(1), Some(20)));
    for (case, path, field) in [
        ("per_page", "/v1/staff?perPage=500", "perPage"),
        ("page", "/v1/staff?page=0", "page"),
        ("event", "/v1/staff?eventId=one", "eventId"),
    ] {
        let (status, answer) = app.get(path).await;
        assert_eq!((status, answer["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{case}: {answer}");
    }
    let (status, _) = call(&app.router, Method::GET, "/v1/staff", None, Some(&app.gate_key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a gate device's key lists no staff");
}

#[tokio::test]
async fn shifts_are_listed_by_start_with_their_staff_and_filtered_by_approval_and_event() {
    let (app, pool) = app("lists_shifts").await;
    let staff = staff(&pool).await;
    let (status, all) = app.get("/v1/shifts").await;
    assert_eq!((status, all["total"].as_i64()), (StatusCode::OK, Some(4)), "{all}");
    let staff_of = |page: &Value| -> Vec<(i64, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["staffId"].as_i64().unwrap(), s["approval"].as_str().unwrap().to_string()))
            .collect()
    };
    let (a, b) = (staff[0], staff[1]);
    let by_start = vec![
        (a, "approved".to_string()),
        (b, "approved".to_string()),
        (a, "waiting".to_string()),
        (b, "waiting".to_string()),
    ];
    assert_eq!(staff_of(&all), by_start, "by start");
    let first = &all["items"][0];
    assert_eq!(
        (first["staffName"].as_str(), first["eventId"].as_i64()),
        (Some("Putri Security"), Some(EVENT)),
        "{first}"
    );
    assert!(first["id"].is_i64() && first["startsAt"].is_string() && first["endsAt"].is_string(), "{first}");
    let cases = [
        ("waiting", "/v1/shifts?approval=waiting".to_string(), vec![by_start[2].clone(), by_start[3].clone()]),
        ("approved", "/v1/shifts?approval=approved".to_string(), vec![by_start[0].clone(), by_start[1].clone()]),
        ("event", format!("/v1/shifts?eventId={OTHER_EVENT}"), vec![by_start[1].clone(), by_start[3].clone()]),
        ("event_waiting", format!("/v1/shifts?eventId={OTHER_EVENT}&approval=waiting"), vec![by_start[3].clone()]),
        ("search", "/v1/shifts?q=putri&perPage=1&page=2".to_string(), vec![by_start[2].clone()]),
    ];
    for (case, path, expected) in cases {
        let (status, answer) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{case}: {answer}");
        assert_eq!(staff_of(&answer), expected, "{case}");
    }
    let (status, bad) = app.get("/v1/shifts?approval=rejected").await;
    assert_eq!((status, bad["field"].as_str()), (StatusCode::BAD_REQUEST, Some("approval")), "{bad}");
}
