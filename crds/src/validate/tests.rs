//! Tests of the whole validation of a manifest: schema, CEL rules and the operator's checks, in order.

use serde_json::{json, Value};

use super::*;

fn manifest(spec_changes: Value) -> Value {
    let mut m = json!({
        "apiVersion": "microfleet.io/v1alpha1",
        "kind": "ClusterFetch",
        "metadata": {"name": "promo-users", "namespace": "promo"},
        "spec": {
            "schedule": "0 2 * * *",
            "timeZone": "Asia/Jakarta",
            "source": {"url": "http://clustering.promo.svc:8080/v1/users", "pagination": {"type": "page"}},
            "sink": {"http": {"url": "http://promotion.promo.svc:8080/v1/imports"}}
        }
    });
    merge(&mut m["spec"], spec_changes);
    m
}

fn merge(into: &mut Value, changes: Value) {
    match (into, changes) {
        (Value::Object(into), Value::Object(changes)) => {
            for (k, v) in changes {
                merge(into.entry(k).or_insert(Value::Null), v);
            }
        }
        (into, changes) => *into = changes,
    }
}

fn refusal(changes: Value) -> Vec<String> {
    match validate_manifest(&manifest(changes)) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(|p| format!("{}: {p}", p.reason)).collect(),
    }
}

#[test]
fn a_good_manifest_passes_with_the_schema_defaults() {
    let cf = validate_manifest(&manifest(json!({"checks": {"maxItems": null}, "notify": null}))).unwrap();
    assert_eq!(cf.spec.sink.http.as_ref().map(|h| h.batch_size), Some(1000));
    assert_eq!(cf.spec.retry.attempts, 5);
    assert_eq!(cf.spec.source.pagination.as_ref().map(|p| p.page_size), Some(1000));
}

#[test]
fn each_kind_of_problem_is_refused_in_the_words_the_user_sees() {
    let cases: &[(&str, Value, &str)] = &[
        (
            "unknown_field",
            json!({"source": {"pagination": {"type": "cursor", "cursorPth": "/next"}}}),
            "UnknownField: spec.source.pagination.cursorPth: unknown field; did you mean cursorPath?",
        ),
        (
            "batch_size_zero",
            json!({"sink": {"http": {"batchSize": 0}}}),
            "InvalidField: spec.sink.http.batchSize: Invalid value: 0: should be greater than or equal to 1",
        ),
        (
            "cel_rule",
            json!({"sink": {"http": null}}),
            "FailedRule: spec.sink: sink: set exactly one of sink.http or sink.kafka",
        ),
        (
            "schedule",
            json!({"schedule": "0 25 * * *"}),
            "InvalidSchedule: spec.schedule: \"0 25 * * *\" is not a schedule",
        ),
        (
            "descriptor_case",
            json!({"schedule": "@HOURLY"}),
            "InvalidSchedule: spec.schedule: \"@HOURLY\" is not a schedule",
        ),
        (
            "time_zone",
            json!({"timeZone": "Mars/Olympus"}),
            "InvalidTimeZone: spec.timeZone: unknown time zone \"Mars/Olympus\"",
        ),
        (
            "time_zone_case",
            json!({"timeZone": "asia/jakarta"}),
            "InvalidTimeZone: spec.timeZone: unknown time zone \"asia/jakarta\"",
        ),
    ];
    for (case, changes, expected) in cases {
        let refused = refusal(changes.clone());
        assert!(refused.iter().any(|m| m.starts_with(expected)), "{case}: expected {expected:?}, got {refused:?}");
    }
}

#[test]
fn every_at_descriptor_and_exact_zone_names_pass() {
    assert_eq!(
        refusal(json!({"schedule": "@every 24h", "timeZone": "America/Argentina/Buenos_Aires"})),
        Vec::<String>::new()
    );
}

#[test]
fn the_name_and_kind_are_checked_as_the_server_checks_them() {
    let mut upper = manifest(json!({}));
    upper["metadata"]["name"] = json!("Promo-Users");
    let refused = validate_manifest(&upper).unwrap_err();
    assert!(refused[0].to_string().contains("a lowercase RFC 1123 subdomain"), "{refused:?}");
    let mut other = manifest(json!({}));
    other["kind"] = json!("CronJob");
    assert_eq!(validate_manifest(&other).unwrap_err()[0].reason, "WrongKind");
}

fn kafka(changes: Value) -> Value {
    let mut sink =
        json!({"bootstrapServers": ["kafka-0.kafka:9092", "kafka-1:9092,kafka-2:9092"], "topic": "promo.users_v1-a"});
    merge(&mut sink, changes);
    json!({"sink": {"http": null, "kafka": sink}})
}

#[test]
fn a_kafka_sink_passes_with_its_defaults() {
    let secret = json!({"name": "promo-kafka", "key": "password"});
    let full = kafka(json!({
        "keyField": "/user_id",
        "tls": {"caSecretKeyRef": {"name": "promo-kafka", "key": "ca.crt"}},
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": secret, "password": secret},
        "transactionalIdPrefix": "promo-fetch",
    }));
    for (case, changes) in
        [("minimal", kafka(json!({}))), ("everything", full), ("tls_system_roots", kafka(json!({"tls": {}})))]
    {
        let cf = validate_manifest(&manifest(changes)).unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(cf.spec.sink.kafka.map(|k| k.timeout_seconds), Some(30), "{case}");
    }
}

#[test]
fn each_bad_kafka_sink_is_refused_naming_the_field_and_the_fix() {
    let cases: &[(&str, Value, &str)] = &[
        ("topic_with_slash", kafka(json!({"topic": "promo/users"})), "sink.kafka.topic must be a Kafka topic name"),
        ("topic_dot", kafka(json!({"topic": "."})), "sink.kafka.topic must be a Kafka topic name"),
        ("topic_too_long", kafka(json!({"topic": "t".repeat(250)})), "spec.sink.kafka.topic: Too long"),
        (
            "no_bootstrap_servers",
            kafka(json!({"bootstrapServers": null})),
            "spec.sink.kafka.bootstrapServers: Required",
        ),
        ("empty_bootstrap_servers", kafka(json!({"bootstrapServers": []})), "spec.sink.kafka.bootstrapServers"),
        (
            "bootstrap_with_scheme",
            kafka(json!({"bootstrapServers": ["http://kafka:9092"]})),
            "each entry must be host:port",
        ),
        ("bootstrap_without_port", kafka(json!({"bootstrapServers": ["kafka"]})), "each entry must be host:port"),
        (
            "bootstrap_with_space",
            kafka(json!({"bootstrapServers": ["kafka:9092, kafka-1:9092"]})),
            "each entry must be host:port",
        ),
        ("key_field_bare_name", kafka(json!({"keyField": "user_id"})), "sink.kafka.keyField must be a JSON pointer"),
        (
            "prefix_with_slash",
            kafka(json!({"transactionalIdPrefix": "a/b"})),
            "sink.kafka.transactionalIdPrefix may hold only",
        ),
        (
            "sasl_gssapi",
            kafka(json!({"sasl": {"mechanism": "GSSAPI"}})),
            "spec.sink.kafka.sasl.mechanism: Unsupported value",
        ),
        ("timeout_zero", kafka(json!({"timeoutSeconds": 0})), "spec.sink.kafka.timeoutSeconds: Invalid value: 0"),
    ];
    for (case, changes, expected) in cases {
        let refused = refusal(changes.clone());
        assert!(refused.iter().any(|m| m.contains(expected)), "{case}: expected {expected:?}, got {refused:?}");
    }
}
