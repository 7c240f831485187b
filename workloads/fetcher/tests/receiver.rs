//! The receiver conformance check (`microfleet-fetcher check-receiver`), run as a platform team runs it:
//! against the demo's promotion platform (every check passes) and against one that breaks the protocol
//! (the check says which rule, and exits non-zero).

use microfleet_demo::{promotion, spawn};

/// Runs the check against a promotion platform with `faults`; its exit code and report.
async fn check(faults: Vec<promotion::Fault>) -> (Option<i32>, String) {
    let (router, _) = promotion::router(promotion::Config { keep_items: true, faults });
    let addr = spawn(router, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.args(["check-receiver", "--url", &format!("http://{addr}/v1/eligible-users/imports")]);
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    println!("{report}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code(), report)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_platform_keeps_every_rule_of_the_protocol() {
    let (code, report) = check(Vec::new()).await;
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("8 of 8 checks passed") && !report.contains("FAIL"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_refuses_a_repeated_commit_fails_the_check() {
    let (code, report) = check(vec![promotion::Fault::RefuseRepeatedCommit]).await;
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(
            "  FAIL  a commit sent twice answers success: the repeated commit answered 409 Conflict, want 2xx"
        ),
        "{report}"
    );
    assert!(report.contains("6 of 8 checks passed"), "{report}");
}
