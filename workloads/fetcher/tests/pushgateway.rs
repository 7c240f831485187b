//! The fetcher pushes its run figures to a real Prometheus Pushgateway (Debian's
//! `prometheus-pushgateway`, installed by scripts/tools.sh) on 127.0.0.1.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use microfleet_demo::{clustering, promotion, spawn};

struct Pushgateway(Child, u16);

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_pushgateway() -> Pushgateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gateway = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|child| Pushgateway(child, port))
        .expect("prometheus-pushgateway not found: run scripts/test.sh (it installs it) or apt-get install prometheus-pushgateway");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return gateway;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the Pushgateway did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_figures_reach_the_pushgateway() {
    let gateway = start_pushgateway();
    let (source, _) = clustering::router(clustering::Config { users: 2500, ..Default::default() });
    let (sink, _) = promotion::router(promotion::Config::default());
    let any = "127.0.0.1:0".parse().unwrap();
    let (source, sink) = (spawn(source, any).await.unwrap(), spawn(sink, any).await.unwrap());
    let manifest = format!(
        "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {{name: promo-users, namespace: promo}}\nspec:\n  schedule: '@daily'\n  source:\n    url: http://{source}/v1/users\n    pagination: {{type: cursor, cursorPath: /next_cursor}}\n    itemPath: /users\n  sink:\n    http: {{url: http://{sink}/v1/eligible-users/imports}}\n"
    );
    let path = std::env::temp_dir().join(format!("microfleet-push-{}.yaml", std::process::id()));
    std::fs::write(&path, manifest).unwrap();
    let url = format!("http://127.0.0.1:{}", gateway.1);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_microfleet-fetcher"));
    cmd.args(["run", "--spec"]).arg(&path).args(["--pushgateway-url", &url]).env("MICROFLEET_RUN_ID", "promo-users-1");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let metrics = http_get(&format!("{url}/metrics")).await;
    let series = |name: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(name) && l.contains("clusterfetch=\"promo-users\"") && l.contains("namespace=\"promo\"")
            })
            .unwrap_or_else(|| panic!("no {name} series in\n{metrics}"))
            .to_string()
    };
    assert!(series("microfleet_fetcher_items{").ends_with(" 2500"), "{}", series("microfleet_fetcher_items{"));
    assert!(series("microfleet_fetcher_succeeded{").ends_with(" 1"));
    assert!(series("microfleet_fetcher_pages{").ends_with(" 3"));
    assert!(series("microfleet_fetcher_duration_seconds{").contains("job=\"microfleet-fetcher\""));
    let _ = std::fs::remove_file(path);
}

async fn http_get(url: &str) -> String {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}
