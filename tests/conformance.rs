//! Tier 3: every object the operator emits, and the CRDs, against the upstream Kubernetes OpenAPI schemas
//! (`kubernetes-validate --strict`, Kubernetes 1.30 and 1.35). `scripts/test.sh` installs the tool.

use microfleet_operator::{clusterfetch::build::BuildConfig, render::render};
use microfleet_tests::{repo_root, tools::validate_kubernetes};

const VERSIONS: [&str; 2] = ["1.30.0", "1.35.0"];

fn rendered_objects() -> Vec<(String, String)> {
    let config = BuildConfig::new("registry.local/microfleet-fetcher:0.1.0");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let manifest = std::fs::read_to_string(&path).unwrap();
        if !manifest.contains("kind: ClusterFetch") {
            continue;
        }
        // with a run-now request, so the run-now Job is rendered too
        let with_run_now =
            manifest.replacen("metadata:\n", "metadata:\n  annotations:\n    microfleet.io/run-now: \"1\"\n", 1);
        let yaml = render(&with_run_now, &config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((path.display().to_string(), yaml));
    }
    let minimal = "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: m}\nspec:\n  schedule: '@hourly'\n  source: {url: 'https://a.example/u', format: ndjson}\n  sink: {http: {url: 'https://b.example/i'}}\n";
    out.push(("minimal".into(), render(minimal, &config).unwrap()));
    out
}

#[test]
fn every_emitted_object_is_valid_kubernetes() {
    let dir = tempdir();
    let mut kinds = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (i, (source, yaml)) in rendered_objects().into_iter().enumerate() {
        for line in yaml.lines().filter(|l| l.starts_with("kind: ")) {
            kinds.insert(line.trim_start_matches("kind: ").to_string());
        }
        // the PrometheusRule is not an upstream kind: promtool checks it (tests/alerts.rs runs its tests)
        let docs = microfleet_tests::tools::documents(&yaml);
        let (core, rules): (Vec<_>, Vec<_>) = docs.iter().partition(|d| d["kind"] != "PrometheusRule");
        for rule in rules {
            let file = microfleet_tests::tools::write(
                &dir,
                &format!("rule-{i}.yaml"),
                &serde_yaml::to_string(&rule["spec"]).unwrap(),
            );
            let (ok, text) = microfleet_tests::tools::run(
                std::process::Command::new(microfleet_tests::tools::promtool()).args(["check", "rules"]).arg(&file),
            );
            assert!(ok, "{source}: the PrometheusRule does not load in Prometheus:\n{text}");
        }
        let yaml: String = core.iter().map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap())).collect();
        let file = dir.join(format!("rendered-{i}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        for version in VERSIONS {
            if let Err(e) = validate_kubernetes(&file, version) {
                failures.push(format!("{source} @ {version}: {e}"));
            }
        }
    }
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["CronJob", "Job", "PrometheusRule"], "kinds checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_crds_are_valid_kubernetes() {
    for entry in std::fs::read_dir(repo_root().join("crds")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            for version in VERSIONS {
                validate_kubernetes(&path, version).unwrap_or_else(|e| panic!("{} @ {version}: {e}", path.display()));
            }
        }
    }
}

#[test]
fn the_validator_refuses_a_broken_object() {
    // Negative control: proves the tool really checks, so the tests above can fail.
    let dir = tempdir();
    let (_, yaml) = rendered_objects().remove(0);
    let file = dir.join("broken.yaml");
    std::fs::write(&file, yaml.replacen("backoffLimit: 0", "backoffLimit: zero", 1)).unwrap();
    assert!(validate_kubernetes(&file, VERSIONS[0]).is_err());
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "microfleet-conformance-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
