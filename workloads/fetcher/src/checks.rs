//! Checks: the spec's sanity checks on the list — per item (required fields) and on the count.
//!
//! Pure. (Item size is enforced by the parsers, which refuse to buffer an oversize item.)

use crate::parse::value::{ScanError, Scanned, ValueScanner};

use microfleet_crds::clusterfetch::Checks;

/// Why an item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemProblem {
    /// The bytes end before the item does.
    Incomplete,
    /// The item is not valid JSON (a source fault).
    Malformed(String),
    /// The item fails a check.
    Check(String),
}

/// The checks of one run.
#[derive(Debug, Clone)]
pub struct ItemChecks {
    required: Vec<String>,
    min_items: u64,
    max_items: Option<u64>,
    scanner: ValueScanner,
}

impl ItemChecks {
    /// The checks of `spec.checks`.
    pub fn new(checks: &Checks) -> ItemChecks {
        ItemChecks {
            required: checks.required_fields.clone(),
            min_items: u64::try_from(checks.min_items).unwrap_or(0),
            max_items: checks.max_items.and_then(|m| u64::try_from(m).ok()),
            scanner: ValueScanner::looking_for(&checks.required_fields),
        }
    }

    /// Scans item number `n` (1-based) at the start of `bytes` — once: JSON validity, the field checks
    /// and the item's length all come from this one pass.
    pub fn parse(&mut self, bytes: &[u8], n: u64) -> Result<Scanned, ItemProblem> {
        if let Some(max) = self.max_items {
            if n > max {
                return Err(ItemProblem::Check(format!("the list has more than checks.maxItems ({max}) items")));
            }
        }
        let scanned = match self.scanner.scan(bytes) {
            Ok(scanned) => scanned,
            Err(ScanError::Incomplete) => return Err(ItemProblem::Incomplete),
            Err(ScanError::Malformed(message)) => return Err(ItemProblem::Malformed(message)),
        };
        if self.required.is_empty() {
            return Ok(scanned);
        }
        if !scanned.object {
            return Err(ItemProblem::Check(format!(
                "item {n} is not a JSON object, and checks.requiredFields needs objects"
            )));
        }
        match self.required.iter().enumerate().find(|(i, _)| scanned.keys & (1 << (i % 32)) == 0) {
            Some((_, missing)) => {
                Err(ItemProblem::Check(format!("item {n} has no field {missing:?} (checks.requiredFields)")))
            }
            None => Ok(scanned),
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
        let mut c = checks("{minItems: 2, maxItems: 3, requiredFields: [user_id]}");
        let mut len = |raw: &[u8], n| c.parse(raw, n).map(|s| s.len);
        assert_eq!(len(br#"{"user_id":1,"x":2}"#, 1), Ok(19));
        assert_eq!(len(br#"{"x":{"user_id":1},"user_id":"\u00e9"}"#, 1), Ok(38));
        assert_eq!(len(br#"{"user_id":1},{"x":2}]"#, 1), Ok(13));
        assert_eq!(len(br#"{"user_id":1,"a":[1,"#, 1), Err(ItemProblem::Incomplete));
        assert!(matches!(len(br#"{"user_id":1,}"#, 1), Err(ItemProblem::Malformed(_))));
        let mut check = |raw: &[u8], n| match c.parse(raw, n) {
            Err(ItemProblem::Check(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(check(br#"{"id":1}"#, 2).contains("item 2 has no field \"user_id\""));
        assert!(check(b"[1],", 2).contains("not a JSON object"));
        assert!(check(br#"{"user_id":1}"#, 4).contains("maxItems (3)"));
        assert!(check(br#"{"a":1},"#, 1).contains("no field"));
        assert!(c.total(1).unwrap_err().contains("fewer than checks.minItems (2)"));
        assert_eq!(c.total(2), Ok(()));
        let mut defaults = checks("{}");
        assert!(defaults.total(0).unwrap_err().contains("the list is empty"));
        assert_eq!(defaults.parse(b"42 ", 1_000_000).map(|s| s.len), Ok(2), "no field checks: any JSON item");
        assert!(matches!(defaults.parse(b"[1,}", 1), Err(ItemProblem::Malformed(_))));
    }
}
