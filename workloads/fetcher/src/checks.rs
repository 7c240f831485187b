//! Checks: the spec's sanity checks on the list — per item (required fields) and on the count.
//!
//! Pure. (Item size is enforced by the parsers, which refuse to buffer an oversize item.)

use std::collections::BTreeMap;

use microfleet_crds::clusterfetch::Checks;

/// The checks of one run.
#[derive(Debug, Clone)]
pub struct ItemChecks {
    required: Vec<String>,
    min_items: u64,
    max_items: Option<u64>,
}

impl ItemChecks {
    /// The checks of `spec.checks`.
    pub fn new(checks: &Checks) -> ItemChecks {
        ItemChecks {
            required: checks.required_fields.clone(),
            min_items: u64::try_from(checks.min_items).unwrap_or(0),
            max_items: checks.max_items.and_then(|m| u64::try_from(m).ok()),
        }
    }

    /// Checks item number `n` (1-based) of the list.
    pub fn item(&self, raw: &[u8], n: u64) -> Result<(), String> {
        if let Some(max) = self.max_items {
            if n > max {
                return Err(format!("the list has more than checks.maxItems ({max}) items"));
            }
        }
        if self.required.is_empty() {
            return Ok(());
        }
        let object: BTreeMap<String, serde::de::IgnoredAny> = serde_json::from_slice(raw)
            .map_err(|_| format!("item {n} is not a JSON object, and checks.requiredFields needs objects"))?;
        match self.required.iter().find(|field| !object.contains_key(field.as_str())) {
            Some(missing) => Err(format!("item {n} has no field {missing:?} (checks.requiredFields)")),
            None => Ok(()),
        }
    }

    /// Checks the whole list's size once it is complete.
    pub fn total(&self, items: u64) -> Result<(), String> {
        if items < self.min_items {
            let what = if items == 0 { "the list is empty".to_string() } else { format!("the list has {items} items") };
            return Err(format!("{what}, fewer than checks.minItems ({})", self.min_items));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(yaml: &str) -> ItemChecks {
        ItemChecks::new(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn item_and_total_checks() {
        let c = checks("{minItems: 2, maxItems: 3, requiredFields: [user_id]}");
        assert_eq!(c.item(br#"{"user_id":1,"x":2}"#, 1), Ok(()));
        assert!(c.item(br#"{"id":1}"#, 2).unwrap_err().contains("item 2 has no field \"user_id\""));
        assert!(c.item(b"[1]", 2).unwrap_err().contains("not a JSON object"));
        assert!(c.item(br#"{"user_id":1}"#, 4).unwrap_err().contains("maxItems (3)"));
        assert!(c.total(1).unwrap_err().contains("fewer than checks.minItems (2)"));
        assert_eq!(c.total(2), Ok(()));
        let defaults = checks("{}");
        assert!(defaults.total(0).unwrap_err().contains("the list is empty"));
        assert_eq!(defaults.item(b"42", 1_000_000), Ok(()), "no field checks: any JSON item");
    }
}
