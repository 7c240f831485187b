//! The ticketing invariants against a real PostgreSQL (`eval "$(scripts/postgres.sh up)"`): no area is
//! oversold under concurrent buyers; an unpaid order expires and frees its seats; a paid order never
//! expires, and a payment racing the expiry of its order either pays it (no expiry) or is refused with a
//! 409 (expired, no tickets, no `order.paid`), never both; payment and refund write their outbox rows in the
//! same transaction; a failing step leaves nothing half-written. Each test has its own database.

mod support;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use microfleet_common::test_database;
use microfleet_ticketing::domain::event::{NewArea, NewEvent};
use microfleet_ticketing::domain::order::{self, Order, OrderState};
use microfleet_ticketing::domain::ErrorKind;
use microfleet_ticketing::repository::{self, RepositoryError};
use support::{count, event_on_sale, fresh_database, place, HOLD};

fn rejected_field(result: Result<Order, RepositoryError>) -> (ErrorKind, String) {
    match result {
        Err(RepositoryError::Rejected(error)) => (error.kind, error.field),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn no_area_is_oversold_when_fifty_clients_buy_the_last_ten_seats() {
    let (pool, _) = fresh_database("oversell", 50).await;
    test_database::warm_up(&pool, 50).await.unwrap();
    let (event_id, areas) = event_on_sale(&pool, &[(10, 200_000)]).await;
    let area = areas[0];
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let buyers: Vec<_> = (0..50)
        .map(|_| {
            let (pool, start) = (pool.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                place(&pool, event_id, &[(area, 1)]).await
            })
        })
        .collect();
    let mut sold = 0;
    for buyer in buyers {
        match buyer.await.unwrap() {
            Ok(_) => sold += 1,
            refused => assert_eq!(rejected_field(refused), (ErrorKind::Conflict, "items[0].quantity".to_string())),
        }
    }
    assert_eq!(sold, 10, "exactly the capacity was sold");
    assert_eq!(count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {area}")).await, 10);
    assert_eq!(count(&pool, "SELECT coalesce(sum(quantity), 0)::bigint FROM order_items").await, 10);
    assert_eq!(count(&pool, "SELECT count(*) FROM areas WHERE sold < 0 OR sold > capacity").await, 0);
}

#[tokio::test]
async fn an_unpaid_order_expires_and_frees_its_seats() {
    let (pool, _) = fresh_database("expiry", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(3, 100_000), (5, 50_000)]).await;
    let placed = place(&pool, event_id, &[(areas[0], 3), (areas[1], 2)]).await.unwrap();
    assert_eq!(rejected_field(place(&pool, event_id, &[(areas[0], 1)]).await).0, ErrorKind::Conflict);

    let before_hold_ends = Timestamp::now() + HOLD - SignedDuration::from_secs(5);
    assert!(repository::expire_orders(&pool, before_hold_ends, 100).await.unwrap().is_empty(), "still held");
    let after_hold = Timestamp::now() + HOLD + SignedDuration::from_secs(1);
    assert_eq!(repository::expire_orders(&pool, after_hold, 100).await.unwrap(), vec![placed.number.clone()]);

    let expired = repository::get_order(&pool, &placed.number).await.unwrap();
    assert_eq!(expired.state, OrderState::Expired);
    assert_eq!(count(&pool, "SELECT sum(sold)::bigint FROM areas").await, 0, "every seat is free again");
    assert_eq!(count(&pool, "SELECT count(*) FROM outbox WHERE topic = 'order.expired'").await, 1);
    assert!(repository::expire_orders(&pool, after_hold, 100).await.unwrap().is_empty(), "expires once");
    assert!(place(&pool, event_id, &[(areas[0], 3)]).await.is_ok(), "the freed seats sell again");
    let late_payment = repository::confirm_payment(&pool, &placed.number, placed.total_price, Timestamp::now()).await;
    assert_eq!(rejected_field(late_payment), (ErrorKind::Conflict, "orderNumber".to_string()));
}

#[tokio::test]
async fn a_paid_order_cannot_expire() {
    let (pool, _) = fresh_database("paid_stays", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(4, 200_000)]).await;
    let placed = place(&pool, event_id, &[(areas[0], 2)]).await.unwrap();
    let paid = repository::confirm_payment(&pool, &placed.number, 400_000, Timestamp::now()).await.unwrap();
    assert_eq!((paid.state, paid.tickets.len(), paid.payment_received), (OrderState::Paid, 2, 400_000));
    assert_eq!(count(&pool, "SELECT count(*) FROM outbox WHERE topic = 'order.paid'").await, 1);

    let long_after = Timestamp::now() + SignedDuration::from_hours(24);
    assert!(repository::expire_orders(&pool, long_after, 100).await.unwrap().is_empty());
    assert_eq!(repository::get_order(&pool, &placed.number).await.unwrap().state, OrderState::Paid);
    assert_eq!(count(&pool, "SELECT sold::bigint FROM areas").await, 2, "its seats stay sold");
}

#[tokio::test]
async fn a_payment_racing_the_expiry_of_its_order_either_pays_it_or_is_refused_never_both() {
    const ROUNDS: usize = 16;
    let (pool, _) = fresh_database("pay_vs_expiry", 8).await;
    let (event_id, areas) = event_on_sale(&pool, &[(ROUNDS as i32, 100_000)]).await;
    let (mut paid, mut expired) = (0, 0);
    for round in 0..ROUNDS {
        let placed = place(&pool, event_id, &[(areas[0], 1)]).await.unwrap();
        // the cashier's clock is still inside the hold; the sweeper's is past it
        let (pay_at, sweep_at) = (Timestamp::now(), placed.expires_at + SignedDuration::from_secs(1));
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let payment = {
            let (pool, start, number) = (pool.clone(), start.clone(), placed.number.clone());
            tokio::spawn(async move {
                start.wait().await;
                repository::confirm_payment(&pool, &number, 100_000, pay_at).await
            })
        };
        let sweep = {
            let (pool, start) = (pool.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                repository::expire_orders(&pool, sweep_at, 100).await.unwrap()
            })
        };
        let (payment, swept) = (payment.await.unwrap(), sweep.await.unwrap());
        let order = repository::get_order(&pool, &placed.number).await.unwrap();
        let paid_messages = count(
            &pool,
            &format!("SELECT count(*) FROM outbox WHERE topic = 'order.paid' AND message_key = '{}'", placed.number),
        )
        .await;
        match payment {
            Ok(_) => {
                paid += 1;
                assert!(swept.is_empty(), "round {round}: a paid order was expired too");
                assert_eq!(
                    (order.state, order.tickets.len(), paid_messages),
                    (OrderState::Paid, 1, 1),
                    "round {round}"
                );
            }
            Err(RepositoryError::Rejected(error)) => {
                expired += 1;
                assert_eq!((error.kind, error.field.as_str()), (ErrorKind::Conflict, "orderNumber"), "round {round}");
                assert!(error.message.contains("expired"), "round {round}: {}", error.message);
                assert_eq!(swept, vec![placed.number.clone()], "round {round}");
                assert_eq!(
                    (order.state, order.tickets.len(), paid_messages),
                    (OrderState::Expired, 0, 0),
                    "round {round}"
                );
            }
            Err(other) => panic!("round {round}: {other:?}"),
        }
    }
    assert_eq!(paid + expired, ROUNDS);
    let sold = count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {}", areas[0])).await;
    assert_eq!(sold, paid as i64, "only the paid orders hold seats");
}

#[tokio::test]
async fn a_refund_changes_state_and_writes_its_outbox_row_in_one_transaction() {
    let (pool, _) = fresh_database("refund", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(4, 200_000)]).await;
    let first = place(&pool, event_id, &[(areas[0], 2)]).await.unwrap();
    repository::confirm_payment(&pool, &first.number, 400_000, Timestamp::now()).await.unwrap();
    let refunding = repository::refund_order(&pool, &first.number, None, Timestamp::now()).await.unwrap();
    assert_eq!(refunding.state, OrderState::Refunding);
    assert_eq!(
        refunding.refund.as_ref().map(|refund| (refund.amount, refund.state.as_str())),
        Some((400_000, "pending"))
    );
    assert!(refunding.tickets.iter().all(|ticket| ticket.state == "revoking"));
    let message = format!(
        "SELECT count(*) FROM outbox WHERE topic = 'order.refund_requested' AND message_key = '{}'",
        first.number
    );
    assert_eq!(count(&pool, &message).await, 1);
    let twice = repository::refund_order(&pool, &first.number, None, Timestamp::now()).await;
    assert_eq!(rejected_field(twice), (ErrorKind::Conflict, "orderNumber".to_string()));

    // the outbox refuses the message: the refund must not happen without it
    let second = place(&pool, event_id, &[(areas[0], 1)]).await.unwrap();
    repository::confirm_payment(&pool, &second.number, 200_000, Timestamp::now()).await.unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "ALTER TABLE outbox ADD CONSTRAINT refuse_refunds CHECK (topic <> 'order.refund_requested') NOT VALID",
        )
        .await
        .unwrap();
    let failed = repository::refund_order(&pool, &second.number, None, Timestamp::now()).await;
    assert!(matches!(failed, Err(RepositoryError::Database(_))), "{failed:?}");
    let unchanged = repository::get_order(&pool, &second.number).await.unwrap();
    assert_eq!(unchanged.state, OrderState::Paid);
    assert!(unchanged.refund.is_none());
    assert!(unchanged.tickets.iter().all(|ticket| ticket.state == "issued"));
}

#[tokio::test]
async fn a_payment_without_its_outbox_row_leaves_the_order_unpaid() {
    let (pool, _) = fresh_database("pay_atomic", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(4, 200_000)]).await;
    let placed = place(&pool, event_id, &[(areas[0], 2)]).await.unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute("ALTER TABLE outbox ADD CONSTRAINT refuse_paid CHECK (topic <> 'order.paid') NOT VALID")
        .await
        .unwrap();
    let failed = repository::confirm_payment(&pool, &placed.number, 400_000, Timestamp::now()).await;
    assert!(matches!(failed, Err(RepositoryError::Database(_))), "{failed:?}");
    let unchanged = repository::get_order(&pool, &placed.number).await.unwrap();
    assert_eq!((unchanged.state, unchanged.paid, unchanged.tickets.len()), (OrderState::Pending, false, 0));
    assert_eq!(count(&pool, "SELECT count(*) FROM tickets").await, 0);
}

#[tokio::test]
async fn a_sold_out_second_area_leaves_nothing_half_written() {
    let (pool, _) = fresh_database("half_written", 4).await;
    let (event_id, areas) = event_on_sale(&pool, &[(5, 100_000), (1, 300_000)]).await;
    place(&pool, event_id, &[(areas[1], 1)]).await.unwrap();
    let cases = [
        ("sold_out_area", vec![(areas[0], 2), (areas[1], 1)], (ErrorKind::Conflict, "items[1].quantity")),
        (
            "listed_last_but_locked_first",
            vec![(areas[1], 1), (areas[0], 2)],
            (ErrorKind::Conflict, "items[0].quantity"),
        ),
        ("area_of_no_event", vec![(areas[0], 2), (999_999, 1)], (ErrorKind::NotFound, "items[1].areaId")),
    ];
    for (case, items, (kind, field)) in cases {
        let refused = rejected_field(place(&pool, event_id, &items).await);
        assert_eq!(refused, (kind, field.to_string()), "{case}");
        assert_eq!(count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {}", areas[0])).await, 0, "{case}");
        assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1, "{case}");
        assert_eq!(count(&pool, "SELECT count(*) FROM order_items").await, 1, "{case}");
    }
}

#[tokio::test]
async fn a_refused_order_leaves_no_seat_held_on_the_connection_used_next() {
    // one connection: the next order runs on the one the refused order used
    let (pool, _) = fresh_database("refused_clean", 1).await;
    let now = Timestamp::now();
    let (on_sale, on_sale_areas) = event_on_sale(&pool, &[(5, 100_000)]).await;
    let merchant = repository::create_merchant(&pool, "Promotor Bandung").await.unwrap();
    let unapproved = NewEvent {
        merchant_id: merchant.id,
        name: "Not yet approved".into(),
        venue: "Bandung".into(),
        starts_at: now + SignedDuration::from_hours(24),
        ends_at: now + SignedDuration::from_hours(48),
        sale_starts_at: now - SignedDuration::from_hours(1),
        sale_ends_at: now + SignedDuration::from_hours(24),
        areas: vec![NewArea { name: "Floor".into(), capacity: 5, price: 100_000 }],
    };
    let unapproved = repository::create_event(&pool, &unapproved, now).await.unwrap();
    let area = unapproved.areas[0].id;
    // its seats are held in the same round trip as the event is read, then rolled back by the refusal
    let refused = place(&pool, unapproved.id, &[(area, 2)]).await;
    assert!(matches!(refused, Err(RepositoryError::Rejected(_))), "{refused:?}");
    place(&pool, on_sale, &[(on_sale_areas[0], 1)]).await.unwrap();
    assert_eq!(count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {area}")).await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn concurrent_orders_sent_with_one_client_reference_place_it_once() {
    let (pool, _) = fresh_database("reference_race", 20).await;
    test_database::warm_up(&pool, 20).await.unwrap();
    let (event_id, areas) = event_on_sale(&pool, &[(100, 100_000)]).await;
    let mut new = support::new_order(event_id, &[(areas[0], 2)]);
    new.client_reference = Some("checkout-42".into());
    let wanted = order::validate_new_order(&new).unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let senders: Vec<_> = (0..20)
        .map(|_| {
            let (pool, start, new, wanted) = (pool.clone(), start.clone(), new.clone(), wanted.clone());
            tokio::spawn(async move {
                start.wait().await;
                repository::create_order(&pool, &new, &wanted, Timestamp::now(), HOLD).await
            })
        })
        .collect();
    let mut numbers = std::collections::HashSet::new();
    let mut created = 0;
    for sender in senders {
        let (placed, placed_now) = sender.await.unwrap().unwrap();
        numbers.insert(placed.number);
        created += usize::from(placed_now);
    }
    assert_eq!((numbers.len(), created), (1, 1), "every sender got the one order, placed by one of them");
    assert_eq!(count(&pool, &format!("SELECT sold::bigint FROM areas WHERE id = {}", areas[0])).await, 2);
    assert_eq!(count(&pool, "SELECT count(*) FROM order_items").await, 1);
}
