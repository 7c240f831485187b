//! The operator under test: installed by the real `helm` from `charts/microfleet` (its Deployment run by the pod
//! runner, in-cluster, with the chart's ServiceAccount and RBAC), or run as a local process of this
//! workspace's binary; and plain HTTP to an admin server on 127.0.0.1. Starts and stops processes; asserts
//! nothing about what they do.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use crate::tools;

/// The namespace the e2e installs the chart into.
pub const RELEASE_NAMESPACE: &str = "microfleet-system";
/// The release name (and so the prefix of the chart's objects).
pub const RELEASE: &str = "microfleet";
/// The image tag the pod runner maps to this workspace's binaries (any tag maps; this one is the e2e's).
pub const TAG: &str = "e2e";

/// A binary of this workspace, from the target folder the test runs from (`scripts/test.sh` builds them
/// all before the tests; so does `scripts/node.sh`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    // target/debug/deps/<test>-<hash> → target/debug/<name>
    let path = exe.parent().and_then(Path::parent).map(|debug| debug.join(name)).unwrap_or_default();
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// `helm upgrade --install` of the chart into [`RELEASE_NAMESPACE`] with the e2e's images and `sets`;
/// waits for the operator's Deployment to be available.
pub fn install_chart(sets: &[&str]) {
    let mut command = Command::new(tools::helm());
    command
        .args(["upgrade", "--install", RELEASE])
        .arg(tools::chart_dir())
        .args(["--namespace", RELEASE_NAMESPACE, "--create-namespace", "--wait", "--timeout", "3m"])
        .args(["--set", "image.repository=microfleet-operator", "--set", &format!("image.tag={TAG}")])
        .args(["--set", "fetcherImage.repository=microfleet-fetcher", "--set", &format!("fetcherImage.tag={TAG}")]);
    for set in sets {
        command.args(["--set", set]);
    }
    let (ok, text) = tools::run(&mut command);
    assert!(ok, "helm upgrade --install failed:\n{text}");
}

/// `helm uninstall` of the e2e's release (the CRDs stay, as Helm leaves them).
pub fn uninstall_chart() {
    let (ok, text) = tools::run(Command::new(tools::helm()).args([
        "uninstall",
        RELEASE,
        "--namespace",
        RELEASE_NAMESPACE,
        "--wait",
        "--timeout",
        "2m",
    ]));
    assert!(ok || text.contains("not found"), "helm uninstall failed:\n{text}");
}

pub use microfleet_common::plain_http::get as http_get;

/// The value of the series `series` (name and labels exactly as exported) in a Prometheus text page.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A running `microfleet-operator run`, killed when dropped; its log is kept in a file.
pub struct OperatorProcess {
    /// Its identity in the election, in Events and in its User-Agent.
    pub identity: String,
    /// The port of its admin server on 127.0.0.1.
    pub admin_port: u16,
    child: Child,
    log: PathBuf,
}

impl OperatorProcess {
    /// Starts `binary run` against the cluster of `kubeconfig`, with the admin server on a free port, text
    /// logs, `POD_NAMESPACE`/`POD_NAME` = `namespace`/`identity`, and `args` appended.
    pub fn start(binary: &Path, kubeconfig: &Path, namespace: &str, identity: &str, args: &[&str]) -> OperatorProcess {
        let admin_port = crate::cluster::free_port();
        let log = std::env::temp_dir().join(format!("microfleet-{namespace}-{identity}.log"));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(binary)
            .args(["run", "--log-format", "text", "--admin-addr", &format!("127.0.0.1:{admin_port}")])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", identity)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        OperatorProcess { identity: identity.to_string(), admin_port, child, log }
    }

    /// The User-Agent its requests carry (what the audit log records).
    pub fn user_agent(&self) -> String {
        format!("microfleet-operator/{} ({})", env!("CARGO_PKG_VERSION"), self.identity)
    }

    /// Its `/metrics` page, or `None` while it does not answer.
    pub fn metrics(&self) -> Option<String> {
        http_get(self.admin_port, "/metrics").map(|(_, body)| body)
    }

    /// Its `/readyz`: (status, body), or `None` while it does not answer.
    pub fn readyz(&self) -> Option<(u16, String)> {
        http_get(self.admin_port, "/readyz")
    }

    /// Sends `signal` (e.g. `-STOP`, `-CONT`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill {signal} {}", self.identity);
    }

    /// How the process ended, once it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
