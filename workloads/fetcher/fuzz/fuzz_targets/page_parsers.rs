//! Fuzzes the streaming page parsers (no panic on any input, and chunking never changes the result) and the
//! item scanner (it agrees with serde_json).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    microfleet_fetcher::parse::check_chunking_invariance(data);
    microfleet_fetcher::parse::value::check_agrees_with_serde_json(data);
});
