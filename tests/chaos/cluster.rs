//! The processes the chaos test runs and kills: its OWN PostgreSQL and Kafka broker (`scripts/postgres.sh`,
//! `scripts/kafka.sh` on free ports, in a scratch folder — never the shared servers of the other tests), the
//! two services (`ticketing-service`, `gate-acl-service`) as child processes on their own databases and topic
//! prefix, authenticating through a real auth service (in the test's process, `microfleet_auth::test_support`,
//! its database on the same PostgreSQL — so killing the server takes introspection down too; the auth
//! service itself is not killed). It kills and restarts them; it checks nothing about what they do.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use microfleet_auth::test_support::AuthService;
use microfleet_common::test_broker;
use microfleet_tests::operator::binary;
use microfleet_tests::repo_root;

/// The QR signing key: the base64 of a 32-byte Ed25519 seed (a test key).
const SIGNING_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// The saga topics' prefix on the chaos broker.
pub const TOPIC_PREFIX: &str = "chaos";

/// What a process of the chaos test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `ticketing-service serve`.
    Ticketing,
    /// `gate-acl-service serve`.
    GateAcl,
    /// The Kafka broker.
    Kafka,
    /// The PostgreSQL server (both services' databases).
    Postgres,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 4] = [Target::Ticketing, Target::GateAcl, Target::Kafka, Target::Postgres];
}

/// Where the clients and the checks reach the system.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `http://127.0.0.1:<port>` of the ticketing service.
    pub ticketing: String,
    /// `http://127.0.0.1:<port>` of the gate-acl service.
    pub gate: String,
    /// The ticketing service's database.
    pub ticketing_db: String,
    /// The gate-acl service's database.
    pub gate_db: String,
    /// The chaos broker.
    pub bootstrap: String,
    /// The back office's API key at the auth service (the ticketing scopes, gate:read and gate:admin).
    pub back_office_key: String,
    /// The gate devices' API key at the auth service (gate:scan).
    pub gate_device_key: String,
}

/// One service process, restartable on the same port, its output appended to one log file.
struct Service {
    name: &'static str,
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    fn start(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(&self.log);
        let log = log.unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let child = Command::new(&self.binary)
            .arg("serve")
            .envs(self.env.iter().map(|(key, value)| (*key, value.as_str())))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        // for the sweep of a run that was itself killed (its Drop never ran)
        let _ = std::fs::write(self.log.with_extension("pid"), child.id().to_string());
        self.child = Some(child);
    }

    /// SIGKILL (what `Child::kill` sends on Unix), and reap it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// How it ended, when it exited by itself.
    fn exited(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status.to_string())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The whole system under test. Dropping it kills the services and stops (and deletes) the two servers —
/// also when the test fails; the services' logs are kept then, and their folder printed.
pub struct Cluster {
    dir: PathBuf,
    pg_port: u16,
    kafka_port: u16,
    ticketing: Service,
    gate: Service,
    /// The auth service the two authenticate through (dropped, it stops).
    _auth: AuthService,
    /// Where to reach it.
    pub endpoints: Endpoints,
}

/// The first of `count` consecutive free ports below the kernel's ephemeral range ([`test_broker::free_ports`]).
fn free_ports(count: u16) -> u16 {
    test_broker::free_ports(count).unwrap_or_else(|error| panic!("{error}"))
}

impl Cluster {
    /// Starts PostgreSQL and Kafka in a scratch folder, the auth service on its database there (with the
    /// API keys of the back office and the gate devices), creates and migrates the services' databases,
    /// starts both services and waits until they are ready.
    pub async fn start() -> Cluster {
        sweep_killed_runs();
        let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        // readable by all: as root the server runs as `postgres` and must reach its folder under this one
        std::fs::create_dir_all(dir.join("logs")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (pg_port, kafka_port) = (free_ports(1), free_ports(4));
        let (ticketing_port, gate_port) = (free_ports(1), free_ports(1));
        let ticketing_db = format!("postgres://microfleet:microfleet@127.0.0.1:{pg_port}/ticketing");
        let gate_db = format!("postgres://microfleet:microfleet@127.0.0.1:{pg_port}/gate_acl");
        let bootstrap = format!("127.0.0.1:{kafka_port}");
        let common = |listen: u16, database: &str| {
            vec![
                ("LISTEN_ADDR", format!("127.0.0.1:{listen}")),
                ("DATABASE_URL", database.to_string()),
                ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.clone()),
                ("KAFKA_TOPIC_PREFIX", TOPIC_PREFIX.to_string()),
                ("OUTBOX_RELAY_INTERVAL_MS", "100".to_string()),
                // one partition per topic: less for the broker to recover after each kill on this small machine
                ("KAFKA_TOPIC_PARTITIONS", "1".to_string()),
                ("LOG_FORMAT", "text".to_string()),
                ("RUST_LOG", "info,microfleet_common::kafka_consumer=debug".to_string()),
                ("SHUTDOWN_GRACE_SECONDS", "2".to_string()),
            ]
        };
        let started = Instant::now();
        let servers = |command| script_command(&dir, pg_port, kafka_port, "postgres", command);
        run_script(servers("up")).await;
        run_script(script_command(&dir, pg_port, kafka_port, "kafka", "up")).await;
        println!("chaos: PostgreSQL and Kafka up in {:.1} s", started.elapsed().as_secs_f64());
        let admin = format!("postgres://microfleet:microfleet@127.0.0.1:{pg_port}/postgres");
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("the chaos PostgreSQL: {e}"));
        tokio::spawn(connection);
        // the shared test server trades durability for speed (synchronous_commit off): a crash loses its last
        // commits, ones a service already acted on (an offset committed, an answer given). Here it must not.
        for statement in ["ALTER SYSTEM SET synchronous_commit = on", "SELECT pg_reload_conf()"] {
            client.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e:?}"));
        }
        client.batch_execute("CREATE DATABASE auth").await.unwrap_or_else(|e| panic!("{e}"));
        let auth = AuthService::start_on(&format!("postgres://microfleet:microfleet@127.0.0.1:{pg_port}/auth")).await;
        let back_office_scopes = [
            "ticketing:read",
            "ticketing:catalog",
            "ticketing:approve",
            "ticketing:orders",
            "ticketing:refunds",
            "gate:read",
            "gate:admin",
        ];
        let (_, back_office_key) = auth.api_key("chaos-back-office", &back_office_scopes).await;
        let (_, gate_device_key) = auth.api_key("chaos-gate-devices", &["gate:scan"]).await;
        let authenticated = |mut env: Vec<(&'static str, String)>| {
            env.push(("AUTH_URL", auth.url.clone()));
            env.push(("AUTH_SERVICE_KEY_FILE", auth.service_key_file().display().to_string()));
            env
        };
        let ticketing_env = authenticated(common(ticketing_port, &ticketing_db));
        let mut gate_env = authenticated(common(gate_port, &gate_db));
        gate_env.push(("SIGNING_KEY", SIGNING_KEY.to_string()));
        let mut cluster = Cluster {
            ticketing: Service {
                name: "ticketing-service",
                binary: binary("ticketing-service"),
                env: ticketing_env,
                log: dir.join("logs/ticketing-service.log"),
                child: None,
            },
            gate: Service {
                name: "gate-acl-service",
                binary: binary("gate-acl-service"),
                env: gate_env,
                log: dir.join("logs/gate-acl-service.log"),
                child: None,
            },
            endpoints: Endpoints {
                ticketing: format!("http://127.0.0.1:{ticketing_port}"),
                gate: format!("http://127.0.0.1:{gate_port}"),
                ticketing_db,
                gate_db,
                bootstrap,
                back_office_key,
                gate_device_key,
            },
            _auth: auth,
            dir,
            pg_port,
            kafka_port,
        };
        for (service, database, url) in [
            (&cluster.ticketing, "ticketing", &cluster.endpoints.ticketing_db),
            (&cluster.gate, "gate_acl", &cluster.endpoints.gate_db),
        ] {
            client.batch_execute(&format!("CREATE DATABASE {database}")).await.unwrap_or_else(|e| panic!("{e}"));
            let migrate = Command::new(&service.binary).arg("migrate").env("DATABASE_URL", url).output();
            let migrate = migrate.unwrap_or_else(|e| panic!("{} migrate: {e}", service.name));
            assert!(migrate.status.success(), "{} migrate: {}", service.name, String::from_utf8_lossy(&migrate.stderr));
        }
        cluster.ticketing.start();
        cluster.gate.start();
        cluster.wait_ready(Duration::from_secs(60)).await;
        cluster
    }

    /// `scripts/<server>.sh <command>` with this cluster's ports and folders; panics when it fails.
    async fn script(&self, server: &'static str, command: &'static str) {
        run_script(script_command(&self.dir, self.pg_port, self.kafka_port, server, command)).await;
    }

    /// SIGKILLs a target (a crash: the servers keep their data).
    pub async fn kill(&mut self, target: Target) {
        match target {
            Target::Ticketing => self.ticketing.kill(),
            Target::GateAcl => self.gate.kill(),
            Target::Kafka => self.script("kafka", "kill").await,
            Target::Postgres => self.script("postgres", "kill").await,
        }
    }

    /// Starts a killed target again (the servers on their data; the services as `serve` again).
    pub async fn restart(&mut self, target: Target) {
        match target {
            Target::Ticketing => self.ticketing.start(),
            Target::GateAcl => self.gate.start(),
            Target::Kafka => self.script("kafka", "start").await,
            Target::Postgres => self.script("postgres", "start").await,
        }
    }

    /// Restarts a service that exited by itself (as a kubelet would) and says which and how it ended.
    pub fn restart_exited(&mut self) -> Vec<String> {
        let mut exited = Vec::new();
        for service in [&mut self.ticketing, &mut self.gate] {
            if let Some(status) = service.exited() {
                exited.push(format!("{} exited by itself ({status}); restarted", service.name));
                service.start();
            }
        }
        exited
    }

    /// Waits until both services answer `/readyz` with 200; panics with their logs after `timeout`.
    pub async fn wait_ready(&mut self, timeout: Duration) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build();
        let http = http.unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        for base in [self.endpoints.ticketing.clone(), self.endpoints.gate.clone()] {
            loop {
                let ready = http.get(format!("{base}/readyz")).send().await;
                if ready.is_ok_and(|response| response.status().is_success()) {
                    break;
                }
                for exited in self.restart_exited() {
                    println!("chaos: {exited}");
                }
                assert!(started.elapsed() < timeout, "{base} not ready within {timeout:?}:\n{}", self.logs());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The last lines of both services' logs.
    pub fn logs(&self) -> String {
        format!(
            "--- ticketing-service (tail) ---\n{}\n--- gate-acl-service (tail) ---\n{}",
            self.ticketing.log_tail(40),
            self.gate.log_tail(40)
        )
    }
}

/// The scratch folders' prefix in the temp folder; the suffix is the test process's id.
const SCRATCH_PREFIX: &str = "microfleet-chaos-";

/// Stops what an earlier run left behind when it was killed itself (its Drop never ran): the services by
/// the process ids it recorded (when they still are those services), its servers by their scripts.
fn sweep_killed_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(SCRATCH_PREFIX).and_then(|pid| pid.parse::<u32>().ok()) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        for service in ["ticketing-service", "gate-acl-service"] {
            let recorded = std::fs::read_to_string(dir.join(format!("logs/{service}.pid"))).unwrap_or_default();
            let command = std::fs::read_to_string(format!("/proc/{}/cmdline", recorded.trim())).unwrap_or_default();
            if !recorded.trim().is_empty() && command.contains(service) {
                let _ = Command::new("kill").args(["-KILL", recorded.trim()]).status();
            }
        }
        for server in ["kafka", "postgres"] {
            // the ports only matter to `up`; `down` finds the servers by their folders
            let _ = script_command(&dir, 1, 1, server, "down").output();
        }
        let _ = std::fs::remove_dir_all(&dir);
        println!("chaos: swept {} (left by a killed run)", dir.display());
    }
}

/// Runs a `scripts/<server>.sh` command (off the async threads); panics when it fails.
async fn run_script(mut run: Command) {
    let name = format!("{:?}", run.get_program());
    let output = tokio::task::spawn_blocking(move || run.output()).await;
    let output = output.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(output.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn script_command(dir: &Path, pg_port: u16, kafka_port: u16, server: &str, command: &str) -> Command {
    let mut run = Command::new(repo_root().join(format!("scripts/{server}.sh")));
    run.arg(command)
        .env("MICROFLEET_PG_PORT", pg_port.to_string())
        .env("MICROFLEET_PG_DIR", dir.join("postgres"))
        .env("MICROFLEET_KAFKA_PORT", kafka_port.to_string())
        .env("MICROFLEET_KAFKA_DIR", dir.join("kafka"))
        // a broker recovering its logs on a busy 2-core machine has taken over 90 s
        .env("MICROFLEET_KAFKA_START_SECONDS", "300")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.ticketing.kill();
        self.gate.kill();
        for server in ["kafka", "postgres"] {
            let _ = script_command(&self.dir, self.pg_port, self.kafka_port, server, "down").output();
        }
        if std::thread::panicking() {
            eprintln!("chaos: the services' logs are kept in {}", self.dir.join("logs").display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
