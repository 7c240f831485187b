//! The shared service parts against a real PostgreSQL (`MICROFLEET_PG_URL`, from `scripts/postgres.sh up`):
//! migrations, the outbox and its relay, the processed-message table, the pipelined transaction. Each test has
//! its own database.

use std::collections::HashSet;
use std::sync::Mutex;

use deadpool_postgres::Pool;
use microfleet_common::migrations::{self, Migration, MigrationError};
use microfleet_common::{database, inbox, outbox, test_database};
use serde_json::json;

async fn fresh_pool(name: &str) -> Pool {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    database::connect(&url, 4).unwrap()
}

const KIT: [Migration; 2] = [outbox::MIGRATION, inbox::MIGRATION];

#[tokio::test]
async fn migrations_apply_once_in_order() {
    let pool = fresh_pool("common_migrate").await;
    let list = [KIT[0], KIT[1], Migration { version: "0001_things", sql: "CREATE TABLE things (id INT);" }];
    assert_eq!(
        migrations::apply(&pool, &list).await.unwrap(),
        vec!["0000_outbox", "0000_processed_messages", "0001_things"]
    );
    assert!(migrations::apply(&pool, &list).await.unwrap().is_empty(), "a second run applies nothing");
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let pool = fresh_pool("common_edited").await;
    migrations::apply(&pool, &[Migration { version: "0001_a", sql: "CREATE TABLE a (id INT);" }]).await.unwrap();
    let edited = [Migration { version: "0001_a", sql: "CREATE TABLE a (id BIGINT);" }];
    assert!(matches!(migrations::apply(&pool, &edited).await, Err(MigrationError::Edited { .. })));
}

#[tokio::test]
async fn a_failing_migration_leaves_nothing_applied() {
    let pool = fresh_pool("common_failing").await;
    let list = [
        Migration { version: "0001_good", sql: "CREATE TABLE good (id INT);" },
        Migration { version: "0002_bad", sql: "CREATE TABLE bad (id NOSUCHTYPE);" },
    ];
    assert!(migrations::apply(&pool, &list).await.is_err());
    let client = pool.get().await.unwrap();
    let tables: i64 = client
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename IN ('good', 'schema_migrations')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "the good migration before the bad one was rolled back too");
}

/// Records what it publishes; fails on the message whose key is `fail_on`.
struct Recorder {
    published: Mutex<Vec<String>>,
    fail_on: Option<&'static str>,
}

impl outbox::Publisher for Recorder {
    async fn publish(&self, message: &outbox::OutboxMessage) -> Result<(), String> {
        if self.fail_on == Some(message.key.as_str()) {
            return Err("broker down".to_string());
        }
        self.published.lock().unwrap().push(format!("{}:{}", message.topic, message.key));
        Ok(())
    }
}

#[tokio::test]
async fn the_relay_publishes_committed_messages_in_order_once() {
    let pool = fresh_pool("common_relay").await;
    migrations::apply(&pool, &KIT).await.unwrap();
    let mut client = pool.get().await.unwrap();
    for key in ["o1", "o2", "o3"] {
        let tx = client.transaction().await.unwrap();
        outbox::append(&tx, "order.paid", key, &json!({"order": key})).await.unwrap();
        tx.commit().await.unwrap();
    }
    let rolled_back = client.transaction().await.unwrap();
    outbox::append(&rolled_back, "order.paid", "never", &json!({})).await.unwrap();
    rolled_back.rollback().await.unwrap();

    let failing = Recorder { published: Mutex::new(Vec::new()), fail_on: Some("o2") };
    assert_eq!(outbox::relay_batch(&pool, &failing, 10).await.unwrap(), 1, "stops at the failing message");
    let waiting = outbox::backlog(&client).await.unwrap();
    assert_eq!(waiting.pending, 2);
    assert!(waiting.oldest_age_seconds > 0.0, "{waiting:?}");

    let recorder = Recorder { published: Mutex::new(Vec::new()), fail_on: None };
    assert_eq!(outbox::relay_batch(&pool, &recorder, 10).await.unwrap(), 2);
    assert_eq!(outbox::relay_batch(&pool, &recorder, 10).await.unwrap(), 0, "published rows are not re-sent");
    assert_eq!(*recorder.published.lock().unwrap(), ["order.paid:o2", "order.paid:o3"]);
    assert_eq!(outbox::backlog(&client).await.unwrap(), outbox::Backlog { pending: 0, oldest_age_seconds: 0.0 });
}

#[tokio::test]
async fn a_message_is_processed_once_per_consumer() {
    let pool = fresh_pool("common_inbox").await;
    migrations::apply(&pool, &KIT).await.unwrap();
    let mut client = pool.get().await.unwrap();
    let set = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<HashSet<String>>();
    let cases: [(&str, &str, &[&str], &[&str]); 5] = [
        ("first", "ticketing", &["m1"], &["m1"]),
        ("again", "ticketing", &["m1"], &[]),
        ("other_consumer", "acl", &["m1"], &["m1"]),
        ("batch_with_one_applied_before", "ticketing", &["m1", "m3", "m4"], &["m3", "m4"]),
        ("listed_twice_in_a_batch", "ticketing", &["m5", "m5"], &["m5"]),
    ];
    for (case, consumer, messages, expected) in cases {
        let tx = client.transaction().await.unwrap();
        assert_eq!(inbox::first_deliveries(&tx, consumer, messages).await.unwrap(), set(expected), "{case}");
        tx.commit().await.unwrap();
    }
    let tx = client.transaction().await.unwrap();
    assert_eq!(inbox::first_deliveries(&tx, "ticketing", &["m2"]).await.unwrap(), set(&["m2"]));
    tx.rollback().await.unwrap();
    let tx = client.transaction().await.unwrap();
    assert_eq!(
        inbox::first_deliveries(&tx, "ticketing", &["m2"]).await.unwrap(),
        set(&["m2"]),
        "a rolled-back effect did not count"
    );
}

#[tokio::test]
async fn a_session_the_server_ends_fails_transiently_and_a_refused_statement_permanently() {
    let pool = fresh_pool("common_transient").await;
    let victim = pool.get().await.unwrap();
    let pid: i32 = victim.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    // what every session gets when the server shuts down or restarts after a crash: 57P01
    let killer = pool.get().await.unwrap();
    assert!(killer.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap().get::<_, bool>(0));
    let ended = database::DbError::from(victim.query_one("SELECT 1", &[]).await.unwrap_err());
    assert!(ended.is_transient(), "{ended} ({:?})", ended.sql_state());
    let refused = database::DbError::from(killer.query_one("SELECT 1/0", &[]).await.unwrap_err());
    assert!(!refused.is_transient(), "{refused}");
    assert!(refused.to_string().contains("22012"), "the message names the SQLSTATE: {refused}");
}

/// A pool of one connection over a table `counter (n INT)` holding one row, 0.
async fn counter_pool(name: &str) -> Pool {
    let url = test_database::create(name).await.unwrap_or_else(|error| panic!("{error}"));
    let pool = database::connect(&url, 1).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE counter (n INT); INSERT INTO counter VALUES (0)")
        .await
        .unwrap();
    pool
}

/// The counter, and whether the connection that read it was inside a transaction that wrote (the pool has one).
async fn counter_and_in_transaction(pool: &Pool) -> (i32, bool) {
    let client = pool.get().await.unwrap();
    let n: i32 = client.query_one("SELECT n FROM counter", &[]).await.unwrap().get(0);
    // a transaction left open by a write has its id; a fresh statement reading only has none
    let open: bool = client.query_one("SELECT pg_current_xact_id_if_assigned() IS NOT NULL", &[]).await.unwrap().get(0);
    (n, open)
}

#[tokio::test]
async fn a_pipelined_transaction_commits_with_its_statements_and_rolls_back_when_one_fails() {
    let pool = counter_pool("common_pipelined").await;
    let tx = database::PipelinedTransaction::new(pool.get().await.unwrap());
    let client = tx.client();
    // prepared first: a statement prepared inside the join would run after the COMMIT
    let bump = client.prepare_cached("UPDATE counter SET n = n + 1").await.unwrap();
    let fail = client.prepare_cached("SELECT 1 / (n - n) FROM counter").await.unwrap();
    let (begun, bumped, committed) = tokio::join!(tx.begin(), client.execute(&bump, &[]), tx.commit());
    assert!(begun.is_ok() && bumped.is_ok() && committed.is_ok());
    assert!(tx.end(Ok::<(), ()>(())).await.is_ok());
    assert_eq!(counter_and_in_transaction(&pool).await, (1, false));

    // a failing statement fails the ones after it, and the COMMIT sent with them rolls back
    let tx = database::PipelinedTransaction::new(pool.get().await.unwrap());
    let client = tx.client();
    let (begun, bumped, failed, after, committed) = tokio::join!(
        tx.begin(),
        client.execute(&bump, &[]),
        client.execute(&fail, &[]),
        client.execute(&bump, &[]),
        tx.commit()
    );
    assert!(begun.is_ok() && bumped.is_ok() && failed.is_err() && after.is_err() && committed.is_ok());
    assert!(tx.end(Ok::<(), ()>(())).await.is_ok());
    assert_eq!(counter_and_in_transaction(&pool).await, (1, false));
}

#[tokio::test]
async fn a_pipelined_transaction_ended_or_dropped_before_its_commit_writes_nothing_and_leaves_no_open_transaction() {
    let pool = counter_pool("common_pipelined_open").await;
    // ended with an error (a refusal decided between two round trips): rolled back on the same connection
    let tx = database::PipelinedTransaction::new(pool.get().await.unwrap());
    let bump = tx.client().prepare_cached("UPDATE counter SET n = n + 1").await.unwrap();
    let (begun, bumped) = tokio::join!(tx.begin(), tx.client().execute(&bump, &[]));
    assert!(begun.is_ok() && bumped.is_ok());
    assert_eq!(tx.end(Err::<(), &str>("refused")).await, Err("refused"));
    assert_eq!(counter_and_in_transaction(&pool).await, (0, false));

    // dropped while open (its request cancelled): its connection is not reused
    let tx = database::PipelinedTransaction::new(pool.get().await.unwrap());
    let bump = tx.client().prepare_cached("UPDATE counter SET n = n + 1").await.unwrap();
    let (begun, bumped) = tokio::join!(tx.begin(), tx.client().execute(&bump, &[]));
    assert!(begun.is_ok() && bumped.is_ok());
    drop(tx);
    assert_eq!(counter_and_in_transaction(&pool).await, (0, false));
}
