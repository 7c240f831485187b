//! The gate-acl invariants against a real PostgreSQL (`eval "$(scripts/postgres.sh up)"`): a ticket admits
//! at most one entry, also under 20 concurrent scans at two gates; a re-sent scan (same device and nonce)
//! gets the same answer and is counted once, also when sent concurrently; revoked, forged, altered, expired
//! and not-yet-valid codes are refused, every one, and a forged one without a database read; each reason
//! of the scan decision on real rows. Each test has its own database.

mod support;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use microfleet_common::refusal::ErrorKind;
use microfleet_common::test_database;
use microfleet_gate_acl::domain::acl::{NewAccess, NewShift, NewStaff, WithQr};
use microfleet_gate_acl::domain::scan::{Direction, Reason, Verdict};
use microfleet_gate_acl::domain::token::{Claims, Keyring, Kind};
use microfleet_gate_acl::http::scans;
use microfleet_gate_acl::repository::{self, RepositoryError};
use support::{count, event, fresh_database, request, scan, state, ticket_id, vip_ticket, EVENT, VIP};

#[tokio::test]
async fn twenty_concurrent_entry_scans_of_one_ticket_at_two_gates_admit_exactly_one() {
    let (pool, _) = fresh_database("one_entry", 20).await;
    test_database::warm_up(&pool, 20).await.unwrap();
    let state = state(pool.clone());
    let gates = event(&pool, true).await;
    let qr = vip_ticket(&state, 1).await;
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let devices: Vec<_> = (0..20)
        .map(|device| {
            let (state, start, qr) = (state.clone(), start.clone(), qr.clone());
            let gate = if device % 2 == 0 { gates.north_1 } else { gates.north_2 };
            tokio::spawn(async move {
                let request = request(&qr, gate, Direction::Entry, &format!("device-{device}"), "nonce-1");
                start.wait().await;
                scan(&state, &request).await.answer.reason
            })
        })
        .collect();
    let mut reasons = Vec::new();
    for device in devices {
        reasons.push(device.await.unwrap());
    }
    assert_eq!(reasons.iter().filter(|reason| **reason == Reason::Ok).count(), 1, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|reason| **reason == Reason::AlreadyInside).count(), 19, "{reasons:?}");
    assert_eq!(count(&pool, "SELECT entries::bigint FROM access_entries").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM scans WHERE result = 'allow'").await, 1);
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 20);
}

#[tokio::test]
async fn a_resent_scan_gets_the_same_answer_and_is_counted_once() {
    let (pool, _) = fresh_database("nonce", 12).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let qr = vip_ticket(&state, 1).await;
    let entry = request(&qr, gates.north_1, Direction::Entry, "gate-7", "n-1");
    let first = scan(&state, &entry).await;
    assert_eq!((first.answer.reason, first.replayed), (Reason::Ok, false));
    let again = scan(&state, &entry).await;
    assert_eq!((&again.answer, again.replayed), (&first.answer, true), "identical, and marked as a replay");

    // ten copies of one new scan at once: one is decided, the others get its stored answer
    let exit = request(&qr, gates.north_1, Direction::Exit, "gate-7", "n-2");
    let copies: Vec<_> = (0..10)
        .map(|_| {
            let (state, exit) = (state.clone(), exit.clone());
            tokio::spawn(async move { scan(&state, &exit).await })
        })
        .collect();
    let mut answers = Vec::new();
    for copy in copies {
        answers.push(copy.await.unwrap());
    }
    assert!(answers.iter().all(|copy| copy.answer == answers[0].answer && copy.answer.reason == Reason::Ok));
    assert_eq!(answers.iter().filter(|copy| !copy.replayed).count(), 1, "decided once");

    assert_eq!(count(&pool, "SELECT entries::bigint FROM access_entries").await, 1, "one entry counted");
    assert_eq!(count(&pool, "SELECT count(*) FROM scans").await, 2, "one row per (device, nonce)");
    assert_eq!(count(&pool, "SELECT count(*) FROM access_entries WHERE inside").await, 0, "the exit applied once");

    let reused = request(&qr, gates.north_2, Direction::Entry, "gate-7", "n-1");
    match scans::answer(&state, &reused, Timestamp::now()).await {
        Err(RepositoryError::Rejected(error)) => {
            assert_eq!((error.kind, error.field.as_str()), (ErrorKind::Conflict, "nonce"))
        }
        other => panic!("a nonce reused for another scan must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_ticket_is_refused_at_every_gate_and_direction() {
    let (pool, _) = fresh_database("revoke", 4).await;
    let state = state(pool.clone());
    let gates = event(&pool, true).await;
    let qr = vip_ticket(&state, 1).await;
    let inside = scan(&state, &request(&qr, gates.north_1, Direction::Entry, "d", "1")).await;
    assert_eq!(inside.answer.reason, Reason::Ok);
    let revoked = repository::revoke_access(&pool, &ticket_id(1), Timestamp::now()).await.unwrap();
    let again = repository::revoke_access(&pool, &ticket_id(1), Timestamp::now()).await.unwrap();
    assert_eq!(format!("{revoked:?}"), format!("{again:?}"), "revoking twice changes nothing");
    for (nonce, gate, direction) in [
        ("2", gates.north_1, Direction::Exit),
        ("3", gates.north_2, Direction::Entry),
        ("4", gates.south, Direction::Entry),
    ] {
        let answer = scan(&state, &request(&qr, gate, direction, "d", nonce)).await.answer;
        assert_eq!(
            (answer.result, answer.reason, answer.pretix_reason.as_str()),
            (Verdict::Deny, Reason::Revoked, "revoked")
        );
    }
    // a re-delivered "prepare access" does not bring a revoked ticket back
    let entry = repository::get_access(&pool, &ticket_id(1)).await.unwrap();
    let new = NewAccess {
        ticket_id: ticket_id(1),
        event_id: EVENT,
        area_id: VIP,
        valid_from: entry.valid_from,
        valid_until: entry.valid_until,
    };
    let (stored, created) = repository::prepare_access(&pool, &new, Timestamp::now()).await.unwrap();
    assert_eq!((format!("{:?}", stored.state), created), ("Revoked".to_string(), false));
}

#[tokio::test]
async fn forged_altered_and_foreign_codes_are_refused_without_a_database_read() {
    // a pool on a port where no server listens: any read would fail the call
    let dead = microfleet_common::database::connect("postgres://nobody:x@127.0.0.1:9/none", 1).unwrap();
    let state = state(dead);
    let claims = Claims {
        kind: Kind::Ticket,
        sub: ticket_id(1),
        event_id: EVENT,
        area_id: Some(VIP),
        nbf: Timestamp::now().as_second() - 60,
        exp: Timestamp::now().as_second() + 3600,
        kid: String::new(),
    };
    let genuine = state.keys.sign(&claims);
    let (signed, signature) = genuine.rsplit_once('.').unwrap();
    let altered_claims = Claims { area_id: Some(VIP + 1), kid: state.keys.kid().to_string(), ..claims.clone() };
    let altered = format!(
        "MF1.{}.{signature}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&altered_claims).unwrap()
        )
    );
    let other_key = Keyring::from_seed(&[42; 32]).sign(&claims);
    let expired = state.keys.sign(&Claims { nbf: claims.nbf - 7200, exp: claims.nbf - 3600, ..claims.clone() });
    let early = state.keys.sign(&Claims { nbf: claims.exp, exp: claims.exp + 3600, ..claims.clone() });
    let cases = [
        ("altered_claims", altered, Reason::Forged),
        ("cut_signature", format!("{signed}.AAAA"), Reason::Forged),
        ("other_key", other_key, Reason::Forged),
        ("not_a_code", "https://example.com/ticket/1".to_string(), Reason::Forged),
        ("expired", expired, Reason::Expired),
        ("not_yet_valid", early, Reason::NotYetValid),
    ];
    for (case, qr, reason) in cases {
        let answer = scans::answer(&state, &request(&qr, 1, Direction::Entry, "d", case), Timestamp::now()).await;
        let answer = answer.unwrap_or_else(|error| panic!("{case}: the database was read: {error}")).answer;
        assert_eq!((answer.result, answer.reason), (Verdict::Deny, reason), "{case}");
    }
    let genuine =
        scans::answer(&state, &request(&genuine, 1, Direction::Entry, "d", "genuine"), Timestamp::now()).await;
    assert!(genuine.is_err(), "a genuine code does go to the database (here: unreachable)");
}

#[tokio::test]
async fn each_reason_of_the_scan_decision_on_real_rows() {
    let (pool, _) = fresh_database("reasons", 4).await;
    let state = state(pool.clone());
    let gates = event(&pool, false).await;
    let now = Timestamp::now();
    let hour = SignedDuration::from_hours(1);
    let vip = vip_ticket(&state, 1).await;
    let exited = vip_ticket(&state, 2).await;
    let unknown = state.keys.sign(&Claims {
        kind: Kind::Ticket,
        sub: ticket_id(99),
        event_id: EVENT,
        area_id: Some(VIP),
        nbf: (now - hour).as_second(),
        exp: (now + hour).as_second(),
        kid: String::new(),
    });
    // the code is valid now, but the stored entry's window has ended (e.g. shortened after issue)
    let shortened = NewAccess {
        ticket_id: ticket_id(3),
        event_id: EVENT,
        area_id: VIP,
        valid_from: now - hour * 2,
        valid_until: now - hour,
    };
    let (entry, _) = repository::prepare_access(&pool, &shortened, now).await.unwrap();
    let stale = state.keys.sign(&Claims { exp: (now + hour).as_second(), ..entry.claims() });
    let staff_new = |role: &str| NewStaff {
        event_id: EVENT,
        name: "Ayu".into(),
        role: role.into(),
        valid_from: now - hour * 24,
        valid_until: now + hour * 24,
    };
    let working = repository::create_staff(&pool, &staff_new("security"), now).await.unwrap();
    let shift = NewShift { starts_at: now - hour, ends_at: now + hour };
    let working = repository::add_shift(&pool, working.id, &shift).await.unwrap();
    let working = repository::approve_shift(&pool, working.id, working.shifts[0].id, now).await.unwrap();
    let unapproved = repository::create_staff(&pool, &staff_new("usher"), now).await.unwrap();
    let unapproved = repository::add_shift(&pool, unapproved.id, &shift).await.unwrap();
    let (working, unapproved) = (WithQr::staff(working, &state.keys).qr, WithQr::staff(unapproved, &state.keys).qr);

    assert_eq!(
        scan(&state, &request(&exited, gates.north_1, Direction::Entry, "setup", "1")).await.answer.reason,
        Reason::Ok
    );
    assert_eq!(
        scan(&state, &request(&exited, gates.north_1, Direction::Exit, "setup", "2")).await.answer.reason,
        Reason::Ok
    );

    let cases = [
        ("first_entry", &vip, gates.north_1, Direction::Entry, Reason::Ok, "ok"),
        ("already_inside", &vip, gates.north_2, Direction::Entry, Reason::AlreadyInside, "already_redeemed"),
        ("wrong_gate", &vip, gates.south, Direction::Exit, Reason::WrongGate, "product"),
        ("exit", &vip, gates.north_2, Direction::Exit, Reason::Ok, "ok"),
        ("exit_not_inside", &vip, gates.north_2, Direction::Exit, Reason::NotInside, "rules"),
        (
            "reentry_not_allowed",
            &exited,
            gates.north_1,
            Direction::Entry,
            Reason::ReentryNotAllowed,
            "already_redeemed",
        ),
        ("unknown", &unknown, gates.north_1, Direction::Entry, Reason::Unknown, "invalid"),
        ("entry_expired_in_the_list", &stale, gates.north_1, Direction::Entry, Reason::Expired, "invalid_time"),
        ("staff_in_window", &working, gates.south, Direction::Entry, Reason::Ok, "ok"),
        (
            "staff_unapproved_window",
            &unapproved,
            gates.south,
            Direction::Entry,
            Reason::OutsideWorkWindow,
            "invalid_time",
        ),
        ("staff_leaves", &unapproved, gates.south, Direction::Exit, Reason::Ok, "ok"),
    ];
    for (index, (case, qr, gate, direction, reason, pretix)) in cases.into_iter().enumerate() {
        let answer = scan(&state, &request(qr, gate, direction, "table", &index.to_string())).await.answer;
        assert_eq!((answer.reason, answer.pretix_reason.as_str()), (reason, pretix), "{case}");
    }
    match scans::answer(&state, &request(&vip, 424242, Direction::Entry, "table", "x"), now).await {
        Err(RepositoryError::Rejected(error)) => {
            assert_eq!((error.kind, error.field.as_str()), (ErrorKind::NotFound, "gateId"))
        }
        other => panic!("an unknown gate must be refused, got {other:?}"),
    }
}
