//! Shared by the gate-acl tests: a fresh migrated database per test on the real PostgreSQL
//! (`MICROFLEET_PG_URL`), the router authenticating through an in-process auth service, the test signing key, an event with areas and
//! gates, prepared access, and scans.

#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use axum::Router;
use deadpool_postgres::Pool;
use jiff::{SignedDuration, Timestamp};
use microfleet_auth::test_support::AuthService;
use microfleet_common::{database, migrations, test_database};
use microfleet_gate_acl::domain::acl::{AreaSpec, EventSpec, NewAccess, NewGate, WithQr};
use microfleet_gate_acl::domain::scan::{Direction, ScanRequest};
use microfleet_gate_acl::domain::token::Keyring;
use microfleet_gate_acl::http::scans;
use microfleet_gate_acl::http::{self, AppState};
use microfleet_gate_acl::metrics::ScanMetrics;
use microfleet_gate_acl::repository::{self, Scanned};
use microfleet_gate_acl::scan_batcher::ScanBatcher;
use microfleet_gate_acl::schema::MIGRATIONS;

/// The event of every test; its areas; gates North 1 and North 2 admit VIP, South admits Festival.
pub const EVENT: i64 = 1;
/// The VIP area.
pub const VIP: i64 = 10;
/// The Festival area.
pub const FESTIVAL: i64 = 11;

/// The test's signing key seed.
pub const SEED: [u8; 32] = [7; 32];

/// A fresh database with the schema applied, and its URL.
pub async fn fresh_database(name: &str, pool_size: usize) -> (Pool, String) {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    let pool = database::connect(&url, pool_size).unwrap();
    migrations::apply(&pool, &MIGRATIONS).await.unwrap();
    (pool, url)
}

/// The router over a fresh database, authenticating through a fresh auth service (introspection answers
/// cached for `cache_ttl_seconds`); and a gate device's API key (`gate:scan`).
pub async fn app_with(name: &str, cache_ttl_seconds: u64) -> (Router, Pool, AuthService, String) {
    let (pool, _) = fresh_database(name, 4).await;
    let auth = AuthService::start(name).await;
    let (_, gate) = auth.api_key("gate-north-1a", &["gate:scan"]).await;
    (http::router(state(pool.clone()), &auth.client(cache_ttl_seconds)), pool, auth, gate)
}

/// [`app_with`] an introspection cache of 10 s.
pub async fn app(name: &str) -> (Router, Pool, AuthService, String) {
    app_with(name, 10).await
}

/// The handlers' state over `pool`, with the test key.
pub fn state(pool: Pool) -> AppState {
    let metrics = ScanMetrics::register(&prometheus::Registry::new()).unwrap();
    AppState {
        pool: pool.clone(),
        keys: Arc::new(Keyring::from_seed(&SEED)),
        metrics: metrics.clone(),
        scans: ScanBatcher::start(pool, 64, 2, metrics),
    }
}

/// The gates of [`event`].
pub struct Gates {
    /// Admits VIP.
    pub north_1: i64,
    /// Admits VIP.
    pub north_2: i64,
    /// Admits Festival.
    pub south: i64,
}

/// The event with its two areas and three gates.
pub async fn event(pool: &Pool, reentry_allowed: bool) -> Gates {
    let spec = EventSpec {
        name: "EXO EXPLORATION".into(),
        reentry_allowed,
        areas: vec![
            AreaSpec { area_id: VIP, name: "VIP".into() },
            AreaSpec { area_id: FESTIVAL, name: "Festival".into() },
        ],
    };
    repository::put_event(pool, EVENT, &spec, Timestamp::now()).await.unwrap();
    let gate = |name: &str, area: i64| NewGate { event_id: EVENT, name: name.into(), area_ids: vec![area] };
    Gates {
        north_1: repository::create_gate(pool, &gate("North 1", VIP)).await.unwrap().id,
        north_2: repository::create_gate(pool, &gate("North 2", VIP)).await.unwrap().id,
        south: repository::create_gate(pool, &gate("South", FESTIVAL)).await.unwrap().id,
    }
}

/// A new ticket id.
pub fn ticket_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Prepares access to VIP for a ticket, valid from an hour ago for a day; returns its QR code.
pub async fn vip_ticket(state: &AppState, n: u32) -> String {
    let now = Timestamp::now();
    let new = NewAccess {
        ticket_id: ticket_id(n),
        event_id: EVENT,
        area_id: VIP,
        valid_from: now - SignedDuration::from_hours(1),
        valid_until: now + SignedDuration::from_hours(24),
    };
    let (entry, _) = repository::prepare_access(&state.pool, &new, now).await.unwrap();
    WithQr::access(entry, &state.keys).qr
}

/// A scan of `qr` now.
pub fn request(qr: &str, gate_id: i64, direction: Direction, device: &str, nonce: &str) -> ScanRequest {
    ScanRequest {
        qr: qr.into(),
        gate_id,
        direction,
        device_id: device.into(),
        nonce: nonce.into(),
        scanned_at: Timestamp::now(),
    }
}

/// Answers a scan as `POST /v1/scans` does.
pub async fn scan(state: &AppState, request: &ScanRequest) -> Scanned {
    scans::answer(state, request, Timestamp::now()).await.unwrap()
}

/// One integer from a query.
pub async fn count(pool: &Pool, sql: &str) -> i64 {
    pool.get().await.unwrap().query_one(sql, &[]).await.unwrap().get(0)
}
