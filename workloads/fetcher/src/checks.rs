//! Checks: the spec's sanity checks on the list — per item (required fields) and on the count (min/max
//! items, the drop guard against the last successful run).
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
    /// `checks.maxDropPercent` and the last successful run's item count, when both are known.
    drop_guard: Option<(u64, u64)>,
}

impl ItemChecks {
    /// The checks of `spec.checks`; `last_success_items` is the last successful run's item count, if known.
    pub fn new(checks: &Checks, last_success_items: Option<u64>) -> ItemChecks {
        let max_drop = checks.max_drop_percent.and_then(|p| u64::try_from(p).ok());
        ItemChecks {
            drop_guard: max_drop.zip(last_success_items),
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
        if let Some((max_drop, last)) = self.drop_guard.filter(|&(_, last)| items < last) {
            let dropped = u128::from(last - items) * 100;
            if dropped > u128::from(max_drop) * u128::from(last) {
                let percent = (last - items) as f64 * 100.0 / last as f64;
                return Err(format!(
                    "the list shrank by {percent:.1}% since the last successful run ({last} → {items} items), more \
                     than checks.maxDropPercent ({max_drop})"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(yaml: &str) -> ItemChecks {
        ItemChecks::new(&serde_yaml::from_str(yaml).unwrap(), None)
    }

    #[test]
    fn the_drop_guard_fails_a_list_that_shrank_too_much() {
        // (case, maxDropPercent, last success's items, items now, the start of the refusal)
        let cases = [
            ("no guard", None, Some(25_000), 100, None),
            ("no earlier success", Some(30), None, 100, None),
            ("half as long", Some(30), Some(25_000), 12_500, Some("the list shrank by 50.0% since")),
            ("exactly the limit", Some(30), Some(1000), 700, None),
            ("just past it", Some(30), Some(1000), 699, Some("the list shrank by 30.1% since")),
            ("it grew", Some(0), Some(1000), 5000, None),
            ("no drop allowed", Some(0), Some(1000), 999, Some("the list shrank by 0.1% since")),
            ("all gone but minItems 0", Some(100), Some(1000), 0, None),
        ];
        for (case, percent, last, items, refusal) in cases {
            let spec = Checks { min_items: 0, max_drop_percent: percent, ..Checks::default() };
            let got = ItemChecks::new(&spec, last).total(items);
            match refusal {
                None => assert_eq!(got, Ok(()), "{case}"),
                Some(start) => assert!(got.as_ref().is_err_and(|e| e.starts_with(start)), "{case}: {got:?}"),
            }
        }
        let message = ItemChecks::new(&Checks { max_drop_percent: Some(30), ..Checks::default() }, Some(25_000))
            .total(12_500)
            .unwrap_err();
        assert!(message.contains("(25000 → 12500 items), more than checks.maxDropPercent (30)"), "{message}");
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
