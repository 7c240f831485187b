//! Shared by the ticketing tests: a fresh migrated database per test on the real PostgreSQL
//! (`MICROFLEET_PG_URL`), the router on it authenticating through an in-process auth service, and an approved
//! event on sale now.

#![allow(dead_code)] // each test binary uses a part

use axum::Router;
use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::test_support::AuthService;
use microfleet_common::{database, migrations, test_database};
use microfleet_ticketing::domain::event::{NewArea, NewEvent};
use microfleet_ticketing::domain::order::{self, NewItem, NewOrder, Order};
use microfleet_ticketing::http::{self, AppState};
use microfleet_ticketing::repository::{self, RepositoryError};
use microfleet_ticketing::schema::MIGRATIONS;

/// A fresh database with the schema applied, and its URL.
pub async fn fresh_database(name: &str, pool_size: usize) -> (Pool, String) {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    let pool = database::connect(&url, pool_size).unwrap();
    migrations::apply(&pool, &MIGRATIONS).await.unwrap();
    (pool, url)
}

/// The router over a fresh database (orders hold their seats `hold`), authenticating through a fresh auth
/// service (introspection answers cached for `cache_ttl_seconds`); the database; the auth service.
pub async fn app_with(name: &str, hold: SignedDuration, cache_ttl_seconds: u64) -> (Router, Pool, AuthService) {
    let (pool, _) = fresh_database(name, 4).await;
    let auth = AuthService::start(name).await;
    let state = AppState { pool: pool.clone(), order_hold: hold };
    (http::router(state, &auth.client(cache_ttl_seconds)), pool, auth)
}

/// [`app_with`] orders held [`HOLD`] and an introspection cache of 10 s.
pub async fn app(name: &str) -> (Router, Pool, AuthService) {
    app_with(name, HOLD, 10).await
}

/// An approved event on sale now with areas of these (capacity, price); returns the event and area ids.
pub async fn event_on_sale(pool: &Pool, areas: &[(i32, i64)]) -> (i64, Vec<i64>) {
    let now = Timestamp::now();
    let merchant = repository::create_merchant(pool, "Promotor Jakarta").await.unwrap();
    let new = NewEvent {
        merchant_id: merchant.id,
        name: "EXO EXPLORATION".into(),
        venue: "Jakarta".into(),
        starts_at: now + SignedDuration::from_hours(24),
        ends_at: now + SignedDuration::from_hours(48),
        sale_starts_at: now - SignedDuration::from_hours(1),
        sale_ends_at: now + SignedDuration::from_hours(24),
        areas: areas
            .iter()
            .enumerate()
            .map(|(index, &(capacity, price))| NewArea { name: format!("Area {index}"), capacity, price })
            .collect(),
    };
    let event = repository::create_event(pool, &new, now).await.unwrap();
    repository::approve_event(pool, event.id, now).await.unwrap();
    (event.id, event.areas.iter().map(|area| area.id).collect())
}

/// One `SELECT count(*)`-like integer.
pub async fn count(pool: &Pool, sql: &str) -> i64 {
    pool.get().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}

/// How long a test order holds its seats.
pub const HOLD: SignedDuration = SignedDuration::from_mins(15);

/// An order of `(area id, quantity)` items.
pub fn new_order(event_id: i64, items: &[(i64, i32)]) -> NewOrder {
    NewOrder {
        event_id,
        payment_method: "CASH".into(),
        customer_email: "fan@example.com".into(),
        items: items.iter().map(|&(area_id, quantity)| NewItem { area_id, quantity }).collect(),
        client_reference: None,
    }
}

/// Places an order of `(area id, quantity)` items now.
pub async fn place(pool: &Pool, event_id: i64, items: &[(i64, i32)]) -> Result<Order, RepositoryError> {
    let new = new_order(event_id, items);
    let wanted = order::validate_new_order(&new).unwrap();
    repository::create_order(pool, &new, &wanted, Timestamp::now(), HOLD).await.map(|(order, _)| order)
}
