//! Admission replay: the generated CRD's OpenAPI schema (jsonschema) and `x-kubernetes-validations`
//! rules (kube-cel, Kubernetes' CEL libraries included), then the operator's `validate_spec`.
//!
//! It reads the committed `crds/*.yaml`, so it checks the very rules the API server would run.

use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_operator::clusterfetch::validate::validate_spec;
use serde_json::Value;

/// Where a manifest was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The OpenAPI v3 schema (types, enums, ranges, patterns, required fields).
    Schema,
    /// A CEL rule of the CRD.
    Cel,
    /// The operator (reported in the Stalled condition).
    Operator,
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "schema" => Ok(Stage::Schema),
            "cel" => Ok(Stage::Cel),
            "operator" => Ok(Stage::Operator),
            other => Err(format!("unknown stage {other:?}")),
        }
    }
}

/// A manifest refused at some stage, with every message of that stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected at {stage:?}: {}", messages.join(" | "))]
pub struct Rejection {
    /// The stage that refused it.
    pub stage: Stage,
    /// What it said.
    pub messages: Vec<String>,
}

/// Why the CRD could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The CRD file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The CRD YAML is malformed.
    #[error("bad CRD YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The CRD has no openAPIV3Schema.
    #[error("the CRD has no spec.versions[0].schema.openAPIV3Schema")]
    NoSchema,
    /// The schema is not valid JSON Schema.
    #[error("the schema does not compile: {0}")]
    Schema(String),
}

/// The admission checks of the ClusterFetch CRD.
pub struct Admission {
    schema: Value,
    validator: jsonschema::Validator,
    cel: kube_cel::Validator,
}

impl Admission {
    /// Loads `crds/clusterfetches.microfleet.io.yaml`.
    pub fn clusterfetch() -> Result<Admission, LoadError> {
        let path = crate::repo_root().join("crds/clusterfetches.microfleet.io.yaml");
        let text = std::fs::read_to_string(&path).map_err(|e| LoadError::Read(path.display().to_string(), e))?;
        let crd: Value = serde_yaml::from_str(&text)?;
        let schema = crd.pointer("/spec/versions/0/schema/openAPIV3Schema").cloned().ok_or(LoadError::NoSchema)?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| LoadError::Schema(e.to_string()))?;
        Ok(Admission { schema, validator, cel: kube_cel::Validator::new() })
    }

    /// The CRD's openAPIV3Schema.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Runs a manifest through defaulting, schema, CEL and the operator, stopping at the first refusal.
    pub fn check(&self, manifest: &Value) -> Result<(), Rejection> {
        let defaulted = kube_cel::apply_defaults(&self.schema, manifest);
        let schema_errors: Vec<String> =
            self.validator.iter_errors(&defaulted).map(|e| format!("{}: {}", e.instance_path(), e)).collect();
        if !schema_errors.is_empty() {
            return Err(Rejection { stage: Stage::Schema, messages: schema_errors });
        }
        if let Err(errors) = self.cel.validate(&self.schema, manifest, None) {
            return Err(Rejection { stage: Stage::Cel, messages: errors.iter().map(ToString::to_string).collect() });
        }
        let cf: ClusterFetch = serde_json::from_value(defaulted).map_err(|e| Rejection {
            stage: Stage::Schema,
            messages: vec![format!("does not deserialise as a ClusterFetch: {e}")],
        })?;
        validate_spec(&cf.spec).map_err(|problems| Rejection {
            stage: Stage::Operator,
            messages: problems.iter().map(|p| format!("{}: {p}", p.reason)).collect(),
        })
    }
}
