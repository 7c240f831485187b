//! Group commit of scans against a real PostgreSQL (`MICROFLEET_PG_URL`): in ONE batch, two entries of one
//! ticket admit it once, a re-sent scan gets the earlier answer identically and is stored once, a nonce
//! reused for another scan and an unknown gate are refused alone; a batch that fails in the database is
//! retried scan by scan, so its batch-mates are answered; the `scans` table, growing with every scan, is never
//! read whole, even by plans made while it was empty; a batch given up midway leaves no transaction open on a
//! pooled connection; a batch is one committed transaction, its writes inside it, also when it meets a stored
//! (device, nonce) pair. Each test has its own database.

mod support;

use jiff::Timestamp;
use microfleet_common::refusal::ErrorKind;
use microfleet_gate_acl::domain::scan::{Direction, Reason, ScanRequest};
use microfleet_gate_acl::repository::{self, RepositoryError, ScanJob, Scanned};
use microfleet_gate_acl::scan_batcher::ScanBatcher;
use support::{count, event, fresh_database, request, state, ticket_id, vip_ticket};

fn job(state: &microfleet_gate_acl::http::AppState, request: &ScanRequest) -> ScanJob {
    let claims = state.keys.verify(&request.qr).unwrap();
    ScanJob { request: request.clone(), claims, now: Timestamp::now() }
}

fn refusal(result: &Result<Scanned, RepositoryError>) -> (ErrorKind, String) {
    match result {
        Err(RepositoryError::Rejected(error)) => (error.kind, error.field.clone()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn one_batch_decides_its_scans_in_order_and_refuses_only_the_bad_ones() {
    let (pool, _) = fresh_database("batch_order", 4).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let (first, second) = (vip_ticket(&state, 1).await, vip_ticket(&state, 2).await);
    let entry = request(&first, gates.north_1, Direction::Entry, "north-1", "1");
    let same_ticket_elsewhere = request(&first, gates.north_2, Direction::Entry, "north-2", "1");
    let reused_nonce = request(&first, gates.north_2, Direction::Exit, "north-1", "1");
    let unknown_gate = request(&second, 424242, Direction::Entry, "north-1", "2");
    let exit = request(&first, gates.north_2, Direction::Exit, "north-2", "2");
    let other_ticket = request(&second, gates.north_1, Direction::Entry, "north-1", "3");
    let jobs: Vec<ScanJob> =
        [&entry, &same_ticket_elsewhere, &entry, &reused_nonce, &unknown_gate, &exit, &other_ticket]
            .into_iter()
            .map(|request| job(&state, request))
            .collect();

    let results = repository::record_scans(&pool, &jobs).await.unwrap();
    assert_eq!(results.len(), jobs.len());
    let decided = |index: usize| results[index].as_ref().unwrap_or_else(|error| panic!("scan {index}: {error}"));
    assert_eq!((decided(0).answer.reason, decided(0).replayed), (Reason::Ok, false), "the first entry");
    assert_eq!(decided(1).answer.reason, Reason::AlreadyInside, "the same ticket later in the batch");
    assert_eq!((&decided(2).answer, decided(2).replayed), (&decided(0).answer, true), "re-sent in the batch");
    assert_eq!(refusal(&results[3]), (ErrorKind::Conflict, "nonce".to_string()), "a nonce reused for another scan");
    assert_eq!(refusal(&results[4]), (ErrorKind::NotFound, "gateId".to_string()), "an unknown gate");
    assert_eq!(decided(5).answer.reason, Reason::Ok, "an exit after the batch's entry");
    assert_eq!(decided(6).answer.reason, Reason::Ok, "another ticket");

    let first_id = ticket_id(1);
    let entries = |id: &str| format!("SELECT entries::bigint FROM access_entries WHERE ticket_id = '{id}'");
    assert_eq!(count(&pool, &entries(&first_id)).await, 1, "one entry counted");
    assert_eq!(
        count(&pool, &format!("SELECT count(*) FROM access_entries WHERE inside AND ticket_id = '{first_id}'")).await,
        0
    );
    assert_eq!(count(&pool, &entries(&ticket_id(2))).await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 4, "one row per decided (device, nonce)");

    // sent again in a later batch: the stored answers, nothing changed
    let again = repository::record_scans(&pool, &[job(&state, &entry), job(&state, &reused_nonce)]).await.unwrap();
    assert_eq!(again[0].as_ref().unwrap(), &Scanned { answer: decided(0).answer.clone(), replayed: true });
    assert_eq!(refusal(&again[1]), (ErrorKind::Conflict, "nonce".to_string()));
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 4);
    assert_eq!(count(&pool, &entries(&first_id)).await, 1);
}

#[tokio::test]
async fn a_scan_failing_in_the_database_fails_alone() {
    let (pool, _) = fresh_database("batch_failure", 8).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let mut codes = Vec::new();
    for n in 1..=6 {
        codes.push(vip_ticket(&state, n).await);
    }
    // PostgreSQL refuses a NUL character in text: the statement, and so the whole batch, fails
    let poisoned = request(&codes[0], gates.north_1, Direction::Entry, "north-1", "bad\u{0}nonce");
    assert!(repository::record_scans(&pool, &[job(&state, &poisoned)]).await.is_err(), "the database refuses it");

    // one worker, held on a locked access row, so that the next scans queue up and make one batch
    let batcher = ScanBatcher::start(pool.clone(), 64, 1, state.metrics.clone());
    let mut locker = pool.get().await.unwrap();
    let lock = locker.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM access_entries WHERE ticket_id = $1::text::uuid FOR UPDATE", &[&ticket_id(6)])
        .await
        .unwrap();
    let held = job(&state, &request(&codes[5], gates.north_1, Direction::Entry, "north-1", "held"));
    let first = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.record(&held.request, &held.claims, held.now).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut queued = Vec::new();
    for (index, code) in codes[..5].iter().enumerate() {
        let nonce = if index == 2 { "bad\u{0}nonce".to_string() } else { format!("n{index}") };
        let scan = job(&state, &request(code, gates.north_1, Direction::Entry, "north-1", &nonce));
        let batcher = batcher.clone();
        queued.push(tokio::spawn(async move { batcher.record(&scan.request, &scan.claims, scan.now).await }));
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    lock.rollback().await.unwrap();

    assert_eq!(first.await.unwrap().unwrap().answer.reason, Reason::Ok);
    for (index, scan) in queued.into_iter().enumerate() {
        let result = scan.await.unwrap();
        if index == 2 {
            assert!(matches!(result, Err(RepositoryError::Database(_))), "the poisoned scan fails: {result:?}");
        } else {
            assert_eq!(result.unwrap().answer.reason, Reason::Ok, "scan {index} is answered");
        }
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 5);
    assert_eq!(count(&pool, "SELECT sum(entries)::bigint FROM access_entries").await, 5);
}

/// Sequential scans of `table` so far (the server's statistics, flushed first: one connection in `pool`).
async fn sequential_scans(pool: &deadpool_postgres::Pool, table: &str) -> i64 {
    let client = pool.get().await.unwrap();
    client.batch_execute("SELECT pg_stat_force_next_flush()").await.unwrap();
    client.query_one("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = $1", &[&table]).await.unwrap().get(0)
}

#[tokio::test]
async fn the_growing_scans_table_is_never_read_whole_even_by_plans_made_while_it_was_empty() {
    // one connection: the plans it keeps are the batches'
    let (pool, _) = fresh_database("batch_plans", 1).await;
    let state = state(pool.clone());
    // re-entry allowed: the ticket goes in and out
    let gates = event(&pool, true).await;
    let code = vip_ticket(&state, 1).await;
    let scans: Vec<ScanJob> = (0..16)
        .map(|n| {
            let direction = if n % 2 == 0 { Direction::Entry } else { Direction::Exit };
            job(&state, &request(&code, gates.north_1, direction, "north-1", &n.to_string()))
        })
        .collect();
    let scan = |n: usize| scans[n].clone();
    // analyzed empty, as when a service opens its first event; then more batches than PostgreSQL plans
    // afresh (5) before it keeps a plan for the connection
    pool.get().await.unwrap().batch_execute("ANALYZE").await.unwrap();
    for n in 0..8 {
        let results = repository::record_scans(&pool, &[scan(n)]).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap().answer.reason, Reason::Ok, "scan {n}");
    }
    // the event's scans pour in faster than the statistics follow
    pool.get()
        .await
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO scans (device_id, nonce, fingerprint, gate_id, kind, subject, direction, result, reason,
                                scanned_at, answered_at, answer)
             SELECT 'south-' || n % 16, n::text, 'f', {south}, 'ticket', 't', 'entry', 'allow', 'ok', now(), now(), '{{}}'
             FROM generate_series(1, 20000) AS n",
            south = gates.south
        ))
        .await
        .unwrap();
    let before = sequential_scans(&pool, "scans").await;
    for n in 8..16 {
        let results = repository::record_scans(&pool, &[scan(n), scan(n - 8)]).await.unwrap();
        assert_eq!(results[0].as_ref().unwrap().answer.reason, Reason::Ok, "scan {n}");
        assert!(results[1].as_ref().unwrap().replayed, "scan {} sent again", n - 8);
    }
    assert_eq!(sequential_scans(&pool, "scans").await, before, "no batch read the scans table whole");
}

#[tokio::test]
async fn a_batch_given_up_midway_leaves_no_transaction_open_in_the_pool() {
    let (pool, _) = fresh_database("batch_cancelled", 2).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let code = vip_ticket(&state, 1).await;
    let mut locker = pool.get().await.unwrap();
    let lock = locker.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM access_entries WHERE ticket_id = $1::text::uuid FOR UPDATE", &[&ticket_id(1)])
        .await
        .unwrap();
    // the batch waits for the ticket's lock inside its transaction, and is given up
    let entry = job(&state, &request(&code, gates.north_1, Direction::Entry, "north-1", "1"));
    let batch = repository::record_scans(&pool, std::slice::from_ref(&entry));
    assert!(tokio::time::timeout(std::time::Duration::from_millis(300), batch).await.is_err(), "still waiting");
    lock.rollback().await.unwrap();
    drop(locker);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let open = "SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND state LIKE 'idle in transaction%'";
    // a connection pooled with the transaction open would hold the ticket's lock: bounded waits
    let within = std::time::Duration::from_secs(5);
    let still_open = tokio::time::timeout(within, count(&pool, open)).await.expect("the pool answers");
    assert_eq!(still_open, 0, "its connection was closed, not pooled with the transaction open");
    let results = tokio::time::timeout(within, repository::record_scans(&pool, &[entry]))
        .await
        .expect("the ticket is not locked any more")
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap().answer.reason, Reason::Ok, "the scan sent again is decided afresh");
}

/// Transactions committed and rolled back in the pool's database so far (the server's statistics, flushed
/// first; the call itself adds a constant count).
async fn transactions(pool: &deadpool_postgres::Pool) -> (i64, i64) {
    let client = pool.get().await.unwrap();
    client.batch_execute("SELECT pg_stat_force_next_flush()").await.unwrap();
    let row = client
        .query_one("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_batch_is_one_transaction_committed_with_its_writes() {
    // one connection, its statements prepared by batches of another ticket (a scan, and the scan re-sent)
    let (pool, _) = fresh_database("batch_commits", 1).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let (code, other) = (vip_ticket(&state, 1).await, vip_ticket(&state, 2).await);
    let warm_up = job(&state, &request(&other, gates.north_1, Direction::Entry, "north-1", "0"));
    for _ in 0..2 {
        repository::record_scans(&pool, std::slice::from_ref(&warm_up)).await.unwrap();
    }
    let entry = job(&state, &request(&code, gates.north_1, Direction::Entry, "north-1", "1"));
    let exit = job(&state, &request(&code, gates.north_1, Direction::Exit, "north-1", "2"));
    let (before, _) = transactions(&pool).await;
    let (idle, _) = transactions(&pool).await;
    let measuring = idle - before;

    let first = transactions(&pool).await;
    let results = repository::record_scans(&pool, std::slice::from_ref(&entry)).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().answer.reason, Reason::Ok);
    let after = transactions(&pool).await;
    assert_eq!(after.0 - first.0 - measuring, 1, "one commit: the batch's writes ran inside its transaction");
    assert_eq!(after.1, first.1, "nothing rolled back");

    // a re-sent scan beside a new one: its insert fails and the COMMIT behind it rolls back, a probe (rolled
    // back) reads the stored answer, and the batch decided again commits once
    let results = repository::record_scans(&pool, &[entry.clone(), exit]).await.unwrap();
    assert!(results[0].as_ref().unwrap().replayed, "the stored answer");
    assert_eq!(results[1].as_ref().unwrap().answer.reason, Reason::Ok, "the exit, decided after the stored entry");
    let last = transactions(&pool).await;
    assert_eq!(last.0 - after.0 - measuring, 1, "one commit");
    assert_eq!(last.1 - after.1, 2, "the failed write and the probe rolled back");
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 3);
    assert_eq!(
        count(&pool, &format!("SELECT entries::bigint FROM access_entries WHERE ticket_id = '{}'", ticket_id(1))).await,
        1
    );
}
