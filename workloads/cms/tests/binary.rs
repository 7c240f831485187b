//! The real `ticketing-cms` binary on a real PostgreSQL: `migrate` twice (the second changes nothing),
//! `serve` answers /healthz, /readyz (the sessions database reachable), /metrics and the login page, sends
//! a request without a session to the login, and stops on SIGTERM with JSON log lines only.

use std::process::{Command, Stdio};
use std::time::Duration;

use microfleet_common::plain_http::get as http_get;
use microfleet_common::test_database;
use microfleet_common::test_process::{stop_and_read_json_logs, KillOnDrop};

#[tokio::test]
async fn the_binary_migrates_serves_its_probes_and_stops_on_sigterm() {
    let url = test_database::create("cms_binary").await.unwrap_or_else(|error| panic!("{error}"));
    let binary = env!("CARGO_BIN_EXE_ticketing-cms");
    for run in ["first", "second"] {
        let migrate = Command::new(binary).arg("migrate").env("DATABASE_URL", &url).output().unwrap();
        assert!(migrate.status.success(), "{run}: {}", String::from_utf8_lossy(&migrate.stderr));
    }
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let key_file = std::env::temp_dir().join(format!("cms-binary-key-{}", std::process::id()));
    std::fs::write(&key_file, "not used by the CMS").unwrap();
    let mut server = KillOnDrop(
        Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("AUTH_URL", "http://127.0.0.1:9")
            .env("AUTH_SERVICE_KEY_FILE", &key_file)
            .env("TICKETING_URL", "http://127.0.0.1:9")
            .env("GATE_ACL_URL", "http://127.0.0.1:9")
            .env("TIME_ZONE", "Asia/Jakarta")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = None;
    for _ in 0..300 {
        ready = http_get(port, "/readyz");
        if matches!(ready, Some((200, _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.map(|(status, _)| status), Some(200), "/readyz answers 200 once the database is reachable");
    assert_eq!(http_get(port, "/healthz").map(|(status, _)| status), Some(200));
    let login = http_get(port, "/login").unwrap();
    assert_eq!(login.0, 200);
    assert!(login.1.contains("Sign in to the back office"), "{}", login.1);
    assert_eq!(http_get(port, "/dashboard").map(|(status, _)| status), Some(303), "no session: to the login");
    let metrics = http_get(port, "/metrics").unwrap().1;
    assert!(metrics.contains("cms_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"), "{metrics}");
    let logs = stop_and_read_json_logs(&mut server).await;
    assert!(logs.contains("ticketing-cms serving") && logs.contains("ticketing-cms stopped"), "{logs}");
    let _ = std::fs::remove_file(key_file);
}
