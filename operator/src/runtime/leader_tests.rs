//! The election against an in-memory API server (tower-test mock) on Tokio's paused clock: a leader whose
//! renewals fail steps down, and its fence closes, before its Lease could have ended.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::{client::Body, Client};
use serde_json::{json, Value};
use tokio::time::{timeout, Duration, Instant};
use tower_test::mock::{self, Handle};

use super::{
    lease::{DURATION, MARGIN, RENEW_EVERY},
    Election,
};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// How the fake API server answers once the Lease has been created.
#[derive(Debug, Clone, Copy)]
enum Renewals {
    /// Every renewal succeeds.
    Succeed,
    /// Every renewal fails with this HTTP status.
    Fail(u16),
    /// No renewal is ever answered (an API server that went away without closing the connection).
    Hang,
    /// The Lease was deleted and re-created by another replica: renewals conflict, reads show the other holder.
    TakenByOther,
}

/// The requests the fake API server saw: method and body.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn reply(code: u16, body: &Value) -> Response<Body> {
    Response::builder().status(code).body(Body::from(serde_json::to_vec(body).unwrap())).unwrap()
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason})
}

/// A client whose API server has no Lease at first, creates one on request, then answers renewals as told.
fn fake_api(renewals: Renewals) -> (Client, Seen) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let seen = Seen::default();
    tokio::spawn(serve(handle, renewals, seen.clone()));
    (Client::new(service, "default"), seen)
}

async fn serve(mut handle: ApiHandle, renewals: Renewals, seen: Seen) {
    let mut unanswered = Vec::new();
    let mut version = 0;
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().to_string();
        let bytes = request.into_body().collect_bytes().await.unwrap_or_default();
        let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let renewed_before = seen.lock().unwrap().iter().any(|(m, _)| m == "PUT");
        seen.lock().unwrap().push((method.clone(), body.clone()));
        version += 1;
        body["metadata"]["resourceVersion"] = json!(version.to_string());
        let response = match (method.as_str(), renewals) {
            ("GET", Renewals::TakenByOther) if renewed_before => {
                let now = jiff::Timestamp::now().to_string();
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "microfleet-operator", "resourceVersion": "100"},
                    "spec": {"holderIdentity": "other", "renewTime": now, "leaseDurationSeconds": 15},
                });
                reply(200, &lease)
            }
            ("GET", _) => reply(404, &status(404, "NotFound")),
            ("POST", _) => reply(201, &body),
            ("PUT", Renewals::Succeed) => reply(200, &body),
            ("PUT", Renewals::Fail(code)) => reply(code, &status(code, "InternalError")),
            ("PUT", Renewals::TakenByOther) => reply(409, &status(409, "Conflict")),
            ("PUT", Renewals::Hang) => {
                unanswered.push(send);
                continue;
            }
            (other, _) => panic!("unexpected {other} on the Lease"),
        };
        send.send_response(response);
    }
}

fn puts(seen: &Seen) -> Vec<Value> {
    seen.lock().unwrap().iter().filter(|(m, _)| m == "PUT").map(|(_, body)| body.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_renewals_fail_steps_down_before_its_lease_ends() {
    // (case, how renewals are answered, latest step-down after acquiring)
    let cases = [
        ("renewals_answered_500", Renewals::Fail(500), DURATION - MARGIN),
        ("renewals_answered_503", Renewals::Fail(503), DURATION - MARGIN),
        ("renewals_never_answered", Renewals::Hang, DURATION - MARGIN),
        ("lease_deleted_and_recreated_by_another", Renewals::TakenByOther, RENEW_EVERY * 2),
    ];
    for (case, renewals, within) in cases {
        let (client, seen) = fake_api(renewals);
        let mut election = Election::join(client, "microfleet-system", "microfleet-operator", "me");
        let fence = election.fence();
        assert!(election.acquired().await, "{case}: acquires the free Lease");
        let acquired = Instant::now();
        assert!(fence.check().is_ok(), "{case}: the fence is open while leading");

        election.lost().await;
        let led = acquired.elapsed();
        assert!(led <= within, "{case}: stepped down after {led:?}, later than {within:?}");
        assert!(led < DURATION, "{case}: stepped down after {led:?}, when the Lease had ended");
        assert!(fence.check().is_err(), "{case}: the fence is closed after stepping down");
        assert!(!puts(&seen).is_empty(), "{case}: renewals were tried");
        election.release().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_renewals_succeed_keeps_leading() {
    let (client, seen) = fake_api(Renewals::Succeed);
    let mut election = Election::join(client, "microfleet-system", "microfleet-operator", "me");
    let fence = election.fence();
    assert!(election.acquired().await);
    assert!(timeout(Duration::from_secs(120), election.lost()).await.is_err(), "still leading after 120 s");
    assert!(fence.check().is_ok());
    let renewals = puts(&seen);
    assert!(renewals.len() >= 50, "renews every {RENEW_EVERY:?}: {} renewals in 120 s", renewals.len());
    assert!(renewals
        .iter()
        .all(|b| b["spec"]["holderIdentity"] == "me" && b["metadata"]["resourceVersion"] != json!(null)));
}

#[tokio::test(start_paused = true)]
async fn release_clears_the_holder_and_closes_the_fence() {
    let (client, seen) = fake_api(Renewals::Succeed);
    let mut election = Election::join(client, "microfleet-system", "microfleet-operator", "me");
    let fence = election.fence();
    assert!(election.acquired().await);
    election.release().await;
    let last = puts(&seen).pop().expect("a release write");
    assert_eq!(last["spec"]["holderIdentity"], Value::Null, "released: {last}");
    assert_eq!(last["spec"]["leaseTransitions"], json!(0));
    assert!(fence.check().is_err());
}

#[tokio::test(start_paused = true)]
async fn an_open_fence_never_closes() {
    let fence = super::Fence::open();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(fence.check().is_ok());
}
