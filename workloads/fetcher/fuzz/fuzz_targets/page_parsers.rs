//! Fuzzes the streaming page parsers: no panic on any input, and chunking never changes the result.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    microfleet_fetcher::parse::check_chunking_invariance(data);
});
