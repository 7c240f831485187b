//! Checks: the spec's sanity checks on the list — per item (required fields) and on the count.
//!
//! Pure. (Item size is enforced by the parsers, which refuse to buffer an oversize item.)

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::parse::{parse_one, Parsed};

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

    /// Parses item number `n` (1-based) at the start of `bytes` — once: JSON validity, the field checks
    /// and the item's length all come from this one pass.
    pub fn parse(&self, bytes: &[u8], n: u64) -> Result<usize, ItemProblem> {
        if let Some(max) = self.max_items {
            if n > max {
                return Err(ItemProblem::Check(format!("the list has more than checks.maxItems ({max}) items")));
            }
        }
        let outcome = if self.required.is_empty() {
            parse_one::<IgnoredAny>(bytes).map(|(_, len)| (u32::MAX, len))
        } else {
            REQUIRED.with(|required| {
                if *required.borrow() != self.required {
                    required.replace(self.required.clone());
                }
            });
            parse_one::<KeysFound>(bytes).map(|(found, len)| (found.0, len))
        };
        let (found, len) = match outcome {
            Ok(parsed) => parsed,
            Err(Parsed::Incomplete) => return Err(ItemProblem::Incomplete),
            Err(Parsed::Malformed(message)) if message.starts_with("invalid type") => {
                return Err(ItemProblem::Check(format!(
                    "item {n} is not a JSON object, and checks.requiredFields needs objects"
                )))
            }
            Err(Parsed::Malformed(message)) => return Err(ItemProblem::Malformed(message)),
            Err(_) => return Err(ItemProblem::Malformed("unreadable".into())),
        };
        match self.required.iter().enumerate().find(|(i, _)| found & (1 << i) == 0) {
            Some((_, missing)) => {
                Err(ItemProblem::Check(format!("item {n} has no field {missing:?} (checks.requiredFields)")))
            }
            None => Ok(len),
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

thread_local! {
    /// The required fields [`KeysFound`] looks for (serde's streaming parser, which reports an item's length,
    /// takes types, not seeds; the fetch runs on one thread, so this is set once per run).
    static REQUIRED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The required fields (of [`REQUIRED`]) an object has, a bit each.
struct KeysFound(u32);

impl<'de> serde::Deserialize<'de> for KeysFound {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<KeysFound, D::Error> {
        REQUIRED.with(|required| RequiredKeys(&required.borrow()).deserialize(deserializer)).map(KeysFound)
    }
}

/// Reads a JSON object without building it: returns a bit per required field present (at most 32 fields,
/// as the CRD allows).
struct RequiredKeys<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for RequiredKeys<'_> {
    type Value = u32;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequiredKeys<'_> {
    type Value = u32;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let mut found = 0u32;
        while let Some(index) = map.next_key_seed(KeyIndex(self.0))? {
            if let Some(i) = index {
                found |= 1 << (i % 32);
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(found)
    }
}

/// Reads an object key without allocating it: its position among the required fields, if any.
struct KeyIndex<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|r| r == key))
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
        let check = |raw: &[u8], n| match c.parse(raw, n) {
            Err(ItemProblem::Check(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(c.parse(br#"{"user_id":1,"x":2}"#, 1), Ok(19));
        assert_eq!(c.parse(br#"{"x":{"user_id":1},"user_id":"\u00e9"}"#, 1), Ok(38));
        assert_eq!(c.parse(br#"{"user_id":1},{"x":2}]"#, 1), Ok(13));
        assert_eq!(c.parse(br#"{"user_id":1,"a":[1,"#, 1), Err(ItemProblem::Incomplete));
        assert!(check(br#"{"id":1}"#, 2).contains("item 2 has no field \"user_id\""));
        assert!(check(b"[1],", 2).contains("not a JSON object"));
        assert!(check(br#"{"user_id":1}"#, 4).contains("maxItems (3)"));
        assert!(matches!(c.parse(br#"{"user_id":1,}"#, 1), Err(ItemProblem::Malformed(_))));
        assert!(check(br#"{"a":1},"#, 1).contains("no field"));
        assert!(c.total(1).unwrap_err().contains("fewer than checks.minItems (2)"));
        assert_eq!(c.total(2), Ok(()));
        let defaults = checks("{}");
        assert!(defaults.total(0).unwrap_err().contains("the list is empty"));
        assert_eq!(defaults.parse(b"42 ", 1_000_000), Ok(2), "no field checks: any JSON item");
        assert!(matches!(defaults.parse(b"[1,}", 1), Err(ItemProblem::Malformed(_))));
    }
}
