//! The CRD's OpenAPI schema applied to a manifest as the API server applies it: nulls of non-nullable fields
//! pruned, defaults filled in, then types, enums, ranges, lengths, patterns, required and unknown fields
//! (the nearest known name suggested), honouring `x-kubernetes-preserve-unknown-fields`.
//!
//! Owns the schema walk only; CEL rules and the operator's checks live beside it. No I/O.

use serde_json::{Map, Value};

use super::SpecProblem;

/// Reason of a problem found by the schema walk.
const REASON: &str = "InvalidField";

/// Prunes, defaults and checks `value` against `schema`, pushing a problem per violation; `path` names `value`
/// (e.g. `spec.source`).
pub fn walk(schema: &Value, value: &mut Value, path: &str, problems: &mut Vec<SpecProblem>) {
    let problem = |problems: &mut Vec<SpecProblem>, message: String| {
        problems.push(SpecProblem { reason: REASON, field: path.into(), message })
    };
    if value.is_null() {
        // (a nullable field's null is kept as the server keeps it; other nulls were pruned by the parent)
        return;
    }
    if let Some(expected) = type_mismatch(schema, value) {
        problem(problems, format!("Invalid value: {}: must be of type {expected}", short(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            problem(problems, format!("Unsupported value: {value}: supported values: {}", list.join(", ")));
        }
    }
    match value {
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or_default();
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64).filter(|min| n < *min) {
                problem(problems, format!("Invalid value: {n}: should be greater than or equal to {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64).filter(|max| n > *max) {
                problem(problems, format!("Invalid value: {n}: should be less than or equal to {max}"));
            }
        }
        Value::String(s) => {
            for message in string_checks(schema, s) {
                problem(problems, message);
            }
        }
        Value::Array(items) => {
            if let Some(max) = limit(schema, "maxItems").filter(|max| items.len() > *max) {
                problem(problems, format!("Too many: {}: must have at most {max} items", items.len()));
            }
            if let Some(min) = limit(schema, "minItems").filter(|min| items.len() < *min) {
                problem(problems, format!("Invalid value: {} items: should have at least {min} items", items.len()));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), problems);
                }
            }
        }
        Value::Object(object) => walk_object(schema, object, path, problems),
        Value::Bool(_) | Value::Null => {}
    }
}

fn walk_object(schema: &Value, object: &mut Map<String, Value>, path: &str, problems: &mut Vec<SpecProblem>) {
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let child_schema = |key: &str| properties.and_then(|p| p.get(key)).or(additional);
    object.retain(|key, value| !value.is_null() || child_schema(key).is_some_and(|s| flag(s, "nullable")));
    if let Some(properties) = properties {
        for (key, property) in properties {
            if let (false, Some(default)) = (object.contains_key(key), property.get("default")) {
                object.insert(key.clone(), default.clone());
            }
        }
        if !flag(schema, "x-kubernetes-preserve-unknown-fields") && additional.is_none() {
            for key in object.keys().filter(|k| !properties.contains_key(*k)) {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                problems.push(SpecProblem { reason: "UnknownField", field: at(key), message: unknown(key, &known) });
            }
        }
    }
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !object.contains_key(required) {
            problems.push(SpecProblem { reason: REASON, field: at(required), message: "Required value".into() });
        }
    }
    if let Some(max) = limit(schema, "maxProperties").filter(|max| object.len() > *max) {
        let message = format!("Too many: {}: must have at most {max} items", object.len());
        problems.push(SpecProblem { reason: REASON, field: path.into(), message });
    }
    for (key, child) in object.iter_mut() {
        if let Some(child_schema) = child_schema(key) {
            walk(child_schema, child, &at(key), problems);
        }
    }
}

fn string_checks(schema: &Value, s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut problem = |message: String| found.push(message);
    let chars = s.chars().count();
    if let Some(max) = limit(schema, "maxLength").filter(|max| chars > *max) {
        problem(format!("Too long: may not be more than {max} characters"));
    }
    if let Some(min) = limit(schema, "minLength").filter(|min| chars < *min) {
        problem(format!("Invalid value: {s:?}: should be at least {min} chars long"));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(s) => problem(format!("Invalid value: {s:?}: should match '{pattern}'")),
            Ok(_) => {}
            Err(e) => problem(format!("the schema's pattern '{pattern}' does not compile: {e}")),
        }
    }
    found
}

/// The type `value` should have had, when it has another.
fn type_mismatch(schema: &Value, value: &Value) -> Option<&'static str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return (!(value.is_i64() || value.is_u64() || value.is_string())).then_some("integer or string");
    }
    let (expected, ok) = match schema.get("type").and_then(Value::as_str)? {
        "object" => ("object", value.is_object()),
        "array" => ("array", value.is_array()),
        "string" => ("string", value.is_string()),
        "integer" => ("integer", value.is_i64() || value.is_u64()),
        "number" => ("number", value.is_number()),
        "boolean" => ("boolean", value.is_boolean()),
        _ => return None,
    };
    (!ok).then_some(expected)
}

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn limit(schema: &Value, name: &str) -> Option<usize> {
    schema.get(name).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok())
}

/// A value as a message quotes it: in full when short.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The message of an unknown field: the nearest known name when one is close, else every known name.
fn unknown(key: &str, known: &[&str]) -> String {
    let nearest = known.iter().map(|k| (edit_distance(&key.to_lowercase(), &k.to_lowercase()), *k)).min();
    match nearest {
        Some((distance, name)) if distance <= (key.chars().count() / 3).max(2) => {
            format!("unknown field; did you mean {name}?")
        }
        _ => format!("unknown field; known fields are {}", known.join(", ")),
    }
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(schema: Value, mut value: Value) -> Vec<String> {
        let mut found = Vec::new();
        walk(&schema, &mut value, "spec", &mut found);
        found.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_schema_rule_names_the_field() {
        let schema = json!({"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string", "minLength": 8},
            "batchSize": {"type": "integer", "minimum": 1.0, "default": 1000},
            "format": {"type": "string", "enum": ["json", "csv"]},
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "headers": {"type": "array", "maxItems": 1, "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "labels": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
            "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}},
            "optional": {"type": "string", "nullable": true},
        }});
        let cases: &[(&str, Value, &str)] = &[
            ("missing_required", json!({}), "spec.url: Required value"),
            ("too_short", json!({"url": "x"}), "spec.url: Invalid value: \"x\": should be at least 8 chars long"),
            ("below_minimum", json!({"url": "http://a", "batchSize": 0}), "spec.batchSize: Invalid value: 0: should be greater than or equal to 1"),
            ("wrong_type", json!({"url": 5}), "spec.url: Invalid value: 5: must be of type string"),
            ("not_in_enum", json!({"url": "http://a", "format": "xml"}), "spec.format: Unsupported value: \"xml\": supported values: \"json\", \"csv\""),
            ("pattern", json!({"url": "http://a", "name": "A"}), "spec.name: Invalid value: \"A\": should match '^[a-z]+$'"),
            ("too_many_items", json!({"url": "http://a", "headers": [{}, {}]}), "spec.headers: Too many: 2: must have at most 1 items"),
            ("unknown_in_item", json!({"url": "http://a", "headers": [{"nme": "x"}]}), "spec.headers[0].nme: unknown field; did you mean name?"),
            ("too_many_properties", json!({"url": "http://a", "labels": {"a": "1", "b": "2"}}), "spec.labels: Too many: 2: must have at most 1 items"),
            ("map_value_type", json!({"url": "http://a", "labels": {"a": 1}}), "spec.labels.a: Invalid value: 1: must be of type string"),
            ("int_or_string", json!({"url": "http://a", "limits": {"cpu": true}}), "spec.limits.cpu: Invalid value: true: must be of type integer or string"),
            ("typo", json!({"url": "http://a", "batchSze": 5}), "spec.batchSze: unknown field; did you mean batchSize?"),
            ("far_from_any_name", json!({"url": "http://a", "zzzzzzzz": 5}), "spec.zzzzzzzz: unknown field; known fields are batchSize, format, free, headers, labels, limits, name, optional, url"),
        ];
        for (case, value, expected) in cases {
            assert_eq!(problems(schema.clone(), value.clone()), [expected.to_string()], "{case}");
        }
        let fine = json!({"url": "http://a", "optional": null, "format": null, "free": {"anything": 1}, "limits": {"cpu": "1", "memory": 64}});
        assert_eq!(problems(schema.clone(), fine), Vec::<String>::new(), "nulls, preserved fields, int-or-string");
    }

    #[test]
    fn nulls_of_non_nullable_fields_are_pruned_and_defaults_filled_in() {
        let schema = json!({"type": "object", "properties": {
            "batchSize": {"type": "integer", "default": 1000},
            "format": {"type": "string"},
            "optional": {"type": "string", "nullable": true},
        }});
        let mut value = json!({"batchSize": null, "format": null, "optional": null});
        walk(&schema, &mut value, "spec", &mut Vec::new());
        assert_eq!(value, json!({"batchSize": 1000, "optional": null}));
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        for (a, b, d) in [("cursorPth", "cursorPath", 1), ("kitten", "sitting", 3), ("", "abc", 3), ("same", "same", 0)]
        {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
    }
}
