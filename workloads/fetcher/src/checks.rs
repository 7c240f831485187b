//! Checks: the spec's sanity checks on the list — per item (required fields) and on the count.
//!
//! Pure. (Item size is enforced by the parsers, which refuse to buffer an oversize item.)

use crate::parse::value::{Scanned, ValueScanner};

use microfleet_crds::clusterfetch::Checks;

/// The checks of one run.
#[derive(Debug, Clone)]
pub struct ItemChecks {
    /// The required fields (at most 32, as the CRD allows), in the order of [`Scanned::keys`]' bits.
    required: Vec<String>,
    /// A scanner looking for the required fields, prepared once.
    scanner: ValueScanner,
    min_items: u64,
    max_items: Option<u64>,
}

impl ItemChecks {
    /// The checks of `spec.checks`.
    pub fn new(checks: &Checks) -> ItemChecks {
        ItemChecks {
            required: checks.required_fields.clone(),
            scanner: ValueScanner::looking_for(&checks.required_fields),
            min_items: u64::try_from(checks.min_items).unwrap_or(0),
            max_items: checks.max_items.and_then(|m| u64::try_from(m).ok()),
        }
    }

    /// A scanner that looks for the required fields, for a page parser to read each item with.
    pub fn scanner(&self) -> ValueScanner {
        self.scanner.clone()
    }

    /// Checks item number `n` (1-based) from what the scanner found in it; the reason when it fails.
    #[inline]
    pub fn item(&self, scanned: &Scanned, n: u64) -> Result<(), String> {
        let within = self.max_items.is_none_or(|max| n <= max);
        if within && scanned.keys == self.scanner.all_keys() && (scanned.object || self.required.is_empty()) {
            return Ok(());
        }
        Err(self.refusal(scanned, n))
    }

    /// Why item `n` fails a check (called only when it does).
    #[cold]
    fn refusal(&self, scanned: &Scanned, n: u64) -> String {
        if let Some(max) = self.max_items.filter(|&max| n > max) {
            return format!("the list has more than checks.maxItems ({max}) items");
        }
        if !scanned.object {
            return format!("item {n} is not a JSON object, and checks.requiredFields needs objects");
        }
        match self.required.iter().take(32).enumerate().find(|(i, _)| scanned.keys & (1 << i) == 0) {
            Some((_, missing)) => format!("item {n} has no field {missing:?} (checks.requiredFields)"),
            None => "the item fails no check".to_string(),
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
        let check = |raw: &[u8], n| c.item(&c.scanner().scan(raw).unwrap(), n);
        assert_eq!(check(br#"{"user_id":1,"x":2}"#, 1), Ok(()));
        assert_eq!(check(br#"{"x":{"user_id":1},"user_id":"\u00e9"}"#, 1), Ok(()));
        assert_eq!(check(br#"{"user_id":1},{"x":2}]"#, 1), Ok(()), "only the first item is read");
        assert!(check(br#"{"id":1}"#, 2).unwrap_err().contains("item 2 has no field \"user_id\""));
        assert!(check(br#"{"x":{"user_id":1}}"#, 2).unwrap_err().contains("no field"), "only top-level keys count");
        assert!(check(b"[1],", 2).unwrap_err().contains("not a JSON object"));
        assert!(check(br#"{"user_id":1}"#, 4).unwrap_err().contains("maxItems (3)"));
        assert!(c.total(1).unwrap_err().contains("fewer than checks.minItems (2)"));
        assert_eq!(c.total(2), Ok(()));
        let defaults = checks("{}");
        assert!(defaults.total(0).unwrap_err().contains("the list is empty"));
        assert_eq!(defaults.item(&defaults.scanner().scan(b"42 ").unwrap(), 1_000_000), Ok(()), "any JSON item");
        let many = checks("{requiredFields: [a, b, c]}");
        let check = |raw: &[u8]| many.item(&many.scanner().scan(raw).unwrap(), 1);
        assert_eq!(check(br#"{"c":1,"a":2,"b":3}"#), Ok(()));
        assert!(check(br#"{"c":1,"a":2}"#).unwrap_err().contains("no field \"b\""));
    }
}
