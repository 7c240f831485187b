//! External tools of the test tiers: `kubernetes-validate`, `helm`, `promtool`, `kstatus`. Each is looked up on PATH
//! (`scripts/tools.sh` installs them); a missing tool fails the test with how to get it, never a pass.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The command for `name`: `$ENV_VAR` if set, else `name` on PATH; panics with `hint` when it is missing.
pub fn tool(name: &str, env_var: &str, hint: &str) -> String {
    let program = std::env::var(env_var).unwrap_or_else(|_| name.to_string());
    let found = Command::new(&program).arg("--help").output().is_ok();
    assert!(found, "`{program}` not found: run scripts/test.sh (it installs it), or {hint}");
    program
}

/// `helm`.
pub fn helm() -> String {
    tool("helm", "HELM", "run scripts/tools.sh and put the helm folder it prints on PATH")
}

/// `promtool`.
pub fn promtool() -> String {
    tool("promtool", "PROMTOOL", "apt-get install prometheus")
}

/// `kubernetes-validate`.
pub fn kubernetes_validate() -> String {
    tool("kubernetes-validate", "KUBERNETES_VALIDATE", "pip install kubernetes-validate==1.37.0")
}

/// Runs a command; returns (success, stdout + stderr).
pub fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    crate::repo_root().join("charts/microfleet")
}

/// `helm template` of the chart with `--set` values; the manifests, or helm's error.
pub fn render_chart(sets: &[&str]) -> Result<String, String> {
    let mut command = Command::new(helm());
    command.args(["template", "mf"]).arg(chart_dir()).args([
        "--namespace",
        "microfleet-system",
        "--kube-version",
        "1.30.0",
        "--api-versions",
        "monitoring.coreos.com/v1",
    ]);
    for set in sets {
        command.args(["--set", set]);
    }
    let (ok, text) = run(&mut command);
    if ok {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Every optional part of the chart switched on.
pub const ALL_ON: &[&str] = &[
    "serviceMonitor.enabled=true",
    "prometheusRule.enabled=true",
    "networkPolicy.enabled=true",
    "dashboards.enabled=true",
    "extraLabels.release=kube-prometheus-stack",
    "pushgatewayUrl=http://pushgateway.monitoring:9091",
];

/// The YAML documents of a manifest stream (empty ones dropped).
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|doc| serde_json::Value::deserialize(doc).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("microfleet-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// `kubernetes-validate --strict` of `file` for Kubernetes `version`: Ok, or the tool's complaints. An
/// object of a kind it does not know (it only warns) counts as a failure.
pub fn validate_kubernetes(file: &Path, version: &str) -> Result<(), String> {
    let (ok, text) = run(Command::new(kubernetes_validate()).args(["--strict", "--quiet", "-k", version]).arg(file));
    if ok && !text.contains("ERROR") && !text.contains("WARN") {
        Ok(())
    } else {
        Err(text)
    }
}

/// kstatus' verdict on `object` (`Current`, `InProgress`, `Failed`, ...): the health Flux and Argo CD compute
/// (`tests/kstatus`, built by `scripts/tools.sh`).
pub fn kstatus(object: &impl serde::Serialize) -> String {
    use std::io::Write;
    let mut child = Command::new("kstatus")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("kstatus on PATH (scripts/tools.sh builds it): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::to_vec(object).unwrap_or_else(|e| panic!("kstatus input: {e}"));
        stdin.write_all(&body).unwrap_or_else(|e| panic!("writing to kstatus: {e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("kstatus: {e}"));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    verdict["status"].as_str().unwrap_or_default().to_string()
}
