//! Fuzzes the streaming page parsers (no panic on any input, and chunking never changes the result) and the
//! item scanner (it agrees with serde_json, and reading by a learnt shape changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    microfleet_fetcher::parse::check_chunking_invariance(data);
    microfleet_fetcher::parse::value::check_agrees_with_serde_json(data);
    // the input read after itself, and its second part after its first, cut where its first byte says
    microfleet_fetcher::parse::value::check_shape_agrees(data, data);
    if let Some((&cut, rest)) = data.split_first() {
        let (seed, input) = rest.split_at(usize::from(cut) * rest.len() / 256);
        microfleet_fetcher::parse::value::check_shape_agrees(seed, input);
    }
});
