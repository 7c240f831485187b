//! The end of the chaos test: waiting until the saga has converged, then every invariant checked on BOTH
//! databases directly (SQL) and on the dead-letter topic, against what the clients saw (`Ledger`). Returns
//! the violations; asserts nothing itself.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use microfleet_common::topics::Topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio_postgres::{Client, NoTls};

use crate::cluster::{Endpoints, TOPIC_PREFIX};
use crate::workload::Ledger;

/// How many rows a violation lists.
const SHOWN: usize = 10;

async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| format!("{url}: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// Rows of one text column.
async fn texts(client: &Client, sql: &str) -> Result<Vec<String>, String> {
    let rows = client.query(sql, &[]).await.map_err(|e| format!("{sql}: {e}"))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

async fn count(client: &Client, sql: &str) -> Result<i64, String> {
    Ok(client.query_one(sql, &[]).await.map_err(|e| format!("{sql}: {e}"))?.get(0))
}

/// Paid orders with a ticket not active yet (the saga's work not done), by number.
const STUCK: &str = "SELECT o.number FROM orders o WHERE o.state = 'paid'
    AND EXISTS (SELECT 1 FROM tickets t WHERE t.order_id = o.id AND t.state <> 'active') ORDER BY o.id";
const UNPUBLISHED: &str = "SELECT count(*) FROM outbox WHERE published_at IS NULL";

/// Waits until every paid order's tickets are active and both outboxes are empty: how long it took, or
/// why not after `timeout` (the stuck orders listed).
pub async fn converge(endpoints: &Endpoints, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = String::from("not checked yet");
    while started.elapsed() < timeout {
        let state = async {
            let (ticketing, gate) = (connect(&endpoints.ticketing_db).await?, connect(&endpoints.gate_db).await?);
            let stuck = texts(&ticketing, STUCK).await?;
            let outboxes = (count(&ticketing, UNPUBLISHED).await?, count(&gate, UNPUBLISHED).await?);
            Ok::<_, String>((stuck, outboxes))
        };
        match state.await {
            Ok((stuck, (0, 0))) if stuck.is_empty() => return Ok(started.elapsed()),
            Ok((stuck, (ticketing, gate))) => {
                last = format!(
                    "{} paid orders' tickets not active (first: {:?}); unpublished outbox rows: ticketing {ticketing}, gate-acl {gate}",
                    stuck.len(),
                    &stuck[..stuck.len().min(SHOWN)]
                )
            }
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("the saga did not converge within {timeout:?}: {last}"))
}

/// Every invariant; the violations, each naming what broke and (some of) the rows at fault.
pub async fn check(endpoints: &Endpoints, ledger: &Ledger) -> Result<Vec<String>, String> {
    let ticketing = connect(&endpoints.ticketing_db).await?;
    let gate = connect(&endpoints.gate_db).await?;
    let mut violations = Vec::new();
    let mut expect_none = |what: &str, rows: Vec<String>| {
        if !rows.is_empty() {
            violations.push(format!("{what}: {} rows, e.g. {:?}", rows.len(), &rows[..rows.len().min(SHOWN)]));
        }
    };

    // ticketing: seats
    expect_none(
        "areas oversold (held seats above capacity)",
        texts(&ticketing, "SELECT format('area %s: %s of %s', id, sold, capacity) FROM areas WHERE sold > capacity")
            .await?,
    );
    expect_none(
        "areas whose held seats are not their pending and paid orders' seats",
        texts(
            &ticketing,
            "SELECT format('area %s: sold %s, orders %s', a.id, a.sold, coalesce(s.seats, 0)) FROM areas a
             LEFT JOIN (SELECT i.area_id, sum(i.quantity) AS seats FROM order_items i JOIN orders o ON o.id = i.order_id
                        WHERE o.state IN ('pending', 'paid') GROUP BY i.area_id) s ON s.area_id = a.id
             WHERE a.sold <> coalesce(s.seats, 0)",
        )
        .await?,
    );
    expect_none(
        "areas with more tickets than seats",
        texts(
            &ticketing,
            "SELECT format('area %s: %s tickets, capacity %s', a.id, count(t.id), a.capacity) FROM areas a
             JOIN tickets t ON t.area_id = a.id GROUP BY a.id HAVING count(t.id) > a.capacity",
        )
        .await?,
    );
    // ticketing: orders against what the customers saw
    let stored = ticketing
        .query("SELECT coalesce(client_reference, ''), number, state FROM orders", &[])
        .await
        .map_err(|e| e.to_string())?;
    let mut by_reference: HashMap<String, (String, String)> = HashMap::new();
    let mut unknown = Vec::new();
    for row in &stored {
        let (reference, number, state): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if by_reference.insert(reference.clone(), (number.clone(), state)).is_some() {
            unknown.push(format!("{number}: reference {reference:?} twice"));
        }
    }
    let mut wrong = Vec::new();
    for order in &ledger.orders {
        match by_reference.remove(&order.reference) {
            None => wrong.push(format!("{} ({}): lost", order.number, order.reference)),
            Some((number, _)) if number != order.number => {
                wrong.push(format!("{} ({}): stored as {number}", order.number, order.reference))
            }
            Some((_, state)) if (state == "paid") != order.paid => {
                wrong.push(format!("{}: {state}, the customer saw it paid: {}", order.number, order.paid))
            }
            Some((_, state)) if !order.paid && state != "pending" => wrong.push(format!("{}: {state}", order.number)),
            Some(_) => {}
        }
    }
    unknown.extend(by_reference.into_iter().map(|(reference, (number, _))| format!("{number} ({reference})")));
    expect_none("orders the customers saw placed, missing, another or in the wrong state", wrong);
    expect_none("orders no customer saw placed (a re-sent order placed twice)", unknown);
    expect_none(
        "orders whose ticket count is not their seats (paid) or 0 (not paid)",
        texts(
            &ticketing,
            "SELECT format('%s %s: %s tickets, %s seats', o.number, o.state, coalesce(t.n, 0), i.seats) FROM orders o
             JOIN (SELECT order_id, sum(quantity) AS seats FROM order_items GROUP BY order_id) i ON i.order_id = o.id
             LEFT JOIN (SELECT order_id, count(*) AS n FROM tickets GROUP BY order_id) t ON t.order_id = o.id
             WHERE coalesce(t.n, 0) <> CASE WHEN o.state = 'paid' THEN i.seats ELSE 0 END",
        )
        .await?,
    );
    expect_none("paid orders with a ticket not active", texts(&ticketing, STUCK).await?);

    // gate-acl: exactly the paid tickets have access
    let issued: BTreeSet<String> = texts(
        &ticketing,
        "SELECT format('%s/%s/%s', t.id, o.event_id, t.area_id) FROM tickets t JOIN orders o ON o.id = t.order_id
         WHERE o.state = 'paid'",
    )
    .await?
    .into_iter()
    .collect();
    let prepared: BTreeSet<String> = texts(
        &gate,
        "SELECT format('%s/%s/%s', ticket_id, event_id, area_id) FROM access_entries WHERE state = 'active'",
    )
    .await?
    .into_iter()
    .collect();
    expect_none("paid tickets without access at the gates", issued.difference(&prepared).cloned().collect());
    expect_none("access entries of no paid ticket", prepared.difference(&issued).cloned().collect());
    let seen: Vec<String> = ledger
        .orders
        .iter()
        .flat_map(|order| order.tickets.iter())
        .filter(|ticket| !issued.iter().any(|key| key.starts_with(ticket.as_str())))
        .cloned()
        .collect();
    expect_none("tickets a customer was given that are not issued", seen);
    // gate-acl: entries
    expect_none(
        "tickets with more than one entry",
        texts(&gate, "SELECT format('%s: %s', ticket_id, entries) FROM access_entries WHERE entries > 1").await?,
    );
    expect_none(
        "tickets whose entries are not their allowed entry scans",
        texts(
            &gate,
            "SELECT format('%s: %s entries, %s allowed', a.ticket_id, a.entries, coalesce(s.n, 0)) FROM access_entries a
             LEFT JOIN (SELECT subject, count(*) AS n FROM scans WHERE kind = 'ticket' AND direction = 'entry'
                        AND result = 'allow' GROUP BY subject) s ON s.subject = a.ticket_id::text
             WHERE a.entries <> coalesce(s.n, 0)",
        )
        .await?,
    );
    let scans = count(&gate, "SELECT count(*) FROM scans").await?;
    if scans != ledger.scans as i64 {
        violations
            .push(format!("{scans} scans recorded for {} distinct scans sent (re-sent ones count once)", ledger.scans));
    }

    // the saga's messages: each paid order's message applied once on each side
    let paid = ledger.orders.iter().filter(|order| order.paid).count() as i64;
    for (client, what, sql) in [
        (&ticketing, "order.paid messages written", "SELECT count(*) FROM outbox WHERE topic = 'order.paid'"),
        (
            &gate,
            "order.paid messages applied",
            "SELECT count(*) FROM processed_messages WHERE consumer = 'gate-acl.prepare-access'",
        ),
        (&gate, "access.prepared messages written", "SELECT count(*) FROM outbox WHERE topic = 'access.prepared'"),
        (
            &ticketing,
            "access.prepared messages applied",
            "SELECT count(*) FROM processed_messages WHERE consumer = 'ticketing.activate-tickets'",
        ),
    ] {
        let n = count(client, sql).await?;
        if n != paid {
            violations.push(format!("{what}: {n}, for {paid} paid orders"));
        }
    }
    for (client, name) in [(&ticketing, "ticketing"), (&gate, "gate-acl")] {
        let duplicates = texts(
            client,
            "SELECT format('%s %s', consumer, message_id) FROM processed_messages GROUP BY consumer, message_id
             HAVING count(*) > 1",
        )
        .await?;
        if !duplicates.is_empty() {
            violations.push(format!("{name}: processed-message keys twice: {duplicates:?}"));
        }
    }
    let dead = dead_letters(&endpoints.bootstrap).await?;
    if !dead.is_empty() {
        violations.push(format!("{} dead letters: {:?}", dead.len(), &dead[..dead.len().min(SHOWN)]));
    }
    Ok(violations)
}

/// The messages on the dead-letter topic: consumer, error and body of each.
async fn dead_letters(bootstrap: &str) -> Result<Vec<String>, String> {
    let bootstrap = bootstrap.to_string();
    let read = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
        let topic = Topics::new(TOPIC_PREFIX).dead_letter();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("chaos-check-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        let timeout = Duration::from_secs(15);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout).map_err(|e| e.to_string())?;
        let partitions = metadata.topics().first().map(|topic| topic.partitions().len()).unwrap_or(0) as i32;
        let mut list = TopicPartitionList::new();
        let mut waiting = 0;
        for partition in 0..partitions {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, timeout).map_err(|e| e.to_string())?;
            waiting += high - low;
            list.add_partition_offset(&topic, partition, Offset::Beginning).map_err(|e| e.to_string())?;
        }
        if waiting == 0 {
            return Ok(Vec::new());
        }
        consumer.assign(&list).map_err(|e| e.to_string())?;
        let (mut found, started) = (Vec::new(), Instant::now());
        while (found.len() as i64) < waiting && started.elapsed() < Duration::from_secs(30) {
            let Some(message) = consumer.poll(Duration::from_secs(1)) else { continue };
            let message = message.map_err(|e| e.to_string())?;
            let header = |name: &str| {
                message
                    .headers()
                    .and_then(|headers| {
                        headers.iter().find(|header| header.key == name).and_then(|header| header.value)
                    })
                    .map(|value| String::from_utf8_lossy(value).into_owned())
                    .unwrap_or_default()
            };
            let body = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            found.push(format!("{}: {} ({body})", header("consumer"), header("error")));
        }
        if (found.len() as i64) < waiting {
            found.push(format!("{} more not read", waiting - found.len() as i64));
        }
        Ok(found)
    });
    read.await.map_err(|e| e.to_string())?
}
