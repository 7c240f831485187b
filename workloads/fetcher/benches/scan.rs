//! Item scanning throughput (`cargo bench -p microfleet-fetcher --bench scan`): the fetcher's per-item scan
//! against serde_json skipping the same items (the baseline, measured in the same run) and reading each
//! into a `Value` to look the required key up (the obvious way), on a page of the sample service's users;
//! and the scanner on items of two shapes taking turns (where no shape pays, so the full scan does the
//! work). Prints MB/s, items/s and the ratio to the baseline.

use std::time::Instant;

use microfleet_crds::clusterfetch::Format;
use microfleet_fetcher::parse::{
    value::{Scanned, ValueScanner},
    ItemSink, PageParser, Stop,
};

fn page(users: u64) -> Vec<u8> {
    let clusters = ["gold", "silver", "bronze"];
    let items: Vec<String> = (0..users)
        .map(|i| {
            format!(
                r#"{{"user_id":{i},"cluster":"{}","score":{:.3}}}"#,
                clusters[(i % 3) as usize],
                (i % 1000) as f64 / 1000.0
            )
        })
        .collect();
    format!(r#"{{"users":[{}],"next_cursor":null}}"#, items.join(",")).into_bytes()
}

fn best_of<F: FnMut() -> u64>(rounds: usize, mut f: F) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut out = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        out = std::hint::black_box(f());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, out)
}

struct Count(u64);
impl ItemSink for Count {
    fn item(&mut self, _raw: &[u8], _scanned: Scanned) -> Result<(), Stop> {
        self.0 += 1;
        Ok(())
    }
}

fn main() {
    let users = 200_000;
    let body = page(users);
    let items: Vec<&[u8]> = {
        let inner = &body[10..body.len() - 20];
        let mut v = Vec::new();
        let mut scanner = ValueScanner::new();
        let mut at = 0;
        while at < inner.len() {
            let s = scanner.scan(&inner[at..]).expect("valid item");
            v.push(&inner[at..at + s.len]);
            at += s.len + 1;
        }
        v
    };
    assert_eq!(items.len() as u64, users);
    let keys = vec!["user_id".to_string()];
    let mb = body.len() as f64 / 1e6;
    let (serde_s, n) = best_of(5, || {
        items.iter().filter(|i| serde_json::from_slice::<serde::de::IgnoredAny>(i).is_ok()).count() as u64
    });
    assert_eq!(n, users);
    let (value_s, n) = best_of(5, || {
        items
            .iter()
            .filter(|i| serde_json::from_slice::<serde_json::Value>(i).is_ok_and(|v| v.get("user_id").is_some()))
            .count() as u64
    });
    assert_eq!(n, users);
    let mut scanner = ValueScanner::looking_for(&keys);
    let (scan_s, n) = best_of(5, || items.iter().filter(|i| scanner.scan(i).is_ok_and(|s| s.keys == 1)).count() as u64);
    assert_eq!(n, users);
    // the same items with every other one's keys in another order: shapes never match
    let mixed: Vec<Vec<u8>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item = String::from_utf8_lossy(item).into_owned();
            if i % 2 == 0 {
                item
            } else {
                item.replacen(r#"{"user_id":"#, r#"{"id":"#, 1).replacen('}', r#","user_id":1}"#, 1)
            }
            .into_bytes()
        })
        .collect();
    let mixed_mb = mixed.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    let (mixed_s, n) =
        best_of(5, || mixed.iter().filter(|i| scanner.scan(i).is_ok_and(|s| s.keys == 1)).count() as u64);
    assert_eq!(n, users);
    let (page_s, n) = best_of(5, || {
        let mut parser = PageParser::new(Format::Json, Some("/users"), None, 1 << 20, ValueScanner::looking_for(&keys));
        let mut count = Count(0);
        for chunk in body.chunks(64 * 1024) {
            parser.feed(chunk, &mut count).expect("valid page");
        }
        parser.finish(&mut count).expect("valid page");
        count.0
    });
    assert_eq!(n, users);
    println!("{users} items, {mb:.1} MB");
    for (what, s, mb) in [
        ("serde_json IgnoredAny (baseline)", serde_s, mb),
        ("serde_json Value + required key", value_s, mb),
        ("ValueScanner + required key", scan_s, mb),
        ("ValueScanner, two shapes in turn", mixed_s, mixed_mb),
        ("PageParser, 64 KiB chunks", page_s, mb),
    ] {
        println!("{what:34} {:8.1} MB/s {:12.0} items/s  {:5.2}x baseline", mb / s, users as f64 / s, serde_s / s);
    }
}
