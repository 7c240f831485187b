//! `render`: the example renders to the objects the operator creates; bad input gets a named error.

use microfleet_operator::{clusterfetch::build::BuildConfig, render::render};

fn config() -> BuildConfig {
    BuildConfig::new("registry.local/fetcher:1")
}

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/promo-eligible-users.yaml")).unwrap()
}

#[test]
fn the_example_renders_its_cronjob_rule_and_notifier() {
    let yaml = render(&example(), &config()).unwrap();
    let docs: Vec<serde_yaml::Value> =
        serde_yaml::Deserializer::from_str(&yaml).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect();
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["CronJob", "PrometheusRule", "Job"]);
    assert_eq!(docs[0]["spec"]["schedule"], "0 2 * * *");
    assert_eq!(docs[0]["spec"]["timeZone"], "Asia/Jakarta");
    assert_eq!(docs[1]["metadata"]["name"], "promo-eligible-users-alerts");
    assert_eq!(docs[2]["metadata"]["labels"]["microfleet.io/role"], "notifier");
}

#[test]
fn run_now_adds_its_job() {
    let manifest = example().replacen("metadata:\n", "metadata:\n  annotations:\n    microfleet.io/run-now: now\n", 1);
    let yaml = render(&manifest, &config()).unwrap();
    assert!(yaml.contains("cronjob.kubernetes.io/instantiate: manual"));
}

#[test]
fn bad_input_gets_a_named_error() {
    let bad_schedule = example().replace("\"0 2 * * *\"", "\"0 2 * *\"");
    let error = render(&bad_schedule, &config()).unwrap_err().to_string();
    assert!(error.contains("spec.schedule") && error.contains("expected exactly 5 fields, found 4"), "{error}");
    let typo = example().replacen("    url:", "    urll:", 1);
    let error = render(&typo, &config()).unwrap_err().to_string();
    assert!(error.contains("spec.source.urll: unknown field; did you mean url?"), "{error}");
    let error = render("apiVersion: v1\nkind: ConfigMap\n", &config()).unwrap_err().to_string();
    assert!(error.contains("expected apiVersion microfleet.io/v1alpha1 and kind ClusterFetch"), "{error}");
    let error = render("apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nspec: {}\n", &config()).unwrap_err();
    assert!(error.to_string().contains("spec.schedule: Required value"), "{error}");
}
