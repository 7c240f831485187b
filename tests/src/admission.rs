//! Admission as a user meets it: `kubectl apply --dry-run=server` of a manifest against the real API server
//! (defaults, the CRD's OpenAPI schema, its CEL rules, strict field validation), then the operator's own
//! `validate_spec` on the object the server returned. The server is the authority; [`local`] is the shared
//! validation the fetcher's local run and `render` apply without it, which the catalogue holds to the same verdicts.
//! A TicketingService has the same two ([`check_ticketing_service`], [`local_ticketing_service`]).

use std::{io::Write, process::Stdio};

use microfleet_crds::clusterfetch::ClusterFetch;
use microfleet_crds::ticketingservice::TicketingService;
use microfleet_crds::validate::{validate_manifest, validate_spec, validate_ticketing_service_manifest};
use serde_json::Value;

/// Who refused a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The API server: the CRD's schema, a CEL rule, or strict field validation (unknown fields, names).
    Server,
    /// The operator (reported in the Stalled condition).
    Operator,
}

impl std::str::FromStr for Stage {
    type Err = String;
    /// `schema` and `cel` (the catalogue says which part of the CRD refuses it) both mean [`Stage::Server`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "schema" | "cel" | "server" => Ok(Stage::Server),
            "operator" => Ok(Stage::Operator),
            other => Err(format!("unknown stage {other:?}")),
        }
    }
}

/// A manifest refused at some stage, with what it said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the {stage:?}: {}", messages.join(" | "))]
pub struct Rejection {
    /// The stage that refused it.
    pub stage: Stage,
    /// What it said (kubectl's output, or one line per operator problem).
    pub messages: Vec<String>,
}

/// `kubectl apply --dry-run=server -o json` of `manifest`: the object the server would store (defaults
/// applied), or kubectl's error output.
pub fn dry_run(manifest: &str) -> Result<Value, String> {
    let mut child = crate::cluster::kubectl()
        .args(["apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl (scripts/cluster.sh env puts it on PATH): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(manifest.as_bytes()).unwrap_or_else(|e| panic!("writing to kubectl: {e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("kubectl: {e}"));
    if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| format!("kubectl printed no object: {e}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Runs a ClusterFetch manifest through the API server (dry run) and then the operator's checks, stopping at
/// the first refusal; on success, the object as the server would store it.
pub fn check(manifest: &str) -> Result<Value, Rejection> {
    let stored = dry_run(manifest).map_err(|message| Rejection { stage: Stage::Server, messages: vec![message] })?;
    let cf: ClusterFetch = serde_json::from_value(stored.clone()).map_err(|e| Rejection {
        stage: Stage::Operator,
        messages: vec![format!("the operator cannot read what the server stored: {e}")],
    })?;
    validate_spec(&cf.spec).map_err(|problems| Rejection {
        stage: Stage::Operator,
        messages: problems.iter().map(|p| format!("{}: {p}", p.reason)).collect(),
    })?;
    Ok(stored)
}

/// The shared validation without a server (`microfleet_crds::validate::validate_manifest`, as the fetcher's local
/// run and `render` apply it): the ClusterFetch, or one line per problem (`<reason>: <field>: <message>`).
pub fn local(manifest: &str) -> Result<ClusterFetch, Vec<String>> {
    let value: Value = serde_yaml::from_str(manifest).map_err(|e| vec![format!("not YAML: {e}")])?;
    validate_manifest(&value).map_err(|problems| problems.iter().map(|p| format!("{}: {p}", p.reason)).collect())
}

/// Runs a TicketingService manifest through the API server (dry run); on success, the object as the server
/// would store it, read back as the operator reads it.
pub fn check_ticketing_service(manifest: &str) -> Result<Value, Rejection> {
    let stored = dry_run(manifest).map_err(|message| Rejection { stage: Stage::Server, messages: vec![message] })?;
    serde_json::from_value::<TicketingService>(stored.clone()).map_err(|e| Rejection {
        stage: Stage::Operator,
        messages: vec![format!("the operator cannot read what the server stored: {e}")],
    })?;
    Ok(stored)
}

/// The shared schema and CEL admission of a TicketingService without a server
/// (`microfleet_crds::validate::validate_ticketing_service_manifest`, as `render` applies it): the object, or
/// one line per problem (`<reason>: <field>: <message>`).
pub fn local_ticketing_service(manifest: &str) -> Result<TicketingService, Vec<String>> {
    let value: Value = serde_yaml::from_str(manifest).map_err(|e| vec![format!("not YAML: {e}")])?;
    validate_ticketing_service_manifest(&value)
        .map_err(|problems| problems.iter().map(|p| format!("{}: {p}", p.reason)).collect())
}
