//! Tier 3: the invalid-manifest catalogue (`tests/invalid/*.yaml`) against the generated CRD.
//!
//! Every file names, in its header, the stage that must refuse it (`schema`, `cel` or `operator`) and a
//! piece of the message; it must pass every earlier stage. The examples must pass every stage. The CRD's
//! CEL rules must compile and stay within the API server's cost budget.

use std::path::Path;

use microfleet_tests::{
    admission::{Admission, Stage},
    repo_root,
};
use serde_json::Value;

fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}:")).map(|v| v.trim().to_string()))
}

#[test]
fn every_invalid_manifest_is_refused_at_its_stage_with_its_message() {
    let admission = Admission::clusterfetch().unwrap();
    let files = yaml_files(&repo_root().join("tests/invalid"));
    assert!(files.len() >= 20, "the catalogue must hold at least 20 manifests, has {}", files.len());
    let mut failures = Vec::new();
    let mut per_stage = std::collections::BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let stage: Stage = header(&text, "expect-stage").expect("expect-stage header").parse().unwrap();
        let expected = header(&text, "expect-error").expect("expect-error header");
        let manifest: Value = serde_yaml::from_str(&text).unwrap();
        *per_stage.entry(format!("{stage:?}")).or_insert(0) += 1;
        match admission.check(&manifest) {
            Ok(()) => failures.push(format!("{name}: accepted, expected refusal at {stage:?} ({expected})")),
            Err(rejection) if rejection.stage != stage => {
                failures.push(format!("{name}: expected {stage:?}, got {rejection}"))
            }
            Err(rejection) if !rejection.messages.iter().any(|m| m.contains(&expected)) => {
                failures.push(format!("{name}: message lacks {expected:?}: {rejection}"))
            }
            Err(_) => {}
        }
    }
    println!("catalogue: {} manifests, by stage {per_stage:?}", files.len());
    assert!(failures.is_empty(), "catalogue mismatches:\n{}", failures.join("\n"));
}

#[test]
fn examples_pass_every_stage() {
    let admission = Admission::clusterfetch().unwrap();
    let files = yaml_files(&repo_root().join("examples"));
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let manifest = Value::deserialize(doc).unwrap();
            if manifest.get("kind").and_then(Value::as_str) != Some("ClusterFetch") {
                continue;
            }
            admission.check(&manifest).unwrap_or_else(|r| panic!("{}: {r}", file.display()));
        }
    }
}

#[test]
fn a_minimal_manifest_passes_and_gets_the_defaults() {
    let admission = Admission::clusterfetch().unwrap();
    let manifest: Value = serde_yaml::from_str(
        "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: m, namespace: d}\nspec:\n  schedule: '@daily'\n  source: {url: 'https://a.example/users'}\n  sink: {http: {url: 'https://b.example/imports'}}\n",
    )
    .unwrap();
    admission.check(&manifest).unwrap();
    let defaulted = kube_cel::apply_defaults(admission.schema(), &manifest);
    assert_eq!(defaulted.pointer("/spec/concurrencyPolicy"), Some(&Value::from("Forbid")));
    assert_eq!(defaulted.pointer("/spec/activeDeadlineSeconds"), Some(&Value::from(3600)));
    assert_eq!(defaulted.pointer("/spec/checks/minItems"), Some(&Value::from(1)));
    assert_eq!(defaulted.pointer("/spec/retry/attempts"), Some(&Value::from(5)));
}

fn rules_of(schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Some(rules) = schema.get("x-kubernetes-validations").and_then(Value::as_array) {
        for rule in rules {
            let message = rule.get("message").and_then(Value::as_str).unwrap_or_default();
            assert!(!message.is_empty(), "rule at {path} has no message: {rule}");
            out.push((path.to_string(), rule["rule"].as_str().unwrap_or_default().to_string()));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            rules_of(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        rules_of(items, &format!("{path}[]"), out);
    }
}

#[test]
fn every_cel_rule_compiles_has_a_message_and_stays_within_the_cost_budget() {
    let admission = Admission::clusterfetch().unwrap();
    let compiled = kube_cel::compile_schema(admission.schema());
    assert!(!compiled.has_errors(), "CEL compile errors: {:?}", compiled.compilation_errors());
    let mut rules = Vec::new();
    rules_of(admission.schema(), "", &mut rules);
    assert!(rules.len() >= 15, "expected the CRD to carry its CEL rules, found {}", rules.len());
    fn walk(node: &kube_cel::CompiledSchema, warnings: &mut Vec<String>) {
        for rule in node.validations.iter().flatten() {
            for w in kube_cel::analyze_rule(&rule.rule.rule, node, kube_cel::ScopeContext::CrdValidation) {
                warnings.push(format!("{}: {}", rule.rule.rule, w.message));
            }
        }
        node.properties.values().for_each(|p| walk(p, warnings));
        if let Some(items) = &node.items {
            walk(items, warnings);
        }
    }
    let mut warnings = Vec::new();
    walk(&compiled, &mut warnings);
    assert!(warnings.is_empty(), "CEL rules the API server may refuse:\n{}", warnings.join("\n"));
}

use serde::Deserialize;
