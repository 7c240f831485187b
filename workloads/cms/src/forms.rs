//! The CMS's forms read back, pure: the posted fields (`FormValues`), and the JSON body each service call
//! takes, built from them. A value the CMS can tell is wrong before asking (a number that is not one, a time
//! that does not parse) becomes an [`ApiFailure`] naming the field the same way the services do, so the page
//! shows it next to that field. Area rows the person left blank are skipped, and a service's error about
//! `areas[k]` is mapped back to the row it came from.

use serde_json::{json, Map, Value};

use crate::api::ApiFailure;
use crate::format::Display;

/// The fields of a posted form, in order (a name may repeat: check boxes).
#[derive(Debug, Clone, Default)]
pub struct FormValues(pub Vec<(String, String)>);

impl FormValues {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
    }

    /// Whether a check box `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(key, value)| key == name && !value.is_empty())
    }

    /// A copy with `name` set to `value` (to pre-fill a form).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> FormValues {
        self.0.push((name.to_string(), value.into()));
        self
    }
}

/// A refusal of the form before any call, naming the field.
pub fn invalid(field: &str, message: &str) -> ApiFailure {
    ApiFailure { status: Some(400), message: message.to_string(), field: Some(field.to_string()), fix: None }
}

fn text(values: &FormValues, field: &str) -> String {
    values.get(field).trim().to_string()
}

fn integer(values: &FormValues, field: &str) -> Result<i64, ApiFailure> {
    let raw = values.get(field).trim().replace(['.', ','], "");
    raw.parse().map_err(|_| invalid(field, "must be a whole number"))
}

/// The name of the hidden field holding a time's stored value (an edit form keeps it: `datetime-local`
/// shows minutes only, and an unchanged time must be sent back to the second).
pub fn original(field: &str) -> String {
    format!("{field}.original")
}

fn time(values: &FormValues, field: &str, display: &Display) -> Result<Value, ApiFailure> {
    let shown = values.get(field);
    let kept =
        values.get(&original(field)).parse::<jiff::Timestamp>().ok().filter(|at| display.input(*at) == shown.trim());
    let at = match kept {
        Some(at) => at,
        None => display.parse_input(shown).map_err(|message| invalid(field, &message))?,
    };
    Ok(Value::String(at.to_string()))
}

/// The rows of area fields a form has (`areas[0].name`, ...).
pub fn area_rows(values: &FormValues) -> usize {
    values
        .0
        .iter()
        .filter_map(|(key, _)| key.strip_prefix("areas[")?.split_once(']')?.0.parse::<usize>().ok())
        .max()
        .map_or(0, |last| last + 1)
}

/// The event form's body (create: with `merchantId`; edit: areas with their `id`): its areas, blank rows
/// skipped, and for each area sent, the form row it came from.
pub fn event_body(values: &FormValues, display: &Display, create: bool) -> Result<(Value, Vec<usize>), ApiFailure> {
    let mut body = Map::new();
    if create {
        body.insert("merchantId".into(), json!(integer(values, "merchantId")?));
    }
    body.insert("name".into(), json!(text(values, "name")));
    body.insert("venue".into(), json!(text(values, "venue")));
    for field in ["startsAt", "endsAt", "saleStartsAt", "saleEndsAt"] {
        body.insert(field.into(), time(values, field, display)?);
    }
    let mut areas = Vec::new();
    let mut rows = Vec::new();
    for row in 0..area_rows(values) {
        let field = |name: &str| format!("areas[{row}].{name}");
        let id = values.get(&field("id")).trim();
        let blank = ["name", "capacity", "price"].iter().all(|name| values.get(&field(name)).trim().is_empty());
        if blank && id.is_empty() {
            continue;
        }
        let mut area = Map::new();
        if !id.is_empty() {
            area.insert("id".into(), json!(integer(values, &field("id"))?));
        }
        area.insert("name".into(), json!(text(values, &field("name"))));
        area.insert("capacity".into(), json!(integer(values, &field("capacity"))?));
        area.insert("price".into(), json!(integer(values, &field("price"))?));
        areas.push(Value::Object(area));
        rows.push(row);
    }
    if areas.is_empty() {
        return Err(invalid("areas[0].name", "an event needs at least one area"));
    }
    body.insert("areas".into(), Value::Array(areas));
    Ok((Value::Object(body), rows))
}

/// A service's failure about `areas[k]...` renamed to the form row `rows[k]` it came from.
pub fn map_area_field(mut failure: ApiFailure, rows: &[usize]) -> ApiFailure {
    let renamed = failure.field.as_deref().and_then(|field| {
        let rest = field.strip_prefix("areas[")?;
        let (index, tail) = rest.split_once(']')?;
        let row = rows.get(index.parse::<usize>().ok()?)?;
        Some(format!("areas[{row}]{tail}"))
    });
    if renamed.is_some() {
        failure.field = renamed;
    }
    failure
}

/// `POST /v1/users`: the roles from the ticked boxes.
pub fn user_body(values: &FormValues) -> Value {
    let phone = text(values, "phone");
    json!({
        "name": text(values, "name"),
        "username": text(values, "username"),
        "email": text(values, "email"),
        "phone": if phone.is_empty() { Value::Null } else { Value::String(phone) },
        "confirmed": values.checked("confirmed"),
        "roles": values.all("roles"),
        "password": values.get("password"),
    })
}

/// `POST /v1/staff` (gate-acl): an event's staff member and their badge's validity.
pub fn staff_body(values: &FormValues, display: &Display) -> Result<Value, ApiFailure> {
    Ok(json!({
        "eventId": integer(values, "eventId")?,
        "name": text(values, "name"),
        "role": text(values, "role"),
        "validFrom": time(values, "validFrom", display)?,
        "validUntil": time(values, "validUntil", display)?,
    }))
}

/// `POST /v1/staff/{id}/shifts`: a work window.
pub fn shift_body(values: &FormValues, display: &Display) -> Result<Value, ApiFailure> {
    Ok(json!({"startsAt": time(values, "startsAt", display)?, "endsAt": time(values, "endsAt", display)?}))
}

/// `POST /v1/orders/{number}/refund`: the amount to refund.
pub fn refund_body(values: &FormValues) -> Result<Value, ApiFailure> {
    Ok(json!({"amount": integer(values, "amount")?}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    fn display() -> Display {
        Display { time_zone: TimeZone::UTC, currency: "Rp".into() }
    }

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        FormValues(pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect())
    }

    fn event_form(extra: &[(&str, &str)]) -> FormValues {
        let mut values = form(&[
            ("merchantId", "3"),
            ("name", " EXO EXPLORATION "),
            ("venue", "Istora"),
            ("startsAt", "2026-12-24T19:00"),
            ("endsAt", "2026-12-24T23:00"),
            ("saleStartsAt", "2026-12-01T00:00"),
            ("saleEndsAt", "2026-12-24T18:00"),
        ]);
        values.0.extend(form(extra).0);
        values
    }

    #[test]
    fn an_event_form_becomes_the_api_body_without_blank_rows() {
        let values = event_form(&[
            ("areas[0].name", "Festival"),
            ("areas[0].capacity", "100"),
            ("areas[0].price", "750.000"),
            ("areas[1].name", ""),
            ("areas[1].capacity", ""),
            ("areas[1].price", ""),
            ("areas[2].name", "VIP"),
            ("areas[2].capacity", "10"),
            ("areas[2].price", "2500000"),
        ]);
        let (body, rows) = event_body(&values, &display(), true).unwrap();
        assert_eq!(
            body,
            json!({"merchantId": 3, "name": "EXO EXPLORATION", "venue": "Istora", "startsAt": "2026-12-24T19:00:00Z",
                   "endsAt": "2026-12-24T23:00:00Z", "saleStartsAt": "2026-12-01T00:00:00Z", "saleEndsAt": "2026-12-24T18:00:00Z",
                   "areas": [{"name": "Festival", "capacity": 100, "price": 750000}, {"name": "VIP", "capacity": 10, "price": 2500000}]})
        );
        assert_eq!(rows, vec![0, 2]);
        let failure = ApiFailure {
            status: Some(409),
            message: "sold".into(),
            field: Some("areas[1].capacity".into()),
            fix: None,
        };
        assert_eq!(map_area_field(failure, &rows).field.as_deref(), Some("areas[2].capacity"));
    }

    #[test]
    fn an_unchanged_time_is_sent_back_to_the_second() {
        let kept = event_form(&[("areas[0].name", "A"), ("areas[0].capacity", "1"), ("areas[0].price", "1")])
            .with("startsAt.original", "2026-12-24T19:00:42Z")
            .with("endsAt.original", "2026-12-24T22:59:59Z");
        let (body, _) = event_body(&kept, &display(), false).unwrap();
        assert_eq!(body["startsAt"], "2026-12-24T19:00:42Z", "shown unchanged: the stored value");
        assert_eq!(body["endsAt"], "2026-12-24T23:00:00Z", "changed (22:59 shown, 23:00 sent): the new value");
    }

    #[test]
    fn an_edit_keeps_the_area_ids_and_has_no_merchant() {
        let values = event_form(&[
            ("areas[0].id", "41"),
            ("areas[0].name", "Festival"),
            ("areas[0].capacity", "120"),
            ("areas[0].price", "1"),
        ]);
        let (body, _) = event_body(&values, &display(), false).unwrap();
        assert_eq!(body["areas"], json!([{"id": 41, "name": "Festival", "capacity": 120, "price": 1}]));
        assert!(body.get("merchantId").is_none());
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let cases = [
            (
                "capacity",
                event_form(&[("areas[0].name", "A"), ("areas[0].capacity", "lots"), ("areas[0].price", "1")]),
                "areas[0].capacity",
            ),
            ("time", event_form(&[("startsAt", "")]).with("areas[0].name", "A"), "startsAt"),
            ("no_area", event_form(&[]), "areas[0].name"),
        ];
        for (case, mut values, field) in cases {
            if case == "time" {
                values.0.retain(|(key, value)| key != "startsAt" || value.is_empty());
            }
            let failure = event_body(&values, &display(), true).unwrap_err();
            assert_eq!(failure.field.as_deref(), Some(field), "{case}");
        }
    }

    #[test]
    fn a_user_form_carries_the_ticked_roles() {
        let values = form(&[
            ("name", "Putri"),
            ("username", "putri"),
            ("email", "p@mail.com"),
            ("phone", ""),
            ("roles", "cashier"),
            ("roles", "gate_staff"),
            ("confirmed", "on"),
            ("password", "a long passphrase"),
        ]);
        assert_eq!(
            user_body(&values),
            json!({"name": "Putri", "username": "putri", "email": "p@mail.com", "phone": null, "confirmed": true,
                   "roles": ["cashier", "gate_staff"], "password": "a long passphrase"})
        );
    }
}
